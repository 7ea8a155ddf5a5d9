"""Calibration of predicted probabilities against observed binary outcomes.

Definitions (Steyerberg, *Clinical Prediction Models*, 2nd ed., ch. 15; Van Calster et
al. 2019, "Calibration: the Achilles heel of predictive analytics"):

* **Calibration-in-the-large** (``calibration_intercept``): the intercept ``a`` of the
  logistic model ``logit P(y=1) = a + logit(p)`` (``logit(p)`` an offset, slope fixed at
  1). 0 = mean risk right; > 0 = risks too low on average.
* **Calibration slope**: ``b`` of ``logit P(y=1) = a' + b logit(p)``. 1 = ideal; < 1 =
  predictions too extreme (overfitting).
* **Brier score**: ``mean((p - y)^2)``; the scaled Brier ``1 - Brier / Brier_null`` uses
  the prevalence as the null prediction.

Both logistic models are maximum-likelihood fits by Newton–Raphson; the tests check the
estimates and their Wald intervals against statsmodels' GLM (Binomial, logit link, with
``offset``). Probabilities exactly 0 or 1 have an infinite logit: they are clipped to
``[EPS, 1 - EPS]`` and the count is returned (``n_clipped``), never hidden.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

LOG = logging.getLogger(__name__)

#: Clip applied to probabilities of exactly 0 or 1 before the logit.
EPS = 1e-8
_MAX_ITER = 100
_TOL = 1e-12


def check_probabilities(y_true: Any, p_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate outcomes (0/1) and predicted probabilities ([0, 1]).

    Returns:
        ``(y, p)`` as float64 arrays.

    Raises:
        ValueError: Shapes differ, NaN, labels not 0/1, a probability outside [0, 1],
            or only one class present.
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(p_pred, dtype=np.float64)
    if y.ndim != 1 or y.shape != p.shape:
        raise ValueError(f"calibration: outcomes and probabilities must be 1-D of one length, "
                         f"got shapes {y.shape} and {p.shape}")
    if np.isnan(p).any() or np.isnan(y).any():
        raise ValueError(f"calibration: NaN at position {int(np.flatnonzero(np.isnan(p) | np.isnan(y))[0])}")
    if not np.isin(y, (0.0, 1.0)).all():
        bad = int(np.flatnonzero(~np.isin(y, (0.0, 1.0)))[0])
        raise ValueError(f"calibration: outcomes must be 0/1, position {bad} holds {y[bad]!r}")
    outside = np.flatnonzero((p < 0.0) | (p > 1.0))
    if outside.size:
        raise ValueError(f"calibration: probability {p[outside[0]]!r} at position {int(outside[0])} is outside [0, 1]")
    if y.min() == y.max():
        raise ValueError(f"calibration: all {y.size} outcomes are {int(y[0])}; need both classes")
    return y, p


def logit_clipped(p: np.ndarray) -> tuple[np.ndarray, int]:
    """``log(p / (1 - p))`` after clipping to ``[EPS, 1 - EPS]``, and how many were clipped."""
    clipped = np.clip(p, EPS, 1.0 - EPS)
    return np.log(clipped / (1.0 - clipped)), int(np.sum(clipped != p))


def fit_logistic(y: np.ndarray, design: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logistic regression with an offset (Newton–Raphson).

    Args:
        y: Outcomes 0/1, shape ``(n,)``.
        design: Design matrix, shape ``(n, k)``.
        offset: Known linear-predictor term, shape ``(n,)``.

    Returns:
        ``(coefficients, covariance)``: estimates and the inverse Fisher information.

    Raises:
        ValueError: No convergence (e.g. perfect separation: the estimates diverge).
    """
    from scipy.special import expit

    beta = np.zeros(design.shape[1])
    try:
        for _ in range(_MAX_ITER):
            mu = expit(offset + design @ beta)
            information = design.T @ (design * (mu * (1.0 - mu))[:, None])
            step = np.linalg.solve(information, design.T @ (y - mu))
            beta = beta + step
            if not np.all(np.isfinite(beta)):
                break
            if np.max(np.abs(step)) < _TOL * (1.0 + np.max(np.abs(beta))):
                mu = expit(offset + design @ beta)
                information = design.T @ (design * (mu * (1.0 - mu))[:, None])
                return beta, np.linalg.inv(information)
    except np.linalg.LinAlgError:
        pass
    raise ValueError("calibration: logistic recalibration did not converge (are the classes perfectly "
                     "separated by the predictions?)")


def _wald(estimate: float, variance: float, level: float) -> tuple[float, float]:
    from scipy.special import ndtri

    half = float(ndtri(0.5 + level / 2.0)) * math.sqrt(variance)
    return estimate - half, estimate + half


def calibration_summary(y_true: Any, p_pred: Any, level: float = 0.95) -> dict[str, Any]:
    """Calibration-in-the-large, calibration slope and Brier score of one set.

    Args:
        y_true: Outcomes 0/1.
        p_pred: Predicted probabilities of outcome 1.
        level: Level of the Wald confidence intervals.

    Returns:
        Dict with ``n_cases``, ``n_events``, ``mean_predicted``, ``observed_fraction``,
        ``calibration_intercept`` (+ ``_ci_low``/``_ci_high``), ``calibration_slope``
        (+ CI), ``slope_model_intercept``, ``brier_score``, ``brier_score_null``,
        ``brier_scaled``, ``n_clipped`` and ``ci_method``.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"calibration: level must be in (0, 1), got {level}")
    y, p = check_probabilities(y_true, p_pred)
    lp, n_clipped = logit_clipped(p)
    if n_clipped:
        LOG.warning("calibration: %d probabilities of exactly 0 or 1 clipped to [%g, 1 - %g]", n_clipped, EPS, EPS)
    ones = np.ones((y.size, 1))
    (citl,), citl_cov = fit_logistic(y, ones, lp)
    (slope_icpt, slope), slope_cov = fit_logistic(y, np.column_stack([ones, lp]), np.zeros(y.size))
    prevalence = float(y.mean())
    brier = float(np.mean((p - y) ** 2))
    brier_null = prevalence * (1.0 - prevalence)
    citl_ci = _wald(float(citl), float(citl_cov[0, 0]), level)
    slope_ci = _wald(float(slope), float(slope_cov[1, 1]), level)
    return {
        "n_cases": int(y.size), "n_events": int(y.sum()),
        "mean_predicted": float(p.mean()), "observed_fraction": prevalence,
        "calibration_intercept": float(citl),
        "calibration_intercept_ci_low": citl_ci[0], "calibration_intercept_ci_high": citl_ci[1],
        "calibration_slope": float(slope),
        "calibration_slope_ci_low": slope_ci[0], "calibration_slope_ci_high": slope_ci[1],
        "slope_model_intercept": float(slope_icpt),
        "brier_score": brier, "brier_score_null": brier_null, "brier_scaled": 1.0 - brier / brier_null,
        "n_clipped": n_clipped, "ci_method": f"Wald {level:.0%} (maximum likelihood, logit link)",
    }


def calibration_bins(y_true: Any, p_pred: Any, n_bins: int = 10, strategy: str = "quantile",
                     level: float = 0.95):
    """Binned calibration curve (sklearn ``calibration_curve`` bins) with Wilson CIs.

    Args:
        y_true: Outcomes 0/1.
        p_pred: Predicted probabilities.
        n_bins: Number of bins (deciles by default).
        strategy: ``"quantile"`` (equal counts) or ``"uniform"`` (equal widths on [0, 1]).
        level: Level of the Wilson interval of each observed fraction.

    Returns:
        DataFrame ``bin, n_cases, n_events, mean_predicted, observed_fraction,
        observed_ci_low, observed_ci_high``; empty bins are left out (as sklearn does).
    """
    import pandas as pd

    from nnunet_fm.roc_stats import wilson_ci

    y, p = check_probabilities(y_true, p_pred)
    if n_bins < 1:
        raise ValueError(f"calibration: n_bins must be >= 1, got {n_bins}")
    if strategy == "quantile":
        edges = np.percentile(p, np.linspace(0.0, 100.0, n_bins + 1))
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise ValueError(f"calibration: strategy must be 'quantile' or 'uniform', got {strategy!r}")
    bin_of = np.searchsorted(edges[1:-1], p)  # sklearn's assignment, so curves agree exactly
    rows = []
    for b in np.unique(bin_of):
        inside = bin_of == b
        k, n = int(y[inside].sum()), int(inside.sum())
        low, high = wilson_ci(k, n, level)
        rows.append({"bin": int(b), "n_cases": n, "n_events": k, "mean_predicted": float(p[inside].mean()),
                     "observed_fraction": k / n, "observed_ci_low": low, "observed_ci_high": high})
    return pd.DataFrame(rows, columns=["bin", "n_cases", "n_events", "mean_predicted", "observed_fraction",
                                       "observed_ci_low", "observed_ci_high"])


def lowess_curve(x: Any, y: Any, frac: float = 2.0 / 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Locally linear tricube-weighted smoother without robustness steps.

    Equals ``statsmodels.nonparametric.lowess(y, x, frac, it=0, delta=0)`` and R's
    ``lowess(x, y, f, iter = 0)``: the smoother ``rms::val.prob`` draws. Robustness
    iterations are off because with 0/1 outcomes they down-weight every minority case.

    Args:
        x: Predictor (predicted probabilities).
        y: Response (outcomes 0/1).
        frac: Share of the points in each local window.

    Returns:
        ``(x_sorted, fitted)``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    order = np.argsort(x, kind="mergesort")
    xs, ys = x[order], y[order]
    n = xs.size
    k = min(n, max(2, int(frac * n + 1e-9)))
    fitted = np.empty(n)
    for i, x0 in enumerate(xs):
        distance = np.abs(xs - x0)
        radius = np.partition(distance, k - 1)[k - 1]
        fitted[i] = _local_linear(xs, ys, distance, radius, x0)
    return xs, fitted


def _local_linear(xs: np.ndarray, ys: np.ndarray, distance: np.ndarray, radius: float, x0: float) -> float:
    if radius <= 0.0:
        weight = (distance == 0.0).astype(float)
    else:
        weight = np.clip(1.0 - (distance / radius) ** 3, 0.0, None) ** 3
    total = weight.sum()
    x_mean = float(weight @ xs) / total
    spread = float(weight @ (xs - x_mean) ** 2)
    y_mean = float(weight @ ys) / total
    if spread <= 1e-12 * max(1.0, radius * radius) * total:
        return y_mean
    slope = float(weight @ ((xs - x_mean) * ys)) / spread
    return y_mean + slope * (x0 - x_mean)


def calibration_by_set(y_true: Any, p_pred: Any, sets: Any, level: float = 0.95):
    """:func:`calibration_summary` for each set of cases, one row per set.

    Args:
        y_true: Outcomes 0/1.
        p_pred: Predicted probabilities.
        sets: Set name of each case (e.g. ``internal_test``, ``external_test``).
        level: Level of the Wald intervals.

    Returns:
        DataFrame with a ``set`` column (order of first appearance) and the keys of
        :func:`calibration_summary` as columns.

    Raises:
        ValueError: As :func:`calibration_summary`, with the set named.
    """
    import pandas as pd

    y = np.asarray(y_true)
    p = np.asarray(p_pred)
    groups = np.asarray(sets).astype(str)
    if not y.shape == p.shape == groups.shape:
        raise ValueError(f"calibration: {y.size} outcomes, {p.size} probabilities and {groups.size} set names")
    rows = []
    for name in dict.fromkeys(groups.tolist()):
        inside = groups == name
        try:
            rows.append({"set": name, **calibration_summary(y[inside], p[inside], level)})
        except ValueError as exc:
            raise ValueError(f"set {name!r}: {exc}") from None
    return pd.DataFrame(rows)
