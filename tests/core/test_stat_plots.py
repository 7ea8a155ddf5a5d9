"""The study figures are written as readable, non-blank PNGs from the statistics' outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nnunet_fm import stat_plots
from nnunet_fm.decision_curve import net_benefit_table


def _assert_png(path):
    from matplotlib.image import imread

    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels[..., :3].std() > 0.01  # something was drawn


def _risks(n=120, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, n)
    return (rng.uniform(size=n) < p).astype(int), p


def test_calibration_and_decision_curve_plots(tmp_path):
    y, p = _risks()
    _assert_png(stat_plots.plot_calibration({"internal": (y, p), "external": _risks(80, 1)}, tmp_path / "cal.png"))
    table = net_benefit_table(y, {"xgboost": p, "clinical": np.clip(p + 0.1, 0, 1)})
    _assert_png(stat_plots.plot_decision_curve(table, tmp_path / "dca.png"))
    with pytest.raises(ValueError, match="no sets"):
        stat_plots.plot_calibration({}, tmp_path / "x.png")


def test_bland_altman_shap_and_heatmap_plots(tmp_path):
    rng = np.random.default_rng(3)
    ref = rng.uniform(0.5, 5, 40)
    diff = ref * rng.uniform(-0.3, 0.1, 40)
    half_width = 1.96 * diff.std(ddof=1)
    agreement = {"n_cases": 40, "mean_ml": ref + diff / 2, "difference_ml": diff, "bias_ml": diff.mean(),
                 "loa_low_ml": diff.mean() - half_width, "loa_high_ml": diff.mean() + half_width}
    _assert_png(stat_plots.plot_bland_altman(agreement, tmp_path / "ba.png"))
    values = pd.DataFrame(rng.normal(size=(40, 4)), columns=list("abcd"))
    shap = values * [0.5, -0.2, 0.1, 0.0]
    shap["shap_bias"], shap["margin_logit"] = 0.1, shap.sum(axis=1) + 0.1
    importance = pd.DataFrame({"feature": list("abcd"),
                               "mean_abs_shap_logit": shap[list("abcd")].abs().mean().to_numpy()})
    _assert_png(stat_plots.plot_shap_bar(importance, tmp_path / "bar.png"))
    _assert_png(stat_plots.plot_shap_beeswarm(shap, values, tmp_path / "bee.png", top_n=3))
    _assert_png(stat_plots.plot_correlation_heatmap(values.corr(method="spearman"), tmp_path / "heat.png"))
    assert not list(tmp_path.glob("*.tmp*"))  # atomic writes leave no temporaries
