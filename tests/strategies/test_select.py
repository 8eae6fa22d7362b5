"""`select` dispatches on the parameter class and leaves labelled rows out the same way for all."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from selection import (
    PARAMS_BY_STRATEGY,
    Badge,
    ClusterMargin,
    ConfidenceThreshold,
    Diversity,
    Random,
    StrategyParams,
    TopKPerClass,
    Uncertainty,
    select,
)
from selection.names import CONFIDENCE, DATA_SOURCE, PSEUDO_LABEL, SELECTION_RANK, UNCERTAINTY_SCORE

# The id column is not first: the output must keep the input's column order.
ROWS = [(float(i % 5), i, 0.5 + i / 40, 0.5 - i / 40) for i in range(1, 16)]
SCHEMA = "f0 double, id long, prob_class_0 double, prob_class_1 double"
INPUT_COLUMNS = ["f0", "id", "prob_class_0", "prob_class_1"]
LABELED = [3, 7, 15]

PARAMS = [
    ConfidenceThreshold(threshold=0.5),
    TopKPerClass(k=20),
    Uncertainty(batch_size=20),
    Diversity(batch_size=20, features=("f0",)),
    Badge(batch_size=20, features=("f0",), rounds=1),
    Random(batch_size=20),
    Uncertainty(batch_size=20, class_balance=True),
    ClusterMargin(batch_size=20, features=("f0",), clusters=2),
]


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: p.strategy.value)
def test_labelled_rows_are_left_out_and_columns_keep_their_order(
    spark: SparkSession, params: StrategyParams
) -> None:
    df = spark.createDataFrame(ROWS, SCHEMA)
    # diversity reads the labelled rows' features too (they are centres already).
    labeled = df.filter(df.id.isin(LABELED)).select("id", "f0")
    rows = select(df, params, labeled=labeled).rows  # type: ignore[arg-type]
    added = (
        [PSEUDO_LABEL, CONFIDENCE, DATA_SOURCE, SELECTION_RANK]
        if params.is_pseudo_labelling
        else [UNCERTAINTY_SCORE, DATA_SOURCE, SELECTION_RANK]
    )
    assert rows.columns == INPUT_COLUMNS + added
    ids = sorted(r["id"] for r in rows.collect())
    assert ids == [i for i in range(1, 16) if i not in LABELED]


def test_every_strategy_has_an_arm(spark: SparkSession) -> None:
    df = spark.createDataFrame(ROWS, SCHEMA)
    for cls in PARAMS_BY_STRATEGY.values():
        params = cls(features=("f0",)) if cls in (Diversity, Badge) else cls()  # type: ignore[call-arg]
        assert select(df, params).rows.columns[:4] == INPUT_COLUMNS


def test_a_parameter_class_without_an_arm_fails(spark: SparkSession) -> None:
    df = spark.createDataFrame(ROWS, SCHEMA)
    with pytest.raises(AssertionError):
        select(df, StrategyParams())  # type: ignore[arg-type]
