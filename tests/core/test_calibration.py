"""Calibration statistics against statsmodels (GLM, lowess) and scikit-learn (Brier, bins)."""

from __future__ import annotations

import numpy as np
import pytest

from nnunet_fm import calibration


def _miscalibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes drawn from a true risk; predictions too extreme and shifted (slope 0.6, +0.4)."""
    rng = np.random.default_rng(seed)
    lp_true = rng.normal(-0.3, 1.2, n)
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-lp_true))).astype(int)
    p = 1.0 / (1.0 + np.exp(-(lp_true / 0.6 - 0.4)))
    return y, p


def _glm(y, design, offset):
    import statsmodels.api as sm

    fit = sm.GLM(y, design, family=sm.families.Binomial(), offset=offset).fit(tol=1e-14)
    return fit.params, fit.conf_int(alpha=0.05)


@pytest.mark.parametrize("n, seed", [(60, 3), (400, 11)])
def test_intercept_and_slope_match_statsmodels_glm(n, seed):
    y, p = _miscalibrated(n, seed)
    result = calibration.calibration_summary(y, p)
    lp = np.log(p / (1 - p))
    (citl,), citl_ci = _glm(y, np.ones((n, 1)), lp)
    (icpt, slope), slope_ci = _glm(y, np.column_stack([np.ones(n), lp]), None)
    assert result["calibration_intercept"] == pytest.approx(citl, abs=1e-6)
    assert result["calibration_slope"] == pytest.approx(slope, abs=1e-6)
    assert result["slope_model_intercept"] == pytest.approx(icpt, abs=1e-6)
    assert result["calibration_intercept_ci_low"] == pytest.approx(citl_ci[0, 0], abs=1e-6)
    assert result["calibration_intercept_ci_high"] == pytest.approx(citl_ci[0, 1], abs=1e-6)
    assert result["calibration_slope_ci_low"] == pytest.approx(slope_ci[1, 0], abs=1e-6)
    assert result["calibration_slope_ci_high"] == pytest.approx(slope_ci[1, 1], abs=1e-6)
    # the planted miscalibration is visible: predictions too extreme
    if n == 400:
        assert result["calibration_slope"] < 0.85


def test_brier_matches_sklearn():
    from sklearn.metrics import brier_score_loss

    y, p = _miscalibrated(150, 5)
    result = calibration.calibration_summary(y, p)
    assert result["brier_score"] == pytest.approx(brier_score_loss(y, p), abs=1e-15)
    prevalence = y.mean()
    assert result["brier_score_null"] == pytest.approx(brier_score_loss(y, np.full(y.size, prevalence)), abs=1e-15)


def test_bins_match_sklearn_calibration_curve():
    from sklearn.calibration import calibration_curve

    y, p = _miscalibrated(203, 8)
    for strategy in ("quantile", "uniform"):
        table = calibration.calibration_bins(y, p, n_bins=10, strategy=strategy)
        prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy=strategy)
        np.testing.assert_allclose(table["observed_fraction"], prob_true, atol=1e-12)
        np.testing.assert_allclose(table["mean_predicted"], prob_pred, atol=1e-12)
        assert table["n_cases"].sum() == 203
        assert (table["observed_ci_low"] <= table["observed_fraction"]).all()


def test_lowess_matches_statsmodels_without_robustness_steps():
    from statsmodels.nonparametric.smoothers_lowess import lowess

    y, p = _miscalibrated(90, 2)
    p = np.round(p, 2)  # ties in x, as binned-looking scores have
    for frac in (2.0 / 3.0, 0.3):
        reference = lowess(y, p, frac=frac, it=0, delta=0.0)
        x_sorted, fitted = calibration.lowess_curve(p, y, frac=frac)
        np.testing.assert_allclose(x_sorted, reference[:, 0], atol=0)
        np.testing.assert_allclose(fitted, reference[:, 1], atol=1e-10)


def test_probabilities_of_zero_or_one_are_clipped_and_counted():
    y = np.array([0, 0, 1, 1, 0, 1, 0, 1, 1, 0])
    p = np.array([0.0, 0.2, 0.7, 1.0, 0.4, 0.6, 0.3, 0.9, 0.25, 0.65])
    result = calibration.calibration_summary(y, p)
    assert result["n_clipped"] == 2
    assert np.isfinite(result["calibration_slope"])


@pytest.mark.parametrize("y, p, message", [
    ([0, 1, 1], [0.1, 1.2, 0.5], "outside"),
    ([0, 1, 2], [0.1, 0.2, 0.5], "0/1"),
    ([1, 1, 1], [0.1, 0.2, 0.5], "both classes"),
    ([0, 1], [0.1, 0.2, 0.5], "one length"),
    ([0, 1, 1], [0.1, np.nan, 0.5], "NaN"),
])
def test_bad_input_names_the_problem(y, p, message):
    with pytest.raises(ValueError, match=message):
        calibration.calibration_summary(y, p)


def test_perfect_separation_is_an_error_not_a_number():
    with pytest.raises(ValueError, match="converge"):
        calibration.calibration_summary([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])


def test_by_set_equals_the_summary_of_each_set_and_names_a_bad_set():
    y, p = _miscalibrated(200, 9)
    sets = np.where(np.arange(200) < 120, "internal_test", "external_test")
    table = calibration.calibration_by_set(y, p, sets)
    assert table["set"].tolist() == ["internal_test", "external_test"]
    alone = calibration.calibration_summary(y[120:], p[120:])
    assert table.iloc[1]["calibration_slope"] == alone["calibration_slope"]
    y_bad = y.copy()
    y_bad[120:] = 1
    with pytest.raises(ValueError, match="set 'external_test'.*both classes"):
        calibration.calibration_by_set(y_bad, p, sets)
