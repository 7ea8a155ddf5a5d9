"""Report sections kept from the first report: the paper's figures beside the run, all ROC scores,
segmentation detail, stages and files. Paper rows compare; they never claim a reproduction.
"""

from __future__ import annotations

from typing import Any, Optional

from benchmarks.engine.report_common import (MAIN_SCORE, MODEL_LABELS, SET_LABELS, f3, fmt_p, pct)
from benchmarks.engine.tripod_ai import CLASSIFICATION, FILES, PAPER, SEGMENTATION
from nnunet_fm.contract import READER_PAIRS


def _reader_rows(summary: dict[str, Any], paper: dict[str, Any]) -> list[str]:
    readers = summary.get("reader_study")
    simulated = bool(summary["synthetic"] if readers is None else readers.get("simulated", summary["synthetic"]))
    tag = "simulated readers" if simulated else "readers"
    rows = []
    for label, without, with_ in READER_PAIRS:
        target = paper["reader_study_dsc"][label]
        paper_cell = f"{pct(target['without_model'])} → {pct(target['with_model'])} (p {target['p']}; real readers)"
        if readers is None or without not in readers["readers"]:
            run_cell = "not run"
        else:
            test = next((t for t in readers["paired_tests"]
                         if {t["reader_a"], t["reader_b"]} == {without, with_}), None)
            run_cell = (f"{'simulated: ' if simulated else ''}{pct(readers['readers'][without]['mean_dice'])} → "
                        f"{pct(readers['readers'][with_]['mean_dice'])} "
                        f"(Wilcoxon p {fmt_p(test['p_value']) if test else 'n/a'}"
                        f"{', r = ' + f3(test['rank_biserial']) if test else ''})")
        rows.append(f"| {label} DSC without → with model ({tag}) | {paper_cell} | {run_cell} |")
    return rows


def _auc_cell(entry: Optional[dict]) -> str:
    if entry is None:
        return "not run"
    lo, hi = entry["ci_delong"]
    blo, bhi = entry["ci_bootstrap"]
    return (f"{f3(entry['auc'])} (DeLong 95% CI {f3(lo)}–{f3(hi)}; bootstrap {f3(blo)}–{f3(bhi)}; "
            f"n = {entry['n_pos']}+{entry['n_neg']})")


def _dsc_cell(entry: Optional[dict]) -> str:
    if not entry:
        return "not run"
    return (f"{pct(entry['mean_dice'])} ± {pct(entry['sd_dice'])} (95% CI {pct(entry['ci95_dice'][0])}–"
            f"{pct(entry['ci95_dice'][1])}, n = {entry['n_cases']})")


def render_paper_table(summary: dict[str, Any], paper: dict[str, Any], classification: bool) -> list[str]:
    """The paper's headline figures beside this run's (a comparison, not a reproduction)."""
    seg, cls = summary["segmentation"], summary["classification"]
    lines = [f"## {PAPER} — data: {summary['data_source']}", "",
             f"| metric | paper ({paper['short_citation']}) | this run ({summary['data_source']}) |", "|---|---|---|"]
    cv = seg.get("oof", {}).get("cross_validation")
    t = paper["segmentation_dsc"]
    lines.append("| FM DSC, internal 5-fold CV (mean over folds ± SD over folds) | "
                 f"{pct(t['internal_cv']['mean'])} ± "
                 f"{pct(t['internal_cv']['sd'])} | " + (f"{pct(cv['mean_dice'])} ± {pct(cv['sd_dice'])} "
                 f"({cv['n_folds']} folds, {cv['n_cases']} cases)" if cv else "not run") + " |")
    lines.append(f"| FM DSC, external test (mean ± SD over cases) | {pct(t['external']['mean'])} ± "
                 f"{pct(t['external']['sd'])} | {_dsc_cell(seg.get('external_test'))} |")
    lines.append("| FM DSC, internal test (mean ± SD over cases) | not reported | "
                 f"{_dsc_cell(seg.get('internal_test'))} |")
    if classification:
        a = paper["classification_auc"]
        for group, label in (("internal_test", "internal test"), ("external_test", "external test")):
            lo, hi = a[group]["ci"]
            lines.append(f"| axSpA AUC, {label} | {a[group]['auc']:.3f} (95% CI {lo:.3f}–{hi:.3f}) | "
                         f"{_auc_cell(cls.get(group, {}).get(MAIN_SCORE))} |")
    lines += _reader_rows(summary, paper)
    auc_note = (" AUC: higher score = axSpA, ties ½ (pROC conventions); CIs: DeLong and stratified bootstrap "
                "(percentile)." if classification else "")
    source = "a synthetic phantom" if summary["synthetic"] else "your data"
    return lines + ["", f"The paper's figures come from its patients, this run's from {source}: the rows are a scale "
                    "reference, not a reproduction of the paper. DSC per case = 2|A∩B|/(|A|+|B|), both empty = 1."
                    + auc_note, ""]


def _operating_table(op: Optional[dict]) -> list[str]:
    if not op or MAIN_SCORE not in op.get("scores", {}):
        return []
    main = op["scores"][MAIN_SCORE]
    lines = ["", f"Operating point (Youden on `{op['train_group']}`, threshold {f3(main['threshold'])}, "
             f"{op['rule']}), applied unchanged:", "",
             "| set | sensitivity (Wilson 95% CI) | specificity | accuracy | PPV | NPV |", "|---|---|---|---|---|---|"]
    for group, m in main["groups"].items():
        cells = []
        for key in ("sensitivity", "specificity", "accuracy", "ppv", "npv"):
            v = m.get(key)
            cells.append(f"{f3(v.get('value'))} ({f3(v['ci_wilson'][0])}–{f3(v['ci_wilson'][1])})"
                         if isinstance(v, dict) else f3(v))
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return lines


def render_all_scores(summary: dict[str, Any]) -> list[str]:
    """Every ROC score of every set, the operating-point table and the ROC figure."""
    lines = [f"## {CLASSIFICATION}", "", "| set | score | AUC (DeLong 95% CI) | bootstrap 95% CI |",
             "|---|---|---|---|"]
    for group, scores in summary["classification"].items():
        for score, e in scores.items():
            lines.append(f"| {group} | {MODEL_LABELS.get(score, score)} | {f3(e['auc'])} ({f3(e['ci_delong'][0])}–"
                         f"{f3(e['ci_delong'][1])}) | {f3(e['ci_bootstrap'][0])}–{f3(e['ci_bootstrap'][1])} |")
    lines += _operating_table(summary.get("operating_point"))
    return lines + ["", "![ROC curves, one panel per set](roc/roc.png)", ""]


def render_segmentation_detail(summary: dict[str, Any]) -> list[str]:
    """Per-set segmentation metrics and the DSC figure."""
    seg = summary["segmentation"]
    lines = [f"## {SEGMENTATION}", "",
             "| set | n | DSC mean ± SD | HD95 mm (median) | ASSD mm (median) | NSD (mean) | lesion sensitivity | "
             "FP lesions |",
             "|---|---|---|---|---|---|---|---|"]
    for name, label in SET_LABELS.items():
        e = seg.get(name)
        if e is None:
            lines.append(f"| {label} | not run | | | | | | |")
            continue
        m, les = e["metrics"], e.get("lesions") or {}
        lines.append(f"| {label} | {e['n_cases']} | {pct(e['mean_dice'])} ± {pct(e['sd_dice'])} | "
                     f"{f3(m.get('hd95_mm', {}).get('median'))} | {f3(m.get('assd_mm', {}).get('median'))} | "
                     f"{f3(m.get('nsd', {}).get('mean'))} | {f3(les.get('lesion_sensitivity'))} | "
                     f"{les.get('fp_lesions', 'n/a')} |")
    cv = seg.get("oof", {}).get("cross_validation")
    if cv:
        lines += ["", "Per-fold mean DSC: " + ", ".join(f"fold {f['fold']}: {pct(f['mean_dice'])} (n={f['n_cases']})"
                                                        for f in cv["per_fold"])]
    return lines + ["", "![DSC distribution](dsc_distribution.png)", ""]


def render_stages_and_files(summary: dict[str, Any]) -> list[str]:
    """Stage times and the list of files the report is built from."""
    lines = ["## Stages", "", "| stage | time (s) | CPU (s) | peak memory (MiB) |", "|---|---|---|---|"]
    total = total_cpu = 0.0
    for stage, rec in summary["stages"].items():
        if rec.get("skipped"):
            lines.append(f"| {stage} | skipped: {rec.get('reason', 'no reason recorded')} | | |")
            continue
        total += float(rec.get("time_s") or 0)
        total_cpu += float(rec.get("cpu_s") or 0)
        lines.append(f"| {stage} | {rec.get('time_s', 'n/a')} | {rec.get('cpu_s', 'n/a')} | "
                     f"{rec.get('peak_memory_mb', 'n/a')} |")
    lines.append(f"| **total** | {total:.1f} | {total_cpu:.1f} | |")
    return lines + ["", f"## {FILES}", "", "- `summary.json`: every figure above; `config.yaml`, `provenance.json`: "
                    "resolved config, versions, git commit, seeds", "- `dataset/`: cases.csv, dataset_meta.json; "
                    "`segmentation/*.csv`: per-case and per-lesion metrics; `features/`: extracted features",
                    "- `classifier*/`: fitted model and per-case scores; `roc/roc_stats.json`: ROC statistics; "
                    "`reader_study/`: per-case reader DSC and tests", "- `report_figures/`: calibration and decision "
                    "curves; `tripod_ai.md`: TRIPOD+AI checklist", "",
                    "Rebuild this report from these files alone: `nnunet-fm report <this folder>`.", ""]
