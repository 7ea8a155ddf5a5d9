"""Rebuild a run's report from its files alone: ``report.md``, ``summary.json``, ``tripod_ai.md``, plots.

Inputs (all inside ``results/<run>/``, names from :mod:`nnunet_fm.contract`): ``config.yaml``,
``provenance.json``, ``stages.json``, ``dataset/`` (cases.csv, dataset_meta.json, ceiling.json),
``segmentation/*.csv`` + ``*_summary.json``, ``classifier*/``, ``roc/``, ``reader_study/``,
``feature_study/``. Nothing is recomputed from images. Each section lives in its own
``report_*.py`` module (collect -> summary entry, render -> markdown from that entry); a
section whose inputs are absent says "Not available: <reason>". A segmentation-only study
has no classification section. The paper's numbers come from ``nnunet_fm/paper_targets.yaml``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional

from benchmarks.engine import (report_calibration, report_flow, report_header, report_models, report_paper,
                               report_segmentation, report_sensitivity, report_subgroups)
from benchmarks.engine.report_common import MAIN_SCORE, SET_LABELS, f3, load_run_inputs, pct, read_json, unavailable
from benchmarks.engine.tripod_ai import FEATURE_STUDY, LIMITATIONS, STUDY_FACTS, TITLE, render_tripod_ai, tripod_summary

LOG = logging.getLogger(__name__)

#: Prediction set -> its name in the report (kept for callers of the first report version).
SEG_SETS = SET_LABELS
#: Summary keys of the classification sections (absent from a segmentation-only study).
CLASSIFICATION_KEYS = ("ceiling", "model_comparison", "operating_point_source", "calibration", "decision_curve",
                       "sensitivity_analysis")


def _collect_base(run_dir: Path, config: Any) -> dict[str, Any]:
    """Figures of the first report version: segmentation summaries, ROC statistics, readers, stages."""
    provenance = read_json(run_dir / "provenance.json") or {}
    summary: dict[str, Any] = {
        "run": config.name,
        "data_source": config.data_source,
        "synthetic": config.is_synthetic,
        "profile": config.nnunet.profile,
        "package_version": provenance.get("package_version"),
        "git_commit": provenance.get("git_commit"),
        "segmentation": {},
        "classification": {},
        "reader_study": None,
        # the report stage is left out: it cannot record its own time before writing the report
        "stages": {name: record for name, record in (read_json(run_dir / "stages.json") or {}).get("stages", {}).items()
                   if name != "report"},
    }
    for name in SEG_SETS:
        seg = read_json(run_dir / "segmentation" / f"{name}_summary.json")
        if seg is None:
            continue
        cases = seg["all_cases"]
        entry = {"n_cases": cases["n_cases"], "mean_dice": cases["mean_dice"], "sd_dice": cases["sd_dice"],
                 "ci95_dice": cases["ci95_dice"], "metrics": cases.get("metrics", {}), "lesions": cases.get("lesions"),
                 "empty_cases": cases.get("empty_cases")}
        if "cross_validation" in seg:
            entry["cross_validation"] = seg["cross_validation"]
        summary["segmentation"][name] = entry
    roc = read_json(run_dir / "roc" / "roc_stats.json")
    if roc is not None:
        for group, data in roc["groups"].items():
            summary["classification"][group] = {
                score: {k: values[k] for k in ("auc", "ci_delong", "ci_bootstrap", "n_pos", "n_neg")}
                for score, values in data["scores"].items()
            }
        summary["classification_paired_delong"] = {g: d["paired_delong"] for g, d in roc["groups"].items()}
        summary["operating_point"] = roc.get("operating_point")
    readers = read_json(run_dir / "reader_study" / "reader_study.json")
    if readers is not None:
        summary["reader_study"] = {**_portable_reader_paths(readers),
                                   "simulated": bool(readers.get("simulated", False) or config.is_synthetic)}
    return summary


def _portable_reader_paths(readers: dict[str, Any]) -> dict[str, Any]:
    """Reader-study record with absolute folders (written by older versions) reduced to their names."""
    def name(value: Any) -> Any:
        return Path(value).name if isinstance(value, str) and Path(value).is_absolute() else value

    out = dict(readers)
    if "reference" in out:
        out["reference"] = name(out["reference"])
    if isinstance(out.get("reader_folders"), dict):
        out["reader_folders"] = {k: name(v) for k, v in out["reader_folders"].items()}
    return out


def default_reference_run() -> Path:
    """The committed reference run (``results/quick-synthetic`` of this checkout)."""
    return Path(__file__).resolve().parents[2] / "results" / "quick-synthetic"


def _headline(summary: dict[str, Any]) -> dict[str, Optional[float]]:
    """The four headline figures of a summary (None where not run)."""
    seg, cls = summary.get("segmentation", {}), summary.get("classification", {})
    cv = seg.get("oof", {}).get("cross_validation") or {}
    return {
        "FM DSC, internal 5-fold CV": cv.get("mean_dice"),
        "FM DSC, external test": seg.get("external_test", {}).get("mean_dice"),
        "axSpA AUC, internal test": cls.get("internal_test", {}).get(MAIN_SCORE, {}).get("auc"),
        "axSpA AUC, external test": cls.get("external_test", {}).get(MAIN_SCORE, {}).get("auc"),
    }


def render_reference_comparison(summary: dict[str, Any], reference: dict[str, Any]) -> str:
    """A short table of this run's headline figures beside the committed reference run's."""
    lines = ["", f"## Beside the committed reference run ({reference.get('run')}, profile {reference.get('profile')})",
             "", "| metric | reference | this run |", "|---|---|---|"]
    ours, theirs = _headline(summary), _headline(reference)
    for key, value in ours.items():
        fmt = pct if "DSC" in key else f3
        lines.append(f"| {key} | {fmt(theirs[key])} | {fmt(value)} |")
    return "\n".join(lines) + "\n"


def _feature_study_module():
    """W4's feature-study report module, or None when this checkout has none."""
    import importlib

    try:
        return importlib.import_module("benchmarks.engine.report_feature_study")
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks.engine.report_feature_study":
            raise
        return None


def _guarded(key: str, collect, *args) -> dict[str, Any]:
    """A section's entry; a malformed input file gives "not available" with the error, not a lost report."""
    try:
        return collect(*args)
    except (ValueError, KeyError, TypeError) as exc:
        LOG.warning("report section %s could not be built: %s: %s", key, type(exc).__name__, exc)
        return unavailable(f"could not be computed from the run's files ({type(exc).__name__}: {exc})")


def collect_summary(run_dir: Path) -> dict[str, Any]:
    """All figures of a run, read from its files (the content of summary.json); writes the report's PNGs."""
    run = load_run_inputs(Path(run_dir))
    summary = _collect_base(run.run_dir, run.config)
    summary["study"] = report_header.collect_header(run)
    if not run.segmentation_only:
        from nnunet_fm.paper_targets import load_paper_targets

        summary["ceiling"] = _guarded("ceiling", report_models.collect_ceiling, run, load_paper_targets())
        summary["model_comparison"] = _guarded("model_comparison", report_models.collect_model_comparison, run)
        summary["operating_point_source"] = _guarded("operating_point_source",
                                                     report_sensitivity.collect_operating_point, run)
        summary["calibration"] = _guarded("calibration", report_calibration.collect_calibration, run)
        summary["decision_curve"] = _guarded("decision_curve", report_calibration.collect_decision_curves, run)
        summary["sensitivity_analysis"] = _guarded("sensitivity_analysis", report_sensitivity.collect_sensitivity, run)
    flow = _guarded("patient_flow", report_flow.collect_flow, run)
    summary.update(flow if "patient_flow" in flow else {"patient_flow": flow, "baseline_table": flow})
    summary["segmentation_conventions"] = _guarded("segmentation_conventions", report_segmentation.collect_conventions,
                                                   run)
    summary["subgroups"] = _guarded("subgroups", report_subgroups.collect_subgroups, run)
    summary["lesion_detection_by_size"] = _guarded("lesion_detection_by_size",
                                                   report_subgroups.collect_lesion_detection, run)
    module = _feature_study_module()
    if module is not None:
        summary["feature_study"] = _guarded("feature_study", module.feature_study_summary, run.run_dir)
    return summary


def _feature_study_lines(run_dir: Optional[Path]) -> list[str]:
    """W4's feature-study section (skipped when the module is absent; its failure is one line, not a lost report)."""
    module = _feature_study_module()
    if module is None or run_dir is None:
        return []
    try:
        return list(module.feature_study_section(Path(run_dir)))
    except (ValueError, KeyError, TypeError) as exc:
        LOG.warning("report: feature-study section could not be built: %s", exc)
        return [f"## {FEATURE_STUDY}", "",
                f"Not available: could not be built from feature_study/ ({type(exc).__name__}: {exc}).", ""]


def _limitations(summary: dict[str, Any]) -> list[str]:
    """Interpretation and limitations that follow from the run's own facts."""
    study = summary["study"]
    lines = [f"## {LIMITATIONS}", ""]
    if summary["synthetic"]:
        lines.append("- The data are a synthetic phantom: the figures show what the pipeline recovers from a cohort "
                     "with a known ceiling, not how it performs on patients; they are not a reproduction of the paper.")
    if study["study_mode"] == "segmentation_only":
        lines.append("- Segmentation-only study: no statement about diagnosis can be made from this run.")
    else:
        lines.append("- The operating point was fitted on training out-of-fold scores; test-set figures show how it "
                     "transfers, training figures are optimistic.")
    if study["clinical_baseline_available"] is False:
        lines.append("- Without age and sex, imaging cannot be shown to add to a clinical baseline.")
    readers = summary.get("reader_study")
    if readers and readers.get("simulated"):
        lines.append("- The reader study is simulated (perturbed reference masks); it says nothing about real readers.")
    sizes = [f"{SET_LABELS[s]} n = {e['n_cases']}" for s, e in summary["segmentation"].items() if s in SET_LABELS]
    if sizes:
        lines.append("- Sample sizes (" + ", ".join(sizes) + "): wide intervals; subgroup rows are descriptive and "
                     "not tested for differences.")
    return lines + [""]


def _banner(summary: dict[str, Any]) -> list[str]:
    if not summary["synthetic"]:
        return []
    return ["> **Synthetic data.** These numbers come from the embedded synthetic two-center SIJ phantom cohort, "
            "not from patients. They show that the pipeline runs end to end; they are **not** a reproduction of "
            "the paper. The reader study is **simulated**.", ""]


def _classification_sections(summary: dict[str, Any]) -> list[str]:
    lines = report_models.render_ceiling(summary["ceiling"]) if summary["synthetic"] else []
    lines += report_paper.render_all_scores(summary)
    lines += report_models.render_model_comparison(summary["model_comparison"])
    lines += report_sensitivity.render_operating_point(summary["operating_point_source"])
    lines += report_calibration.render_calibration(summary["calibration"])
    lines += report_calibration.render_decision_curves(summary["decision_curve"])
    return lines + report_sensitivity.render_sensitivity(summary["sensitivity_analysis"])


def render_markdown(summary: dict[str, Any], paper: dict[str, Any], run_dir: Optional[Path] = None) -> str:
    """The report text, built from ``summary`` (and W4's feature-study section when ``run_dir`` is given)."""
    classification = summary["study"]["study_mode"] != "segmentation_only"
    lines = [f"# {TITLE}: {summary['run']}", ""] + _banner(summary)
    lines += [f"## {STUDY_FACTS}", ""] + report_header.render_header(summary["study"])
    lines += [f"nnU-Net profile `{summary['profile']}` · package {summary['package_version']} · commit "
              f"`{summary['git_commit']}`", ""]
    lines += report_paper.render_paper_table(summary, paper, classification)
    if classification:
        lines += _classification_sections(summary)
    lines += report_flow.render_flow(summary["patient_flow"], summary["baseline_table"])
    lines += report_paper.render_segmentation_detail(summary)
    lines += report_segmentation.render_conventions(summary["segmentation_conventions"])
    lines += report_subgroups.render_subgroups(summary["subgroups"])
    lines += report_subgroups.render_lesion_detection(summary["lesion_detection_by_size"])
    lines += _feature_study_lines(run_dir)
    lines += _limitations(summary) + report_paper.render_stages_and_files(summary)
    return "\n".join(lines)


def plot_dsc_distribution(run_dir: Path, target: Path) -> Optional[Path]:
    """Box + strip plot of per-case DSC for each evaluated set (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from nnunet_fm.atomic import atomic_path

    data, labels = [], []
    for name, label in SEG_SETS.items():
        path = run_dir / "segmentation" / f"{name}.csv"
        if path.exists():
            values = pd.read_csv(path)["dice"].to_numpy(float)
            data.append(values[~np.isnan(values)])
            labels.append(f"{label}\n(n={len(values)})")
    if not data:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(labels) + 1), labels)
    rng = np.random.default_rng(0)  # fixed jitter so the figure is reproducible
    for i, values in enumerate(data, start=1):
        ax.scatter(i + rng.uniform(-0.15, 0.15, values.size), values, s=8, alpha=0.5, color="tab:blue")
    ax.set_ylabel("DSC per case")
    ax.set_ylim(0, 1.02)
    ax.set_title("FM segmentation DSC")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return target


def build_report(run_dir: str | Path, reference_dir: str | Path | None = None) -> Path:
    """Write ``report.md``, ``summary.json``, ``tripod_ai.md`` and the figures of a run folder.

    Args:
        run_dir: The run's results folder.
        reference_dir: A finished run to compare the headline figures with (default: the
            committed reference run, when present and not ``run_dir`` itself).
    """
    from nnunet_fm.atomic import write_json, write_text
    from nnunet_fm.paper_targets import load_paper_targets

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise FileNotFoundError(f"{run_dir} is not a benchmark run folder (no config.yaml)")
    summary = collect_summary(run_dir)
    plot_dsc_distribution(run_dir, run_dir / "dsc_distribution.png")
    text = render_markdown(summary, load_paper_targets(), run_dir)
    reference_dir = Path(reference_dir) if reference_dir is not None else default_reference_run()
    reference_file = reference_dir / "summary.json"
    if reference_file.is_file() and reference_dir.resolve() != run_dir.resolve():
        reference = json.loads(reference_file.read_text(encoding="utf-8"))
        same_run = all(reference.get(k) == summary.get(k) for k in ("run", "git_commit", "segmentation"))
        if not same_run:  # a copy of the reference is the reference: nothing to compare
            text += render_reference_comparison(summary, reference)
    summary["tripod_ai"] = tripod_summary(text)
    write_json(run_dir / "summary.json", summary)
    write_text(run_dir / "tripod_ai.md", render_tripod_ai(text, summary["synthetic"]))
    return write_text(run_dir / "report.md", text)
