"""First lines of the report: data source, seed, study mode, clinical baseline, resampled channels."""

from __future__ import annotations

from typing import Any

from benchmarks.engine.report_common import RunInputs


def _seeds(run: RunInputs) -> dict[str, Any]:
    """The report seed and development seeds named by ``config.yaml`` (``seeds:``), and the stage seeds."""
    seeds = run.raw_config.get("seeds")
    config = run.config
    stage_seeds = {name: int(getattr(config, name).seed) for name in
                   ("synth", "conversion", "nnunet", "classifier", "stats", "reader_study")}
    if not (isinstance(seeds, dict) and seeds.get("report") is not None):
        return {"report_seed": None, "development_seeds": [], "stage_seeds": stage_seeds, "declared": False,
                "stages_on_development_seeds": {}, "stages_on_other_seeds": {}}
    report, development = int(seeds["report"]), [int(s) for s in seeds.get("development") or []]
    other = {k: v for k, v in stage_seeds.items() if v != report}
    return {"report_seed": report, "development_seeds": development, "stage_seeds": stage_seeds, "declared": True,
            "stages_on_development_seeds": {k: v for k, v in other.items() if v in development},
            "stages_on_other_seeds": {k: v for k, v in other.items() if v not in development}}


def collect_header(run: RunInputs) -> dict[str, Any]:
    """Study facts for the report's first lines (summary key ``study``)."""
    meta = run.meta or {}
    resampled = meta.get("resampled_cases") or {}
    return {
        "data_source": run.config.data_source,
        "synthetic": run.synthetic,
        "seeds": _seeds(run),
        "dataset_meta_available": run.meta is not None,
        "study_mode": meta.get("study_mode", "classification" if run.meta is None else None),
        "study_mode_reason": meta.get("study_mode_reason",
                                      "no dataset/dataset_meta.json in the run folder (older run): "
                                      "classification assumed" if run.meta is None else None),
        "clinical_baseline_available": meta.get("clinical_baseline_available"),
        "clinical_baseline_reason": meta.get("clinical_baseline_reason"),
        "channel_names": meta.get("channel_names"),
        "split_source": meta.get("split_source"),
        "n_resampled_cases": len(resampled),
        "resampled_cases": {str(k): list(v) for k, v in resampled.items()},
    }


def _seed_line(seeds: dict[str, Any]) -> str:
    if not seeds["declared"]:
        return "**Seeds** (config.yaml): " + ", ".join(f"{k} {v}" for k, v in seeds["stage_seeds"].items()) + "."
    development = ", ".join(str(s) for s in seeds["development_seeds"]) or "none named"
    on_development = seeds["stages_on_development_seeds"]
    if on_development:
        listed = ", ".join(f"{k} {v}" for k, v in on_development.items())
        return (f"**Seed:** report seed {seeds['report_seed']}, but these stages ran on development seeds "
                f"({listed}): this run is not a held-out-seed result.")
    other = seeds["stages_on_other_seeds"]
    extra = (" Stages on other seeds: " + ", ".join(f"{k} {v}" for k, v in other.items()) + ".") if other else ""
    return (f"**Seed:** {seeds['report_seed']}, the report seed. Nothing was tuned on it: the generator and the "
            f"pipeline were developed on the development seeds ({development}) only.{extra}")


def render_header(study: dict[str, Any]) -> list[str]:
    """Markdown lines right below the title."""
    lines = [f"**Data:** {study['data_source']}.", "", _seed_line(study["seeds"]), ""]
    if study["study_mode"] == "segmentation_only":
        lines += [f"**Study mode: segmentation only** ({study['study_mode_reason']}). Classification, ROC, "
                  "calibration, decision curves and the model comparison were not run; this report has no "
                  "classification section.", ""]
    else:
        lines += [f"**Study mode:** classification ({study['study_mode_reason']}).", ""]
    if study["clinical_baseline_available"] is False:
        lines += [f"**No clinical baseline:** the age + sex model was not fitted "
                  f"({study['clinical_baseline_reason']}); no comparison with it is shown.", ""]
    if study["n_resampled_cases"]:
        shown = ", ".join(f"{case} ({'/'.join(channels)})"
                          for case, channels in list(study["resampled_cases"].items())[:10])
        more = "" if study["n_resampled_cases"] <= 10 else f" and {study['n_resampled_cases'] - 10} more"
        lines += [f"**Resampled channels:** in {study['n_resampled_cases']} case(s) a channel's grid differed from "
                  f"the first channel's beyond the geometry tolerance and was resampled (linear) onto it: "
                  f"{shown}{more}.", ""]
    return lines
