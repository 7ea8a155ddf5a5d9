"""Figures of the study statistics, written as PNG atomically.

Each function takes the output of a statistics function (calibration, decision curve,
Bland–Altman, SHAP, Spearman clusters) and a target path, draws with matplotlib's
object-oriented API (``Figure`` + Agg canvas: no pyplot state, no display needed) and
returns the path. Nothing is computed here that a table does not already hold, except
the binned / smoothed calibration curves, which come from :mod:`nnunet_fm.calibration`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from nnunet_fm.atomic import atomic_path

DPI = 110


def _figure(width_in: float, height_in: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), layout="constrained")


def _save(fig: Any, target: str | os.PathLike) -> Path:
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return Path(target)


def plot_calibration(sets: Mapping[str, tuple[Any, Any]], target: str | os.PathLike, n_bins: int = 10) -> Path:
    """Calibration plot: decile points with Wilson bars and a lowess curve per set.

    Args:
        sets: Panel name (e.g. ``"internal test"``) -> ``(y_true, p_pred)``.
        target: PNG path.
        n_bins: Quantile bins of the points.
    """
    from nnunet_fm.calibration import calibration_bins, lowess_curve

    if not sets:
        raise ValueError("calibration plot: no sets given")
    fig = _figure(4.2 * len(sets), 4.2)
    axes = fig.subplots(1, len(sets), squeeze=False)[0]
    for ax, (name, (y, p)) in zip(axes, sets.items()):
        bins = calibration_bins(y, p, n_bins=n_bins)
        x_sorted, smooth = lowess_curve(p, y)
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="ideal")
        ax.errorbar(bins["mean_predicted"], bins["observed_fraction"],
                    # clip: Wilson bounds at k = 0 or n can differ from 0/1 by rounding
                    yerr=[np.maximum(bins["observed_fraction"] - bins["observed_ci_low"], 0.0),
                          np.maximum(bins["observed_ci_high"] - bins["observed_fraction"], 0.0)],
                    fmt="o", markersize=4, capsize=2, label=f"{len(bins)} quantile bins (Wilson 95% CI)")
        ax.plot(x_sorted, smooth, linewidth=1.5, label="lowess")
        ax.set(xlim=(0, 1), ylim=(-0.02, 1.02), xlabel="predicted probability", ylabel="observed fraction",
               title=f"{name} (n={len(np.asarray(y))})")
        ax.legend(loc="upper left", fontsize=7)
    return _save(fig, target)


def plot_decision_curve(table: Any, target: str | os.PathLike, title: str = "Decision curve") -> Path:
    """Net benefit against threshold probability, treat-all and treat-none included.

    Args:
        table: Output of :func:`nnunet_fm.decision_curve.net_benefit_table`.
        target: PNG path.
        title: Figure title (e.g. the test set).
    """
    if len(table) == 0:
        raise ValueError("decision curve plot: empty table")
    fig = _figure(5.5, 4.0)
    ax = fig.subplots()
    styles = {"treat_all": dict(color="grey", linestyle="--"), "treat_none": dict(color="black", linestyle=":")}
    for model, curve in table.groupby("model", sort=False):
        ax.plot(curve["threshold"], curve["net_benefit"], label=model.replace("_", " "), linewidth=1.4,
                **styles.get(model, {}))
    prevalence = float(table.loc[table["model"] == "treat_all", "net_benefit"].max())
    ax.set(ylim=(-0.05, max(prevalence, 0.05) * 1.1), xlim=(0, 1), xlabel="threshold probability",
           ylabel="net benefit", title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, target)


def plot_bland_altman(result: Mapping[str, Any], target: str | os.PathLike,
                      title: str = "FM volume: predicted vs reference masks") -> Path:
    """Bland–Altman plot from :func:`classifiers.feature_study.bland_altman` (ml)."""
    fig = _figure(5.5, 4.0)
    ax = fig.subplots()
    ax.scatter(result["mean_ml"], result["difference_ml"], s=12, alpha=0.7)
    for key, label, style in (("bias_ml", "bias", "-"), ("loa_low_ml", "lower LoA", "--"),
                              ("loa_high_ml", "upper LoA", "--")):
        ax.axhline(result[key], color="tab:red", linestyle=style, linewidth=1)
        ax.annotate(f"{label} {result[key]:+.2f} ml", (1.0, result[key]), xycoords=("axes fraction", "data"),
                    ha="right", va="bottom", fontsize=7)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set(xlabel="mean of the two volumes (ml)", ylabel="predicted - reference (ml)",
           title=f"{title} (n={result['n_cases']})")
    return _save(fig, target)


def plot_shap_bar(importance: Any, target: str | os.PathLike, top_n: int = 15) -> Path:
    """Horizontal bars of mean |SHAP| (from :func:`classifiers.shap_values.mean_abs_shap`)."""
    shown = importance.head(top_n)
    if len(shown) == 0:
        raise ValueError("SHAP bar plot: no features")
    fig = _figure(6.5, 0.3 * len(shown) + 1.2)
    ax = fig.subplots()
    ax.barh(np.arange(len(shown))[::-1], shown["mean_abs_shap_logit"])
    ax.set_yticks(np.arange(len(shown))[::-1], shown["feature"], fontsize=7)
    ax.set(xlabel="mean |SHAP| (log-odds)", title="Feature importance (XGBoost TreeSHAP)")
    return _save(fig, target)


def plot_shap_beeswarm(contributions: Any, feature_values: Any, target: str | os.PathLike,
                       top_n: int = 10, seed: int = 0) -> Path:
    """Beeswarm-style plot: one row per top feature, SHAP on x, colour = feature value rank.

    Args:
        contributions: Output of :func:`classifiers.shap_values.shap_contributions`.
        feature_values: Raw feature table of the same cases and order.
        target: PNG path.
        top_n: Features shown (by mean |SHAP|).
        seed: Seed of the vertical jitter.
    """
    from scipy.stats import rankdata

    names = [c for c in contributions.columns if c not in ("shap_bias", "margin_logit")]
    order = sorted(names, key=lambda c: (-float(np.abs(contributions[c]).mean()), c))[:top_n]
    if not order:
        raise ValueError("SHAP beeswarm: no features")
    rng = np.random.default_rng(seed)
    fig = _figure(6.5, 0.4 * len(order) + 1.4)
    ax = fig.subplots()
    points = None
    for row, name in enumerate(order[::-1]):
        values = np.asarray(feature_values[name], dtype=float)
        colour = np.full(values.shape, 0.5)
        finite = np.isfinite(values)
        if finite.sum() > 1:
            colour[finite] = (rankdata(values[finite]) - 1) / (finite.sum() - 1)
        jitter = rng.uniform(-0.3, 0.3, values.size)
        points = ax.scatter(contributions[name], row + jitter, c=colour, cmap="coolwarm", s=8, vmin=0, vmax=1)
    ax.axvline(0.0, color="grey", linewidth=0.8)
    ax.set_yticks(np.arange(len(order)), order[::-1], fontsize=7)
    ax.set(xlabel="SHAP value (log-odds towards axSpA)")
    fig.colorbar(points, ax=ax, label="feature value (rank, low to high)")
    return _save(fig, target)


def plot_correlation_heatmap(correlation: Any, target: str | os.PathLike,
                             title: str = "Spearman correlation of model features") -> Path:
    """Heat-map of a (cluster-ordered) correlation DataFrame, e.g. from ``spearman_clusters``."""
    n = correlation.shape[0]
    if n == 0:
        raise ValueError("correlation heat-map: no features")
    fig = _figure(0.28 * n + 3.0, 0.28 * n + 2.2)
    ax = fig.subplots()
    image = ax.imshow(correlation.to_numpy(dtype=float), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(np.arange(n), correlation.columns, rotation=90, fontsize=6)
    ax.set_yticks(np.arange(n), correlation.index, fontsize=6)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="Spearman rho")
    return _save(fig, target)
