"""Report sections: sensitivity analysis on reference masks, and the operating point's source.

Sensitivity analysis: the same classifier pipeline trained and tested on features of the
reference masks (``classifier_reference/predictions.csv``) beside the predicted-mask
result, per set, on the cases both have. ΔAUC = AUC(predicted masks) − AUC(reference
masks), DeLong CI and paired test (:func:`nnunet_fm.model_comparison.delta_auc_paired`).
A robust-feature model (``classifier_robust/``) is added when the run has one.
"""

from __future__ import annotations

from typing import Any

from benchmarks.engine.report_common import (CLASSIFIER_JSON, MAIN_SCORE, PREDICTIONS_CSV, REFERENCE_PREDICTIONS_CSV,
                                             ROBUST_FEATURES_JSON, RunInputs, SET_LABELS, SPLIT_OF_SET, ci, f3, fmt_p,
                                             is_available, not_available_line, unavailable)
from nnunet_fm.contract import CLASSIFIER_REFERENCE_DIR, CLASSIFIER_ROBUST_DIR

SENSITIVITY_HEADING = "Sensitivity analysis: reference masks"
OPERATING_HEADING = "Operating point"
VARIANTS = {CLASSIFIER_REFERENCE_DIR: "reference masks (labels)",
            CLASSIFIER_ROBUST_DIR: "robust features (predicted masks)"}


def _paired(main, other, level: float) -> dict[str, Any]:
    from nnunet_fm.model_comparison import delta_auc_paired

    joined = main.merge(other, on="case_id", suffixes=("", "_other"), validate="one_to_one")
    if (joined["label"] != joined["label_other"]).any():
        raise ValueError("sensitivity analysis: the two predictions.csv files give different labels for case "
                         f"{joined.loc[joined['label'] != joined['label_other'], 'case_id'].iloc[0]}")
    y = joined["label"].to_numpy(int)
    result = delta_auc_paired(y, joined[MAIN_SCORE].to_numpy(float), joined[MAIN_SCORE + "_other"].to_numpy(float),
                              level)
    return {"n_cases": int(y.size), "n_only_in_one": int(len(main) + len(other) - 2 * len(joined)),
            "auc_predicted_masks": result["auc_1"], "auc_variant": result["auc_2"],
            "delta_auc": result["delta_auc"], "delta_auc_ci_low": result["delta_auc_ci_low"],
            "delta_auc_ci_high": result["delta_auc_ci_high"], "p_value": result["p_value"]}


def collect_sensitivity(run: RunInputs) -> dict[str, Any]:
    """ΔAUC predicted vs reference masks (and robust features) per set (summary key ``sensitivity_analysis``)."""
    main = run.csv(PREDICTIONS_CSV)
    if main is None:
        return unavailable(f"{PREDICTIONS_CSV} is absent")
    variants = {}
    for folder, label in VARIANTS.items():
        other = run.csv(f"{folder}/predictions.csv")
        if other is None:
            continue
        per_set = {}
        for set_name, split in SPLIT_OF_SET.items():
            a, b = main[main["split"] == split], other[other["split"] == split]
            if len(a) and len(b):
                per_set[set_name] = _paired(a[["case_id", "label", MAIN_SCORE]], b[["case_id", "label", MAIN_SCORE]],
                                            run.level)
        variants[folder] = {"label": label, "sets": per_set}
    if CLASSIFIER_REFERENCE_DIR not in variants:
        return unavailable(f"{REFERENCE_PREDICTIONS_CSV} is absent (the classifier was not run on "
                           "reference-mask features)")
    robust = run.json(ROBUST_FEATURES_JSON)
    return {"available": True, "level": run.level, "variants": variants, "robust_features": robust}


def render_sensitivity(entry: dict[str, Any]) -> list[str]:
    """Markdown of the sensitivity analysis."""
    lines = [f"## {SENSITIVITY_HEADING}", ""]
    if not is_available(entry):
        return lines + not_available_line(entry)
    lines += ["The same XGBoost pipeline trained and tested on features of the reference masks instead of the "
              "predicted ones, on the same cases. ΔAUC = AUC(predicted masks) − AUC(variant); DeLong 95% CI and "
              "paired DeLong p. Against the reference-mask variant a negative ΔAUC is what segmentation errors "
              "cost.", "",
              "| set | variant | n | AUC predicted masks | AUC variant | ΔAUC (95% CI) | p |",
              "|---|---|---|---|---|---|---|"]
    for variant in entry["variants"].values():
        for set_name, r in variant["sets"].items():
            lines.append(f"| {SET_LABELS[set_name]} | {variant['label']} | {r['n_cases']} | "
                         f"{f3(r['auc_predicted_masks'])} | {f3(r['auc_variant'])} | {f3(r['delta_auc'])} "
                         f"({ci(r['delta_auc_ci_low'], r['delta_auc_ci_high'])})"
                         f" | {fmt_p(r['p_value'])} |")
    robust = entry.get("robust_features")
    if isinstance(robust, dict):
        features = robust.get("features") or robust.get("robust_features") or []
        tau = robust.get("tau", robust.get("robust_icc_tau", "n/a"))
        lines += ["", f"Robust features: ICC(A,1) ≥ {tau} on training "
                  f"cases (predicted vs reference masks): {len(features)} feature(s)."]
    return lines + [""]


def collect_operating_point(run: RunInputs) -> dict[str, Any]:
    """Where the XGBoost threshold came from (summary key ``operating_point_source``)."""
    classifier = run.json(CLASSIFIER_JSON)
    if classifier is None:
        return unavailable(f"{CLASSIFIER_JSON} is absent")
    return {"available": True, "source": classifier.get("operating_point_source"),
            "threshold": classifier.get("threshold"), "method": classifier.get("threshold_method"),
            "rule": classifier.get("threshold_rule")}


def render_operating_point(entry: dict[str, Any]) -> list[str]:
    """One paragraph on the threshold's source and what it implies."""
    lines = [f"## {OPERATING_HEADING}", ""]
    if not is_available(entry):
        return lines + not_available_line(entry)
    source = entry["source"] or entry["method"] or "not recorded"
    return lines + [f"Threshold {f3(entry['threshold'])} ({entry['rule'] or 'rule not recorded'}); source: {source}.",
                    "", "The threshold was chosen on the training set's out-of-fold scores, so its training "
                    "sensitivity and specificity are optimistic (the threshold was fitted to them); on the test sets "
                    "it is applied unchanged, so their figures show how it transfers.", ""]
