"""docs/sagemaker_step.md: its Python blocks run, in order, offline; it names every field."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from builders import ActiveSampleSelectionConfig
from tests.builders.helpers import REPO

DOC = REPO / "docs" / "sagemaker_step.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.DOTALL | re.MULTILINE)


def test_doc_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the examples load conf/ as the doc says: from the repository root
    namespace: dict[str, Any] = {}
    blocks = python_blocks()
    assert len(blocks) >= 3
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    document = json.loads(namespace["definition"])
    (step,) = document["Steps"]
    assert step["Name"] == "SSLSampleSelection"
    assert step["Arguments"]["AppSpecification"]["ContainerEntrypoint"][0] == "smspark-submit"
    assert namespace["al_step"].name == "ALSampleSelection"


def test_doc_names_every_config_field() -> None:
    text = DOC.read_text()
    tiers = ActiveSampleSelectionConfig.tiers()
    for name in (*tiers["essential"], *tiers["system"], *tiers["derived"]):
        assert f"`{name}`" in text, name
