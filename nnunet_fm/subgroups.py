"""Subgroup tables: segmentation quality and discrimination by diagnosis, centre and sex,
and lesion-detection sensitivity by lesion-size tertile.

Intervals:

* DSC mean and volume-ratio median: percentile bootstrap from ``scipy.stats.bootstrap``
  (``method="percentile"``), seeded, so a table is reproducible.
* AUC: DeLong interval (:func:`nnunet_fm.roc_stats.ci_delong`, equal to R pROC). A
  subgroup with one class only (e.g. "axSpA" in the diagnosis grouping) has no AUC: NaN
  with the reason in ``auc_note``.
* Sensitivity: Wilson score interval (:func:`nnunet_fm.roc_stats.wilson_ci`, equal to R
  ``prop.test(correct = FALSE)``).

Nothing is dropped silently: cases without a DSC, or with an empty reference mask (no
volume ratio), are counted in ``n_dice_missing`` and ``n_volume_ratio_undefined``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from nnunet_fm.roc_stats import auc, ci_delong, wilson_ci

#: Columns of :func:`subgroup_table`.
SUBGROUP_COLUMNS = (
    "set", "grouping", "subgroup", "n_cases", "n_pos", "n_neg",
    "dice_mean", "dice_ci_low", "dice_ci_high", "n_dice_missing",
    "volume_ratio_median", "volume_ratio_ci_low", "volume_ratio_ci_high", "n_volume_ratio_undefined",
    "auc", "auc_ci_low", "auc_ci_high", "auc_note",
)
#: Columns of :func:`detection_by_size_tertile`.
TERTILE_COLUMNS = ("tertile", "lesion_volume_ml_min", "lesion_volume_ml_max", "n_lesions", "n_detected",
                   "sensitivity", "sensitivity_ci_low", "sensitivity_ci_high")
REQUIRED_CASE_COLUMNS = ("case_id", "set", "label", "dice", "ref_volume_ml", "pred_volume_ml", "score")


def bootstrap_ci(values: Any, statistic: str = "mean", n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """A statistic of one sample with its percentile-bootstrap interval.

    Args:
        values: The sample (NaN not allowed: drop and count them first).
        statistic: ``"mean"`` or ``"median"``.
        n_boot: Resamples.
        level: Confidence level.
        seed: Seed of the resampling (same seed, same interval).

    Returns:
        ``(estimate, ci_low, ci_high)``; the interval is NaN for fewer than 2 values.
    """
    from scipy.stats import bootstrap

    functions = {"mean": np.mean, "median": np.median}
    if statistic not in functions:
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    x = np.asarray(values, dtype=float)
    if np.isnan(x).any():
        raise ValueError("bootstrap_ci: NaN in the sample; drop and count missing values first")
    if x.size == 0:
        return math.nan, math.nan, math.nan
    estimate = float(functions[statistic](x))
    if x.size < 2 or np.all(x == x[0]):
        # one value: no interval; constant sample: every resample gives the same value
        return (estimate, math.nan, math.nan) if x.size < 2 else (estimate, estimate, estimate)
    result = bootstrap((x,), functions[statistic], n_resamples=n_boot, confidence_level=level,
                       method="percentile", vectorized=True, axis=-1, rng=np.random.default_rng(seed))
    return estimate, float(result.confidence_interval.low), float(result.confidence_interval.high)


def _auc_entry(labels: np.ndarray, scores: np.ndarray, level: float) -> dict[str, Any]:
    n_pos = int(labels.sum())
    n_neg = int(labels.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return {"auc": math.nan, "auc_ci_low": math.nan, "auc_ci_high": math.nan,
                "auc_note": f"no AUC: one class only ({n_pos} positive, {n_neg} negative)"}
    low, high = ci_delong(labels, scores, level)
    note = "" if n_pos > 1 and n_neg > 1 else "DeLong CI undefined with a single case of a class"
    return {"auc": auc(labels, scores), "auc_ci_low": low, "auc_ci_high": high, "auc_note": note}


def subgroup_row(cases, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """DSC, volume ratio and AUC of one group of cases (see :data:`SUBGROUP_COLUMNS`)."""
    labels = cases["label"].to_numpy(dtype=int)
    dice = cases["dice"].to_numpy(dtype=float)
    ref_ml = cases["ref_volume_ml"].to_numpy(dtype=float)
    pred_ml = cases["pred_volume_ml"].to_numpy(dtype=float)
    has_dice = np.isfinite(dice)
    has_ratio = np.isfinite(ref_ml) & (ref_ml > 0) & np.isfinite(pred_ml)
    dice_mean, dice_low, dice_high = bootstrap_ci(dice[has_dice], "mean", n_boot, level, seed)
    ratio_median, ratio_low, ratio_high = bootstrap_ci(pred_ml[has_ratio] / ref_ml[has_ratio], "median",
                                                       n_boot, level, seed)
    return {
        "n_cases": int(len(cases)), "n_pos": int(labels.sum()), "n_neg": int(labels.size - labels.sum()),
        "dice_mean": dice_mean, "dice_ci_low": dice_low, "dice_ci_high": dice_high,
        "n_dice_missing": int((~has_dice).sum()),
        "volume_ratio_median": ratio_median, "volume_ratio_ci_low": ratio_low, "volume_ratio_ci_high": ratio_high,
        "n_volume_ratio_undefined": int((~has_ratio).sum()),
        **_auc_entry(labels, cases["score"].to_numpy(dtype=float), level),
    }


def subgroup_table(cases, by: Sequence[str] = ("label", "center", "sex"), n_boot: int = 2000,
                   level: float = 0.95, seed: int = 0):
    """Per set: all cases, then each subgroup of each grouping column.

    Args:
        cases: One row per case with :data:`REQUIRED_CASE_COLUMNS` (``label`` 1 = axSpA,
            ``dice`` NaN when undefined, volumes in ml, ``score`` higher = axSpA) and the
            ``by`` columns.
        by: Grouping columns, e.g. ``label`` (diagnosis), ``center``, ``sex``.
        n_boot: Bootstrap resamples of the DSC and volume-ratio intervals.
        level: Confidence level of every interval.
        seed: Bootstrap seed (the same for every subgroup).

    Returns:
        DataFrame with :data:`SUBGROUP_COLUMNS` (``grouping`` ``"all"`` for the whole set).

    Raises:
        ValueError: A required column is missing.
    """
    import pandas as pd

    missing = [c for c in (*REQUIRED_CASE_COLUMNS, *by) if c not in cases.columns]
    if missing:
        raise ValueError(f"subgroup table: case table lacks column(s) {missing}")
    rows = []
    for set_name, in_set in cases.groupby("set", sort=False):
        rows.append({"set": set_name, "grouping": "all", "subgroup": "all",
                     **subgroup_row(in_set, n_boot, level, seed)})
        for column in by:
            for value, group in in_set.groupby(column, sort=True, dropna=False):
                rows.append({"set": set_name, "grouping": column, "subgroup": str(value),
                             **subgroup_row(group, n_boot, level, seed)})
    return pd.DataFrame(rows, columns=list(SUBGROUP_COLUMNS))


def detection_by_size_tertile(lesions, level: float = 0.95):
    """Lesion-detection sensitivity with Wilson CI per reference-lesion size tertile.

    Tertile edges are the 1/3 and 2/3 quantiles of ``lesion_volume_ml`` (linear
    interpolation, R's default type 7); a lesion at an edge goes to the lower tertile.

    Args:
        lesions: One row per reference lesion: ``case_id``, ``lesion_volume_ml``,
            ``detected`` (bool, by the caller's overlap rule).
        level: Confidence level of the Wilson intervals.

    Returns:
        DataFrame with :data:`TERTILE_COLUMNS`, tertiles ``small``, ``medium``, ``large``.
    """
    import pandas as pd

    missing = [c for c in ("case_id", "lesion_volume_ml", "detected") if c not in lesions.columns]
    if missing:
        raise ValueError(f"lesion table lacks column(s) {missing}")
    volume_ml = lesions["lesion_volume_ml"].to_numpy(dtype=float)
    if volume_ml.size == 0 or not np.all(np.isfinite(volume_ml)):
        raise ValueError("lesion table: lesion_volume_ml must be finite and non-empty")
    detected = lesions["detected"].to_numpy(dtype=bool)
    edges = np.quantile(volume_ml, [1.0 / 3.0, 2.0 / 3.0])
    tertile = np.searchsorted(edges, volume_ml, side="left")  # value == edge -> lower tertile
    rows = []
    for index, name in enumerate(("small", "medium", "large")):
        inside = tertile == index
        k, n = int(detected[inside].sum()), int(inside.sum())
        low, high = wilson_ci(k, n, level)
        rows.append({"tertile": name,
                     "lesion_volume_ml_min": float(volume_ml[inside].min()) if n else math.nan,
                     "lesion_volume_ml_max": float(volume_ml[inside].max()) if n else math.nan,
                     "n_lesions": n, "n_detected": k, "sensitivity": k / n if n else math.nan,
                     "sensitivity_ci_low": low, "sensitivity_ci_high": high})
    return pd.DataFrame(rows, columns=list(TERTILE_COLUMNS))
