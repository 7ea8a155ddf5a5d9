"""Report sections on discrimination: the synthetic cohort's AUC ceiling and the model comparison.

Model comparison (per set, training out-of-fold included): every model's AUC with its
DeLong interval, and ΔAUC against the clinical model (age + sex) with the paired DeLong
test, Holm-adjusted within the set (:func:`nnunet_fm.model_comparison.compare_models`).
"""

from __future__ import annotations

from typing import Any

from benchmarks.engine.report_common import (CEILING_JSON, CLASSIFIER_JSON, CLINICAL_SCORE, MAIN_SCORE, MODEL_LABELS,
                                             PREDICTIONS_CSV, RunInputs, SET_LABELS, SPLIT_OF_SET, ci, complete_rows,
                                             f3, fmt_p, is_available, not_available_line, num, predictions_by_split,
                                             records, unavailable, usable_scores)

CEILING_HEADING = "AUC ceiling of the synthetic cohort"
COMPARISON_HEADING = "Model comparison: does imaging add to age + sex?"
IMAGING_MODEL = "score_clinical_imaging"


def _recovered(achieved: Any, ceiling: Any) -> Any:
    """Share of the achievable AUC above 0.5 that a model recovered: (AUC − 0.5)/(ceiling − 0.5)."""
    achieved, ceiling = num(achieved), num(ceiling)
    if achieved is None or ceiling is None or ceiling <= 0.5:
        return None
    return (achieved - 0.5) / (ceiling - 0.5)


def collect_ceiling(run: RunInputs, paper: dict[str, Any]) -> dict[str, Any]:
    """Bayes AUC per set beside the achieved XGBoost AUC and the paper's (summary key ``ceiling``)."""
    from nnunet_fm.roc_stats import auc

    if not run.synthetic:
        return unavailable("the AUC ceiling is known only for the synthetic cohort")
    ceiling = run.json(CEILING_JSON)
    if ceiling is None:
        return unavailable(f"{CEILING_JSON} is absent (run made before the ceiling was recorded)")
    by_split = predictions_by_split(run)
    rows = []
    for set_name, split in SPLIT_OF_SET.items():
        bayes = (ceiling.get("by_set") or {}).get(split)
        if bayes is None:
            continue
        preds = by_split.get(split)
        achieved = (auc(preds["label"].to_numpy(int), preds[MAIN_SCORE].to_numpy(float))
                    if preds is not None and MAIN_SCORE in preds else None)
        paper_auc = (paper.get("classification_auc", {}).get(split) or {}).get("auc")
        rows.append({"set": set_name, "n": bayes.get("n"), "bayes_auc_all": bayes.get("all"),
                     "bayes_auc_imaging": bayes.get("imaging"), "bayes_auc_clinical": bayes.get("clinical"),
                     "xgboost_auc": achieved, "paper_auc": paper_auc,
                     "fraction_recovered": _recovered(achieved, bayes.get("all"))})
    return {"available": True, "source": ceiling.get("source"), "model": ceiling.get("model"), "rows": rows}


def render_ceiling(entry: dict[str, Any]) -> list[str]:
    """Markdown of the ceiling section."""
    lines = [f"## {CEILING_HEADING}", ""]
    if not is_available(entry):
        return lines + not_available_line(entry)
    model = entry.get("model") or {}
    lines += ["The phantom's diagnosis model has a known Bayes-optimal AUC (the AUC of the true posterior "
              "P(axSpA | latent variables)); no classifier can exceed it on average. Below, the ceiling on each "
              "set's own patients beside the achieved XGBoost AUC. The paper's AUC comes from real patients "
              "and is shown for scale only, not as a target this run reproduces.", "",
              "| set | n | Bayes AUC (all latents) | imaging latents only | clinical only | XGBoost AUC | "
              "paper AUC | share of achievable AUC above 0.5 recovered |", "|---|---|---|---|---|---|---|---|"]
    for row in entry["rows"]:
        lines.append(f"| {SET_LABELS[row['set']]} | {row['n'] if row['n'] is not None else 'n/a'} | "
                     f"{f3(row['bayes_auc_all'])} | {f3(row['bayes_auc_imaging'])} | {f3(row['bayes_auc_clinical'])} | "
                     f"{f3(row['xgboost_auc'])} | "
                     f"{f3(row['paper_auc']) if row['paper_auc'] is not None else 'not reported'}"
                     f" | {f3(row['fraction_recovered'])} |")
    lines += ["", f"Share recovered = (AUC − 0.5)/(Bayes AUC − 0.5); above 1 means the sample AUC of a small set "
              f"exceeded the ceiling by chance, not that the model beats the Bayes rule. Cohort-model ceiling "
              f"(Monte Carlo on "
              f"{model.get('mc_patients', 'n/a')} simulated patients, SE {f3(model.get('mc_se'))}): all "
              f"{f3(model.get('all'))}, imaging {f3(model.get('imaging'))}, clinical {f3(model.get('clinical'))}.", ""]
    return lines


def _auc_rows(preds, scores: list[str], level: float) -> list[dict[str, Any]]:
    from nnunet_fm.roc_stats import auc, ci_delong

    y = preds["label"].to_numpy(int)
    out = []
    for score in scores:
        s = preds[score].to_numpy(float)
        low, high = ci_delong(y, s, level)
        out.append({"model": score, "auc": auc(y, s), "auc_ci_low": low, "auc_ci_high": high})
    return out


def _set_comparison(preds, scores: list[str], level: float) -> dict[str, Any]:
    from nnunet_fm.model_comparison import compare_models

    preds, n_left_out = complete_rows(preds, scores)
    y = preds["label"].to_numpy(int)
    entry: dict[str, Any] = {"n_cases": int(y.size), "n_pos": int(y.sum()), "n_neg": int(y.size - y.sum()),
                             "n_left_out_missing_score": n_left_out, "aucs": [], "comparisons": [],
                             "imaging_adds": None}
    if y.size == 0 or y.min() == y.max():
        entry["note"] = "one class only: no AUC"
        return entry
    entry["aucs"] = _auc_rows(preds, scores, level)
    if CLINICAL_SCORE in scores and len(scores) > 1:
        table = compare_models(y, {s: preds[s].to_numpy(float) for s in scores}, CLINICAL_SCORE, level)
        entry["comparisons"] = records(table)
        entry["imaging_adds"] = _imaging_verdict(entry["comparisons"])
    return entry


def _imaging_verdict(comparisons: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Whether clinical + imaging beats clinical alone (Holm p < 0.05 and the ΔAUC CI above 0)."""
    row = next((r for r in comparisons if r["model"] == IMAGING_MODEL), None)
    if row is None:
        return None
    low, p_holm = num(row["delta_auc_ci_low"]), num(row["p_holm"])
    adds = bool(low is not None and p_holm is not None and low > 0 and p_holm < 0.05)
    return {"adds": adds, "delta_auc": row["delta_auc"], "delta_auc_ci_low": row["delta_auc_ci_low"],
            "delta_auc_ci_high": row["delta_auc_ci_high"], "p_holm": row["p_holm"]}


def _no_clinical_reason(run: RunInputs, notes: dict[str, Any]) -> str:
    """Why there is no clinical score: classify's note, else the converter's, else the bare fact."""
    if notes.get("note"):
        return str(notes["note"])
    if (run.meta or {}).get("clinical_baseline_available") is False:
        return f"clinical baseline unavailable ({run.meta.get('clinical_baseline_reason')})"
    return f"{PREDICTIONS_CSV} has no clinical score"


def collect_model_comparison(run: RunInputs) -> dict[str, Any]:
    """AUCs and ΔAUC vs clinical per set (summary key ``model_comparison``)."""
    by_split = predictions_by_split(run)
    if not by_split:
        return unavailable(f"{PREDICTIONS_CSV} is absent")
    sets: dict[str, Any] = {}
    for set_name, split in SPLIT_OF_SET.items():
        preds = by_split.get(split)
        if preds is None:
            continue
        sets[set_name] = _set_comparison(preds, usable_scores(preds), run.level)
    has_clinical = any(CLINICAL_SCORE in [a["model"] for a in e["aucs"]] for e in sets.values())
    notes = (run.json(CLASSIFIER_JSON) or {}).get("clinical_models") or {}
    reason = None if has_clinical else _no_clinical_reason(run, notes)
    return {"available": True, "level": run.level, "reference_model": CLINICAL_SCORE, "clinical_models": notes,
            "multiple_testing": "Holm within each set over the comparisons with the clinical model",
            "no_clinical_reason": reason, "sets": sets}


def _verdict_sentence(set_label: str, verdict: dict[str, Any] | None) -> str:
    if verdict is None:
        return (f"{set_label}: no clinical + imaging model in the predictions, so whether imaging adds to age + sex "
                "is not tested here.")
    delta = (f"ΔAUC {f3(verdict['delta_auc'])} (95% CI {ci(verdict['delta_auc_ci_low'], verdict['delta_auc_ci_high'])}"
             f", Holm p {fmt_p(verdict['p_holm'])})")
    if verdict["adds"]:
        return f"{set_label}: imaging adds to age + sex: clinical + imaging beats clinical alone, {delta}."
    return (f"{set_label}: imaging is not shown to add to age + sex: {delta}; the interval includes no gain or "
            "the adjusted p is ≥ 0.05.")


def _set_lines(set_name: str, entry: dict[str, Any]) -> list[str]:
    label = SET_LABELS[set_name]
    left_out = entry["n_left_out_missing_score"]
    lines = [f"**{label}** (n = {entry['n_pos']} axSpA + {entry['n_neg']} non-axSpA"
             + (f"; {left_out} case(s) without every score left out" if left_out else "") + ")", ""]
    if entry.get("note"):
        return lines + [entry["note"] + ".", ""]
    lines += ["| model | AUC (DeLong 95% CI) | ΔAUC vs clinical (95% CI) | paired DeLong p | Holm p |",
              "|---|---|---|---|---|"]
    by_model = {r["model"]: r for r in entry["comparisons"]}
    for row in entry["aucs"]:
        cmp = by_model.get(row["model"])
        cells = ("reference", "", "") if row["model"] == CLINICAL_SCORE else ("n/a", "n/a", "n/a")
        if cmp is not None:
            cells = (f"{f3(cmp['delta_auc'])} ({ci(cmp['delta_auc_ci_low'], cmp['delta_auc_ci_high'])})",
                     fmt_p(cmp["p_value"]), fmt_p(cmp["p_holm"]))
        lines.append(f"| {MODEL_LABELS.get(row['model'], row['model'])} | {f3(row['auc'])} "
                     f"({ci(row['auc_ci_low'], row['auc_ci_high'])}) | " + " | ".join(cells) + " |")
    if entry["comparisons"]:
        lines += ["", _verdict_sentence(label, entry["imaging_adds"])]
    return lines + [""]


def render_model_comparison(entry: dict[str, Any]) -> list[str]:
    """Markdown of the model-comparison section."""
    lines = [f"## {COMPARISON_HEADING}", ""]
    if not is_available(entry):
        return lines + not_available_line(entry)
    if entry.get("no_clinical_reason"):
        lines += [f"No ΔAUC against the clinical model: {entry['no_clinical_reason']}.", ""]
    else:
        lines += ["ΔAUC = AUC(model) − AUC(clinical, age + sex) on the same cases; paired DeLong test; p values "
                  f"Holm-adjusted within each set ({entry['multiple_testing']}).", ""]
        definition = (entry.get("clinical_models") or {}).get(IMAGING_MODEL)
        if definition:
            lines += [f"Clinical + imaging: {definition}.", ""]
    for set_name, set_entry in entry["sets"].items():
        lines += _set_lines(set_name, set_entry)
    return lines
