"""Feature stability between two mask sources (e.g. reader vs model, two readers).

Features are extracted from the same images with mask set A and mask set B; for every
feature, ICC(A,1) (absolute agreement) and ICC(C,1) (consistency) are computed over the
cases that succeeded and were non-empty in both (:mod:`classifiers.icc`). The table is
sorted by ICC(A,1), most stable first, with the usual bands (Koo & Li 2016): excellent
> 0.9, good 0.75-0.9, moderate 0.5-0.75, poor < 0.5.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from classifiers.icc import icc_both

LOG = logging.getLogger(__name__)

ICC_COLUMNS = (
    "feature", "icc_a1", "icc_a1_ci_low", "icc_a1_ci_high", "icc_c1", "icc_c1_ci_low", "icc_c1_ci_high",
    "n_cases", "stability",
)
NON_FEATURE_COLUMNS = ("case_id", "mask_empty", "error")


def stability_band(icc: float) -> str:
    """Koo & Li (2016) band of an ICC value."""
    if not np.isfinite(icc):
        return "undefined"
    if icc > 0.9:
        return "excellent"
    if icc >= 0.75:
        return "good"
    if icc >= 0.5:
        return "moderate"
    return "poor"


def usable_cases(table_a, table_b) -> list[str]:
    """Case ids that succeeded with a non-empty mask in both tables."""

    def ok(table):
        good = (table["error"].fillna("") == "") & (table["mask_empty"] == 0)
        return set(table.loc[good.fillna(False).astype(bool), "case_id"])

    return sorted(ok(table_a) & ok(table_b))


def icc_table(table_a, table_b):
    """Per-feature ICC table of two feature tables (section-5 layout), sorted by ICC(A,1).

    Raises:
        ValueError: Fewer than 2 cases are usable in both tables.
    """
    import pandas as pd

    cases = usable_cases(table_a, table_b)
    if len(cases) < 2:
        raise ValueError(
            f"feature stability needs >= 2 cases that succeeded with non-empty masks in both sets; got {len(cases)}"
        )
    a = table_a.set_index("case_id").loc[cases]
    b = table_b.set_index("case_id").loc[cases]
    # text columns (notes, diagnostics) are no features, whatever their name
    features = [c for c in table_a.columns if c not in NON_FEATURE_COLUMNS and c in b.columns
                and pd.api.types.is_numeric_dtype(a[c]) and pd.api.types.is_numeric_dtype(b[c])]
    records = []
    for name in features:
        ratings = np.column_stack([pd.to_numeric(a[name], errors="coerce"), pd.to_numeric(b[name], errors="coerce")])
        ratings = ratings.astype(float)
        if np.all(np.isfinite(ratings), axis=1).sum() < 2:  # e.g. a guarded feature, NaN on every case
            records.append({"feature": name, "n_cases": int(np.all(np.isfinite(ratings), axis=1).sum()),
                            "stability": stability_band(float("nan"))})
            continue
        result = icc_both(ratings)
        records.append(
            {
                "feature": name,
                "icc_a1": result.icc_a1, "icc_a1_ci_low": result.icc_a1_ci_low, "icc_a1_ci_high": result.icc_a1_ci_high,
                "icc_c1": result.icc_c1, "icc_c1_ci_low": result.icc_c1_ci_low, "icc_c1_ci_high": result.icc_c1_ci_high,
                "n_cases": result.n_cases, "stability": stability_band(result.icc_a1),
            }
        )
    frame = pd.DataFrame.from_records(records, columns=list(ICC_COLUMNS))
    # Most stable first; undefined (NaN) last; ties by name so the order is deterministic.
    frame["_key"] = frame["icc_a1"].fillna(-math.inf)
    frame = frame.sort_values(["_key", "feature"], ascending=[False, True], kind="mergesort").drop(columns="_key")
    return frame.reset_index(drop=True)


def plot_icc(table, target) -> Path:
    """Features ranked by ICC(A,1) (with ICC(C,1)) and 0.75 / 0.9 reference lines; atomic PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nnunet_fm.atomic import atomic_path

    shown = table[np.isfinite(table["icc_a1"].astype(float))]
    n = len(shown)
    height = max(3.0, 0.16 * n + 1.2)
    fig, ax = plt.subplots(figsize=(7.5, height))
    try:
        y = np.arange(n)[::-1]
        ax.scatter(shown["icc_a1"], y, s=14, label="ICC(A,1) absolute agreement", zorder=3)
        ax.scatter(shown["icc_c1"], y, s=10, marker="x", label="ICC(C,1) consistency", zorder=3)
        ax.axvline(0.75, color="tab:orange", linestyle="--", linewidth=1, label="0.75 (good)")
        ax.axvline(0.9, color="tab:green", linestyle="--", linewidth=1, label="0.90 (excellent)")
        ax.set_yticks(y)
        ax.set_yticklabels(shown["feature"], fontsize=6)
        ax.set_ylim(-1, max(n, 1))
        low = min(0.0, float(np.nanmin(shown[["icc_a1", "icc_c1"]].to_numpy(dtype=float)))) if n else 0.0
        ax.set_xlim(max(low, -1.0) - 0.02, 1.02)
        ax.set_xlabel("ICC (two-way, single measures)")
        ax.set_title(f"Feature stability between mask sources ({n} features)", pad=30)
        ax.grid(axis="x", alpha=0.3)
        # Above the axes, so it never hides the least stable features at the bottom.
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, fontsize=7, frameon=False)
        fig.tight_layout()
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
    return Path(target)


def feature_stability(masks_a, masks_b, images_dir, out_dir, params_file=None, jobs: int = 2) -> dict:
    """Extract features with both mask sets and write the ICC table and plot.

    Writes ``out_dir/features_a.csv``, ``features_b.csv``, ``feature_icc.csv`` and
    ``feature_icc.png`` (all atomically).

    Returns:
        Summary: paths, case count, and how many features fall in each stability band.
    """
    from classifiers.feature_extraction import extract_features
    from nnunet_fm.atomic import write_csv

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = [
        extract_features(images_dir, masks, params_file=params_file, jobs=jobs, out_csv=out_dir / f"features_{name}.csv")
        for name, masks in (("a", masks_a), ("b", masks_b))
    ]
    table_a, table_b = tables
    table = icc_table(table_a, table_b)
    write_csv(out_dir / "feature_icc.csv", table)
    plot_icc(table, out_dir / "feature_icc.png")
    counts = table["stability"].value_counts().to_dict()
    summary = {
        "n_cases": int(table["n_cases"].max()) if len(table) else 0,
        "n_features": int(len(table)),
        "bands": {band: int(counts.get(band, 0)) for band in ("excellent", "good", "moderate", "poor", "undefined")},
        "icc_csv": str(out_dir / "feature_icc.csv"),
        "plot": str(out_dir / "feature_icc.png"),
    }
    LOG.info(
        "feature stability: %d features over %d cases: %s", summary["n_features"], summary["n_cases"], summary["bands"]
    )
    return summary
