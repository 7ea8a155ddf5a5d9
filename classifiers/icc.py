"""Intraclass correlation, two-way models, single measures (McGraw & Wong 1996).

``ratings`` is an ``n_cases x k_raters`` matrix (here: one feature measured with k mask
sources). From the two-way ANOVA mean squares (rows MSR, columns MSC, error MSE):

- ICC(A,1), absolute agreement = Shrout & Fleiss ICC(2,1):
  ``(MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n)``
- ICC(C,1), consistency = Shrout & Fleiss ICC(3,1):
  ``(MSR - MSE) / (MSR + (k-1) MSE)``

95% confidence intervals follow McGraw & Wong (F distribution; for ICC(A,1) with
Satterthwaite's approximate degrees of freedom), as in R ``irr::icc`` / ``psych::ICC``.
Cases with any missing rating are dropped. Undefined results (fewer than 2 complete
cases, or no variance at all) are NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IccResult:
    """Both single-measure ICC forms of one ratings matrix."""

    icc_a1: float
    icc_a1_ci_low: float
    icc_a1_ci_high: float
    icc_c1: float
    icc_c1_ci_low: float
    icc_c1_ci_high: float
    n_cases: int
    k_raters: int


@dataclass(frozen=True)
class MeanSquares:
    """Two-way ANOVA mean squares of a complete ratings matrix."""

    msr: float
    msc: float
    mse: float
    n: int
    k: int


def complete_rows(ratings) -> np.ndarray:
    """The ratings as a float matrix with every row holding a missing value removed."""
    x = np.asarray(ratings, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"ratings must be a 2-D n_cases x k_raters matrix; got shape {x.shape}")
    return x[np.all(np.isfinite(x), axis=1)]


def mean_squares(ratings) -> MeanSquares:
    """Two-way ANOVA mean squares (rows = cases, columns = raters) of complete rows."""
    x = complete_rows(ratings)
    n, k = x.shape
    if n < 2 or k < 2:
        return MeanSquares(math.nan, math.nan, math.nan, n, k)
    grand = x.mean()
    ss_rows = k * float(np.sum((x.mean(axis=1) - grand) ** 2))
    ss_cols = n * float(np.sum((x.mean(axis=0) - grand) ** 2))
    ss_total = float(np.sum((x - grand) ** 2))
    ss_error = max(ss_total - ss_rows - ss_cols, 0.0)
    return MeanSquares(ss_rows / (n - 1), ss_cols / (k - 1), ss_error / ((n - 1) * (k - 1)), n, k)


def _ratio(numerator: float, denominator: float) -> float:
    if not np.isfinite(numerator) or not np.isfinite(denominator) or denominator == 0:
        return math.nan
    return numerator / denominator


def _icc_a1(m: MeanSquares) -> float:
    return _ratio(m.msr - m.mse, m.msr + (m.k - 1) * m.mse + m.k * (m.msc - m.mse) / m.n)


def _icc_c1(m: MeanSquares) -> float:
    return _ratio(m.msr - m.mse, m.msr + (m.k - 1) * m.mse)


def icc_a1(ratings) -> float:
    """ICC(A,1): two-way, absolute agreement, single measures (Shrout-Fleiss ICC(2,1))."""
    return _icc_a1(mean_squares(ratings))


def icc_c1(ratings) -> float:
    """ICC(C,1): two-way, consistency, single measures (Shrout-Fleiss ICC(3,1))."""
    return _icc_c1(mean_squares(ratings))


def _c1_ci(m: MeanSquares, confidence: float) -> tuple[float, float]:
    from scipy import stats

    if not np.isfinite(m.msr) or m.mse <= 0:
        return math.nan, math.nan
    alpha = 1.0 - confidence
    df1, df2 = m.n - 1, (m.n - 1) * (m.k - 1)
    f_obs = m.msr / m.mse
    with np.errstate(all="ignore"):
        f_low = f_obs / stats.f.ppf(1 - alpha / 2, df1, df2)
        f_high = f_obs * stats.f.ppf(1 - alpha / 2, df2, df1)
    return float((f_low - 1) / (f_low + m.k - 1)), float((f_high - 1) / (f_high + m.k - 1))


def _a1_ci(m: MeanSquares, confidence: float) -> tuple[float, float]:
    from scipy import stats

    icc = _icc_a1(m)
    if not np.isfinite(icc) or m.mse <= 0:
        return math.nan, math.nan
    alpha = 1.0 - confidence
    n, k = m.n, m.k
    f_cols = m.msc / m.mse
    # Degenerate inputs (e.g. 2 cases) give 0/0 here: NaN bounds, without warnings.
    with np.errstate(all="ignore"):
        v_num = (k - 1) * (n - 1) * (k * icc * f_cols + n * (1 + (k - 1) * icc) - k * icc) ** 2
        v_den = (n - 1) * k**2 * icc**2 * f_cols**2 + (n * (1 + (k - 1) * icc) - k * icc) ** 2
        v = np.float64(v_num) / np.float64(v_den)
        f_upper = stats.f.ppf(1 - alpha / 2, n - 1, v)
        f_lower = stats.f.ppf(1 - alpha / 2, v, n - 1)
        low = n * (m.msr - f_upper * m.mse) / np.float64(f_upper * (k * m.msc + (k * n - k - n) * m.mse) + n * m.msr)
        high = n * (f_lower * m.msr - m.mse) / np.float64(k * m.msc + (k * n - k - n) * m.mse + n * f_lower * m.msr)
    return float(low), float(high)


def icc_c1_ci(ratings, confidence: float = 0.95) -> tuple[float, float]:
    """Confidence interval of ICC(C,1) (McGraw & Wong, exact F)."""
    return _c1_ci(mean_squares(ratings), confidence)


def icc_a1_ci(ratings, confidence: float = 0.95) -> tuple[float, float]:
    """Confidence interval of ICC(A,1) (McGraw & Wong, Satterthwaite degrees of freedom)."""
    return _a1_ci(mean_squares(ratings), confidence)


def icc_both(ratings, confidence: float = 0.95) -> IccResult:
    """ICC(A,1) and ICC(C,1) with confidence intervals for one ratings matrix."""
    m = mean_squares(ratings)
    a_low, a_high = _a1_ci(m, confidence)
    c_low, c_high = _c1_ci(m, confidence)
    return IccResult(
        icc_a1=_icc_a1(m), icc_a1_ci_low=a_low, icc_a1_ci_high=a_high,
        icc_c1=_icc_c1(m), icc_c1_ci_low=c_low, icc_c1_ci_high=c_high,
        n_cases=m.n, k_raters=m.k,
    )
