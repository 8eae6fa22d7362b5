"""Independent references for the batch strategies: plain Python and numpy, no Spark.

`spark_id_key` re-implements Spark's `xxhash64(id, seed)` (XXH64 of the bigint id under Spark's
default seed 42, then of the seed literal) from the published algorithm, so the random strategy
is checked against the hash itself rather than against Spark's own output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

_MASK = (1 << 64) - 1
_P1 = 0x9E3779B185EBCA87
_P2 = 0xC2B2AE3D27D4EB4F
_P3 = 0x165667B19E3779F9
_P4 = 0x85EBCA77C2B2AE63
_P5 = 0x27D4EB2F165667C5
SPARK_HASH_SEED = 42


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _MASK


def _avalanche(h: int) -> int:
    h ^= h >> 33
    h = (h * _P2) & _MASK
    h ^= h >> 29
    h = (h * _P3) & _MASK
    h ^= h >> 32
    return h


def xxh64_long(value: int, seed: int) -> int:
    """XXH64 of the 8 little-endian bytes of `value` (unsigned result)."""
    h = (seed + _P5 + 8) & _MASK
    h ^= (_rotl(((value & _MASK) * _P2) & _MASK, 31) * _P1) & _MASK
    h = (_rotl(h, 27) * _P1 + _P4) & _MASK
    return _avalanche(h)


def xxh64_int(value: int, seed: int) -> int:
    """XXH64 of the 4 little-endian bytes of `value` (unsigned result)."""
    h = (seed + _P5 + 4) & _MASK
    h ^= ((value & 0xFFFFFFFF) * _P1) & _MASK
    h = (_rotl(h, 23) * _P2 + _P3) & _MASK
    return _avalanche(h)


def _signed(h: int) -> int:
    return h - (1 << 64) if h >= 1 << 63 else h


def spark_id_key(ident: int, seed: int) -> int:
    """Spark's `xxhash64(cast(id as bigint), lit(seed))` as a signed 64-bit integer."""
    h = xxh64_long(ident, SPARK_HASH_SEED)
    h = xxh64_int(seed, h) if seed < 1 << 31 else xxh64_long(seed, h)
    return _signed(h)


def random_reference(ids: Sequence[int], batch: int, seed: int) -> list[int]:
    """The ids a seeded random batch must hold, in pick order: by hash, then by id."""
    return sorted(ids, key=lambda i: (spark_id_key(i, seed), i))[:batch]


def round_robin(
    rows: Sequence[Any],
    batch: int,
    *,
    klass: Callable[[Any], int],
    key: Callable[[Any], Any],
    ident: Callable[[Any], Hashable],
) -> list[Hashable]:
    """A class-balanced batch by explicit rounds: each round every class that still has rows
    offers its next best (by `key`); a round that does not fit whole keeps its best by `key`."""
    by_class: dict[int, list[Any]] = {}
    for row in sorted(rows, key=key):
        by_class.setdefault(klass(row), []).append(row)
    picked: list[Hashable] = []
    depth = 0
    while len(picked) < batch:
        offered = sorted((rs[depth] for rs in by_class.values() if len(rs) > depth), key=key)
        if not offered:
            break
        picked += [ident(r) for r in offered[: batch - len(picked)]]
        depth += 1
    return picked


def margin(p: np.ndarray) -> np.ndarray:
    """1 - (p(1) - p(2)) per row of `p`."""
    top = np.sort(p, axis=1)[:, ::-1]
    out: np.ndarray = 1.0 - (top[:, 0] - top[:, 1])
    return out


def entropy(p: np.ndarray) -> np.ndarray:
    """-sum p ln p per row, 0 ln 0 = 0."""
    safe = np.where(p > 0, p, 1.0)
    out: np.ndarray = -(p * np.log(safe)).sum(axis=-1)
    return out


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def bald(p: np.ndarray) -> np.ndarray:
    """H[mean_m p] - mean_m H[p] per row of `p` (rows x members x classes)."""
    out: np.ndarray = np.maximum(entropy(p.mean(axis=1)) - entropy(p).mean(axis=1), 0.0)
    return out


def vote_entropy(p: np.ndarray) -> np.ndarray:
    """Entropy of the members' argmax votes per row of `p` (rows x members x classes)."""
    votes = p.argmax(axis=2)
    share = np.stack([(votes == c).mean(axis=1) for c in range(p.shape[2])], axis=1)
    return entropy(share)


def mean_std(p: np.ndarray) -> np.ndarray:
    """Mean over classes of the members' population standard deviation."""
    out: np.ndarray = p.std(axis=1).mean(axis=1)
    return out


def cluster_round_robin(clusters: Sequence[int], within: Sequence[Any], batch: int) -> list[int]:
    """Row indices of a round-robin over clusters, smallest (then lowest id) first, each cluster
    giving its rows in ascending `within`, until `batch` are chosen."""
    members: dict[int, list[int]] = {}
    for i in sorted(range(len(clusters)), key=lambda i: within[i]):
        members.setdefault(clusters[i], []).append(i)
    turn = sorted(members, key=lambda c: (len(members[c]), c))
    picked: list[int] = []
    depth = 0
    while len(picked) < min(batch, len(clusters)):
        for c in turn:
            if depth < len(members[c]) and len(picked) < batch:
                picked.append(members[c][depth])
        depth += 1
    return picked


def cluster_class_round_robin(
    clusters: Sequence[int], classes: Sequence[int], within: Sequence[Any], batch: int
) -> list[int]:
    """Row indices of a class-balanced Cluster-Margin batch: each class orders its rows by a
    round-robin over the clusters (depth within (class, cluster) by ascending `within`, then the
    cluster's turn: its size among all rows, smallest then lowest id first); the classes then
    give rows in rounds as `round_robin` does, a round ordered by (depth, turn, within)."""
    sizes: dict[int, int] = {}
    for c in clusters:
        sizes[c] = sizes.get(c, 0) + 1
    turn = {c: t for t, c in enumerate(sorted(sizes, key=lambda c: (sizes[c], c)))}
    depth: dict[int, int] = {}
    seen: dict[tuple[int, int], int] = {}
    for i in sorted(range(len(clusters)), key=lambda i: within[i]):
        group = (classes[i], clusters[i])
        depth[i] = seen.get(group, 0)
        seen[group] = depth[i] + 1
    picked = round_robin(
        list(range(len(clusters))),
        batch,
        klass=lambda i: classes[i],
        key=lambda i: (depth[i], turn[clusters[i]], within[i]),
        ident=lambda i: i,
    )
    return [int(i) for i in picked]  # type: ignore[call-overload]
