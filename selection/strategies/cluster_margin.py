"""Cluster-Margin (Citovsky et al., "Batch Active Learning at Scale", NeurIPS 2021).

The `oversample` x `batch_size` rows with the highest uncertainty score (lowest margin by
default) are the candidates; Spark MLlib's KMeans (k-means|| initialisation, in the JVM, so
without pyarrow) clusters their feature columns, fit on a seeded sample of at most
`FIT_ROWS` candidates; then a round-robin over the clusters, smallest first, takes one row from
each in turn until `batch_size` rows are chosen (within a cluster in a seeded random order, as
the paper samples). The round-robin is one ranking: each candidate's rank within its cluster,
then ordering by (that rank, cluster size, cluster id), so nothing of size `batch_size` reaches
the driver: only the k cluster sizes do.

With `class_balance` the batch is split evenly over the candidates' predicted classes as
uncertainty and random split theirs (`selection.engine.balance`: every class gives its t first
rows, a class's shortfall going to the others), each class giving its rows in its own
round-robin over the clusters: rank within (class, cluster), then the cluster's turn (the
candidates' cluster sizes, smallest first, as without balance). The clusters are fitted on all
candidates, whatever their class. Between classes, rows go in rounds (each class's next row),
a round ordered by (rank in its cluster, cluster's turn, the seeded order within a cluster).

Passes: one scan of the input for the candidates (persisted on disk; past HEAP_TOP_N_LIMIT
candidates a scan for their score's histogram first), the KMeans fit on the
sample, and one pass over the candidates to assign them (persisted on disk) and rank them; with
`class_balance` one aggregate more over the candidates (the class counts) and one over the
picks (the picks per cluster).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from selection.engine.balance import ClassQuotas, balanced_top_n, class_quotas
from selection.engine.ranking import rank_top_n, rank_top_n_by_score
from selection.engine.scores import pseudo_label
from selection.engine.values import ascending_id
from selection.names import (
    DATA_SOURCE,
    DATA_SOURCE_AL,
    SELECTION_RANK,
    UNCERTAINTY_SCORE,
    Metric,
    Strategy,
)
from selection.params import BalancedBatchParams, EmbeddingParams, at_least, param
from selection.strategies.random_batch import random_key
from selection.strategies.result import Selected, StrategySummary
from selection.strategies.uncertainty import with_uncertainty

FIT_ROWS = 100_000  # candidates the KMeans fit reads at most (a seeded sample beyond)
# The fit's layout: hashed on the id's seeded key into this many partitions, each sorted by it,
# so k-means|| (which samples per partition) sees the same data whatever the input's layout.
FIT_PARTITIONS = 8
KMEANS_ITERATIONS = 20
_VEC, _CLUSTER, _SIZE, _IN, _KEY, _CAND, _CLASS = (
    "_sel_cm_vec",
    "_sel_cm_cluster",
    "_sel_cm_size",
    "_sel_cm_rank",
    "_sel_cm_key",
    "_sel_cm_candidate",
    "_sel_cm_class",
)


@dataclass(frozen=True, kw_only=True)
class ClusterMargin(EmbeddingParams, BalancedBatchParams):
    """Cluster-Margin: round-robin over k-means clusters of the most uncertain rows; with
    `class_balance`, split evenly over the candidates' predicted classes."""

    strategy = Strategy.CLUSTER_MARGIN
    oversample: int = param(10, "candidates = MARGIN_OVERSAMPLE x BATCH_SIZE lowest-margin rows")
    clusters: int = param(0, "k-means clusters of the candidates; 0 = ceil(sqrt(candidates))")

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least("oversample", self.oversample, 1)
        at_least("clusters", self.clusters, 0)


@dataclass(frozen=True)
class ClusterMarginSummary(StrategySummary):
    """cluster_margin's figures: its candidates, their clusters and what each cluster gave."""

    candidates: int
    clusters: int
    candidate_cluster_sizes: dict[str, int]
    picks_per_cluster: dict[str, int]
    candidate_score_range: tuple[float | None, float | None]
    fit_rows: int
    class_balance: dict[str, Any] | None = None  # the candidates' class quotas (CLASS_BALANCE)

    def metadata(self) -> dict[str, Any]:
        figures = {
            "candidates": self.candidates,
            "clusters": self.clusters,
            "candidate_cluster_sizes": self.candidate_cluster_sizes,
            "picks_per_cluster": self.picks_per_cluster,
            "candidate_score_range": list(self.candidate_score_range),
            "fit_rows": self.fit_rows,
        }
        return (
            figures
            if self.class_balance is None
            else {**figures, "class_balance": self.class_balance}
        )


def select_cluster_margin(df: DataFrame, params: ClusterMargin) -> Selected[ClusterMarginSummary]:
    scored = df.transform(with_uncertainty(params.mode, params.scores))
    order = [F.col(UNCERTAINTY_SCORE).desc(), *ascending_id(df, params.id_col)]
    wanted = params.oversample * params.batch_size
    top = rank_top_n_by_score(scored, order, wanted, F.col(UNCERTAINTY_SCORE))
    candidates = top.withColumnRenamed(SELECTION_RANK, _CAND)
    candidates = candidates.persist(StorageLevel.DISK_ONLY)
    stats = candidates.agg(
        F.count(F.lit(1)).alias("n"),
        F.min(UNCERTAINTY_SCORE).alias("lo"),
        F.max(UNCERTAINTY_SCORE).alias("hi"),
    ).first()
    assert stats is not None
    n = int(stats["n"])
    k = max(1, min(n, params.clusters or math.ceil(math.sqrt(n))))
    # Text (CSV) feature columns are cast into temporaries; the output keeps the originals. A
    # null feature becomes NaN ("keep"), and the job's data checks then report it by name.
    temps = [f"_sel_cm_f{i}" for i in range(len(params.features))]
    casted = candidates.select(
        *df.columns,
        UNCERTAINTY_SCORE,
        _CAND,
        *[F.col(c).cast("double").alias(t) for c, t in zip(params.features, temps, strict=True)],
    )
    # Imported here: pyspark.ml pulls in scipy, most of a second of every job's start-up.
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.feature import VectorAssembler

    assembler = VectorAssembler(inputCols=temps, outputCol=_VEC, handleInvalid="keep")
    vectors = assembler.transform(casted).drop(*temps)
    # The fit reads a seeded, id-hashed sample in a fixed layout, so a seed gives the same
    # clusters whatever the input's partitioning.
    keyed = vectors.withColumn(_KEY, random_key(df, params.id_col, params.seed))
    if n < 2:
        assigned = keyed.withColumn(_CLUSTER, F.lit(0)).drop(_VEC)
    else:
        # The candidate rank breaks 64-bit hash ties (about n^2 / 2^65 of them: rare, not
        # impossible at 10^9 rows), so the sample and its order are the same on every run.
        fit_rows = keyed.orderBy(_KEY, _CAND).limit(FIT_ROWS) if n > FIT_ROWS else keyed
        kmeans = KMeans(
            k=max(2, k),
            seed=params.seed,
            initMode="k-means||",
            maxIter=KMEANS_ITERATIONS,
            featuresCol=_VEC,
            predictionCol=_CLUSTER,
            distanceMeasure="cosine" if params.metric is Metric.COSINE else "euclidean",
        )
        laid_out = fit_rows.repartition(FIT_PARTITIONS, _KEY).sortWithinPartitions(_KEY, _CAND)
        model = kmeans.fit(laid_out)
        assigned = model.transform(keyed).drop(_VEC)
    # Read by the sizes, the ranking (and with class_balance the class counts): assigned once.
    assigned = assigned.persist(StorageLevel.DISK_ONLY)
    sizes = {
        int(r[_CLUSTER]): int(r["n"])
        for r in assigned.groupBy(_CLUSTER).agg(F.count(F.lit(1)).alias("n")).collect()
    }
    within = [F.col(_KEY).asc(), F.col(_CAND)]
    balance: dict[str, Any] | None = None
    if params.class_balance:
        predicted = pseudo_label(params.scores.probabilities(assigned))
        ranked, quotas = balanced_round_robin(assigned, params.batch_size, sizes, within, predicted)
        balance = quotas.to_json()
        picks = {
            str(r[_CLUSTER]): int(r["n"])
            for r in sorted(
                ranked.groupBy(_CLUSTER).agg(F.count(F.lit(1)).alias("n")).collect(),
                key=lambda r: int(r[_CLUSTER]),
            )
        }
    else:
        ranked = round_robin(assigned, params.batch_size, sizes, within)
        picks = picks_per_cluster(sizes, params.batch_size)
    out = ranked.withColumn(DATA_SOURCE, F.lit(DATA_SOURCE_AL))
    rows = out.select(*df.columns, UNCERTAINTY_SCORE, DATA_SOURCE, SELECTION_RANK)
    summary = ClusterMarginSummary(
        candidates=n,
        clusters=len(sizes),
        candidate_cluster_sizes={str(c): m for c, m in sorted(sizes.items())},
        picks_per_cluster=picks,
        candidate_score_range=(_float(stats["lo"]), _float(stats["hi"])),
        fit_rows=min(n, FIT_ROWS),
        class_balance=balance,
    )
    return Selected(rows, summary)


def _turn(sizes: dict[int, int]) -> Column:
    """Each cluster's turn in a round: smallest first, ties by cluster id (a literal lookup of
    the k sizes the driver holds)."""
    order_of = sorted(sizes, key=lambda c: (sizes[c], c))
    position = {c: i for i, c in enumerate(order_of)}
    top = max(sizes, default=0) + 1
    lookup = F.array(*[F.lit(position.get(c, len(order_of))) for c in range(top)])
    return F.element_at(lookup, F.col(_CLUSTER) + 1)


def round_robin(
    assigned: DataFrame, n: int, sizes: dict[int, int], within: list[Column]
) -> DataFrame:
    """The first `n` rows of a round-robin over the clusters, smallest (then lowest id) first,
    each cluster giving its rows in the order `within`; ranked 1..n."""
    in_cluster = F.row_number().over(Window.partitionBy(_CLUSTER).orderBy(*within))
    ranked = assigned.withColumn(_IN, in_cluster).withColumn(_SIZE, _turn(sizes))
    return rank_top_n(ranked, [F.col(_IN).asc(), F.col(_SIZE).asc()], n)


def balanced_round_robin(
    assigned: DataFrame, n: int, sizes: dict[int, int], within: list[Column], predicted: Column
) -> tuple[DataFrame, ClassQuotas]:
    """The first `n` rows split evenly over the classes `predicted` names (`balanced_top_n`),
    each class giving its rows in its own round-robin over the clusters (rank within (class,
    cluster) by `within`, then the cluster's turn among all `sizes`); ranked 1..n in rounds over
    the classes. Runs one Spark job (the class counts) when called."""
    classed = assigned.withColumn(_CLASS, predicted)
    in_cluster = F.row_number().over(Window.partitionBy(_CLASS, _CLUSTER).orderBy(*within))
    ranked = classed.withColumn(_IN, in_cluster).withColumn(_SIZE, _turn(sizes))
    order = [F.col(_IN).asc(), F.col(_SIZE).asc(), *within]
    picked, quotas = balanced_top_n(ranked, order, n, F.col(_CLASS))
    return picked.drop(_CLASS), quotas


def picks_per_cluster(sizes: dict[int, int], n: int) -> dict[str, int]:
    """How many rows the round-robin takes from each cluster: a water level over the sizes,
    the rows left over going one each to the smallest clusters that still have one."""
    quotas = class_quotas(sizes, n)
    turn = sorted(sizes, key=lambda c: (sizes[c], c))
    extra = [c for c in turn if sizes[c] > quotas.level][: quotas.extra]
    picks = {c: min(sizes[c], quotas.level) + (c in extra) for c in sizes}
    return {str(c): picks[c] for c in sorted(picks) if picks[c]}


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
