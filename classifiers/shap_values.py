"""SHAP values of the saved XGBoost classifier from XGBoost's own TreeSHAP.

``Booster.predict(DMatrix, pred_contribs=True)`` gives, per case, one contribution per
booster feature plus a bias column; they add up to the case's margin (log-odds,
``output_margin=True``). No extra package is needed. The input is what the classifier
stage saves (``model.json`` + ``pipeline.json``, loaded by
:func:`classifiers.model_io.load_model`) and the feature table of the cases to explain;
imputation and column selection are the saved model's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Extra columns of :func:`shap_contributions` besides one column per selected feature.
BIAS_COLUMN = "shap_bias"
MARGIN_COLUMN = "margin_logit"


def shap_contributions(model: Any, features, case_ids: Any = None):
    """Per-case SHAP contributions (log-odds) of each selected feature.

    Args:
        model: A :class:`classifiers.model_io.SavedClassifier`.
        features: Feature table with the model's training columns (any order, extra
            columns ignored).
        case_ids: Row labels of the result; default the table's ``case_id`` column if
            present, else its index.

    Returns:
        DataFrame with one column per selected feature (booster order), ``shap_bias``
        and ``margin_logit`` (the booster's own margin; each row's contributions plus
        bias equal it up to float32 rounding).
    """
    import pandas as pd
    import xgboost

    # the saved model's own imputation and column selection (same float32 input as predict_proba)
    matrix = model.selected_matrix(features)
    dmatrix = xgboost.DMatrix(matrix.astype(np.float32), feature_names=list(model.selected_features))
    contributions = np.asarray(model.booster.predict(dmatrix, pred_contribs=True), dtype=float)
    margin = np.asarray(model.booster.predict(dmatrix, output_margin=True), dtype=float)
    if case_ids is None:
        case_ids = features["case_id"].to_numpy() if "case_id" in getattr(features, "columns", []) else features.index
    frame = pd.DataFrame(contributions[:, :-1], columns=list(model.selected_features),
                         index=pd.Index(case_ids, name="case_id"))
    frame[BIAS_COLUMN] = contributions[:, -1]
    frame[MARGIN_COLUMN] = margin
    return frame


def mean_abs_shap(contributions):
    """Mean |SHAP| per feature, largest first (ties by name).

    Args:
        contributions: Output of :func:`shap_contributions`.

    Returns:
        DataFrame ``feature, mean_abs_shap_logit, rank``.
    """
    import pandas as pd

    values = contributions.drop(columns=[BIAS_COLUMN, MARGIN_COLUMN]).abs().mean(axis=0)
    frame = pd.DataFrame({"feature": values.index.astype(str), "mean_abs_shap_logit": values.to_numpy(dtype=float)})
    frame = frame.sort_values(["mean_abs_shap_logit", "feature"], ascending=[False, True], kind="mergesort")
    frame["rank"] = np.arange(1, len(frame) + 1)
    return frame.reset_index(drop=True)
