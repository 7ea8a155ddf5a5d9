"""Rebuild a run's report from its files alone: ``report.md``, ``summary.json``, plots.

Inputs (all inside ``results/<run>/``): ``config.yaml``, ``provenance.json``,
``stages.json``, ``segmentation/*.csv`` + ``*_summary.json``, ``roc/roc_stats.json`` +
``roc/roc.png``, ``classifier/classifier.json``, ``reader_study/reader_study.json``.
Nothing is recomputed from images; a missing input leaves its rows marked "not run".
The paper's numbers come from ``nnunet_fm/paper_targets.yaml``.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Optional

from nnunet_fm.contract import PREDICTION_SETS, READER_PAIRS

LOG = logging.getLogger(__name__)

#: Prediction set -> its name in the report.
SEG_SETS = dict(zip(PREDICTION_SETS, ("internal 5-fold CV (out-of-fold)", "internal test", "external test")))
MAIN_SCORE = "score_xgboost"
SCORE_LABELS = {"score_xgboost": "XGBoost (features of predicted FM)", "score_fm_volume": "FM volume alone",
                "score_clinical": "clinical (age, sex)"}


def _read_json(path: Path) -> Optional[dict]:
    if not path.exists():
        LOG.warning("report: %s is missing", path)
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _num(value: Any) -> Optional[float]:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _pct(value: Any, digits: int = 2) -> str:
    value = _num(value)
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def _f3(value: Any) -> str:
    value = _num(value)
    return "n/a" if value is None else f"{value:.3f}"


def _p(value: Any) -> str:
    value = _num(value)
    if value is None:
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def collect_summary(run_dir: Path) -> dict[str, Any]:
    """All headline figures of a run, read from its files (the content of summary.json)."""
    from nnunet_fm.config import load_run_config

    run_dir = Path(run_dir)
    config = load_run_config(run_dir / "config.yaml")
    provenance = _read_json(run_dir / "provenance.json") or {}
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
        "stages": {name: record for name, record in (_read_json(run_dir / "stages.json") or {}).get("stages", {}).items()
                   if name != "report"},
    }
    for name in SEG_SETS:
        seg = _read_json(run_dir / "segmentation" / f"{name}_summary.json")
        if seg is None:
            continue
        cases = seg["all_cases"]
        entry = {"n_cases": cases["n_cases"], "mean_dice": cases["mean_dice"], "sd_dice": cases["sd_dice"],
                 "ci95_dice": cases["ci95_dice"], "metrics": cases.get("metrics", {}), "lesions": cases.get("lesions"),
                 "empty_cases": cases.get("empty_cases")}
        if "cross_validation" in seg:
            entry["cross_validation"] = seg["cross_validation"]
        summary["segmentation"][name] = entry
    roc = _read_json(run_dir / "roc" / "roc_stats.json")
    if roc is not None:
        for group, data in roc["groups"].items():
            summary["classification"][group] = {
                score: {k: values[k] for k in ("auc", "ci_delong", "ci_bootstrap", "n_pos", "n_neg")}
                for score, values in data["scores"].items()
            }
        summary["classification_paired_delong"] = {g: d["paired_delong"] for g, d in roc["groups"].items()}
        summary["operating_point"] = roc.get("operating_point")
    readers = _read_json(run_dir / "reader_study" / "reader_study.json")
    if readers is not None:
        summary["reader_study"] = {"simulated": config.is_synthetic, **_portable_reader_paths(readers)}
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
        fmt = _pct if "DSC" in key else _f3
        lines.append(f"| {key} | {fmt(theirs[key])} | {fmt(value)} |")
    return "\n".join(lines) + "\n"


def _reader_rows(summary: dict[str, Any], paper: dict[str, Any]) -> list[str]:
    readers = summary.get("reader_study")
    rows = []
    for label, without, with_ in READER_PAIRS:
        target = paper["reader_study_dsc"][label]
        paper_cell = f"{_pct(target['without_model'])} → {_pct(target['with_model'])} (p {target['p']})"
        if readers is None or without not in readers["readers"]:
            run_cell = "not run"
        else:
            test = next((t for t in readers["paired_tests"] if {t["reader_a"], t["reader_b"]} == {without, with_}), None)
            run_cell = (f"{_pct(readers['readers'][without]['mean_dice'])} → {_pct(readers['readers'][with_]['mean_dice'])}"
                        f" (Wilcoxon p {_p(test['p_value']) if test else 'n/a'}"
                        f"{', r = ' + _f3(test['rank_biserial']) if test else ''})")
        rows.append(f"| {label} DSC without → with model | {paper_cell} | {run_cell} |")
    return rows


def _auc_cell(entry: Optional[dict]) -> str:
    if entry is None:
        return "not run"
    lo, hi = entry["ci_delong"]
    blo, bhi = entry["ci_bootstrap"]
    return (f"{_f3(entry['auc'])} (DeLong 95% CI {_f3(lo)}–{_f3(hi)}; bootstrap {_f3(blo)}–{_f3(bhi)}; "
            f"n = {entry['n_pos']}+{entry['n_neg']})")


def render_markdown(summary: dict[str, Any], paper: dict[str, Any]) -> str:
    """The report text."""
    seg = summary["segmentation"]
    cls = summary["classification"]
    lines = [f"# nnunet-fm study report: {summary['run']}", ""]
    if summary["synthetic"]:
        lines += ["> **Synthetic data.** These numbers come from the embedded synthetic two-center SIJ phantom "
                  "cohort, not from patients. They show that the pipeline runs end to end; they are **not** a "
                  "reproduction of the paper. The reader study is **simulated**.", ""]
    lines += [f"nnU-Net profile `{summary['profile']}` · package {summary['package_version']} · commit "
              f"`{summary['git_commit']}`", ""]
    lines += [f"## Paper vs this run — data: {summary['data_source']}", "",
              f"| metric | paper ({paper['short_citation']}) | this run ({summary['data_source']}) |",
              "|---|---|---|"]
    cv = seg.get("oof", {}).get("cross_validation")
    t = paper["segmentation_dsc"]
    lines.append(f"| FM DSC, internal 5-fold CV (mean over folds ± SD over folds) | {_pct(t['internal_cv']['mean'])} ± "
                 f"{_pct(t['internal_cv']['sd'])} | " + (f"{_pct(cv['mean_dice'])} ± {_pct(cv['sd_dice'])} "
                 f"({cv['n_folds']} folds, {cv['n_cases']} cases)" if cv else "not run") + " |")
    ext = seg.get("external_test")
    lines.append(f"| FM DSC, external test (mean ± SD over cases) | {_pct(t['external']['mean'])} ± {_pct(t['external']['sd'])} | "
                 + (f"{_pct(ext['mean_dice'])} ± {_pct(ext['sd_dice'])} (95% CI {_pct(ext['ci95_dice'][0])}–"
                    f"{_pct(ext['ci95_dice'][1])}, n = {ext['n_cases']})" if ext else "not run") + " |")
    internal = seg.get("internal_test")
    lines.append("| FM DSC, internal test (mean ± SD over cases) | not reported | "
                 + (f"{_pct(internal['mean_dice'])} ± {_pct(internal['sd_dice'])} (95% CI {_pct(internal['ci95_dice'][0])}–"
                    f"{_pct(internal['ci95_dice'][1])}, n = {internal['n_cases']})" if internal else "not run") + " |")
    a = paper["classification_auc"]
    for group, label in (("internal_test", "internal test"), ("external_test", "external test")):
        lo, hi = a[group]["ci"]
        lines.append(f"| axSpA AUC, {label} | {a[group]['auc']:.3f} (95% CI {lo:.3f}–{hi:.3f}) | "
                     f"{_auc_cell(cls.get(group, {}).get(MAIN_SCORE))} |")
    lines += _reader_rows(summary, paper)
    lines += ["", "DSC per case = 2|A∩B|/(|A|+|B|), both empty = 1. AUC: higher score = axSpA, ties ½ "
              "(pROC conventions); CIs: DeLong and stratified bootstrap (percentile).", ""]

    lines += ["## Classification: all scores", "", "| set | score | AUC (DeLong 95% CI) | bootstrap 95% CI |", "|---|---|---|---|"]
    for group, scores in cls.items():
        for score, e in scores.items():
            lines.append(f"| {group} | {SCORE_LABELS.get(score, score)} | {_f3(e['auc'])} ({_f3(e['ci_delong'][0])}–"
                         f"{_f3(e['ci_delong'][1])}) | {_f3(e['ci_bootstrap'][0])}–{_f3(e['ci_bootstrap'][1])} |")
    op = summary.get("operating_point")
    if op and MAIN_SCORE in op.get("scores", {}):
        main = op["scores"][MAIN_SCORE]
        lines += ["", f"Operating point (Youden on `{op['train_group']}`, threshold {_f3(main['threshold'])}, "
                  f"{op['rule']}), applied unchanged:", "",
                  "| set | sensitivity (Wilson 95% CI) | specificity | accuracy | PPV | NPV |", "|---|---|---|---|---|---|"]
        for group, m in main["groups"].items():
            cells = []
            for key in ("sensitivity", "specificity", "accuracy", "ppv", "npv"):
                v = m.get(key)
                if isinstance(v, dict):
                    cells.append(f"{_f3(v.get('value'))} ({_f3(v['ci_wilson'][0])}–{_f3(v['ci_wilson'][1])})")
                else:
                    cells.append(_f3(v))
            lines.append(f"| {group} | " + " | ".join(cells) + " |")
    lines += ["", "![ROC curves](roc/roc.png)", "", "## Segmentation detail", "",
              "| set | n | DSC mean ± SD | HD95 mm (median) | ASSD mm (median) | NSD (mean) | lesion sensitivity | FP lesions |",
              "|---|---|---|---|---|---|---|---|"]
    for name, label in SEG_SETS.items():
        e = seg.get(name)
        if e is None:
            lines.append(f"| {label} | not run | | | | | | |")
            continue
        m = e["metrics"]
        les = e.get("lesions") or {}
        lines.append(f"| {label} | {e['n_cases']} | {_pct(e['mean_dice'])} ± {_pct(e['sd_dice'])} | "
                     f"{_f3(m.get('hd95_mm', {}).get('median'))} | {_f3(m.get('assd_mm', {}).get('median'))} | "
                     f"{_f3(m.get('nsd', {}).get('mean'))} | {_f3(les.get('lesion_sensitivity'))} | {les.get('fp_lesions', 'n/a')} |")
    if cv:
        lines += ["", "Per-fold mean DSC: " + ", ".join(f"fold {f['fold']}: {_pct(f['mean_dice'])} (n={f['n_cases']})"
                                                        for f in cv["per_fold"])]
    lines += ["", "![DSC distribution](dsc_distribution.png)", "", "## Stages", "",
              "| stage | time (s) | peak memory (MiB) |", "|---|---|---|"]
    total = 0.0
    for stage, rec in summary["stages"].items():
        total += float(rec.get("time_s") or 0)
        lines.append(f"| {stage} | {rec.get('time_s', 'n/a')} | {rec.get('peak_memory_mb', 'n/a')} |")
    lines.append(f"| **total** | {total:.1f} | |")
    lines += ["", "## Files", "", "- `summary.json`: every figure above; `config.yaml`, `provenance.json`: resolved "
              "config, versions, git commit, seeds", "- `segmentation/*.csv`: per-case segmentation metrics; "
              "`classifier/predictions.csv`: per-case scores", "- `roc/roc_stats.json`: full ROC statistics; "
              "`reader_study/`: per-case reader DSC and tests", "",
              "Rebuild this report from these files alone: `nnunet-fm report <this folder>`.", ""]
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
    """Write ``report.md``, ``summary.json`` and ``dsc_distribution.png`` of a run folder.

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
    write_json(run_dir / "summary.json", summary)
    plot_dsc_distribution(run_dir, run_dir / "dsc_distribution.png")
    text = render_markdown(summary, load_paper_targets())
    reference_dir = Path(reference_dir) if reference_dir is not None else default_reference_run()
    reference_file = reference_dir / "summary.json"
    if reference_file.is_file() and reference_dir.resolve() != run_dir.resolve():
        reference = json.loads(reference_file.read_text(encoding="utf-8"))
        same_run = all(reference.get(k) == summary.get(k) for k in ("run", "git_commit", "segmentation"))
        if not same_run:  # a copy of the reference is the reference: nothing to compare
            text += render_reference_comparison(summary, reference)
    return write_text(run_dir / "report.md", text)
