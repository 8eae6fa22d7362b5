"""Strategy name -> transform, with the parameters of a SelectionParams."""

from __future__ import annotations

from pyspark.sql import DataFrame

from selection.engine.scores import ScoreSpec
from selection.names import Strategy
from selection.params import SelectionParams
from selection.strategies.pseudo_labels import confidence_threshold, top_k_per_class
from selection.strategies.result import Selected
from selection.strategies.uncertainty import uncertainty


def score_spec(params: SelectionParams) -> ScoreSpec:
    return ScoreSpec(
        prefix=params.score_field_prefix,
        single=params.score_field,
        normalize=params.normalize_scores,
    )


def select(df: DataFrame, params: SelectionParams, *, labeled: DataFrame | None = None) -> Selected:
    """Run the strategy `params` names on `df`; rows whose id is in `labeled` are never chosen."""
    scores = score_spec(params)
    ident = params.id_field
    if params.strategy in (Strategy.DIVERSITY, Strategy.BADGE):
        return _select_embedding(df, params, scores, labeled)
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


def _select_embedding(
    df: DataFrame, params: SelectionParams, scores: ScoreSpec, labeled: DataFrame | None
) -> Selected:
    """diversity / badge: they exclude `labeled` ids themselves (diversity also covers them)."""
    from selection.engine.blocks import resolve_feature_columns
    from selection.strategies.badge import select_badge
    from selection.strategies.diversity import select_diversity

    features = resolve_feature_columns(
        df,
        params.feature_fields,
        id_col=params.id_field,
        label_col=params.label_field,
        score_cols=scores.columns(df),
    )
    if params.strategy is Strategy.DIVERSITY:
        return select_diversity(
            df,
            params.batch_size,
            id_col=params.id_field,
            features=features,
            metric=params.metric,
            seed=params.random_seed,
            mode=params.uncertainty_mode,
            scores=scores,
            labeled=labeled,
        )
    return select_badge(
        df,
        params.batch_size,
        id_col=params.id_field,
        features=features,
        metric=params.metric,
        seed=params.random_seed,
        rounds=params.kmeans_rounds,
        mode=params.uncertainty_mode,
        scores=scores,
        labeled=labeled,
    )
