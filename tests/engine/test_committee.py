"""Committee scores against numpy on hand-made members, and the naming contract's errors."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import DataFrame, SparkSession

from selection import (
    ScoreSpec,
    SelectionInputError,
    Uncertainty,
    confidence_threshold,
    select,
    uncertainty,
)
from selection.engine import committee as committee_module
from selection.engine.committee import committee_score, find_committee
from selection.names import UNCERTAINTY_SCORE, UncertaintyMode
from tests.references import bald, margin, mean_std, vote_entropy

# rows x members x classes: disagreeing confident members, unanimous ones, a vote tie, flat ones.
MEMBERS = np.array(
    [
        [[0.9, 0.05, 0.05, 0.0], [0.05, 0.9, 0.05, 0.0], [0.1, 0.1, 0.8, 0.0]],
        [[0.7, 0.1, 0.1, 0.1], [0.7, 0.1, 0.1, 0.1], [0.7, 0.1, 0.1, 0.1]],
        [[0.4, 0.4, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1], [0.5, 0.2, 0.2, 0.1]],
        [[0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25], [0.3, 0.2, 0.3, 0.2]],
        [[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.9, 0.1], [0.2, 0.0, 0.8, 0.0]],
        [[0.6, 0.3, 0.1, 0.0], [0.3, 0.6, 0.1, 0.0], [0.6, 0.3, 0.1, 0.0]],
    ]
)
REFERENCE = {"bald": bald, "vote_entropy": vote_entropy, "mean_std": mean_std}


@pytest.fixture(params=["flat", "arrays"])
def shape(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each hand-made case through both expression shapes: flat (small M * C, as here) and the
    array folds that larger committees take."""
    if request.param == "arrays":
        monkeypatch.setattr(committee_module, "FLAT_CELLS", 0)
    return str(request.param)


def _frame(spark: SparkSession, p: np.ndarray, with_mean: bool = False) -> DataFrame:
    n, m, c = p.shape
    columns = ["id"] + [f"prob_member_{j}_class_{k}" for j in range(m) for k in range(c)]
    rows = [[i + 1, *map(float, p[i].ravel())] for i in range(n)]
    if with_mean:
        columns += [f"prob_class_{k}" for k in range(c)]
        rows = [r + list(map(float, p[i].mean(axis=0))) for i, r in enumerate(rows)]
    return spark.createDataFrame(rows, columns).repartition(2)


@pytest.mark.parametrize("mode", sorted(REFERENCE))
@pytest.mark.parametrize("with_mean", [False, True])
def test_scores_and_batch_are_the_numpy_reference(
    spark: SparkSession, mode: str, with_mean: bool, shape: str
) -> None:
    df = _frame(spark, MEMBERS, with_mean)
    expected = REFERENCE[mode](MEMBERS)
    picked = df.transform(uncertainty(4, mode=mode)).collect()
    order = sorted(range(len(MEMBERS)), key=lambda i: (-round(expected[i], 12), i + 1))[:4]
    assert [r["id"] for r in picked] == [i + 1 for i in order]
    for r in picked:
        assert r[UNCERTAINTY_SCORE] == pytest.approx(expected[r["id"] - 1], abs=1e-12)


def test_unanimous_members_score_zero(spark: SparkSession, shape: str) -> None:
    df = _frame(spark, MEMBERS)
    for mode in REFERENCE:
        rows = df.transform(uncertainty(6, mode=mode)).collect()
        score = {r["id"]: r[UNCERTAINTY_SCORE] for r in rows}[2]
        # Exact for the votes and for Welford's deviations, and BALD is 0 by construction there
        # (the mean of three 0.7s is not 0.7 in floating point).
        assert score == 0.0, mode


def test_bald_ties_exactly_agreeing_rows_and_orders_them_by_id(
    spark: SparkSession, shape: str
) -> None:
    # Random vectors, each copied to five members: H[mean] - mean H comes out as up to ~4e-16
    # (never negative after the clamp) for several of them unless identical members score 0.
    rng = np.random.default_rng(0)
    agreeing = np.repeat(rng.dirichlet(np.ones(4), size=60)[:, None, :], 5, axis=1)
    df = _frame(spark, agreeing)
    rows = df.transform(uncertainty(10, mode="bald")).collect()
    assert [r["id"] for r in rows] == list(range(1, 11))
    assert {r[UNCERTAINTY_SCORE] for r in rows} == {0.0}


def test_margin_reads_the_members_mean_when_prob_class_is_absent(spark: SparkSession) -> None:
    df = _frame(spark, MEMBERS)
    rows = df.transform(uncertainty(6, mode="margin")).collect()
    expected = margin(MEMBERS.mean(axis=1))
    assert all(
        r[UNCERTAINTY_SCORE] == pytest.approx(expected[r["id"] - 1], abs=1e-12) for r in rows
    )


def test_the_bench_shape_is_flat_and_the_numpy_reference(spark: SparkSession) -> None:
    # Five members, ten classes: flat expressions (no lambdas), on random members with vote
    # ties (rounded to one decimal) and some unanimous rows.
    rng = np.random.default_rng(7)
    p = rng.dirichlet(np.ones(10), size=(40, 5)).round(1)
    p /= p.sum(axis=2, keepdims=True)
    p[::8] = p[::8, :1]
    df = _frame(spark, p)
    committee = find_committee(df, "prob_member_")
    assert committee is not None and committee.flat
    scores = [
        committee_score(UncertaintyMode(mode), committee, df).alias(mode) for mode in REFERENCE
    ]
    assert not any("lambda" in str(s) for s in scores)
    rows = {r["id"]: r for r in df.select("id", *scores).collect()}
    for mode, reference in REFERENCE.items():
        expected = reference(p)
        for i in range(len(p)):
            assert rows[i + 1][mode] == pytest.approx(expected[i], abs=1e-12), (mode, i)
        assert all(rows[i + 1][mode] == 0.0 for i in range(0, len(p), 8)), mode


def test_many_classes_and_members_stay_shallow(spark: SparkSession) -> None:
    rng = np.random.default_rng(5)
    # 1,000 classes for the depth; three members are as deep over the members as fifty
    # (member sums are balanced trees or array folds) and keep the plan to 3,000 columns.
    p = rng.dirichlet(np.full(1000, 0.1), size=(4, 3))
    df = _frame(spark, p)
    for mode, reference in REFERENCE.items():
        rows = df.transform(uncertainty(4, mode=mode)).collect()
        expected = reference(p)
        for r in rows:
            assert r[UNCERTAINTY_SCORE] == pytest.approx(expected[r["id"] - 1], rel=1e-9), mode


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (["prob_member_0_class_0", "prob_member_0_class_1"], "at least two members"),
        (
            ["prob_member_0_class_0", "prob_member_0_class_1", "prob_member_2_class_0"],
            "member 1 has no columns",
        ),
        (
            [
                "prob_member_0_class_0",
                "prob_member_0_class_1",
                "prob_member_1_class_0",
                "prob_member_1_class_1",
                "prob_member_1_class_2",
            ],
            "member 1 has classes 0, 1, 2 but member 0 has 0, 1",
        ),
    ],
)
def test_bad_committees_are_refused(spark: SparkSession, columns: list[str], message: str) -> None:
    df = spark.createDataFrame([[1, *[0.5] * len(columns)]], ["id", *columns])
    with pytest.raises(SelectionInputError, match=message):
        find_committee(df, "prob_member_")


def test_a_committee_mode_without_members_says_what_is_missing(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, 0.5, 0.5)], ["id", "prob_class_0", "prob_class_1"])
    with pytest.raises(SelectionInputError, match="no member columns 'prob_member_<m>_class_<c>'"):
        select(df, Uncertainty(mode="bald"))


def test_a_custom_member_prefix(spark: SparkSession) -> None:
    df = _frame(spark, MEMBERS)
    for j in range(3):
        for k in range(4):
            df = df.withColumnRenamed(f"prob_member_{j}_class_{k}", f"m_{j}_class_{k}")
    rows = df.transform(uncertainty(2, mode="bald", scores=ScoreSpec(members="m_"))).collect()
    expected = bald(MEMBERS)
    assert [r["id"] for r in rows] == [int(i) + 1 for i in np.argsort(-expected, kind="stable")[:2]]


def test_agreement_keeps_rows_where_every_member_is_confident_in_one_class(
    spark: SparkSession, shape: str
) -> None:
    df = _frame(spark, MEMBERS)
    picked = df.transform(confidence_threshold(0.65, agreement=True)).collect()
    votes = MEMBERS.argmax(axis=2)
    expected = [
        i + 1
        for i in range(len(MEMBERS))
        if (votes[i] == votes[i, 0]).all()
        and (MEMBERS[i].max(axis=1) >= 0.65).all()
        and MEMBERS[i].mean(axis=0).max() >= 0.65
    ]
    assert expected == [2, 5]  # the unanimous row and the one all members call class 2
    assert sorted(r["id"] for r in picked) == expected
    assert all(r["pseudo_label"] == int(votes[r["id"] - 1, 0]) for r in picked)
    # Confident on average (0.8) but one member below the threshold: only agreement drops it.
    split = _frame(spark, np.array([[[0.9, 0.1], [0.9, 0.1], [0.6, 0.4]]]))
    assert split.transform(confidence_threshold(0.65)).count() == 1
    assert split.transform(confidence_threshold(0.65, agreement=True)).count() == 0
