"""Report section: DSC, volume ratio and AUC by diagnosis, centre and sex; detection by lesion size.

Cases come from ``segmentation/<set>.csv`` joined on ``case_id`` with ``dataset/cases.csv``
(centre, diagnosis, sex) and the XGBoost score of ``classifier/predictions.csv``.
Intervals: :func:`nnunet_fm.subgroups.subgroup_table` (bootstrap for DSC and volume ratio,
DeLong for AUC); lesion sensitivity per size tertile with Wilson intervals
(:func:`nnunet_fm.subgroups.detection_by_size_tertile`).
"""

from __future__ import annotations

from typing import Any

from benchmarks.engine.report_common import (CASES_CSV, MAIN_SCORE, PREDICTIONS_CSV, RunInputs, SET_LABELS, ci, f3,
                                             is_available, lesions_csv, not_available_line, num, pct, records, seg_csv,
                                             seg_summary_json, unavailable)

SUBGROUP_HEADING = "Subgroups"
GROUPING_LABELS = {"all": "all", "label": "diagnosis", "center": "centre", "sex": "sex"}
AUC_COLUMNS = ("n_pos", "n_neg", "auc", "auc_ci_low", "auc_ci_high", "auc_note")


def _case_table(run: RunInputs, with_scores: bool):
    """Segmentation rows of every set joined with cases.csv (and the XGBoost score)."""
    import pandas as pd

    cases = run.csv(CASES_CSV)
    frames = []
    for set_name in SET_LABELS:
        seg = run.csv(seg_csv(set_name))
        if seg is not None:
            frames.append(seg.assign(set=set_name))
    if cases is None or not frames:
        return None
    seg = pd.concat(frames, ignore_index=True)
    info = cases.drop(columns=["set"]).astype({"case_id": str})
    table = seg.astype({"case_id": str}).merge(info, on="case_id", how="left", validate="many_to_one")
    if with_scores:
        preds = run.csv(PREDICTIONS_CSV)[["case_id", MAIN_SCORE]].astype({"case_id": str})
        table = table.merge(preds.rename(columns={MAIN_SCORE: "score"}), on="case_id", how="left")
    return table


def _groupings(table, classification: bool) -> list[str]:
    """Grouping columns with at least one value (diagnosis only in a classification study)."""
    candidates = ("label", "center", "sex") if classification else ("center", "sex")
    return [c for c in candidates if c in table.columns and table[c].notna().any()]


def collect_subgroups(run: RunInputs) -> dict[str, Any]:
    """Subgroup rows per set (summary key ``subgroups``)."""
    from nnunet_fm.subgroups import subgroup_table

    classification = not run.segmentation_only and run.csv(PREDICTIONS_CSV) is not None
    table = _case_table(run, classification)
    if table is None:
        return unavailable(f"{CASES_CSV} or segmentation/<set>.csv is absent (run made before the "
                           "convert stage copied cases.csv into the run folder)")
    no_auc_reason = None if classification else "segmentation-only study or no classifier/predictions.csv"
    if classification and table["score"].isna().any():
        missing = table.loc[table["score"].isna(), "case_id"].tolist()[:5]
        no_auc_reason = (f"{int(table['score'].isna().sum())} segmented case(s) have no classifier score "
                         f"(e.g. {', '.join(missing)})")
        classification = False
    if not classification:  # AUC columns are dropped below; the function needs the columns
        table = table.assign(label=0, score=0.0)
    by = _groupings(table, classification)
    rows = subgroup_table(table, by=by, n_boot=run.n_boot, level=run.level, seed=run.seed)
    if not classification:
        rows = rows.drop(columns=list(AUC_COLUMNS))
    return {"available": True, "with_auc": classification, "groupings": by, "level": run.level,
            "ci_method": f"DSC mean and volume-ratio median: percentile bootstrap ({run.n_boot} resamples, seed "
                         f"{run.seed})" + ("; AUC: DeLong" if classification else ""),
            "no_auc_reason": no_auc_reason, "rows": records(rows)}


def _subgroup_name(row: dict[str, Any]) -> str:
    if row["subgroup"] == "nan":
        return "not recorded"
    if row["grouping"] == "label":
        names = {"1": "axSpA", "0": "non-axSpA", "1.0": "axSpA", "0.0": "non-axSpA"}
        return names.get(row["subgroup"], row["subgroup"])
    return row["subgroup"]


def _missing_note(row: dict[str, Any]) -> str:
    return f"; {row['n_dice_missing']} without DSC" if row["n_dice_missing"] else ""


def _auc_cell(row: dict[str, Any]) -> str:
    if num(row["auc"]) is None:
        return row["auc_note"] or "n/a"
    note = f"; {row['auc_note']}" if row["auc_note"] else ""
    return f"{f3(row['auc'])} ({ci(row['auc_ci_low'], row['auc_ci_high'])}){note}"


def render_subgroups(entry: dict[str, Any]) -> list[str]:
    """Markdown of the subgroup table."""
    lines = [f"## {SUBGROUP_HEADING}", ""]
    if not is_available(entry):
        return lines + not_available_line(entry)
    auc_head = " AUC XGBoost (DeLong 95% CI) |" if entry["with_auc"] else ""
    if entry.get("no_auc_reason") and not entry["with_auc"]:
        lines += [f"No AUC column: {entry['no_auc_reason']}.", ""]
    lines += [f"Intervals: {entry['ci_method']}. Volume ratio = predicted / reference FM volume (cases with an empty "
              "reference mask have none and are counted).", "",
              "| set | grouping | subgroup | n | DSC mean (95% CI) | volume ratio median (95% CI) |" + auc_head,
              "|---|---|---|---|---|---|" + ("---|" if entry["with_auc"] else "")]
    for r in entry["rows"]:
        cells = (f"| {SET_LABELS.get(r['set'], r['set'])} | {GROUPING_LABELS.get(r['grouping'], r['grouping'])} | "
                 f"{_subgroup_name(r)} | {r['n_cases']} | {pct(r['dice_mean'])} "
                 f"({ci(r['dice_ci_low'], r['dice_ci_high'], pct)})"
                 f"{_missing_note(r)} | "
                 f"{f3(r['volume_ratio_median'])} ({ci(r['volume_ratio_ci_low'], r['volume_ratio_ci_high'])}) |")
        if entry["with_auc"]:
            cells += f" {_auc_cell(r)} |"
        lines.append(cells)
    return lines + [""]


def collect_lesion_detection(run: RunInputs) -> dict[str, Any]:
    """Lesion sensitivity per size tertile and set (summary key ``lesion_detection_by_size``)."""
    from nnunet_fm.subgroups import detection_by_size_tertile

    sets = {}
    for set_name in SET_LABELS:
        lesions = run.csv(lesions_csv(set_name))
        if lesions is not None and len(lesions):
            sets[set_name] = records(detection_by_size_tertile(lesions, run.level))
    if not sets:
        return unavailable("no segmentation/<set>_lesions.csv in the run folder (per-lesion table not recorded)")
    fractions = {s: (run.json(seg_summary_json(s)) or {}).get("lesion_overlap_fraction") for s in sets}
    return {"available": True, "level": run.level, "overlap_fraction": fractions, "sets": sets}


def render_lesion_detection(entry: dict[str, Any]) -> list[str]:
    """Markdown of the lesion-size tertile table (part of the subgroup section)."""
    lines = ["### Lesion detection by lesion size", ""]
    if not is_available(entry):
        return lines + not_available_line(entry)
    lines += ["Tertiles of reference-lesion volume (edges at the 1/3 and 2/3 quantiles); sensitivity with Wilson "
              "95% CI. A lesion counts as detected when the overlap fraction reaches the threshold: "
              + ", ".join(f"{SET_LABELS[s]} {f if f is not None else 'not recorded'}"
                          for s, f in entry["overlap_fraction"].items()) + ".", "",
              "| set | size tertile | volume range (ml) | lesions | detected | sensitivity (95% CI) |",
              "|---|---|---|---|---|---|"]
    for set_name, rows in entry["sets"].items():
        for r in rows:
            lines.append(f"| {SET_LABELS[set_name]} | {r['tertile']} | {f3(r['lesion_volume_ml_min'])}–"
                         f"{f3(r['lesion_volume_ml_max'])} | {r['n_lesions']} | {r['n_detected']} | "
                         f"{f3(r['sensitivity'])} ({ci(r['sensitivity_ci_low'], r['sensitivity_ci_high'])}) |")
    return lines + [""]
