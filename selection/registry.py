"""Strategy name -> transform, with the parameters of a SelectionParams."""

from __future__ import annotations

from pyspark.sql import DataFrame

from selection.errors import SelectionConfigError
from selection.names import Strategy
from selection.params import SelectionParams
from selection.result import Selected
from selection.scores import ScoreSpec
from selection.ssl import confidence_threshold, top_k_per_class
from selection.uncertainty import uncertainty


def score_spec(params: SelectionParams) -> ScoreSpec:
    return ScoreSpec(
        prefix=params.score_field_prefix,
        single=params.score_field,
        normalize=params.normalize_scores,
    )


def select(
    df: DataFrame, params: SelectionParams, *, labeled: DataFrame | None = None
) -> Selected:
    """Run the strategy `params` names on `df`; rows whose id is in `labeled` are never chosen."""
    scores = score_spec(params)
    ident = params.id_field
    if params.strategy in (Strategy.DIVERSITY, Strategy.BADGE):
        raise SelectionConfigError(
            f"strategy '{params.strategy}' is not yet available in this version; "
            "use uncertainty for active learning"
        )
    if labeled is not None:
        df = df.join(labeled.select(ident).distinct(), on=ident, how="left_anti")
    if params.strategy is Strategy.CONFIDENCE_THRESHOLD:
        transform = confidence_threshold(
            params.confidence_threshold, params.max_samples, id_col=ident, scores=scores
        )
    elif params.strategy is Strategy.TOP_K_PER_CLASS:
        transform = top_k_per_class(
            params.k_per_class, params.max_samples, id_col=ident, scores=scores
        )
    else:
        transform = uncertainty(
            params.batch_size, params.uncertainty_mode, id_col=ident, scores=scores
        )
    return Selected(rows=df.transform(transform))
