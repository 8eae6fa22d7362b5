"""Input values as the engine sees them: numbers kept as text, and ids as identifiers.

CSV and TSV input is read with every column as text, so that what goes in comes out exactly as
written (`007`, `+1`, `1e3`, `0.000590`, a 19-digit id). The reader marks the text columns
whose sampled values are all numbers (`NUMERIC_TEXT` in the field's metadata); the engine
casts those to double inside its expressions, and treats them as numeric everywhere a numeric
column is expected (score columns, feature auto-detection). A value that does not parse is then
non-null text whose cast is null, which the job's data checks count and report.

Ids are compared the same way whatever the input format: an id written as a plain integer
(no sign other than '-', no leading zero, no blank) sorts and hashes as that integer, so a
CSV and a Parquet file with the same rows select the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import IntegralType, NumericType, StringType, StructField

# StructField metadata key the CSV/TSV reader sets on text columns that hold numbers.
NUMERIC_TEXT = "selection.numeric_text"
# An integer that a typed column would print the same way; at most 38 digits (decimal(38, 0)).
PLAIN_INT = r"^(0|-?[1-9][0-9]{0,37})$"


def column(name: str) -> Column:
    """The column called `name`, whatever it holds (`a.b` is a name here, not a struct field)."""
    return F.col("`" + name.replace("`", "``") + "`")


def is_numeric(field: StructField) -> bool:
    """A numeric column, or a text column the reader found to hold numbers."""
    if isinstance(field.dataType, NumericType):
        return True
    return isinstance(field.dataType, StringType) and bool(field.metadata.get(NUMERIC_TEXT))


def is_text(df: DataFrame, name: str) -> bool:
    return isinstance(df.schema[name].dataType, StringType)


def not_a_number(c: Column) -> Column:
    """Text that is there but does not parse as a number (the cast to double is null)."""
    return c.isNotNull() & c.cast("double").isNull()


def balanced(columns: Sequence[Column], op: Callable[[Column, Column], Column]) -> Column:
    """`op` folded over `columns` as a balanced tree: depth log2(n), not n.

    Spark's analyzer, optimizer and code generator recurse over expression trees; a left fold
    over a thousand class columns is a thousand levels deep and ends in a StackOverflowError.
    """
    level = list(columns)
    if not level:
        raise ValueError("balanced() needs at least one column")
    while len(level) > 1:
        paired = [op(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = paired + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def any_of(conditions: Sequence[Column]) -> Column:
    return balanced(conditions, lambda a, b: a | b)


def all_of(conditions: Sequence[Column]) -> Column:
    return balanced(conditions, lambda a, b: a & b)


def total(columns: Sequence[Column]) -> Column:
    return balanced(columns, lambda a, b: a + b)


def _plain_int(c: Column) -> Column:
    return c.rlike(PLAIN_INT)


def ascending_id(df: DataFrame, id_col: str) -> list[Column]:
    """Sort keys for 'ascending id': integers written plainly by value, then everything as text.

    Numeric ids sort as they are. Text ids written as plain integers sort by their value (as a
    Parquet bigint column would), the other text ids after them in text order. Only compared on
    ties of the score in front, so the regex rarely runs.
    """
    ident = F.col(id_col)
    if not is_text(df, id_col):
        return [ident.asc()]
    as_number = F.when(_plain_int(ident), ident.cast("decimal(38,0)"))
    return [as_number.asc_nulls_last(), ident.asc()]


def id_hash(df: DataFrame, id_col: str, seed: int) -> Column:
    """A seeded 64-bit hash of the id that is the same for the int, the bigint and the text 7.

    64 bits: at n rows about n^2 / 2^65 pairs collide (a 32-bit hash would collide for certain at
    10^8 rows); nothing needs the hash unique, equal hashes are ordered by id where order matters.
    """
    ident = F.col(id_col)
    if isinstance(df.schema[id_col].dataType, IntegralType):
        # xxhash64 hashes an int's 4 bytes: as a bigint, a Parquet int32 id keys as its CSV text.
        return F.xxhash64(ident.cast("long"), F.lit(seed))
    if not is_text(df, id_col):
        return F.xxhash64(ident, F.lit(seed))
    # A plain integer beyond the bigint range casts to null and is hashed as text.
    as_long = F.when(_plain_int(ident), ident.cast("long"))
    return F.when(as_long.isNotNull(), F.xxhash64(as_long, F.lit(seed))).otherwise(
        F.xxhash64(ident, F.lit(seed))
    )
