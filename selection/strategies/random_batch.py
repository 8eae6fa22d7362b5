"""Random sampling: the baseline every active-learning study compares against.

The rows are ranked by a seeded 64-bit hash of their id and the first `batch_size` taken, so
the draw is uniform over the pool, costs one scan (each task keeps its own first rows), and a
seed picks the same ids whatever the partitioning, the file layout or the input format: the
hash depends on the id alone (an integer id hashes as that integer, whether a CSV holds it as
text or Parquet as an int or a bigint). Hash ties, which are rare, are broken by ascending id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import IntegralType

from selection.engine.scores import ScoreSpec
from selection.engine.values import ascending_id, id_hash
from selection.names import DATA_SOURCE, DATA_SOURCE_AL, SELECTION_RANK, UNCERTAINTY_SCORE, Strategy
from selection.params import BalancedBatchParams
from selection.strategies.result import Selected, Transform
from selection.strategies.uncertainty import BatchSummary, ranked_batch, with_uncertainty

_KEY = "_sel_random_key"


@dataclass(frozen=True, kw_only=True)
class Random(BalancedBatchParams):
    """`batch_size` rows drawn uniformly at random (seeded by the id's hash); `mode` only names
    the uncertainty score written beside each pick."""

    strategy = Strategy.RANDOM


def random_key(df: DataFrame, id_col: str, seed: int) -> Column:
    """The seeded hash of the id that orders the draw; the same for an int, bigint or text 7."""
    field = df.schema[id_col]
    if isinstance(field.dataType, IntegralType):
        return F.xxhash64(F.col(id_col).cast("long"), F.lit(seed))
    return id_hash(df, id_col, seed)


def random_batch(
    batch_size: int = Random.batch_size,
    *,
    seed: int = Random.seed,
    id_col: str = Random.id_col,
    scores: ScoreSpec = Random.scores,
    class_balance: bool = Random.class_balance,
) -> Transform:
    """`batch_size` rows uniformly at random from `df`, the same ids for a seed on any layout."""
    params = Random(
        batch_size=batch_size, seed=seed, id_col=id_col, scores=scores, class_balance=class_balance
    )
    return lambda df: select_random(df, params).rows


@dataclass(frozen=True)
class RandomSummary(BatchSummary):
    """random's figures: how rows were ordered, and the class quotas with CLASS_BALANCE."""

    order: str = "seeded xxhash64 of the id, ascending"

    def metadata(self) -> dict[str, Any]:
        return {"order": self.order, **super().metadata()}


def select_random(df: DataFrame, params: Random) -> Selected[RandomSummary]:
    keyed = df.withColumn(_KEY, random_key(df, params.id_col, params.seed))
    order = [F.col(_KEY).asc(), *ascending_id(df, params.id_col)]
    ranked, balance = ranked_batch(keyed, order, params)
    scored = ranked.transform(with_uncertainty(params.mode, params.scores))
    out = scored.withColumn(DATA_SOURCE, F.lit(DATA_SOURCE_AL))
    rows = out.select(*df.columns, UNCERTAINTY_SCORE, DATA_SOURCE, SELECTION_RANK)
    return Selected(rows, RandomSummary(class_balance=balance))
