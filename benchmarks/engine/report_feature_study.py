"""The report's "Radiomics feature study" section, read from ``RUN/feature_study/`` alone.

:func:`feature_study_section` renders markdown lines (links are relative to the run
folder, where ``report.md`` lives); :func:`feature_study_summary` gives the headline
counts for ``summary.json``. A missing folder or part gives "not available: <reason>",
never an error: the report must rebuild from whatever the run holds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Optional

from nnunet_fm.contract import TEST_SETS

#: Folder of the feature study inside a run (the stage's output).
FOLDER = "feature_study"
SUMMARY_FILE = "feature_study.json"
#: Section headings (the TRIPOD+AI map points at them).
FEATURE_STUDY_HEADING = "Radiomics feature study"
EXPLANATION_HEADING = "Model explanation (SHAP)"
SET_NAMES = {**{name: name.replace("_", " ") for name in TEST_SETS}, "oof": "out-of-fold (no test sets)",
             "pooled": "pooled test sets",
             "cases": "all cases"}
#: Rows of the top tables in the report (the stage's top_n may be larger).
REPORT_TOP_N = 10


def _read_json(path: Path) -> Optional[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_csv(path: Path):
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (OSError, ValueError):
        return None


def _f(value: Any, digits: int = 3) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(number) else f"{number:.{digits}f}"


def _e(value: Any) -> str:
    try:
        return f"{float(value):.1e}"
    except (TypeError, ValueError):
        return "n/a"


def _p(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    if math.isnan(number):
        return "n/a"
    return "< 0.001" if number < 0.001 else f"{number:.3f}"


def _key(tau: float) -> str:
    return f"{tau:g}".replace(".", "_")


def _reason(part: Optional[Mapping[str, Any]], default: str) -> str:
    return str((part or {}).get("reason") or default)


def _load(run_dir: Path) -> tuple[Optional[dict], str]:
    folder = Path(run_dir) / FOLDER
    summary = _read_json(folder / SUMMARY_FILE)
    if summary is None:
        return None, f"{FOLDER}/{SUMMARY_FILE} not found or unreadable (the feature_study stage did not run)"
    return summary, ""


def _main_group(robust: Mapping[str, Any]) -> tuple[str, dict]:
    group = robust.get("main_group") or next(iter(robust.get("groups") or {}), "")
    return group, (robust.get("groups") or {}).get(group, {})


def feature_study_summary(run_dir: str | Path) -> dict[str, Any]:
    """Headline numbers of the feature study (for ``summary.json``).

    Returns:
        ``{"available": False, "reason": ...}`` without a feature study; otherwise
        ``study_mode``, ICC counts of the main group (``n_features``,
        ``n_icc_at_least_<t>``), mask problems, Bland–Altman numbers, univariate,
        SHAP and robust-classifier figures (``None`` where a part did not run).
    """
    summary, reason = _load(Path(run_dir))
    if summary is None:
        return {"available": False, "reason": reason}
    out: dict[str, Any] = {"available": True, "study_mode": summary.get("study_mode")}
    robust = summary.get("robustness") or {}
    if robust.get("available"):
        group, counts = _main_group(robust)
        problems = counts.get("mask_problems") or {}
        out.update({"icc_group": group, "n_features": counts.get("n_features"),
                    **{k: v for k, v in counts.items() if k.startswith("n_icc_")},
                    "n_empty_masks_pred": problems.get("n_empty_pred"),
                    "n_empty_masks_ref": problems.get("n_empty_ref"),
                    "n_failed_cases": (problems.get("n_failed_pred") or 0) + (problems.get("n_failed_ref") or 0)})
        volume = robust.get("bland_altman") or {}
        out["bland_altman_volume_ml"] = ({k: volume.get(k) for k in ("n_cases", "bias_ml", "loa_low_ml", "loa_high_ml")}
                                         if volume.get("available") else None)
    uni = summary.get("univariate") or {}
    out["n_univariate_significant_fdr"] = uni.get("n_significant_fdr") if uni.get("available") else None
    out["fdr_alpha"] = uni.get("fdr_alpha")
    out["top_univariate_features"] = [r["feature"] for r in uni.get("top_features", [])][:REPORT_TOP_N]
    shap = summary.get("shap") or {}
    out["top_shap_features"] = [r["feature"] for r in shap.get("top_features", [])][:REPORT_TOP_N]
    out["shap_max_additivity_error_logit"] = shap.get("max_additivity_error_logit")
    rc = summary.get("robust_classifier") or {}
    out["robust_classifier"] = ({"tau": rc.get("tau"), "n_robust_features": rc.get("n_robust_features"),
                                 "n_candidate_features": rc.get("n_candidate_features"),
                                 **{name: {k: s.get(k) for k in ("auc_robust", "auc_default", "delta_auc", "p_value")}
                                    for name, s in (rc.get("by_set") or {}).items() if s.get("available")}}
                                if rc.get("available") else None)
    return out


def _robustness_lines(folder: Path, robust: Mapping[str, Any]) -> list[str]:
    sources = robust.get("sources") or {"a": "predicted masks", "b": "reference masks"}
    lines = ["### Robustness to automatic segmentation" if sources.get("b") == "reference masks"
             else f"### Agreement: {sources.get('a')} vs {sources.get('b')}", ""]
    if not robust.get("available"):
        return lines + [f"Not available: {_reason(robust, 'not computed')}.", ""]
    thresholds = [k for k in _main_group(robust)[1] if k.startswith("n_icc_at_least")]
    labels = " | ".join(f"ICC ≥ {k.split('_least_')[1].replace('_', '.')}" for k in thresholds)
    if robust.get("note"):
        lines += [f"Note: {robust['note']}.", ""]
    lines += [f"Features from {sources['a']} vs {sources['b']} on the same images: "
              f"{robust.get('icc', 'ICC(A,1)')}. Transform before the ICC: {robust.get('transform_rule', 'n/a')}.", "",
              f"| Group | Features | {labels} | ICC undefined | Empty masks ({sources['a']} / {sources['b']}) "
              "| Failed (same order) |",
              "|" + " --- |" * (5 + len(thresholds))]
    for group, counts in (robust.get("groups") or {}).items():
        p = counts.get("mask_problems") or {}
        lines.append(f"| {SET_NAMES.get(group, group)} | {counts.get('n_features')} | "
                     + " | ".join(str(counts.get(k)) for k in thresholds)
                     + f" | {counts.get('n_icc_undefined')} | {p.get('n_empty_pred')} / {p.get('n_empty_ref')} | "
                     f"{p.get('n_failed_pred')} / {p.get('n_failed_ref')} |")
    group, counts = _main_group(robust)
    problems = counts.get("mask_problems") or {}
    for label, key in ((f"Empty masks ({sources['a']})", "empty_pred_ids"),
                       (f"Failed cases ({sources['a']})", "failed_pred_ids"),
                       (f"Empty masks ({sources['b']})", "empty_ref_ids"),
                       (f"Failed cases ({sources['b']})", "failed_ref_ids")):
        if problems.get(key):
            lines += ["", f"{label}, {SET_NAMES.get(group, group)}: " + ", ".join(problems[key][:20])
                      + (" …" if len(problems[key]) > 20 else "")]
    lines += _icc_top_lines(folder, group)
    return lines + _bland_altman_lines(robust.get("bland_altman") or {}, sources)


def _icc_top_lines(folder: Path, group: str) -> list[str]:
    table = _read_csv(folder / "icc.csv")
    if table is None or "group" not in table.columns:
        return ["", "Per-feature table not available: icc.csv missing."]
    rows = table[table["group"] == group].head(REPORT_TOP_N)
    lines = ["", f"Most robust features ({SET_NAMES.get(group, group)}; all in `{FOLDER}/icc.csv`):", "",
             "| Feature | Transform | ICC(A,1) (95% CI) | Cases |", "| --- | --- | --- | --- |"]
    lines += [f"| {r.feature} | {r.transform} | {_f(r.icc_a1)} ({_f(r.icc_a1_ci_low)}–{_f(r.icc_a1_ci_high)}) | "
              f"{r.n_cases} |" for r in rows.itertuples()]
    return lines


def _bland_altman_lines(volume: Mapping[str, Any], sources: Mapping[str, str]) -> list[str]:
    if not volume.get("available"):
        return ["", f"Bland–Altman of FM volume not available: {_reason(volume, 'not computed')}.", ""]
    lines = ["", f"FM volume ({sources['a']} − {sources['b']}, ml): bias {_f(volume.get('bias_ml'), 2)}, "
             f"95% limits of agreement {_f(volume.get('loa_low_ml'), 2)} to {_f(volume.get('loa_high_ml'), 2)} "
             f"(n = {volume.get('n_cases')}, {volume.get('n_missing')} without both volumes)."]
    for name, s in (volume.get("by_set") or {}).items():
        if s.get("bias_ml") is not None:
            lines.append(f"- {SET_NAMES.get(name, name)}: bias {_f(s['bias_ml'], 2)}, LoA {_f(s.get('loa_low_ml'), 2)} "
                         f"to {_f(s.get('loa_high_ml'), 2)} (n = {s.get('n_cases')})")
    return lines + ["", f"![Bland–Altman FM volume]({FOLDER}/bland_altman.png)", ""]


def _univariate_lines(folder: Path, uni: Mapping[str, Any]) -> list[str]:
    lines = ["### Univariate analysis (training cases only)", ""]
    if not uni.get("available"):
        return lines + [f"Not available: {_reason(uni, 'not computed')}.", ""]
    lines += [f"{uni.get('n_used')} training cases ({uni.get('n_pos')} axSpA, {uni.get('n_neg')} non-axSpA; features "
              f"from out-of-fold masks), {uni.get('n_features')} features: AUC with DeLong 95% CI, two-sided "
              f"Mann–Whitney p, Benjamini–Hochberg q across features. {uni.get('n_significant_fdr')} features have "
              f"q < {uni.get('fdr_alpha')}.", "",
              "| Feature | AUC (95% CI) | p | q (BH) |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['feature']} | {_f(r.get('auc'))} ({_f(r.get('auc_ci_low'))}–{_f(r.get('auc_ci_high'))}) | "
              f"{_p(r.get('mannwhitney_p'))} | {_p(r.get('q_bh'))} |"
              for r in uni.get("top_features", [])[:REPORT_TOP_N]]
    return lines + ["", f"All features: `{FOLDER}/univariate.csv`.", ""]


def _shap_lines(shap: Mapping[str, Any], redundancy: Mapping[str, Any]) -> list[str]:
    lines = [f"### {EXPLANATION_HEADING}", ""]
    if not shap.get("available"):
        lines += [f"Not available: {_reason(shap, 'not computed')}.", ""]
    else:
        lines += [f"{shap.get('method')}, on the {SET_NAMES.get(shap.get('set'), shap.get('set'))} set "
                  f"({shap.get('n_cases')} cases; {shap.get('n_model_features')} model features; contributions "
                  f"add up to the margin within {_e(shap.get('max_additivity_error_logit'))} log-odds).", "",
                  "| Rank | Feature | mean abs SHAP (log-odds) |", "| --- | --- | --- |"]
        lines += [f"| {i} | {r['feature']} | {_f(r.get('mean_abs_shap_logit'))} |"
                  for i, r in enumerate(shap.get("top_features", [])[:REPORT_TOP_N], start=1)]
        lines += ["", f"![SHAP importance]({FOLDER}/shap_bar.png)", "", f"![SHAP beeswarm]({FOLDER}/shap_beeswarm.png)",
                  ""]
    lines += ["### Redundancy of the model's features", ""]
    if not redundancy.get("available"):
        return lines + [f"Not available: {_reason(redundancy, 'not computed')}.", ""]
    pairs = redundancy.get("redundant_pairs") or []
    text = "; ".join(f"{p['feature_1']} / {p['feature_2']} (ρ = {_f(p['rho'], 2)})" for p in pairs[:5])
    return lines + [f"Spearman correlation on the training cases, clustered (average linkage on 1 − |ρ|): "
                    f"{redundancy.get('n_redundant_pairs')} pair(s) with |ρ| ≥ {redundancy.get('redundant_rho')}"
                    + (f": {text}" if text else "") + ".", "",
                    f"![Spearman heat-map]({FOLDER}/spearman_heatmap.png)", ""]


def _robust_classifier_lines(rc: Mapping[str, Any]) -> list[str]:
    lines = ["### Robust-feature classifier", ""]
    if not rc.get("available"):
        return lines + [f"Not available: {_reason(rc, 'not computed')}.", ""]
    of = f" of {rc['n_candidate_features']}" if rc.get("n_candidate_features") is not None else ""
    lines += [f"Only features with ICC(A,1) ≥ {rc.get('tau', 'n/a')} between out-of-fold predicted and reference "
              f"masks of the training cases ({rc.get('n_robust_features', 'n/a')}{of} features) enter the classifier; "
              f"{rc.get('test')}.", "",
              "| Set | Cases | AUC robust | AUC default | ΔAUC (95% CI) | p |",
              "| --- | --- | --- | --- | --- | --- |"]
    for name, s in (rc.get("by_set") or {}).items():
        if not s.get("available"):
            lines.append(f"| {SET_NAMES.get(name, name)} | not available: {s.get('reason')} | | | | |")
            continue
        lines.append(f"| {SET_NAMES.get(name, name)} | {s['n_cases']} | {_f(s['auc_robust'])} | "
                     f"{_f(s['auc_default'])} | "
                     f"{_f(s['delta_auc'])} ({_f(s.get('delta_auc_ci_low'))} to {_f(s.get('delta_auc_ci_high'))}) | "
                     f"{_p(s.get('p_value'))} |")
    return lines + [""]


def _ibsi_lines(folder: Path) -> list[str]:
    path = folder / "ibsi_settings.md"
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return ["### Radiomics settings (IBSI)", "", "Not available: ibsi_settings.md missing.", ""]
    return ["### Radiomics settings (IBSI)", "", *text.splitlines(), ""]


def feature_study_section(run_dir: str | Path) -> list[str]:
    """Markdown lines of the "Radiomics feature study" section of a run's report."""
    run_dir = Path(run_dir)
    folder = run_dir / FOLDER
    lines = [f"## {FEATURE_STUDY_HEADING}", ""]
    summary, reason = _load(run_dir)
    if summary is None:
        return lines + [f"Not available: {reason}.", ""]
    mode = summary.get("study_mode")
    if mode != "classification":
        lines += [f"Study mode {mode}: only the agreement of mask sources is analysed; univariate analysis, SHAP "
                  "and the robust-feature classifier need a diagnosis.", ""]
    lines += _robustness_lines(folder, summary.get("robustness") or {})
    if mode == "classification":
        lines += _univariate_lines(folder, summary.get("univariate") or {})
        lines += _shap_lines(summary.get("shap") or {}, summary.get("redundancy") or {})
        lines += _robust_classifier_lines(summary.get("robust_classifier") or {})
    return lines + _ibsi_lines(folder)
