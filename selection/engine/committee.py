"""Committees of models: M members' probability vectors per row, and what they disagree on.

Member m's probability of class c is column `<prefix><m>_class_<c>` (`selection.names`:
`DEFAULT_MEMBER_PREFIX`, `MEMBER_CLASS_INFIX`): an ensemble, MC-dropout samples or bootstrap
models. Every score is a native Spark expression over the M x C matrix of a row, in one of two
shapes. Up to `FLAT_CELLS` cells it is flat: balanced sums (`values.total`) and per-member
`greatest`, which whole-stage code generation compiles to straight-line Java with no per-row
allocation (Spark's higher-order functions run their lambdas interpreted, per element, and an
array of arrays is built per row). Beyond that it is an array of arrays walked by array
functions whose lambdas only touch their own variables: the plan holds the M * C column
references once, the depth stays constant, and each row costs O(M * C) whatever the sizes (a
lambda that captured the matrix would rebuild it per call), where one flat expression would
exceed the 8 KB of bytecode past which the JVM does not compile a generated method.

- bald: H[mean_m p_m] - mean_m H[p_m] (the mutual information of label and member), >= 0,
  and exactly 0 when the members agree exactly (rounding would leave up to ~4e-16 there, and
  such rows must tie, so that the id orders them as everywhere).
- vote_entropy: the entropy of the members' votes (each member's argmax, the lowest class on a
  tie), -sum_c (v_c / M) ln(v_c / M).
- mean_std: the mean over classes of the members' standard deviation (population, ddof = 0),
  exactly 0 for a class where the members agree: flat, from the deviations from member 0 (each
  exactly 0 then), sum d^2 - (sum d)^2 / M, whose cancellation is bounded because member 0's
  own deviation from the mean enters the variance; over arrays by Welford's update.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType

from selection.engine.values import all_of, is_numeric, total
from selection.errors import SelectionInputError
from selection.names import MEMBER_CLASS_INFIX, UncertaintyMode

# M * C up to which a score is one flat expression: at M = 5, C = 10 flat runs in a fraction of
# the arrays' CPU time; past it the arrays win (see the module docstring; measured, issue 14).
FLAT_CELLS = 50


@dataclass(frozen=True)
class Committee:
    """The member columns of a DataFrame: `columns[m][c]` is member m's class-c column."""

    prefix: str
    columns: tuple[tuple[str, ...], ...]

    @property
    def members(self) -> int:
        return len(self.columns)

    @property
    def classes(self) -> int:
        return len(self.columns[0])

    @property
    def flat(self) -> bool:
        """Whether the scores are flat expressions rather than array folds (`FLAT_CELLS`)."""
        return self.members * self.classes <= FLAT_CELLS

    @property
    def names(self) -> list[str]:
        return [name for member in self.columns for name in member]

    def raw(self, df: DataFrame) -> list[list[Column]]:
        types = {f.name: f.dataType for f in df.schema.fields}

        def double(name: str) -> Column:
            return (
                F.col(name) if isinstance(types[name], DoubleType) else F.col(name).cast("double")
            )

        return [[double(name) for name in member] for member in self.columns]

    def mean(self, df: DataFrame) -> list[Column]:
        """mean_m p_mc for each class c: a balanced sum of M columns per class."""
        raw = self.raw(df)
        m = float(self.members)
        return [total([row[c] for row in raw]) / F.lit(m) for c in range(self.classes)]

    def matrix(self, df: DataFrame) -> Column:
        """array(array(p_00, .., p_0C-1), .., array(p_M-1,0, ..)) of a row."""
        return F.array(*[F.array(*row) for row in self.raw(df)])


def find_committee(df: DataFrame, prefix: str) -> Committee | None:
    """The committee whose columns `df` holds under `prefix`, None when it holds none; raises
    when the columns break the naming contract (gaps, one member, members with other classes)."""
    if not prefix:
        return None
    pattern = re.compile(re.escape(prefix) + r"(\d+)" + re.escape(MEMBER_CLASS_INFIX) + r"(\d+)")
    found: dict[int, dict[int, str]] = {}
    for name in df.columns:
        match = pattern.fullmatch(name)
        if match:
            found.setdefault(int(match.group(1)), {})[int(match.group(2))] = name
    if not found:
        return None
    example = f"{prefix}<m>{MEMBER_CLASS_INFIX}<c>"
    if len(found) < 2:
        (only,) = found
        raise SelectionInputError(
            f"a committee needs at least two members, but only member {only} has columns "
            f"'{example}'; add the other members' columns, or use a single model's "
            "probabilities with UNCERTAINTY_MODE=margin, entropy or least_confidence"
        )
    missing = sorted(set(range(max(found) + 1)) - set(found))
    if missing:
        raise SelectionInputError(
            f"committee members must be numbered 0..{max(found)} without gaps: member "
            f"{missing[0]} has no columns '{prefix}{missing[0]}{MEMBER_CLASS_INFIX}<c>'"
        )
    classes = set(found[0])
    for member in sorted(found):
        if set(found[member]) != classes:
            extra = sorted(set(found[member]) ^ classes)[0]
            raise SelectionInputError(
                f"committee member {member} has classes {_span(found[member])} but member 0 has "
                f"{_span(found[0])} (class {extra} differs); every member needs the same classes"
            )
    if classes != set(range(max(classes) + 1)) or len(classes) < 2:
        raise SelectionInputError(
            f"committee classes must be numbered 0..C-1 with C >= 2, found {_span(found[0])} "
            f"in '{example}'"
        )
    fields = {f.name: f for f in df.schema.fields}
    for names in found.values():
        for name in names.values():
            if not is_numeric(fields[name]):
                raise SelectionInputError(
                    f"committee column '{name}' is not numeric "
                    f"(type {fields[name].dataType.simpleString()}); probabilities must be numbers"
                )
    columns = tuple(tuple(found[m][c] for c in sorted(classes)) for m in sorted(found))
    return Committee(prefix, columns)


def _span(classes: dict[int, str]) -> str:
    listed = sorted(classes)
    return ", ".join(map(str, listed)) if len(listed) <= 6 else f"{listed[0]}..{listed[-1]}"


def _p_ln_p(p: Column) -> Column:
    """p ln p, 0 where p <= 0 or null (ln is null there): never null, so that the sums over
    these terms carry no null checks, which keeps the generated code under the JIT's limit."""
    return F.coalesce(p * F.log(p), F.lit(0.0))


def _vote(row: list[Column]) -> Column:
    """1 + the class of a member's largest p (the lowest on a tie), 0 when all are null.

    array_position over the member's own array: one small array per member and row, but a
    plan of O(C) nodes; a `when` per class against the row's `greatest` is O(C^2) nodes per
    member, O(C^3) once the votes are counted per class (15,671 at M = 5, C = 10: seconds of
    planning) for no gain in CPU time (measured, issue 14).
    """
    return F.call_function("array_position", F.array(*row), F.greatest(*row))


def _entropy_of(values: Column) -> Column:
    return F.aggregate(
        values, F.lit(0.0), lambda acc, p: acc + F.when(p > 0, -p * F.log(p)).otherwise(F.lit(0.0))
    )


def _zeros(n: int) -> Column:
    return F.array_repeat(F.lit(0.0), n)


def bald(committee: Committee, df: DataFrame) -> Column:
    """H[mean p] - mean H[p], clipped at 0 against rounding, and 0 for identical members: the
    mean of M equal values is not always that value in floating point (sum, then divide)."""
    if committee.flat:
        # mean_m (sum_c p_mc ln p_mc - sum_c q_c ln q_c), with the mean q as member 0 plus the
        # mean deviation from it: q is member 0's p exactly when all agree, so each member's
        # difference is that of two identical sums, exactly 0.
        raw, size = committee.raw(df), F.lit(float(committee.members))
        q = [p0 + total([row[c] - p0 for row in raw[1:]]) / size for c, p0 in enumerate(raw[0])]
        mean_term = total([_p_ln_p(qc) for qc in q])
        gaps = [total([_p_ln_p(p) for p in row]) - mean_term for row in raw]
        return F.greatest(F.lit(0.0), total(gaps) / size)
    matrix, m = committee.matrix(df), float(committee.members)
    sums = F.aggregate(matrix, _zeros(committee.classes), lambda acc, row: _add(acc, row))
    mean = F.transform(sums, lambda s: s / F.lit(m))
    member_entropy = F.aggregate(matrix, F.lit(0.0), lambda acc, row: acc + _entropy_of(row))
    information = F.greatest(F.lit(0.0), _entropy_of(mean) - member_entropy / F.lit(m))
    # Member 0's own array, not the matrix: the lambda evaluates it once per member.
    row0 = F.array(*committee.raw(df)[0])
    unanimous = F.forall(matrix, lambda row: row == row0)
    return F.when(unanimous, F.lit(0.0)).otherwise(information)


def _add(a: Column, b: Column) -> Column:
    return F.zip_with(a, b, lambda x, y: x + y)


def vote_entropy(committee: Committee, df: DataFrame) -> Column:
    """-sum_c (v_c / M) ln(v_c / M), v_c the members whose argmax is c."""
    m = float(committee.members)
    if committee.flat:
        cast = [_vote(row) for row in committee.raw(df)]
        classes = range(committee.classes)
        tally = [total([(v == F.lit(c + 1)).cast("double") for v in cast]) for c in classes]
        # 0 - sum rather than -sum: a unanimous committee scores 0.0, not -0.0.
        return F.lit(0.0) - total([_p_ln_p(k / F.lit(m)) for k in tally])
    votes = F.transform(
        committee.matrix(df), lambda row: F.call_function("array_position", row, F.array_max(row))
    )
    counts = F.aggregate(
        votes,
        _zeros(committee.classes),
        lambda acc, v: F.transform(
            acc, lambda k, i: k + F.when(i + 1 == v, F.lit(1.0)).otherwise(F.lit(0.0))
        ),
    )
    return F.aggregate(
        counts,
        F.lit(0.0),
        lambda acc, k: (
            acc + F.when(k > 0, -(k / F.lit(m)) * F.log(k / F.lit(m))).otherwise(F.lit(0.0))
        ),
    )


def mean_std(committee: Committee, df: DataFrame) -> Column:
    """mean_c std_m p_mc, exactly 0 for a class where the members agree."""
    c = committee.classes
    if committee.flat:
        raw, m = committee.raw(df), F.lit(float(committee.members))
        stds = []
        for k in range(c):
            d = [row[k] - raw[0][k] for row in raw[1:]]  # member 0's own is 0
            s1, s2 = total(d), total([x * x for x in d])
            stds.append(F.sqrt(F.greatest(F.lit(0.0), (s2 - s1 * s1 / m) / m)))
        return total(stds) / F.lit(float(c))
    start = F.struct(F.lit(0.0).alias("n"), _zeros(c).alias("mean"), _zeros(c).alias("m2"))

    def step(acc: Column, x: Column) -> Column:
        n = acc["n"] + F.lit(1.0)
        delta = F.zip_with(x, acc["mean"], lambda xi, mu: xi - mu)
        mean = F.zip_with(acc["mean"], delta, lambda mu, d: mu + d / n)
        after = F.zip_with(x, mean, lambda xi, mu: xi - mu)
        m2 = _add(acc["m2"], F.zip_with(delta, after, lambda d, e: d * e))
        return F.struct(n.alias("n"), mean.alias("mean"), m2.alias("m2"))

    def finish(acc: Column) -> Column:
        stds = F.aggregate(
            acc["m2"], F.lit(0.0), lambda s, v: s + F.sqrt(F.greatest(F.lit(0.0), v) / acc["n"])
        )
        return stds / F.lit(float(c))

    return F.aggregate(committee.matrix(df), start, step, finish)


_SCORES = {
    UncertaintyMode.BALD: bald,
    UncertaintyMode.VOTE_ENTROPY: vote_entropy,
    UncertaintyMode.MEAN_STD: mean_std,
}


def committee_score(mode: UncertaintyMode, committee: Committee, df: DataFrame) -> Column:
    return _SCORES[mode](committee, df).cast("double")


def mean_mismatch(committee: Committee, df: DataFrame, probabilities: list[Column]) -> Column:
    """max_c |p_c - mean_m p_mc|: how far given probabilities are from the members' mean."""
    mean = committee.mean(df)
    return F.greatest(*[F.abs(p - q) for p, q in zip(probabilities, mean, strict=True)])


def committee_violation(
    committee: Committee, df: DataFrame, tolerance: float, given: list[Column] | None
) -> Column:
    """True for a row whose members break the contract: a value null, NaN or outside [0, 1], a
    member's sum off 1 by more than `tolerance`, or `given` p off the members' mean by more."""
    raw = committee.raw(df)
    if given is not None:
        check_same_classes(committee, len(given))
    flat = [p for row in raw for p in row]
    ok = [F.abs(total(row) - F.lit(1.0)) <= F.lit(tolerance) for row in raw]
    ok += [F.least(*flat) >= 0, F.greatest(*flat) <= 1]
    if given is not None:
        ok.append(mean_mismatch(committee, df, given) <= F.lit(tolerance))
    return ~F.coalesce(all_of(ok), F.lit(False))


def check_same_classes(committee: Committee, classes: int) -> None:
    """Raise unless the committee has `classes` classes, as the probability columns do."""
    if classes != committee.classes:
        raise SelectionInputError(
            f"the committee has {committee.classes} classes ('{committee.prefix}<m>_class_<c>') "
            f"but the input has {classes} probability columns; both must name the same classes"
        )


def agreement(committee: Committee, df: DataFrame, threshold: Column | float) -> Column:
    """Every member predicts the same class (member 0's argmax), each with p >= `threshold`
    (a number, or a Column such as the row's predicted class's fitted threshold)."""
    bound = threshold if isinstance(threshold, Column) else F.lit(float(threshold))
    if committee.flat:
        raw = committee.raw(df)
        votes = [_vote(row) for row in raw]
        confident = [F.greatest(*row) >= bound for row in raw]
        return all_of(confident + [v == votes[0] for v in votes[1:]])
    matrix = committee.matrix(df)
    # Member 0's own array, not the matrix: the lambda evaluates it once per member.
    row0 = F.array(*committee.raw(df)[0])
    vote0 = F.call_function("array_position", row0, F.array_max(row0))
    return F.forall(
        matrix,
        lambda row: (
            (F.array_max(row) >= bound)
            & (F.call_function("array_position", row, F.array_max(row)) == vote0)
        ),
    )
