"""Report section: segmentation conventions stated next to the numbers.

Slice spacing per centre (``slice_spacing_mm`` of ``segmentation/<set>.csv`` joined with the
centre of ``dataset/cases.csv``), NSD at the slice-spacing tolerance and at the fixed
tolerance, the HD95/ASSD penalty for cases with exactly one empty mask (with counts and
means with / without it) and the lesion-detection overlap threshold — all from the
evaluate-seg outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.engine.report_common import (CASES_CSV, RunInputs, SET_LABELS, f3, is_available, not_available_line,
                                             num, seg_csv, seg_summary_json, unavailable)

CONVENTIONS_HEADING = "Segmentation conventions"
NEW_COLUMNS = ("nsd_slice", "slice_spacing_mm", "hd95_mm_penalised", "assd_mm_penalised")


def _mean(values) -> Any:
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def _spacing_by_centre(run: RunInputs, seg_frames: dict[str, Any]) -> list[dict[str, Any]]:
    import pandas as pd

    cases = run.csv(CASES_CSV)
    seg = pd.concat([f[["case_id", "slice_spacing_mm"]] for f in seg_frames.values()], ignore_index=True)
    if cases is None:
        seg = seg.assign(center="all (no dataset/cases.csv)")
    else:
        seg = seg.astype({"case_id": str}).merge(cases[["case_id", "center"]].astype({"case_id": str}),
                                                 on="case_id", how="left")
    rows = []
    for centre, group in seg.groupby("center", sort=True, dropna=False):
        spacing = group["slice_spacing_mm"].to_numpy(float)
        rows.append({"center": str(centre), "n_cases": int(len(group)),
                     "slice_spacing_mm_min": float(np.nanmin(spacing)),
                     "slice_spacing_mm_median": float(np.nanmedian(spacing)),
                     "slice_spacing_mm_max": float(np.nanmax(spacing))})
    return rows


def _set_entry(frame, summary: dict[str, Any]) -> dict[str, Any]:
    empty = frame["empty_case"].value_counts() if "empty_case" in frame else {}
    penalty = (summary.get("all_cases") or {}).get("penalty") or {}
    return {"n_cases": int(len(frame)), "nsd_slice_mean": _mean(frame["nsd_slice"]),
            "nsd_tolerance_slice_mm_median": num(np.nanmedian(frame["nsd_tolerance_slice_mm"].to_numpy(float)))
            if "nsd_tolerance_slice_mm" in frame else None,
            "nsd_fixed_mean": _mean(frame["nsd"]) if "nsd" in frame else None,
            "nsd_fixed_tolerance_mm": summary.get("nsd_tolerance_mm"),
            "n_one_empty": int(empty.get("ref_only", 0) + empty.get("pred_only", 0)),
            "n_both_empty": int(empty.get("both", 0)),
            "hd95_mm_mean_without_penalty": _mean(frame["hd95_mm"]),
            "hd95_mm_mean_with_penalty": _mean(frame["hd95_mm_penalised"]),
            "assd_mm_mean_without_penalty": _mean(frame["assd_mm"]),
            "assd_mm_mean_with_penalty": _mean(frame["assd_mm_penalised"]),
            "penalty_definition": penalty.get("penalty_mm"),
            "lesion_overlap_fraction": summary.get("lesion_overlap_fraction"),
            "n_skipped": summary.get("n_skipped")}


def collect_conventions(run: RunInputs) -> dict[str, Any]:
    """Conventions and the figures they qualify (summary key ``segmentation_conventions``)."""
    frames = {s: run.csv(seg_csv(s)) for s in SET_LABELS}
    frames = {s: f for s, f in frames.items() if f is not None}
    if not frames:
        return unavailable("no segmentation/<set>.csv in the run folder")
    lacking = sorted({c for f in frames.values() for c in NEW_COLUMNS if c not in f.columns})
    if lacking:
        return unavailable(f"segmentation CSVs lack {', '.join(lacking)} (evaluated before slice-spacing NSD and "
                           "the one-empty-mask penalty were recorded): HD95/ASSD means leave one-empty cases out")
    sets = {s: _set_entry(f, run.json(seg_summary_json(s)) or {}) for s, f in frames.items()}
    return {"available": True, "slice_spacing_by_center": _spacing_by_centre(run, frames), "sets": sets}


def render_conventions(entry: dict[str, Any]) -> list[str]:
    """Markdown of the conventions section."""
    lines = [f"## {CONVENTIONS_HEADING}", ""]
    if not is_available(entry):
        return lines + not_available_line(entry)
    lines += ["Slice spacing per centre (HD95 and ASSD are quantised by it; a tolerance below it is stricter "
              "in-plane than through-plane):", "", "| centre | cases | slice spacing mm (min / median / max) |",
              "|---|---|---|"]
    for r in entry["slice_spacing_by_center"]:
        lines.append(f"| {r['center']} | {r['n_cases']} | {f3(r['slice_spacing_mm_min'])} / "
                     f"{f3(r['slice_spacing_mm_median'])} / {f3(r['slice_spacing_mm_max'])} |")
    lines += ["", "| set | n | NSD at slice spacing (mean; median tolerance mm) | NSD at fixed tolerance (mean; mm) | "
              "one mask empty | HD95 mm mean without / with penalty | ASSD mm mean without / with penalty | "
              "lesion overlap threshold |", "|---|---|---|---|---|---|---|---|"]
    for set_name, r in entry["sets"].items():
        lines.append(f"| {SET_LABELS[set_name]} | {r['n_cases']} | {f3(r['nsd_slice_mean'])} "
                     f"({f3(r['nsd_tolerance_slice_mm_median'])}) | {f3(r['nsd_fixed_mean'])} "
                     f"({f3(r['nsd_fixed_tolerance_mm'])}) | {r['n_one_empty']} | "
                     f"{f3(r['hd95_mm_mean_without_penalty'])}"
                     f" / {f3(r['hd95_mm_mean_with_penalty'])} | {f3(r['assd_mm_mean_without_penalty'])} / "
                     f"{f3(r['assd_mm_mean_with_penalty'])} | {f3(r['lesion_overlap_fraction'])} |")
    definition = next((r["penalty_definition"] for r in entry["sets"].values() if r["penalty_definition"]), None)
    lines += ["", "Penalty: " + (definition or "when exactly one mask is empty HD95/ASSD are undefined; the "
              "penalised columns replace them by the diagonal of the image's physical extent (mm)") + ". "
              "Both-empty cases have DSC 1 and no distance. A lesion (26-connected component) is detected when at "
              "least the overlap threshold's share of its voxels is predicted, not by one shared voxel.", ""]
    return lines
