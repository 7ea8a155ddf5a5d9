"""ROC figure: several curves with bootstrap confidence bands, saved as PNG and SVG."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from nnunet_fm import roc_stats
from nnunet_fm.atomic import atomic_path

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RocCurve:
    """One curve of the figure.

    Attributes:
        name: Legend name, e.g. ``"XGBoost, external test"``.
        y_true: Labels 0/1.
        y_score: Scores (higher = positive).
        ci: ``(lower, upper)`` AUC interval for the legend; computed with DeLong when None.
        colour: Matplotlib colour; None takes the next colour of the cycle.
        linestyle: Matplotlib line style (e.g. one per group of cases).
        band: Shade this curve's bootstrap sensitivity band (a figure with many curves
            stays readable when only the primary score carries a band).
    """

    name: str
    y_true: Any
    y_score: Any
    ci: tuple[float, float] | None = None
    colour: str | None = None
    linestyle: str = "-"
    band: bool = True


#: One colour per score and one line style per group of cases.
SCORE_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink")
GROUP_LINESTYLES = ("-", "--", ":", "-.")


def curves_from_summary(summary: dict[str, Any], y_true: Any, scores: dict[str, Any],
                        groups: Any = None) -> list[RocCurve]:
    """The figure's curves for a :func:`nnunet_fm.roc_stats.roc_summary` result.

    One colour per score, one line style per group; only the first (primary) score gets
    a confidence band so that a figure with many curves stays readable.

    Args:
        summary: Output of ``roc_summary`` (its ``groups`` entries, in order).
        y_true: Labels 0/1 of all cases.
        scores: Score name -> scores of all cases.
        groups: Group of each case, or None for one group.
    """
    y_true = np.asarray(y_true)
    curves = []
    for g_index, (group, entry) in enumerate(summary["groups"].items()):
        mask = np.ones(y_true.shape, dtype=bool) if groups is None else np.asarray(groups) == group
        for s_index, (name, stats) in enumerate(entry["scores"].items()):
            curves.append(RocCurve(name if groups is None else f"{name} ({group})", y_true[mask],
                                   np.asarray(scores[name])[mask], ci=tuple(stats["ci_delong"]),
                                   colour=SCORE_COLOURS[s_index % len(SCORE_COLOURS)],
                                   linestyle=GROUP_LINESTYLES[g_index % len(GROUP_LINESTYLES)],
                                   band=s_index == 0))
    return curves


def legend_label(name: str, auc_value: float, ci: tuple[float, float], level: float = 0.95) -> str:
    """``"name: AUC 0.812 (95% CI 0.731–0.893)"``."""
    return f"{name}: AUC {auc_value:.3f} ({level * 100:g}% CI {ci[0]:.3f}\u2013{ci[1]:.3f})"


def plot_roc(
    curves: Sequence[RocCurve],
    png_path: str | Path,
    svg_path: str | Path | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    random_state: int = 0,
    title: str | None = None,
    band: bool = True,
) -> list[Path]:
    """Draw ROC curves with shaded bootstrap sensitivity bands and write PNG (+ SVG).

    The x axis is 1 - specificity; the band is the pointwise bootstrap CI of sensitivity
    over a grid of specificities (pROC ``ci.se``), shaded in the curve's colour.

    Args:
        curves: Curves to draw, in legend order.
        png_path: PNG to write (atomically).
        svg_path: SVG to write (atomically); None for none.
        n_boot: Bootstrap resamples for the bands.
        level: Confidence level of bands and legend intervals.
        random_state: Seed; curve ``i`` uses the stream ``[random_state, i]``.
        title: Optional figure title.
        band: Draw the confidence bands.

    Returns:
        The paths written.
    """
    import matplotlib

    matplotlib.use("Agg")  # headless; chosen here, never at import time
    import matplotlib.pyplot as plt

    if not curves:
        raise ValueError("no ROC curves to plot")
    specificities = np.linspace(0.0, 1.0, 101)
    fig, ax = plt.subplots(figsize=(6.0, 6.0), dpi=150)
    try:
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for index, curve in enumerate(curves):
            colour = curve.colour or colours[index % len(colours)]
            points = roc_stats.roc_points(curve.y_true, curve.y_score)
            auc_value = roc_stats.auc(curve.y_true, curve.y_score)
            ci = curve.ci if curve.ci is not None else roc_stats.ci_delong(curve.y_true, curve.y_score, level)
            if band and curve.band:
                bounds = roc_stats.bootstrap_sensitivity_band(
                    curve.y_true, curve.y_score, specificities, n_boot=n_boot, level=level,
                    random_state=np.random.default_rng([random_state, index]),
                )
                ax.fill_between(1.0 - specificities, bounds["lower"], bounds["upper"], color=colour,
                                alpha=0.15, linewidth=0)
            # points come in increasing threshold order: from (1, 1) down to (0, 0)
            ax.plot(1.0 - points["specificity"], points["sensitivity"], color=colour, linewidth=1.8,
                    linestyle=curve.linestyle, label=legend_label(curve.name, auc_value, ci, level))
        ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1.0, label="_chance")
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_aspect("equal")
        ax.set_xlabel("1 \u2212 specificity (false-positive rate)")
        ax.set_ylabel("Sensitivity (true-positive rate)")
        if title:
            ax.set_title(title)
        ax.legend(loc="lower right", fontsize="small", frameon=True)
        fig.tight_layout()
        return _save(fig, plt, png_path, svg_path)
    finally:
        plt.close(fig)


def _draw_curve(ax, curve: RocCurve, colour: str, band: bool, specificities: np.ndarray, n_boot: int,
                level: float, rng: np.random.Generator) -> None:
    points = roc_stats.roc_points(curve.y_true, curve.y_score)
    auc_value = roc_stats.auc(curve.y_true, curve.y_score)
    ci = curve.ci if curve.ci is not None else roc_stats.ci_delong(curve.y_true, curve.y_score, level)
    if band and curve.band:
        bounds = roc_stats.bootstrap_sensitivity_band(curve.y_true, curve.y_score, specificities, n_boot=n_boot,
                                                      level=level, random_state=rng)
        ax.fill_between(1.0 - specificities, bounds["lower"], bounds["upper"], color=colour, alpha=0.18, linewidth=0,
                        label=f"{curve.name}: {level * 100:g}% bootstrap band of sensitivity")
    ax.plot(1.0 - points["specificity"], points["sensitivity"], color=colour, linewidth=2.0 if curve.band else 1.4,
            linestyle=curve.linestyle, label=legend_label(curve.name, auc_value, ci, level))


def plot_roc_panels(
    panels: Sequence[tuple[str, Sequence[RocCurve]]],
    png_path: str | Path,
    svg_path: str | Path | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    random_state: int = 0,
    band: bool = True,
) -> list[Path]:
    """One ROC panel per set of cases, side by side with shared axes, and write PNG (+ SVG).

    Each panel draws its curves (the first usually the model, with its bootstrap
    sensitivity band; the others baselines without a band) and a legend with every
    curve's AUC and CI, so a panel reads on its own.

    Args:
        panels: ``(title, curves)`` per panel, left to right.
        png_path: PNG to write (atomically).
        svg_path: SVG to write (atomically); None for none.
        n_boot: Bootstrap resamples for the bands.
        level: Confidence level of bands and legend intervals.
        random_state: Seed; curve ``j`` of panel ``i`` uses the stream ``[random_state, i, j]``.
        band: Draw the confidence bands.

    Returns:
        The paths written.
    """
    import matplotlib

    matplotlib.use("Agg")  # headless; chosen here, never at import time
    import matplotlib.pyplot as plt

    if not panels or not all(curves for _, curves in panels):
        raise ValueError("every ROC panel needs at least one curve")
    specificities = np.linspace(0.0, 1.0, 101)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 5.6), dpi=150, sharex=True, sharey=True,
                             squeeze=False)
    try:
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for p_index, (ax, (title, curves)) in enumerate(zip(axes[0], panels)):
            for c_index, curve in enumerate(curves):
                _draw_curve(ax, curve, curve.colour or colours[c_index % len(colours)], band, specificities,
                            n_boot, level, np.random.default_rng([random_state, p_index, c_index]))
            ax.plot([0, 1], [0, 1], linestyle=":", color="0.6", linewidth=1.0, label="_chance")
            ax.set_xlim(-0.01, 1.01)
            ax.set_ylim(-0.01, 1.01)
            ax.set_aspect("equal")
            ax.set_title(title, fontsize="medium")
            ax.set_xlabel("1 \u2212 specificity")
            ax.grid(True, linewidth=0.4, alpha=0.5)
            ax.legend(loc="lower right", fontsize="x-small", frameon=True)
        axes[0][0].set_ylabel("Sensitivity")
        fig.tight_layout()
        return _save(fig, plt, png_path, svg_path)
    finally:
        plt.close(fig)


def _save(fig, plt, png_path, svg_path) -> list[Path]:
    written = []
    for path in (png_path, svg_path):
        if path is None:
            continue
        path = Path(path)
        fmt = path.suffix.lstrip(".").lower() or "png"
        # SVG: text kept as text and no timestamp, so the same inputs give the same file
        with atomic_path(path) as tmp, plt.rc_context({"svg.fonttype": "none"}):
            fig.savefig(tmp, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
        written.append(path)
        LOG.info("wrote %s", path)
    return written
