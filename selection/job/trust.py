"""What the job fits on the validation set before selecting: a temperature and class thresholds.

Runs only when CALIBRATION=temperature or CONFIDENCE_THRESHOLD=auto asks for it. The
temperature is fitted first and applied to the scores (`ScoreSpec.temperature`), so the class
thresholds, and every SSL and AL score after them, see the calibrated probabilities. The
validation set's persisted copy is read once by the temperature fit (one aggregate: the NLL at
a grid of temperatures and the ECE before) and once by the thresholds (their aggregate also
bins the calibrated confidences for the ECE after). The pool is scanned by the selection alone:
the thresholds reach it as one array lookup per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pyspark.sql import DataFrame, Observation, SparkSession

from selection.engine.values import column
from selection.errors import SelectionConfigError
from selection.job.config import JobParams
from selection.job.io import redact
from selection.job.validation import (
    FROM_INPUT,
    ValidationSet,
    read_validation,
    validation_from_input,
)
from selection.names import AUTO_THRESHOLD, INPUT_VALIDATION_DATA, PATH_ARGUMENTS, Calibration
from selection.strategies import AnyStrategy, ConfidenceThreshold
from selection.strategies.calibration import TemperatureFit, fit_temperature
from selection.strategies.pseudo_labels import kept_counts
from selection.strategies.thresholds import ClassThresholds, fit_class_thresholds

_FLAG = PATH_ARGUMENTS[INPUT_VALIDATION_DATA]


@dataclass
class Trust:
    """The strategy's parameters after calibration, the pool to select from, and the fits."""

    params: AnyStrategy
    pool: DataFrame
    validation: ValidationSet | None = None
    temperature: TemperatureFit | None = None
    thresholds: ClassThresholds | None = None
    kept_per_class: Observation | None = None
    warnings: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def class_thresholds(self) -> list[float | None] | None:
        return None if self.thresholds is None else self.thresholds.thresholds

    @property
    def source(self) -> str | None:
        return None if self.validation is None else self.validation.source

    def summary_job(self, job: JobParams) -> JobParams:
        """The job as the summary sees it: with the labelled rows used for validation (and
        so never selected), the selected rows have no label to measure accuracy against."""
        if self.validation is not None and self.validation.source == FROM_INPUT:
            return replace(job, label_field="")
        return job

    def figures(self, per_class_selected: dict[str, int]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.temperature is not None:
            out["calibration"] = self.temperature.to_json()
        if self.thresholds is not None:
            fit = self.thresholds.to_json()
            num_classes = len(self.thresholds.classes)
            counted = None
            if self.kept_per_class is not None:
                counted = kept_counts(self.kept_per_class, num_classes)
            for entry, c in zip(fit["classes"], self.thresholds.classes, strict=True):
                fitted = c.threshold is not None and counted is not None
                entry["pool_rows_above"] = counted[c.label] if fitted and counted else None
                entry["selected"] = per_class_selected.get(str(c.label), 0)
            fit["validation_rows"] = self.validation.rows if self.validation else None
            out["class_thresholds"] = fit
        return out

    def unpersist(self) -> None:
        if self.validation is not None:
            self.validation.unpersist()


def _needs(job: JobParams, params: AnyStrategy) -> list[str]:
    """The settings that need a validation set, as the user wrote them."""
    out = []
    if job.calibration is Calibration.TEMPERATURE:
        out.append("CALIBRATION=temperature")
    if isinstance(params, ConfidenceThreshold) and params.is_auto:
        out.append(f"CONFIDENCE_THRESHOLD={AUTO_THRESHOLD}")
    return out


def fit_trust(
    spark: SparkSession,
    job: JobParams,
    params: AnyStrategy,
    df: DataFrame,
    pool: DataFrame,
    validation_path: str | None,
) -> Trust:
    """Read the validation set and fit what the job asks for; `pool` is the observed input."""
    needs = _needs(job, params)
    trust = Trust(params=params, pool=pool)
    if not needs:
        if validation_path:
            trust.warnings.append(
                f"{_FLAG} {redact(validation_path)!r} was not read: only "
                f"CONFIDENCE_THRESHOLD={AUTO_THRESHOLD} and CALIBRATION=temperature use it"
            )
        trust.facts["validation"] = "not needed"
        return trust
    label = job.label_field
    if not label:
        raise SelectionConfigError(
            f"{' and '.join(needs)} needs LABEL_FIELD, the column of true labels of the "
            "validation set"
            + ("" if validation_path else f" (in {_FLAG} or in the input's labelled rows)")
        )
    scores = params.scores
    num_classes = len(scores.columns(df))
    if validation_path:
        validation = read_validation(
            spark,
            validation_path,
            id_field=params.id_col,
            label_field=label,
            scores=scores,
            num_classes=num_classes,
            tolerance=job.prob_sum_tolerance,
        )
    else:
        validation = validation_from_input(
            df,
            id_field=params.id_col,
            label_field=label,
            scores=scores,
            num_classes=num_classes,
            tolerance=job.prob_sum_tolerance,
        )
        # Labelled already: they are the validation set, never a pick.
        trust.pool = pool.filter(column(label).isNull())
    trust.validation = validation
    trust.facts.update(validation_rows=validation.rows, source=redact(validation.source))
    auto = isinstance(params, ConfidenceThreshold) and params.is_auto
    if job.calibration is Calibration.TEMPERATURE:
        # With class thresholds to fit, their aggregate bins the calibrated confidences anyway:
        # the ECE after comes from it, not from a scan of its own.
        fit = fit_temperature(validation.df, label_col=label, scores=scores, ece_after=not auto)
        scores = replace(scores, temperature=fit.temperature)
        trust.params = params = replace(params, scores=scores)
        trust.temperature = fit
        trust.facts.update(temperature=f"{fit.temperature:.4f}")
    if isinstance(params, ConfidenceThreshold) and auto:
        thresholds = fit_class_thresholds(
            validation.df,
            label_col=label,
            num_classes=num_classes,
            target_accuracy=params.target_accuracy,
            confidence_level=params.confidence_level,
            scores=scores,
        )
        trust.thresholds = thresholds
        if trust.temperature is not None and trust.temperature.ece_after is None:
            trust.temperature = replace(trust.temperature, ece_after=thresholds.ece)
        trust.kept_per_class = Observation("kept_per_class")
        trust.warnings.extend(thresholds.warnings)
        trust.facts.update(
            classes_with_threshold=num_classes - len(thresholds.left_out),
            classes=num_classes,
        )
    return trust
