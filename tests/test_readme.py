"""The README's configuration table and library example stay true to the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from selection.job.config import ENV_VARS
from tests.helpers import prediction_rows

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_configuration_table_lists_every_variable_with_its_default() -> None:
    table = dict(re.findall(r"^\| ([A-Z_]+) \| ([^|]+) \|", README, flags=re.MULTILINE))
    for var in ENV_VARS:
        assert var.name in table, f"{var.name} is missing from the README table"
        shown = table[var.name].strip()
        expected = "(required)" if var.default is None else (var.default or '""')
        assert shown == expected, (
            f"README says {var.name} defaults to {shown}, code says {expected}"
        )


def test_library_examples_run(spark: SparkSession) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    library = [b for b in blocks if "from selection import" in b]
    assert len(library) == 3
    rows = prediction_rows(50, classes=5, seed=2)
    predictions = spark.createDataFrame(rows)
    llm_predictions = predictions.select(
        "id", *[(predictions[f"prob_class_{c}"] * 3).alias(f"llm_{c}") for c in range(5)]
    )
    scope = {"predictions": predictions, "llm_predictions": llm_predictions}
    for block in library:
        exec(block, scope)
    for name in ("to_label", "llm", "per_class", "spread", "mixed", "batch"):
        assert scope[name].count() == 50, name  # type: ignore[attr-defined]


def test_sagemaker_example_renders_a_definition(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    (example,) = [b for b in blocks if "ActiveSampleSelectionStepBuilder" in b]
    exec(example, {})
    out = capsys.readouterr().out
    definition = json.loads(out[out.index("{") :])  # the SDK may print notices first
    (step,) = definition["Steps"]
    assert step["Type"] == "Processing"
    image = step["Arguments"]["AppSpecification"]["ImageUri"]
    assert image.endswith("sagemaker-spark-processing:3.5-cpu-py312-v1")
