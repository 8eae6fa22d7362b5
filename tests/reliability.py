"""Shared pieces of the reliability tests (re-runs, bad input, atomic output, security, cluster).

`STRATEGY_RUNS` is the one list of strategy configurations these tests parametrize over, so
adding a strategy to them is one line here.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import prediction_rows


@dataclass(frozen=True)
class StrategyRun:
    """One strategy with the parameters the reliability tests run it with."""

    name: str
    env: Mapping[str, str]
    # Same selection whatever the number of input files, input splits and shuffle partitions.
    layout_invariant: bool = True
    # A known reason why it is not (yet): the layout check then must fail, and is an xfail.
    layout_issue: str = ""

    @property
    def strategy(self) -> str:
        return self.env["SELECTION_STRATEGY"]

    def param(self) -> Any:
        return pytest.param(self, id=self.name)


STRATEGY_RUNS: tuple[StrategyRun, ...] = (
    StrategyRun(
        "confidence_threshold",
        {"SELECTION_STRATEGY": "confidence_threshold", "CONFIDENCE_THRESHOLD": "0.6"},
    ),
    StrategyRun(
        "confidence_threshold-max_samples",
        {
            "SELECTION_STRATEGY": "confidence_threshold",
            "CONFIDENCE_THRESHOLD": "0.5",
            "MAX_SAMPLES": "40",
        },
    ),
    StrategyRun("top_k_per_class", {"SELECTION_STRATEGY": "top_k_per_class", "K_PER_CLASS": "9"}),
    StrategyRun("uncertainty-margin", {"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "30"}),
    StrategyRun(
        "uncertainty-entropy",
        {"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "30", "UNCERTAINTY_MODE": "entropy"},
    ),
    StrategyRun(
        "uncertainty-class_balance",
        {"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "30", "CLASS_BALANCE": "true"},
    ),
    StrategyRun("random", {"SELECTION_STRATEGY": "random", "BATCH_SIZE": "30"}),
    StrategyRun(
        "diversity",
        {"SELECTION_STRATEGY": "diversity", "BATCH_SIZE": "12", "FEATURE_FIELDS": "f0,f1"},
    ),
    StrategyRun(
        "cluster_margin",
        {
            "SELECTION_STRATEGY": "cluster_margin",
            "BATCH_SIZE": "12",
            "CLUSTERS": "3",
            "FEATURE_FIELDS": "f0,f1",
        },
    ),
    StrategyRun(
        "badge",
        {"SELECTION_STRATEGY": "badge", "BATCH_SIZE": "12", "FEATURE_FIELDS": "f0,f1"},
    ),
)


def strategy_params(*names: str) -> list[Any]:
    """pytest params of the STRATEGY_RUNS named (all when none is named)."""
    return [run.param() for run in STRATEGY_RUNS if not names or run.name in names]


def reliability_rows(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """prediction_rows with ties: every 10th row repeats the probabilities of the row before it,
    so every strategy meets equal scores that only the ascending-id rule can order."""
    rows = prediction_rows(n, classes=3, seed=seed)
    for i in range(1, n, 10):
        for c in range(3):
            rows[i][f"prob_class_{c}"] = rows[i - 1][f"prob_class_{c}"]
    return rows


def selected_table(directory: Path) -> list[tuple[str, ...]]:
    """The selected rows of a CSV output exactly as written (strings), in selection_rank order,
    header first; raises when the output has no data file."""
    parts = data_files(directory)
    assert parts, f"no data files under {directory}"
    header: tuple[str, ...] = ()
    rows: list[tuple[str, ...]] = []
    for part in parts:
        with open(part, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = tuple(next(reader))
            rows.extend(tuple(r) for r in reader)
    rank = header.index("selection_rank")
    rows.sort(key=lambda r: int(r[rank]))
    return [header, *rows]


def data_files(directory: Path) -> list[Path]:
    """The files of a committed output: selected_samples.<format> or part files."""
    return sorted(
        p for p in directory.iterdir() if p.is_file() and not p.name.startswith(("_", "."))
    )


def ids_and_ranks(directory: Path, id_field: str = "id") -> bytes:
    """`rank,id` lines of a CSV output: what must be byte-identical between re-runs."""
    header, *rows = selected_table(directory)
    rank, ident = header.index("selection_rank"), header.index(id_field)
    return "".join(f"{r[rank]},{r[ident]}\n" for r in rows).encode("utf-8")


def files_under(*directories: Path) -> list[str]:
    """Every file (hidden ones too) below `directories`, as paths relative to the tmp root."""
    found = []
    for directory in directories:
        if directory.exists():
            found += [str(p) for p in sorted(directory.rglob("*")) if p.is_file()]
    return found


def listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket process `pid` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = []
    for table, width in (("tcp", 8), ("tcp6", 32)):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            address_hex, port_hex = local.split(":")
            assert len(address_hex) == width
            found.append((_address(address_hex), int(port_hex, 16)))
    return found


def _address(hex_address: str) -> str:
    """/proc/net/tcp{,6} addresses: 32-bit little-endian words."""
    words = [bytes.fromhex(hex_address[i : i + 8])[::-1] for i in range(0, len(hex_address), 8)]
    raw = b"".join(words)
    if len(raw) == 4:
        return ".".join(str(b) for b in raw)
    if raw[:12] == b"\0" * 10 + b"\xff\xff":  # IPv4-mapped IPv6
        return ".".join(str(b) for b in raw[12:])
    import ipaddress

    return str(ipaddress.IPv6Address(raw))


def is_loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1"
