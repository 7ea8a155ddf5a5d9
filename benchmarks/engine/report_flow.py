"""Report section: patient flow (counts per set and class, exclusions) and the baseline table.

Counts and baseline characteristics come from ``dataset/cases.csv``; the FM volume of the
reference mask from ``segmentation/<set>.csv`` (``ref_volume_ml``). Exclusions are those the
converter recorded in ``dataset/dataset_meta.json`` (``excluded_cases`` or ``exclusions``)
and the cases the classifier left out (``classifier/classifier.json`` ``excluded_cases``).
"""

from __future__ import annotations

from typing import Any

from benchmarks.engine.report_common import (CASES_CSV, CLASSIFIER_JSON, RunInputs, is_available, not_available_line,
                                             seg_csv, unavailable)
from nnunet_fm.contract import PREDICTION_SETS, SETS

FLOW_HEADING = "Patient flow and baseline characteristics"
SET_ORDER = SETS
CLASS_NAMES = {1: "axSpA", 0: "non-axSpA"}


def _exclusion_list(value: Any, stage: str) -> list[dict[str, Any]]:
    """Exclusions as ``[{"stage", "case", "reason"}]`` from a list of ids/dicts or an id -> reason map."""
    if isinstance(value, dict):
        return [{"stage": stage, "case": str(k), "reason": str(v)} for k, v in value.items()]
    out = []
    for item in value or []:
        if isinstance(item, dict):
            case = item.get("case_id") or item.get("patient_id") or item.get("case") or "?"
            out.append({"stage": stage, "case": str(case), "reason": str(item.get("reason", "no reason recorded"))})
        else:
            out.append({"stage": stage, "case": str(item), "reason": "no reason recorded"})
    return out


def _exclusions(run: RunInputs) -> dict[str, Any]:
    meta = run.meta or {}
    key = next((k for k in ("excluded_cases", "exclusions") if k in meta), None)
    converter = _exclusion_list(meta[key], "convert") if key else None
    classifier = (run.json(CLASSIFIER_JSON) or {}).get("excluded_cases")
    return {"converter_recorded": converter is not None, "classifier_recorded": classifier is not None,
            "rows": (converter or []) + _exclusion_list(classifier, "classify")}


def _flow_rows(cases, classification: bool) -> list[dict[str, Any]]:
    rows = []
    for set_name in SET_ORDER:
        in_set = cases[cases["set"] == set_name]
        row = {"set": set_name, "n": int(len(in_set))}
        if classification:
            for label, name in CLASS_NAMES.items():
                row[name] = int((in_set["label"] == label).sum())
        rows.append(row)
    return rows


def _describe_group(group, volume_by_case: dict[str, float]) -> dict[str, Any]:
    """Age mean ± SD, % female, reference FM volume median [IQR] of one group."""
    import numpy as np

    age = group["age"].to_numpy(float) if "age" in group else np.array([])
    age = age[np.isfinite(age)]
    sex = group["sex"].dropna().astype(str).str.upper() if "sex" in group else group["case_id"].iloc[:0]
    volumes = np.array([volume_by_case[c] for c in group["case_id"].astype(str) if c in volume_by_case], float)
    volumes = volumes[np.isfinite(volumes)]
    quartiles = np.percentile(volumes, [25, 50, 75]) if volumes.size else [None] * 3
    return {"n": int(len(group)), "n_age": int(age.size),
            "age_mean": float(age.mean()) if age.size else None,
            "age_sd": float(age.std(ddof=1)) if age.size > 1 else None,
            "n_sex": int(sex.size), "female_fraction": float((sex == "F").mean()) if sex.size else None,
            "n_volume": int(volumes.size), "fm_volume_ml_median": _opt(quartiles[1]),
            "fm_volume_ml_q1": _opt(quartiles[0]), "fm_volume_ml_q3": _opt(quartiles[2])}


def _opt(value: Any) -> Any:
    return None if value is None else float(value)


def _reference_volumes(run: RunInputs) -> dict[str, float]:
    volumes: dict[str, float] = {}
    for set_name in PREDICTION_SETS:
        seg = run.csv(seg_csv(set_name))
        if seg is not None and "ref_volume_ml" in seg:
            volumes.update(zip(seg["case_id"].astype(str), seg["ref_volume_ml"].astype(float)))
    return volumes


def collect_flow(run: RunInputs) -> dict[str, Any]:
    """Patient flow and baseline table (summary keys ``patient_flow`` and ``baseline_table``)."""
    cases = run.csv(CASES_CSV)
    if cases is None:
        reason = f"{CASES_CSV} is absent (run made before the convert stage copied it into the run folder)"
        return {"patient_flow": unavailable(reason), "baseline_table": unavailable(reason)}
    classification = not run.segmentation_only and cases["label"].notna().any()
    volumes = _reference_volumes(run)
    baseline = []
    for set_name in SET_ORDER:
        in_set = cases[cases["set"] == set_name]
        groups = [("all", in_set)]
        if classification:
            groups += [(name, in_set[in_set["label"] == label]) for label, name in CLASS_NAMES.items()]
        baseline += [{"set": set_name, "class": name, **_describe_group(g, volumes)} for name, g in groups]
    flow = {"available": True, "classification": bool(classification), "n_total": int(len(cases)),
            "rows": _flow_rows(cases, classification), "exclusions": _exclusions(run)}
    return {"patient_flow": flow, "baseline_table": {"available": True, "rows": baseline}}


def _exclusion_lines(exclusions: dict[str, Any]) -> list[str]:
    rows = exclusions["rows"]
    if not rows:
        return ["Exclusions: none recorded.", ""]
    lines = [f"Exclusions ({len(rows)}):", "", "| stage | case | reason |", "|---|---|---|"]
    lines += [f"| {r['stage']} | {r['case']} | {r['reason']} |" for r in rows]
    if not exclusions["converter_recorded"]:
        lines += ["", "Converter exclusions: none recorded."]
    return lines + [""]


def _baseline_cells(r: dict[str, Any]) -> str:
    sd = "n/a" if r["age_sd"] is None else f"{r['age_sd']:.1f}"
    age = "n/a" if r["age_mean"] is None else f"{r['age_mean']:.1f} ± {sd} (n = {r['n_age']})"
    female = "n/a" if r["female_fraction"] is None else f"{100 * r['female_fraction']:.1f}% (n = {r['n_sex']})"
    volume = ("n/a" if r["fm_volume_ml_median"] is None else
              f"{r['fm_volume_ml_median']:.2f} [{r['fm_volume_ml_q1']:.2f}–{r['fm_volume_ml_q3']:.2f}] "
              f"(n = {r['n_volume']})")
    return f"{age} | {female} | {volume}"


def render_flow(flow: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """Markdown of the flow and baseline tables."""
    lines = [f"## {FLOW_HEADING}", ""]
    if not is_available(flow):
        return lines + not_available_line(flow)
    classes = list(CLASS_NAMES.values()) if flow["classification"] else []
    lines += [f"{flow['n_total']} case(s) converted (one per patient).", "",
              "| set | n |" + "".join(f" {c} |" for c in classes), "|---|---|" + "---|" * len(classes)]
    for r in flow["rows"]:
        lines.append(f"| {r['set']} | {r['n']} |" + "".join(f" {r[c]} |" for c in classes))
    lines += [""] + _exclusion_lines(flow["exclusions"])
    lines += ["Baseline characteristics (age mean ± SD; sex % female; FM volume of the reference mask, ml, "
              "median [IQR]):", "", "| set | class | n | age (years) | female | FM volume (ml) |",
              "|---|---|---|---|---|---|"]
    for r in baseline["rows"]:
        lines.append(f"| {r['set']} | {r['class']} | {r['n']} | {_baseline_cells(r)} |")
    return lines + [""]
