"""The radiomics feature study of a run: tables in, ``feature_study/`` out.

Orchestrates the tested blocks of :mod:`classifiers.feature_study`,
:mod:`classifiers.shap_values` and :mod:`classifiers.ibsi_settings` over the files a study
run already holds (no feature is re-extracted):

- ``RUN/features/<set>.csv`` (predicted masks) and ``RUN/features/reference_<set>.csv``
  (reference masks) of the test sets -> robustness (``icc.csv``, ``bland_altman.json``);
- ``RUN/features/oof.csv`` + ``RUN/dataset/cases.csv`` (training cases only) ->
  univariate analysis (``univariate.csv``);
- ``RUN/classifier/model`` + ``RUN/features/internal_test.csv`` -> SHAP
  (``shap_values.csv``, ``mean_abs_shap.csv``) and the Spearman heat-map of the model's
  features (on the training cases);
- ``RUN/classifier/predictions.csv`` + ``RUN/classifier_robust/`` -> robust-feature
  classifier beside the default one (``robust_classifier.json``);
- the pyradiomics parameter file -> ``ibsi_settings.md``.

Every part records ``available`` and, when it could not run, the ``reason`` (a missing
input file, a segmentation-only study); malformed inputs raise with the file named.
``feature_study.json`` holds every count.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from classifiers import feature_study as fs
from nnunet_fm.atomic import write_csv, write_json, write_text
from nnunet_fm.contract import CV_SETS, TEST_SETS

LOG = logging.getLogger(__name__)

#: Volume feature of the Bland–Altman analysis.
VOLUME_FEATURE = "fm_volume_ml"
#: Group name of all robustness sets together.
POOLED = "pooled"
#: Set whose cases the SHAP values explain.
SHAP_SET = "internal_test"
#: |Spearman rho| at or above which two model features are listed as redundant.
REDUNDANT_RHO = 0.8
#: Files of ``feature_study/`` (name -> what it holds).
OUTPUT_FILES = {
    "icc": "icc.csv", "bland_altman": "bland_altman.json", "bland_altman_png": "bland_altman.png",
    "univariate": "univariate.csv", "shap_values": "shap_values.csv", "mean_abs_shap": "mean_abs_shap.csv",
    "shap_bar_png": "shap_bar.png", "shap_beeswarm_png": "shap_beeswarm.png",
    "spearman_png": "spearman_heatmap.png", "robust_classifier": "robust_classifier.json",
    "ibsi": "ibsi_settings.md", "summary": "feature_study.json",
}
CLASSIFICATION = "classification"
SEGMENTATION_ONLY = "segmentation_only"
READER_VS_READER = "reader_vs_reader"


@dataclass(frozen=True)
class StudySettings:
    """Settings of the feature study (the run config's ``feature_study`` section and friends)."""

    icc_thresholds: tuple[float, ...] = (0.75, 0.9)
    skew_threshold: float = fs.SKEW_THRESHOLD
    top_n: int = 15
    fdr_alpha: float = 0.05
    level: float = 0.95
    seed: int = 2024
    params_file: str | None = None


def unavailable(reason: str) -> dict[str, Any]:
    """A part that could not run, and why."""
    return {"available": False, "reason": reason}


# ----------------------------------------------------------------------------- inputs


def read_feature_table(path: str | os.PathLike, what: str = "feature table"):
    """A feature table (``case_id``, features, ``mask_empty``, ``error``), checked.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Unreadable, a required column missing, or a case listed twice (file named).
    """
    from nnunet_fm.input_checks import TableError, read_csv_checked

    frame = read_csv_checked(path, required_columns=("case_id", "mask_empty", "error"), what=what,
                             dtype={"case_id": str, "error": str})
    frame["case_id"] = frame["case_id"].astype(str).str.strip()
    frame["error"] = frame["error"].fillna("").astype(str).str.strip()
    repeated = frame["case_id"][frame["case_id"].duplicated()]
    if not repeated.empty:
        raise TableError(f"{what} {path}: case {repeated.iloc[0]} has more than one row")
    return frame.copy()  # one block: later merges stay fast


def _optional_table(path: Path, what: str):
    """The table at ``path``, or ``None`` when the file does not exist."""
    return read_feature_table(path, what) if path.is_file() else None


def _relative(path: Path, run_dir: Path) -> str:
    try:
        return str(path.relative_to(run_dir))
    except ValueError:
        return path.name


def read_robustness_pairs(run_dir: Path, sets: Sequence[str] = TEST_SETS) -> tuple[dict, list[str]]:
    """``{set: (predicted table, reference table)}`` of the sets with both files, and what is missing."""
    pairs, missing = {}, []
    for name in sets:
        pred_path, ref_path = run_dir / "features" / f"{name}.csv", run_dir / "features" / f"reference_{name}.csv"
        absent = [_relative(p, run_dir) for p in (pred_path, ref_path) if not p.is_file()]
        if absent:
            missing += absent
            continue
        pairs[name] = (read_feature_table(pred_path, "predicted-mask feature table"),
                       read_feature_table(ref_path, "reference-mask feature table"))
    return pairs, missing


# ------------------------------------------------------------------------- robustness


def _icc_group(pred, ref, group: str, settings: StudySettings):
    table = fs.feature_icc_table(pred, ref, skew_threshold=settings.skew_threshold, level=settings.level)
    table.insert(0, "group", group)
    counts = fs.icc_counts(table, settings.icc_thresholds)
    problems = fs.mask_problems(pred, ref)
    return table, {**counts, "mask_problems": problems}


def robustness(pairs: Mapping[str, tuple[Any, Any]], settings: StudySettings) -> tuple[Any, dict[str, Any]]:
    """Per-feature ICC(A,1) of source A vs source B per set and pooled.

    Args:
        pairs: Set name -> (table of source A, table of source B), same cases.
        settings: ICC thresholds, skewness rule, confidence level.

    Returns:
        ``(icc, summary)``: the long table (``group`` first, then :data:`feature_study.ICC_COLUMNS`)
        and per group the counts of :func:`feature_study.icc_counts` plus ``mask_problems``.
    """
    import pandas as pd

    groups = dict(pairs)
    if len(pairs) > 1:
        groups[POOLED] = (pd.concat([p for p, _ in pairs.values()], ignore_index=True),
                          pd.concat([r for _, r in pairs.values()], ignore_index=True))
    tables, summary = [], {}
    for group, (pred, ref) in groups.items():
        table, counts = _icc_group(pred, ref, group, settings)
        tables.append(table)
        summary[group] = counts
    main = POOLED if POOLED in groups else next(iter(groups))
    return pd.concat(tables, ignore_index=True), {"main_group": main, "groups": summary}


def volume_agreement(pairs: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    """Bland–Altman of FM volume (ml), source A minus source B, pooled over ``pairs`` (and per set).

    Returns:
        Dict with the pooled numbers of :func:`feature_study.bland_altman` (arrays kept
        under ``mean_ml``/``difference_ml`` for the plot) and ``by_set`` numbers; or an
        ``unavailable`` record when the column is missing or fewer than 2 cases pair up.
    """
    import pandas as pd

    aligned = {}
    for name, (pred, ref) in pairs.items():
        if VOLUME_FEATURE not in pred.columns or VOLUME_FEATURE not in ref.columns:
            return unavailable(f"no {VOLUME_FEATURE} column in the {name} feature tables")
        a, b = fs.paired_feature_values(pred, ref)
        aligned[name] = (pd.to_numeric(a[VOLUME_FEATURE], errors="coerce").to_numpy(dtype=float),
                         pd.to_numeric(b[VOLUME_FEATURE], errors="coerce").to_numpy(dtype=float))
    a_all = np.concatenate([a for a, _ in aligned.values()]) if aligned else np.empty(0)
    b_all = np.concatenate([b for _, b in aligned.values()]) if aligned else np.empty(0)
    try:
        pooled = fs.bland_altman(a_all, b_all)
    except ValueError as exc:
        return unavailable(str(exc))
    by_set = {}
    for name, (a, b) in aligned.items():
        try:
            by_set[name] = _numbers(fs.bland_altman(a, b))
        except ValueError as exc:
            by_set[name] = unavailable(str(exc))
    return {"available": True, "feature": VOLUME_FEATURE, "sets": list(aligned), **pooled, "by_set": by_set}


def _numbers(result: Mapping[str, Any]) -> dict[str, Any]:
    """A Bland–Altman result without its per-case arrays (for JSON)."""
    return {k: v for k, v in result.items() if k not in ("mean_ml", "difference_ml")}


# ------------------------------------------------------------------------- univariate


def training_rows(features, cases) -> tuple[Any, np.ndarray, dict[str, Any]]:
    """Training cases (train + validation) of a feature table with their labels.

    Returns:
        ``(rows, labels, info)``; failed rows and training cases without a feature row
        are left out and listed in ``info``.
    """
    training = cases.loc[cases["set"].isin(CV_SETS), ["case_id", "label"]]
    joined = training.merge(features, on="case_id", how="left", indicator=True, validate="one_to_one")
    no_row = joined["_merge"] == "left_only"
    failed = ~no_row & (joined["error"].fillna("") != "")
    keep = joined.loc[~no_row & ~failed].drop(columns="_merge").reset_index(drop=True)
    info = {"n_training_cases": int(len(training)), "n_used": int(len(keep)),
            "no_feature_row_ids": sorted(joined.loc[no_row, "case_id"].astype(str)),
            "failed_ids": sorted(joined.loc[failed, "case_id"].astype(str))}
    return keep, keep["label"].to_numpy(dtype=int), info


def _top_records(table, columns: Sequence[str], n: int) -> list[dict[str, Any]]:
    return [{c: row[c] for c in columns} for _, row in table.head(n).iterrows()]


def univariate(features, cases, settings: StudySettings) -> tuple[Any, dict[str, Any]]:
    """Per-feature AUC/DeLong CI, Mann–Whitney and BH q on the training cases only.

    Returns:
        ``(table, summary)`` with ``n_significant_fdr`` (q < ``fdr_alpha``) and the top rows.
    """
    rows, labels, info = training_rows(features, cases)
    if len(rows) < 2 or labels.min() == labels.max():
        raise ValueError(f"univariate analysis needs training cases of both classes; got {len(rows)} "
                         f"usable case(s) with labels {sorted(set(labels.tolist()))}")
    table = fs.univariate_table(rows, labels, columns=fs.feature_columns(features), level=settings.level)
    significant = table["q_bh"].to_numpy(dtype=float) < settings.fdr_alpha
    summary = {"available": True, "cases": "training (train + validation), features from out-of-fold masks",
               **info, "n_pos": int(labels.sum()), "n_neg": int(len(labels) - labels.sum()),
               "n_features": int(len(table)), "fdr_alpha": settings.fdr_alpha,
               "n_significant_fdr": int(np.nansum(significant)),
               "top_features": _top_records(table, ("feature", "auc", "auc_ci_low", "auc_ci_high", "mannwhitney_p",
                                                    "q_bh"), settings.top_n)}
    return table, summary


# ------------------------------------------------------------------------------- model


def shap_explanation(model: Any, test_features, settings: StudySettings) -> tuple[Any, Any, dict[str, Any]]:
    """SHAP contributions of the saved model on the successful rows of a test feature table.

    Returns:
        ``(contributions, importance, summary)``; ``summary["max_additivity_error_logit"]``
        is the largest |sum of contributions + bias - margin| over the cases.
    """
    from classifiers.shap_values import BIAS_COLUMN, MARGIN_COLUMN, mean_abs_shap, shap_contributions

    rows = test_features.loc[test_features["error"] == ""].reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"SHAP: no {SHAP_SET} case with features")
    contributions = shap_contributions(model, rows)
    importance = mean_abs_shap(contributions)
    feature_part = contributions.drop(columns=[BIAS_COLUMN, MARGIN_COLUMN]).sum(axis=1) + contributions[BIAS_COLUMN]
    error = float(np.max(np.abs(feature_part - contributions[MARGIN_COLUMN])))
    summary = {"available": True, "set": SHAP_SET, "n_cases": int(len(rows)),
               "n_failed_left_out": int(len(test_features) - len(rows)),
               "n_model_features": len(model.selected_features), "units": "log-odds (XGBoost margin)",
               "method": "XGBoost TreeSHAP (Booster.predict(pred_contribs=True)) of the final model",
               "max_additivity_error_logit": error,
               "top_features": _top_records(importance, ("feature", "mean_abs_shap_logit"), settings.top_n)}
    return contributions, importance, summary


def redundancy(train_rows, features: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Spearman clusters of the model's features on the training cases, and the redundant pairs.

    Returns:
        ``(clusters, summary)``: :func:`feature_study.spearman_clusters` output and a
        summary with the pairs at ``|rho| >= REDUNDANT_RHO``.
    """
    clusters = fs.spearman_clusters(train_rows, columns=list(features))
    rho = clusters["correlation"]
    pairs = [{"feature_1": a, "feature_2": b, "rho": float(rho.loc[a, b])}
             for i, a in enumerate(clusters["order"]) for b in clusters["order"][i + 1:]
             if np.isfinite(rho.loc[a, b]) and abs(rho.loc[a, b]) >= REDUNDANT_RHO]
    pairs.sort(key=lambda p: (-abs(p["rho"]), p["feature_1"], p["feature_2"]))
    summary = {"available": True, "cases": "training", "n_features": len(clusters["order"]),
               "features_left_out": clusters["dropped"], "redundant_rho": REDUNDANT_RHO,
               "n_redundant_pairs": len(pairs), "redundant_pairs": pairs[:50]}
    return clusters, summary


def _read_predictions(path: Path):
    from nnunet_fm.input_checks import read_csv_checked

    frame = read_csv_checked(path, required_columns=("case_id", "set", "label"), numeric_columns=("score_xgboost",),
                             what="predictions", dtype={"case_id": str, "set": str})
    frame["case_id"] = frame["case_id"].astype(str).str.strip()
    return frame


def robust_comparison(default, robust, level: float, robust_features_info: Mapping[str, Any] | None = None):
    """AUC of the robust-feature classifier beside the default one per test set (paired DeLong).

    Args:
        default: ``classifier/predictions.csv`` as a DataFrame.
        robust: ``classifier_robust/predictions.csv`` as a DataFrame.
        level: Confidence level of the ΔAUC interval.
        robust_features_info: Content of ``robust_features.json`` (kept in the result).

    Returns:
        Dict ``by_set``: set -> ``n_cases``, ``auc_robust``, ``auc_default``, ``delta_auc``
        (robust - default) with CI, ``z`` and ``p_value``; sets without both classes
        are listed with a reason.
    """
    from nnunet_fm.model_comparison import delta_auc_paired

    by_set = {}
    for name in TEST_SETS:
        a = default.loc[default["set"] == name, ["case_id", "label", "score_xgboost"]]
        b = robust.loc[robust["set"] == name, ["case_id", "score_xgboost"]]
        both = a.merge(b, on="case_id", suffixes=("_default", "_robust"), validate="one_to_one")
        both = both.dropna(subset=["score_xgboost_default", "score_xgboost_robust"])
        labels = both["label"].to_numpy(dtype=int)
        if len(both) < 2 or labels.min() == labels.max():
            by_set[name] = unavailable(f"{len(both)} paired case(s) in {name}, need both classes")
            continue
        test = delta_auc_paired(labels, both["score_xgboost_robust"], both["score_xgboost_default"], level=level)
        by_set[name] = {"available": True, "n_cases": int(len(both)), "auc_robust": test["auc_1"],
                        "auc_default": test["auc_2"], **{k: v for k, v in test.items() if k not in ("auc_1", "auc_2")}}
    info = dict(robust_features_info or {})
    return {"available": True, "test": "paired DeLong (pROC roc.test), delta = robust - default", "level": level,
            "robust_features": info, "by_set": by_set}


def ibsi_table(params_file: str | None) -> tuple[str, dict[str, Any]]:
    """Markdown IBSI table of the parameter file the features were made with (default: the shipped one)."""
    from classifiers.feature_extraction import default_params_file
    from classifiers.ibsi_settings import ibsi_settings_markdown

    path = Path(params_file) if params_file else default_params_file()
    return ibsi_settings_markdown(path), {"available": True, "params_file": path.name}


# ------------------------------------------------------------------------ orchestration


def study_mode_of_run(run_dir: Path, segmentation_only: bool) -> str:
    """``segmentation_only`` when asked or when ``RUN/dataset/dataset_meta.json`` says so."""
    import json

    if segmentation_only:
        return SEGMENTATION_ONLY
    meta = run_dir / "dataset" / "dataset_meta.json"
    if meta.is_file():
        try:
            mode = json.loads(meta.read_text(encoding="utf-8")).get("study_mode")
        except (ValueError, AttributeError) as exc:
            raise ValueError(f"{meta}: not a JSON object ({exc})") from None
        if mode == SEGMENTATION_ONLY:
            return SEGMENTATION_ONLY
    return CLASSIFICATION


def _write_robustness(pairs: Mapping[str, tuple[Any, Any]], out: Path, settings: StudySettings,
                      sources: Mapping[str, str]) -> dict[str, Any]:
    """``icc.csv``, ``bland_altman.json`` and its PNG; the robustness summary."""
    from nnunet_fm.stat_plots import plot_bland_altman

    icc, summary = robustness(pairs, settings)
    write_csv(out / OUTPUT_FILES["icc"], icc)
    volume = volume_agreement(pairs)
    write_json(out / OUTPUT_FILES["bland_altman"], _numbers(volume))
    if volume["available"]:
        plot_bland_altman(volume, out / OUTPUT_FILES["bland_altman_png"],
                          title=f"FM volume: {sources['a']} vs {sources['b']}")
    return {"available": True, "sources": dict(sources), "sets": list(pairs),
            "transform_rule": f"log if every value > 0 and bias-corrected skewness > {settings.skew_threshold:g}, "
                              "else identity (decided per feature and group on both sources pooled)",
            "icc": "ICC(A,1) two-way random, absolute agreement, single measures (psych ICC2), "
                   f"{settings.level:.0%} CI", **summary, "bland_altman": _numbers(volume)}


def _write_univariate(run_dir: Path, out: Path, settings: StudySettings, cases) -> tuple[dict[str, Any], Any]:
    oof_path = run_dir / "features" / "oof.csv"
    if not oof_path.is_file():
        return unavailable(f"{_relative(oof_path, run_dir)} not found"), None
    features = read_feature_table(oof_path, "training (out-of-fold) feature table")
    table, summary = univariate(features, cases, settings)
    write_csv(out / OUTPUT_FILES["univariate"], table)
    return summary, features


def _write_model_parts(run_dir: Path, out: Path, settings: StudySettings, train_features,
                       cases) -> tuple[dict[str, Any], dict[str, Any]]:
    """SHAP on the internal test set and the Spearman heat-map of the model's features."""
    from classifiers.model_io import load_model
    from nnunet_fm.stat_plots import plot_correlation_heatmap, plot_shap_bar, plot_shap_beeswarm

    model_dir, test_path = run_dir / "classifier" / "model", run_dir / "features" / f"{SHAP_SET}.csv"
    if not (model_dir / "pipeline.json").is_file():
        reason = f"no final model ({_relative(model_dir, run_dir)}/pipeline.json not found)"
        return unavailable(reason), unavailable(reason)
    model = load_model(model_dir)
    shap_summary = unavailable(f"{_relative(test_path, run_dir)} not found")
    if test_path.is_file():
        test = read_feature_table(test_path, f"{SHAP_SET} feature table")
        contributions, importance, shap_summary = shap_explanation(model, test, settings)
        write_csv(out / OUTPUT_FILES["shap_values"], contributions.reset_index())
        write_csv(out / OUTPUT_FILES["mean_abs_shap"], importance)
        plot_shap_bar(importance, out / OUTPUT_FILES["shap_bar_png"], top_n=settings.top_n)
        values = test.loc[test["error"] == ""].reset_index(drop=True)
        plot_shap_beeswarm(contributions.reset_index(drop=True), values, out / OUTPUT_FILES["shap_beeswarm_png"],
                           top_n=min(settings.top_n, 10), seed=settings.seed)
    if train_features is None:
        return shap_summary, unavailable("no training feature table")
    rows, _, _ = training_rows(train_features, cases)
    clusters, redundancy_summary = redundancy(rows, model.selected_features)
    if len(clusters["order"]) >= 2:
        plot_correlation_heatmap(clusters["correlation"], out / OUTPUT_FILES["spearman_png"])
    else:
        redundancy_summary = {**redundancy_summary, "available": False,
                              "reason": f"{len(clusters['order'])} usable model feature(s), need 2"}
    return shap_summary, redundancy_summary


def _write_robust_classifier(run_dir: Path, out: Path, settings: StudySettings) -> dict[str, Any]:
    import json

    robust_dir = run_dir / "classifier_robust"
    default_path, robust_path = run_dir / "classifier" / "predictions.csv", robust_dir / "predictions.csv"
    info_path = robust_dir / "robust_features.json"
    try:
        info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    except ValueError as exc:
        raise ValueError(f"{info_path}: not valid JSON ({exc})") from None
    for path in (robust_path, default_path):
        if not path.is_file():
            note = info.get("note") if isinstance(info, dict) else None
            return unavailable(note or f"{_relative(path, run_dir)} not found (robust classifier off: "
                                       "classifier.robust_icc_tau null, or the classify stage did not write it)")
    result = robust_comparison(_read_predictions(default_path), _read_predictions(robust_path), settings.level,
                               info if isinstance(info, dict) else {})
    write_json(out / OUTPUT_FILES["robust_classifier"], result)
    return result


def _load_cases(run_dir: Path):
    from classifiers.classification import load_cases

    return load_cases(run_dir / "dataset" / "cases.csv")


def _compact_robust(result: Mapping[str, Any]) -> dict[str, Any]:
    """The robust-classifier record of ``feature_study.json`` (feature list left in its own file)."""
    if not result.get("available"):
        return dict(result)
    info = result.get("robust_features") or {}
    names = info.get("features") if isinstance(info.get("features"), list) else None
    return {**{k: v for k, v in result.items() if k != "robust_features"},
            "tau": info.get("tau"), "n_candidate_features": info.get("n_features"),
            "n_robust_features": len(names) if names is not None else info.get("n_kept")}


def _finish(out: Path, summary: dict[str, Any], started: float) -> dict[str, Any]:
    summary["files"] = sorted(p.name for p in out.iterdir() if p.is_file() and not p.name.startswith("."))
    summary["files"].append(OUTPUT_FILES["summary"])
    summary["elapsed_s"] = round(time.perf_counter() - started, 2)
    write_json(out / OUTPUT_FILES["summary"], summary)
    return summary


def run_feature_study(run_dir: str | os.PathLike, out_dir: str | os.PathLike, settings: StudySettings,
                      segmentation_only: bool = False) -> dict[str, Any]:
    """The feature study of a run folder into ``out_dir`` (replaced as a whole, atomically).

    Args:
        run_dir: Results folder of a study run.
        out_dir: Output folder (``RUN/feature_study`` in the study).
        settings: Thresholds, levels, parameter file.
        segmentation_only: No diagnosis: robustness only (also read from ``dataset_meta.json``).

    Returns:
        The content of ``feature_study.json``.

    Raises:
        ValueError: A malformed input (file named), or no part could run at all.
    """
    from nnunet_fm.atomic import atomic_dir

    started, run_dir = time.perf_counter(), Path(run_dir)
    mode = study_mode_of_run(run_dir, segmentation_only)
    pairs, missing = read_robustness_pairs(run_dir)
    oof_fallback = not pairs
    if oof_fallback:  # a cohort without test sets: out-of-fold masks are still unseen by their model
        pairs, _ = read_robustness_pairs(run_dir, ("oof",))
    no_diagnosis = unavailable("segmentation-only study: no diagnosis to analyse")
    with atomic_dir(out_dir, overwrite=True, owner_marker=True) as out:
        summary: dict[str, Any] = {"study_mode": mode, "settings": asdict(settings)}
        summary["settings"]["params_file"] = Path(settings.params_file).name if settings.params_file else None
        summary["robustness"] = (_write_robustness(pairs, out, settings, {"a": "predicted masks",
                                                                            "b": "reference masks"})
                                 if pairs else unavailable(f"missing feature tables: {', '.join(missing)}"))
        if pairs and missing:
            summary["robustness"]["missing_tables"] = missing
        if pairs and oof_fallback:
            summary["robustness"]["note"] = ("no test sets: predicted = out-of-fold masks of the cross-validation "
                                             "(each from the fold model that did not train on the case)")
        if mode == CLASSIFICATION:
            cases = _load_cases(run_dir)
            summary["univariate"], train_features = _write_univariate(run_dir, out, settings, cases)
            summary["shap"], summary["redundancy"] = _write_model_parts(run_dir, out, settings, train_features, cases)
            summary["robust_classifier"] = _compact_robust(_write_robust_classifier(run_dir, out, settings))
        else:
            for part in ("univariate", "shap", "redundancy", "robust_classifier"):
                summary[part] = no_diagnosis
        markdown, summary["ibsi"] = ibsi_table(settings.params_file)
        write_text(out / OUTPUT_FILES["ibsi"], markdown)
        if not any(summary[p].get("available") for p in ("robustness", "univariate", "shap")):
            raise ValueError(f"feature study of {run_dir}: nothing to analyse ({summary['robustness']['reason']}; "
                             f"{summary.get('univariate', {}).get('reason', '')})")
        summary = _finish(out, summary, started)
    LOG.info("feature study: %s", _log_line(summary))
    return summary


def _log_line(summary: Mapping[str, Any]) -> str:
    parts = []
    robust = summary.get("robustness", {})
    if robust.get("available"):
        group = robust["groups"][robust["main_group"]]
        parts += [f"{group['n_features']} features, " + ", ".join(
            f"{v} with ICC >= {k.rsplit('_', 2)[-2]}.{k.rsplit('_', 1)[-1]}" for k, v in group.items()
            if k.startswith("n_icc_at_least"))]
    uni = summary.get("univariate", {})
    if uni.get("available"):
        parts.append(f"{uni['n_significant_fdr']} significant at FDR {uni['fdr_alpha']:g}")
    return "; ".join(parts) or "robustness and univariate parts not available"


def run_reader_agreement(source_a: str | os.PathLike, source_b: str | os.PathLike, out_dir: str | os.PathLike,
                         settings: StudySettings, labels: tuple[str, str] = ("A", "B"),
                         images: str | os.PathLike | None = None, jobs: int = 2) -> dict[str, Any]:
    """Agreement of two mask sources (e.g. two readers): the robustness part only.

    Args:
        source_a: Feature table of source A, or its mask folder when ``images`` is given.
        source_b: The same for source B.
        out_dir: Output folder (replaced atomically).
        settings: Thresholds and levels.
        labels: Names of the two sources in the outputs.
        images: Image folder: extract features of both mask folders first (into
            ``features_a.csv``/``features_b.csv`` in ``out_dir``).
        jobs: Extraction workers.
    """
    from nnunet_fm.atomic import atomic_dir

    started = time.perf_counter()
    with atomic_dir(out_dir, overwrite=True, owner_marker=True) as out:
        if images is not None:
            from classifiers.feature_extraction import extract_features

            for name, masks in (("a", source_a), ("b", source_b)):
                extract_features(images, masks, params_file=settings.params_file, jobs=jobs,
                                 out_csv=out / f"features_{name}.csv")
            source_a, source_b = out / "features_a.csv", out / "features_b.csv"
        pairs = {"cases": (read_feature_table(source_a, f"feature table of {labels[0]}"),
                           read_feature_table(source_b, f"feature table of {labels[1]}"))}
        summary: dict[str, Any] = {"study_mode": READER_VS_READER, "settings": asdict(settings),
                                   "robustness": _write_robustness(pairs, out, settings,
                                                                   {"a": labels[0], "b": labels[1]})}
        summary["settings"]["params_file"] = Path(settings.params_file).name if settings.params_file else None
        for part in ("univariate", "shap", "redundancy", "robust_classifier"):
            summary[part] = unavailable("reader vs reader agreement: no classifier or diagnosis involved")
        markdown, summary["ibsi"] = ibsi_table(settings.params_file)
        write_text(out / OUTPUT_FILES["ibsi"], markdown)
        summary = _finish(out, summary, started)
    LOG.info("reader agreement: %s", _log_line(summary))
    return summary
