"""Paired comparison of models scored on the same cases: ΔAUC, DeLong test, Holm.

``delta_auc_paired`` reproduces R pROC's ``roc.test(method = "delong", paired = TRUE)``:
the difference ``AUC_1 - AUC_2``, its DeLong variance ``var_1 + var_2 - 2 cov`` (from
:func:`nnunet_fm.roc_stats.delong_components`), the normal Z, the two-sided p and the
confidence interval ``Δ ± z_(1-α/2) · sd`` (not clipped, as in pROC). ``compare_models``
tests every model against one reference model in one set and Holm-adjusts the p values
within that family (one family per test set).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from nnunet_fm.multiple_testing import holm_adjust
from nnunet_fm.roc_stats import check_binary_input, delong_components, delong_test_paired

#: Columns of :func:`compare_models`.
COMPARISON_COLUMNS = ("model", "reference_model", "n_cases", "auc_model", "auc_reference", "delta_auc",
                      "delta_auc_ci_low", "delta_auc_ci_high", "z", "p_value", "p_holm")


def delta_auc_paired(y_true: Any, y_score_1: Any, y_score_2: Any, level: float = 0.95) -> dict[str, float]:
    """AUC difference of two scores on the same cases with DeLong CI and paired test.

    Args:
        y_true: Labels 0/1.
        y_score_1: Scores of model 1 (higher = positive).
        y_score_2: Scores of model 2 on the same cases.
        level: Confidence level of the interval of the difference.

    Returns:
        Dict ``auc_1``, ``auc_2``, ``delta_auc`` (= auc_1 - auc_2), ``delta_auc_sd``,
        ``delta_auc_ci_low``, ``delta_auc_ci_high``, ``z``, ``p_value``. With one case of
        a class the variance is undefined: sd, CI, z and p are NaN.
    """
    from scipy.special import ndtri

    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    y, s_1 = check_binary_input(y_true, y_score_1, name="score 1")
    _, s_2 = check_binary_input(y, y_score_2, name="score 2")
    comp = delong_components(y, np.vstack([s_1, s_2]))
    cov = comp.covariance()
    delta = float(comp.auc[0] - comp.auc[1])
    variance = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    sd = math.sqrt(max(variance, 0.0)) if not math.isnan(variance) else math.nan
    half = float(ndtri(0.5 + level / 2.0)) * sd
    test = delong_test_paired(y, s_1, s_2)
    return {"auc_1": float(comp.auc[0]), "auc_2": float(comp.auc[1]), "delta_auc": delta, "delta_auc_sd": sd,
            "delta_auc_ci_low": delta - half, "delta_auc_ci_high": delta + half,
            "z": test.statistic, "p_value": test.p_value}


def compare_models(y_true: Any, scores: Mapping[str, Any], reference_model: str, level: float = 0.95):
    """Every model against one reference model on the same cases, Holm within the family.

    Args:
        y_true: Labels 0/1 of one test set.
        scores: Model name -> scores (same cases, same order).
        reference_model: Key of ``scores`` the others are compared with (e.g. ``"clinical"``).
        level: Confidence level of the ΔAUC intervals.

    Returns:
        DataFrame with :data:`COMPARISON_COLUMNS`, one row per non-reference model;
        ``delta_auc = auc_model - auc_reference``; ``p_holm`` adjusts over the rows.

    Raises:
        ValueError: Unknown reference model, or fewer than two models.
    """
    import pandas as pd

    if reference_model not in scores:
        raise ValueError(f"reference model {reference_model!r} not among the scores {sorted(scores)}")
    if len(scores) < 2:
        raise ValueError("model comparison needs at least two models")
    rows = []
    for name, values in scores.items():
        if name == reference_model:
            continue
        result = delta_auc_paired(y_true, values, scores[reference_model], level)
        rows.append({"model": name, "reference_model": reference_model, "n_cases": int(np.asarray(y_true).size),
                     "auc_model": result["auc_1"], "auc_reference": result["auc_2"],
                     "delta_auc": result["delta_auc"], "delta_auc_ci_low": result["delta_auc_ci_low"],
                     "delta_auc_ci_high": result["delta_auc_ci_high"], "z": result["z"],
                     "p_value": result["p_value"]})
    table = pd.DataFrame(rows)
    table["p_holm"] = holm_adjust(table["p_value"].to_numpy(dtype=float))
    return table[list(COMPARISON_COLUMNS)]
