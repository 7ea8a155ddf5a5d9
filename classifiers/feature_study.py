"""Building blocks of the radiomics feature study (robustness, univariate analysis, redundancy).

Robustness to automatic segmentation compares one feature table from predicted masks with
one from reference masks (the layout of :func:`classifiers.feature_extraction.extract_features`:
``case_id``, features, ``mask_empty``, ``error``). Before the ICC each feature gets one
documented variance-stabilising transform, decided on the finite values of both sources
pooled (so both sources get the same transform):

* ``log`` when every value is strictly positive and the sample skewness (bias-corrected
  G1, ``scipy.stats.skew(bias=False)`` = R ``psych::skew(type = 2)``) exceeds 1;
* ``identity`` otherwise.

ICC(A,1) with its 95% CI comes from :mod:`classifiers.icc` (equal to R psych). Cases
that failed or had an empty mask in either source are listed by :func:`mask_problems`;
a feature's ICC uses the cases where both values are finite (``n_cases`` per feature).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from classifiers.feature_extraction import SHAPE_NOTE_COLUMN
from classifiers.icc import icc_a1, icc_a1_ci
from classifiers.shape_features import FM_T1_NOTE_COLUMN

#: Columns of a feature table that are not features (ids, flags, text notes).
NON_FEATURE_COLUMNS = ("case_id", "mask_empty", "error", FM_T1_NOTE_COLUMN, SHAPE_NOTE_COLUMN)
#: Prefix of pyradiomics provenance columns (versions, hashes, spacing): never features.
DIAGNOSTICS_PREFIX = "diagnostics_"
#: Columns of :func:`feature_icc_table`.
ICC_COLUMNS = ("feature", "transform", "skewness", "icc_a1", "icc_a1_ci_low", "icc_a1_ci_high", "n_cases",
               "icc_at_least_0_75", "icc_at_least_0_9")
#: Columns of :func:`univariate_table`.
UNIVARIATE_COLUMNS = ("feature", "n_pos", "n_neg", "n_missing", "auc", "auc_ci_low", "auc_ci_high",
                      "auc_distance_from_0_5", "mannwhitney_u", "mannwhitney_p", "q_bh")
#: Skewness above which a strictly positive feature is log-transformed.
SKEW_THRESHOLD = 1.0


def feature_columns(table) -> list[str]:
    """Feature columns of a feature table.

    All but :data:`NON_FEATURE_COLUMNS`, ``diagnostics_*`` and text columns (a column
    holding a value that is not a number, e.g. a note added by a later extractor).
    """
    import pandas as pd

    def is_text(column) -> bool:
        values = table[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            return False
        return bool((pd.to_numeric(values, errors="coerce").isna() & values.notna()).any())

    return [c for c in table.columns if c not in NON_FEATURE_COLUMNS
            and not str(c).startswith(DIAGNOSTICS_PREFIX) and not is_text(c)]


def choose_transform(values: Any, skew_threshold: float = SKEW_THRESHOLD) -> tuple[str, float]:
    """The variance-stabilising transform of one feature and the skewness it was based on.

    Args:
        values: Values of the feature (NaN/inf ignored), e.g. both mask sources pooled.
        skew_threshold: Skewness above which a strictly positive feature is logged.

    Returns:
        ``("log" | "identity", skewness)``; skewness is NaN with fewer than 3 distinct
        finite values (then ``identity``).
    """
    from scipy.stats import skew

    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 3 or np.unique(x).size < 3:
        return "identity", math.nan
    skewness = float(skew(x, bias=False))
    if np.all(x > 0) and skewness > skew_threshold:
        return "log", skewness
    return "identity", skewness


def apply_transform(values: Any, transform: str) -> np.ndarray:
    """``log`` or ``identity`` of an array of feature values."""
    x = np.asarray(values, dtype=float)
    if transform == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)
    if transform == "identity":
        return x
    raise ValueError(f"unknown transform {transform!r} (use 'log' or 'identity')")


def mask_problems(table_pred, table_ref) -> dict[str, Any]:
    """Cases that cannot give radiomics values in one of the sources, by reason.

    Returns:
        Dict ``n_cases_pred``, ``n_cases_ref``, ``empty_pred_ids``, ``empty_ref_ids``,
        ``failed_pred_ids``, ``failed_ref_ids``, ``missing_in_pred_ids``,
        ``missing_in_ref_ids`` (case ids in one table only) and the matching ``n_`` counts.
    """
    def ids(table, column):
        if column == "mask_empty":
            flag = table["mask_empty"].fillna(0).astype(int) == 1
        else:
            flag = table["error"].fillna("").astype(str) != ""
        return sorted(str(c) for c in table.loc[flag, "case_id"])

    pred_ids = set(map(str, table_pred["case_id"]))
    ref_ids = set(map(str, table_ref["case_id"]))
    out: dict[str, Any] = {"n_cases_pred": len(pred_ids), "n_cases_ref": len(ref_ids),
                           "empty_pred_ids": ids(table_pred, "mask_empty"),
                           "empty_ref_ids": ids(table_ref, "mask_empty"),
                           "failed_pred_ids": ids(table_pred, "error"), "failed_ref_ids": ids(table_ref, "error"),
                           "missing_in_pred_ids": sorted(ref_ids - pred_ids),
                           "missing_in_ref_ids": sorted(pred_ids - ref_ids)}
    for key in [k for k in out if k.endswith("_ids")]:
        out["n_" + key[:-4]] = len(out[key])
    return out


def paired_feature_values(table_pred, table_ref):
    """Both tables on their shared, successful cases, rows aligned by ``case_id``.

    Failed rows (non-empty ``error``) are left out (listed by :func:`mask_problems`);
    empty-mask rows stay (their ``fm_`` features are defined, radiomics values NaN).
    """
    def ok(table):
        good = table[table["error"].fillna("").astype(str) == ""].copy()
        good["case_id"] = good["case_id"].astype(str)
        return good.set_index("case_id")

    pred, ref = ok(table_pred), ok(table_ref)
    shared = sorted(set(pred.index) & set(ref.index))
    return pred.loc[shared], ref.loc[shared]


def feature_icc_table(table_pred, table_ref, skew_threshold: float = SKEW_THRESHOLD, level: float = 0.95):
    """Per-feature ICC(A,1) between predicted-mask and reference-mask features.

    Args:
        table_pred: Feature table from predicted masks.
        table_ref: Feature table from reference masks (same images).
        skew_threshold: See :func:`choose_transform`.
        level: Confidence level of the ICC interval.

    Returns:
        DataFrame with :data:`ICC_COLUMNS`, most agreeing first (NaN last, ties by name).
    """
    import pandas as pd

    pred, ref = paired_feature_values(table_pred, table_ref)
    names = [c for c in feature_columns(table_pred) if c in ref.columns]
    rows = []
    for name in names:
        a = pd.to_numeric(pred[name], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(ref[name], errors="coerce").to_numpy(dtype=float)
        transform, skewness = choose_transform(np.concatenate([a, b]), skew_threshold)
        ratings = np.column_stack([apply_transform(a, transform), apply_transform(b, transform)])
        complete = np.all(np.isfinite(ratings), axis=1)
        if complete.sum() >= 2:
            value = icc_a1(ratings)
            low, high = icc_a1_ci(ratings, level)
        else:  # e.g. a feature guarded to NaN on every case: no agreement to measure
            value = low = high = math.nan
        rows.append({"feature": name, "transform": transform, "skewness": skewness, "icc_a1": value,
                     "icc_a1_ci_low": low, "icc_a1_ci_high": high, "n_cases": int(complete.sum()),
                     "icc_at_least_0_75": bool(value >= 0.75), "icc_at_least_0_9": bool(value >= 0.9)})
    frame = pd.DataFrame(rows, columns=list(ICC_COLUMNS))
    frame["_key"] = frame["icc_a1"].fillna(-math.inf)
    frame = frame.sort_values(["_key", "feature"], ascending=[False, True], kind="mergesort")
    return frame.drop(columns="_key").reset_index(drop=True)


def robust_features(icc_table, tau: float = 0.75) -> list[str]:
    """Features whose ICC(A,1) is at least ``tau`` (NaN ICC never qualifies), in table order."""
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"ICC threshold tau must lie in [0, 1], got {tau}")
    values = icc_table["icc_a1"].to_numpy(dtype=float)
    return [str(f) for f, v in zip(icc_table["feature"], values) if np.isfinite(v) and v >= tau]


def bland_altman(pred_ml: Any, ref_ml: Any, z: float = 1.96) -> dict[str, Any]:
    """Bland–Altman agreement of two volume measurements (ml), differences pred - ref.

    Args:
        pred_ml: Volumes from predicted masks (ml).
        ref_ml: Volumes from reference masks (ml), same cases.
        z: Multiplier of the SD for the limits of agreement (1.96 = 95%).

    Returns:
        Dict ``n_cases``, ``n_missing`` (pairs with a NaN, left out), ``bias_ml``,
        ``sd_difference_ml``, ``loa_low_ml``, ``loa_high_ml``, ``mean_ml`` and
        ``difference_ml`` (arrays for the plot).
    """
    a = np.asarray(pred_ml, dtype=float)
    b = np.asarray(ref_ml, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"Bland-Altman: {a.size} predicted and {b.size} reference volumes")
    ok = np.isfinite(a) & np.isfinite(b)
    difference = a[ok] - b[ok]
    if difference.size < 2:
        raise ValueError(f"Bland-Altman needs >= 2 cases with both volumes, got {difference.size}")
    bias = float(difference.mean())
    sd = float(difference.std(ddof=1))
    return {"n_cases": int(ok.sum()), "n_missing": int((~ok).sum()), "bias_ml": bias, "sd_difference_ml": sd,
            "loa_low_ml": bias - z * sd, "loa_high_ml": bias + z * sd,
            "mean_ml": (a[ok] + b[ok]) / 2.0, "difference_ml": difference}


def univariate_row(values: np.ndarray, labels: np.ndarray, level: float) -> dict[str, Any]:
    """AUC with DeLong CI and two-sided Mann–Whitney test of one feature (NaN rows left out)."""
    from scipy.stats import mannwhitneyu

    from nnunet_fm.roc_stats import auc, ci_delong

    ok = np.isfinite(values)
    x, y = values[ok], labels[ok]
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    row = {"n_pos": n_pos, "n_neg": n_neg, "n_missing": int((~ok).sum())}
    if n_pos == 0 or n_neg == 0:
        return {**row, "auc": math.nan, "auc_ci_low": math.nan, "auc_ci_high": math.nan,
                "mannwhitney_u": math.nan, "mannwhitney_p": math.nan}
    low, high = ci_delong(y, x, level)
    test = mannwhitneyu(x[y == 1], x[y == 0], alternative="two-sided")
    return {**row, "auc": auc(y, x), "auc_ci_low": low, "auc_ci_high": high,
            "mannwhitney_u": float(test.statistic), "mannwhitney_p": float(test.pvalue)}


def univariate_table(features, labels: Any, columns: Sequence[str] | None = None, level: float = 0.95):
    """Per-feature discrimination on training cases, BH-adjusted across features.

    Args:
        features: Feature table (training rows only), one row per case.
        labels: Labels 0/1 (1 = axSpA) of the rows.
        columns: Features to test; default every feature column.
        level: Confidence level of the DeLong intervals.

    Returns:
        DataFrame with :data:`UNIVARIATE_COLUMNS`, sorted by ``|AUC - 0.5|`` (largest
        first, ties by name). ``mannwhitney_u`` is U of the axSpA group; ``q_bh`` is the
        Benjamini–Hochberg adjusted p over the tested features.
    """
    import pandas as pd

    from nnunet_fm.multiple_testing import benjamini_hochberg_adjust

    y = np.asarray(labels)
    if y.shape != (len(features),) or not np.isin(y, (0, 1)).all():
        raise ValueError(f"univariate analysis: need one 0/1 label per row ({len(features)} rows)")
    names = list(columns) if columns is not None else feature_columns(features)
    rows = []
    for name in names:
        values = pd.to_numeric(features[name], errors="coerce").to_numpy(dtype=float)
        rows.append({"feature": name, **univariate_row(values, y.astype(int), level)})
    frame = pd.DataFrame(rows)
    frame["auc_distance_from_0_5"] = (frame["auc"] - 0.5).abs()
    frame["q_bh"] = benjamini_hochberg_adjust(frame["mannwhitney_p"].to_numpy(dtype=float))
    frame["_key"] = frame["auc_distance_from_0_5"].fillna(-1.0)
    frame = frame.sort_values(["_key", "feature"], ascending=[False, True], kind="mergesort").drop(columns="_key")
    return frame[list(UNIVARIATE_COLUMNS)].reset_index(drop=True)


def spearman_clusters(features, columns: Sequence[str] | None = None) -> dict[str, Any]:
    """Spearman correlation of features, ordered by average-linkage clustering on 1 - |rho|.

    Args:
        features: Feature table (rows = cases).
        columns: Features to include (e.g. those entering the model); default all.

    Returns:
        Dict ``correlation`` (DataFrame in cluster order; pairwise-complete rho),
        ``order`` (feature names), ``linkage`` (scipy linkage matrix). Features with
        fewer than 3 finite values or constant are left out and listed in ``dropped``.
    """
    import pandas as pd
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    names = list(columns) if columns is not None else feature_columns(features)
    data = features[names].apply(pd.to_numeric, errors="coerce")
    usable = [c for c in names if data[c].notna().sum() >= 3 and data[c].nunique(dropna=True) > 1]
    dropped = [c for c in names if c not in usable]
    rho = data[usable].corr(method="spearman")
    if len(usable) < 2:
        return {"correlation": rho, "order": usable, "linkage": np.empty((0, 4)), "dropped": dropped}
    distance = 1.0 - np.abs(rho.to_numpy())
    distance = np.clip((distance + distance.T) / 2.0, 0.0, None)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(np.nan_to_num(distance, nan=1.0), checks=False), method="average")
    order = [usable[i] for i in leaves_list(tree)]
    return {"correlation": rho.loc[order, order], "order": order, "linkage": tree, "dropped": dropped}


def icc_counts(icc_table, thresholds: Sequence[float] = (0.75, 0.9)) -> dict[str, Any]:
    """Counts and names of features at or above each ICC threshold (for ``summary.json``).

    Returns:
        Dict ``n_features``, ``n_icc_undefined`` and per threshold ``t`` (e.g. 0.75)
        ``n_icc_at_least_0_75`` and ``features_icc_at_least_0_75``.
    """
    values = icc_table["icc_a1"].to_numpy(dtype=float)
    out: dict[str, Any] = {"n_features": int(values.size), "n_icc_undefined": int(np.isnan(values).sum())}
    for tau in thresholds:
        key = f"{tau:g}".replace(".", "_")
        names = robust_features(icc_table, tau)
        out[f"n_icc_at_least_{key}"] = len(names)
        out[f"features_icc_at_least_{key}"] = names
    return out
