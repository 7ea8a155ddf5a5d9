"""Report sections on calibration and decision curves (per set, probability scores only).

Figures: ``report_figures/calibration_<model>.png`` (one panel per set, decile points with
Wilson bars and a lowess curve) and ``report_figures/decision_curve_<set>.png`` (net benefit
of each model with treat-all and treat-none). FM volume is in ml, not a probability: it has
no calibration and no decision curve.
"""

from __future__ import annotations

from typing import Any

from benchmarks.engine.report_common import (FIGURE_DIR, MODEL_LABELS, PREDICTIONS_CSV, PROBABILITY_SCORES, RunInputs,
                                             SET_LABELS, SPLIT_OF_SET, ci, complete_rows, f3, is_available,
                                             not_available_line, predictions_by_split, unavailable, usable_scores)

CALIBRATION_HEADING = "Calibration"
DECISION_HEADING = "Decision curves"
#: Thresholds whose net benefit the report prints (the PNG shows 0.01..0.99).
SHOWN_THRESHOLDS = (0.2, 0.5, 0.8)
CALIBRATION_KEYS = ("n_cases", "n_events", "mean_predicted", "observed_fraction", "calibration_intercept",
                    "calibration_intercept_ci_low", "calibration_intercept_ci_high", "calibration_slope",
                    "calibration_slope_ci_low", "calibration_slope_ci_high", "brier_score", "brier_score_ci_low",
                    "brier_score_ci_high", "brier_scaled", "n_clipped")


def _probability_sets(run: RunInputs) -> dict[str, Any]:
    """Set -> its prediction rows, for the sets present in ``classifier/predictions.csv``."""
    by_split = predictions_by_split(run)
    return {s: by_split[split] for s, split in SPLIT_OF_SET.items() if split in by_split}


def _calibration_row(y, p, run: RunInputs) -> dict[str, Any]:
    """calibration_summary plus a percentile-bootstrap interval of the Brier score."""
    import numpy as np

    from nnunet_fm.calibration import calibration_summary
    from nnunet_fm.subgroups import bootstrap_ci

    row = calibration_summary(y, p, run.level)
    _, low, high = bootstrap_ci((p - y) ** 2, "mean", run.n_boot, run.level, run.seed)
    row["brier_score_ci_low"], row["brier_score_ci_high"] = low, high
    row = {k: row[k] for k in CALIBRATION_KEYS}
    row["n_events"] = int(np.asarray(y).sum())
    return row


def _finite_pair(preds, model: str):
    rows, _ = complete_rows(preds, [model])
    return rows["label"].to_numpy(int), rows[model].to_numpy(float)


def collect_calibration(run: RunInputs) -> dict[str, Any]:
    """Calibration per set and probability model; writes the calibration PNGs (summary key ``calibration``)."""
    from nnunet_fm.stat_plots import plot_calibration

    sets = _probability_sets(run)
    if not sets:
        return unavailable(f"{PREDICTIONS_CSV} is absent")
    out: dict[str, Any] = {"available": True, "level": run.level, "figures": {}, "sets": {},
                           "ci_method": "intercept and slope: Wald (maximum likelihood, logit link); Brier: "
                                        f"percentile bootstrap over cases ({run.n_boot} resamples, seed {run.seed})"}
    for set_name, preds in sets.items():
        y = preds["label"].to_numpy(int)
        if y.min() == y.max():
            out["sets"][set_name] = {"note": "one class only: no calibration"}
            continue
        out["sets"][set_name] = {}
        for model in usable_scores(preds, PROBABILITY_SCORES):
            rows, left_out = complete_rows(preds, [model])
            try:
                row = _calibration_row(rows["label"].to_numpy(int), rows[model].to_numpy(float), run)
            except ValueError as exc:  # e.g. perfect separation: no finite slope exists
                row = {"note": str(exc), "n_cases": int(len(rows))}
            out["sets"][set_name][model] = {**row, "n_left_out_missing_score": left_out}
    for model in PROBABILITY_SCORES:
        panels = {SET_LABELS[s]: _finite_pair(p, model) for s, p in sets.items() if model in out["sets"].get(s, {})}
        if panels:
            relative = f"{FIGURE_DIR}/calibration_{model.removeprefix('score_')}.png"
            plot_calibration(panels, run.run_dir / relative)
            out["figures"][model] = relative
    return out


def _with_ci(row: dict[str, Any], key: str) -> str:
    return f"{f3(row[key])} ({ci(row[key + '_ci_low'], row[key + '_ci_high'])})"


def render_calibration(entry: dict[str, Any]) -> list[str]:
    """Markdown of the calibration section."""
    lines = [f"## {CALIBRATION_HEADING}", ""]
    if not is_available(entry):
        return lines + not_available_line(entry)
    lines += ["Calibration-in-the-large = intercept of logit P(y) = a + logit(p) (0 ideal; > 0: risks too low); "
              "slope = b of logit P(y) = a + b·logit(p) (1 ideal; < 1: risks too extreme). "
              f"Intervals: {entry['ci_method']}.", "",
              "| set | model | n (events) | intercept (95% CI) | slope (95% CI) | Brier (95% CI) | scaled Brier |",
              "|---|---|---|---|---|---|---|"]
    for set_name, models in entry["sets"].items():
        if "note" in models:
            lines.append(f"| {SET_LABELS[set_name]} | {models['note']} | | | | | |")
            continue
        for model, r in models.items():
            if "note" in r:
                lines.append(f"| {SET_LABELS[set_name]} | {MODEL_LABELS[model]} | {r['n_cases']} | {r['note']} | | | |")
                continue
            lines.append(f"| {SET_LABELS[set_name]} | {MODEL_LABELS[model]} | {r['n_cases']} ({r['n_events']}) | "
                         f"{_with_ci(r, 'calibration_intercept')} | {_with_ci(r, 'calibration_slope')} | "
                         f"{f3(r['brier_score'])} ({ci(r['brier_score_ci_low'], r['brier_score_ci_high'])}) | "
                         f"{f3(r['brier_scaled'])} |")
    lines.append("")
    for model, relative in entry["figures"].items():
        lines += [f"![Calibration, {MODEL_LABELS[model]}]({relative})", ""]
    return lines


def collect_decision_curves(run: RunInputs) -> dict[str, Any]:
    """Net benefit per set; writes the decision-curve PNGs (summary key ``decision_curve``)."""
    from nnunet_fm.decision_curve import net_benefit_table
    from nnunet_fm.stat_plots import plot_decision_curve

    sets = _probability_sets(run)
    if not sets:
        return unavailable(f"{PREDICTIONS_CSV} is absent")
    out: dict[str, Any] = {"available": True, "shown_thresholds": list(SHOWN_THRESHOLDS), "sets": {}, "figures": {},
                           "n_left_out_missing_score": {}}
    for set_name, preds in sets.items():
        models = usable_scores(preds, PROBABILITY_SCORES)
        preds, left_out = complete_rows(preds, models)
        y = preds["label"].to_numpy(int)
        if y.size == 0 or y.min() == y.max():
            continue
        table = net_benefit_table(y, {MODEL_LABELS[m]: preds[m].to_numpy(float) for m in models})
        relative = f"{FIGURE_DIR}/decision_curve_{set_name}.png"
        plot_decision_curve(table, run.run_dir / relative, title=f"Decision curve, {SET_LABELS[set_name]}")
        out["figures"][set_name] = relative
        shown = table[table["threshold"].round(2).isin(SHOWN_THRESHOLDS)]
        out["sets"][set_name] = {model: {f"{t:.2f}": float(nb) for t, nb in zip(rows["threshold"], rows["net_benefit"])}
                                 for model, rows in shown.groupby("model", sort=False)}
        out["n_left_out_missing_score"][set_name] = left_out
    return out


def render_decision_curves(entry: dict[str, Any]) -> list[str]:
    """Markdown of the decision-curve section."""
    lines = [f"## {DECISION_HEADING}", ""]
    if not is_available(entry):
        return lines + not_available_line(entry)
    thresholds = [f"{t:.2f}" for t in entry["shown_thresholds"]]
    lines += ["Net benefit = TP/n − FP/n · pt/(1 − pt), a case treated when its risk ≥ pt "
              "(Vickers & Elkin 2006); "
              "treat-all and treat-none are the reference strategies.", "",
              "| set | strategy | " + " | ".join(f"NB at pt {t}" for t in thresholds) + " |",
              "|---|---|" + "---|" * len(thresholds)]
    for set_name, models in entry["sets"].items():
        for model, values in models.items():
            lines.append(f"| {SET_LABELS[set_name]} | {model.replace('_', ' ')} | "
                         + " | ".join(f3(values.get(t)) for t in thresholds) + " |")
    lines.append("")
    for set_name, relative in entry["figures"].items():
        lines += [f"![Decision curve, {SET_LABELS[set_name]}]({relative})", ""]
    return lines
