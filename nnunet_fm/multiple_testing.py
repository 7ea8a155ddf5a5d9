"""Multiple-testing adjustment of p values within one family of tests.

Both adjustments reproduce ``statsmodels.stats.multitest.multipletests`` (methods
``"holm"`` and ``"fdr_bh"``), the reference the tests compare against. NaN p values
(tests that could not be run) stay NaN and are left out of the family, so they neither
count towards the number of tests nor hide a result.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _family(p_values: Any) -> tuple[np.ndarray, np.ndarray]:
    """The p values as float64 and the mask of those that take part (not NaN)."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p values must be 1-D, got shape {p.shape}")
    present = ~np.isnan(p)
    if np.any((p[present] < 0.0) | (p[present] > 1.0)):
        bad = int(np.flatnonzero(present & ((p < 0.0) | (p > 1.0)))[0])
        raise ValueError(f"p values must lie in [0, 1]; position {bad} holds {p[bad]!r}")
    return p, present


def _adjusted(p_values: Any, largest_first: bool, step) -> np.ndarray:
    """Shared frame of the step-wise adjustments.

    Args:
        p_values: Raw p values, 1-D; NaN = test not run (kept NaN, not counted).
        largest_first: Visit the p values from the largest (step-up) or the smallest (step-down).
        step: ``(sorted p values, family size) -> adjusted p values`` in that sorted order.

    Returns:
        Adjusted p values in the input order, capped at 1.
    """
    p, present = _family(p_values)
    out = np.full(p.shape, np.nan)
    q = p[present]
    if q.size == 0:
        return out
    order = np.argsort(q, kind="mergesort")
    if largest_first:
        order = order[::-1]
    adjusted = np.empty(q.size)
    adjusted[order] = np.minimum(step(q[order], q.size), 1.0)
    out[present] = adjusted
    return out


def holm_adjust(p_values: Any) -> np.ndarray:
    """Holm's step-down adjusted p values (family-wise error rate).

    Args:
        p_values: Raw p values, 1-D; NaN = test not run (kept NaN, not counted).

    Returns:
        Adjusted p values in the input order, capped at 1.
    """
    return _adjusted(p_values, False, lambda q, m: np.maximum.accumulate((m - np.arange(m)) * q))


def benjamini_hochberg_adjust(p_values: Any) -> np.ndarray:
    """Benjamini–Hochberg adjusted p values (false discovery rate, "q values").

    Args:
        p_values: Raw p values, 1-D; NaN = test not run (kept NaN, not counted).

    Returns:
        Adjusted p values in the input order, capped at 1.
    """
    return _adjusted(p_values, True, lambda q, m: np.minimum.accumulate(q * m / np.arange(m, 0, -1)))
    order = np.argsort(q, kind="mergesort")[::-1]  # largest first
    ranks = np.arange(m, 0, -1)
    stepped = np.minimum.accumulate(q[order] * m / ranks)
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    out[present] = adjusted
    return out
