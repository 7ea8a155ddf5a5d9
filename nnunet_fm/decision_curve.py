"""Decision-curve analysis (Vickers & Elkin 2006, Med Decis Making 26:565).

At a threshold probability ``pt`` a case is treated when its predicted risk is
``>= pt`` (the rule of the reference package ``dcurves``). Net benefit counts true
positives and charges each false positive the odds of the threshold:

    NB(pt) = TP / n - FP / n * pt / (1 - pt)

Treat-all: ``NB = prevalence - (1 - prevalence) * pt / (1 - pt)``; treat-none: 0.
The tests compare against ``dcurves.dca`` (stored reference JSON) and counts by hand.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

#: Columns of :func:`net_benefit_table`.
NET_BENEFIT_COLUMNS = ("model", "threshold", "n_cases", "n_treated", "tp", "fp", "net_benefit")
#: Model names of the two reference strategies.
TREAT_ALL = "treat_all"
TREAT_NONE = "treat_none"


def default_thresholds() -> np.ndarray:
    """Threshold probabilities 0.01 .. 0.99 in steps of 0.01."""
    return np.round(np.arange(1, 100) / 100.0, 2)


def _check(y_true: Any, thresholds: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    if y.ndim != 1 or y.size == 0 or not np.isin(y, (0, 1)).all():
        raise ValueError("decision curve: outcomes must be a non-empty 1-D array of 0/1")
    pt = np.asarray(thresholds, dtype=float).ravel()
    if pt.size == 0 or np.any((pt < 0.0) | (pt >= 1.0)) or np.isnan(pt).any():
        raise ValueError("decision curve: thresholds must lie in [0, 1)")
    return y.astype(bool), pt


def net_benefit(y_true: Any, risk: Any, thresholds: Any) -> dict[str, np.ndarray]:
    """Net benefit of one model's predicted risks at each threshold.

    Args:
        y_true: Outcomes 0/1.
        risk: Predicted probabilities (treated when ``risk >= threshold``).
        thresholds: Threshold probabilities in [0, 1).

    Returns:
        Dict of arrays ``threshold``, ``n_treated``, ``tp``, ``fp``, ``net_benefit``.
    """
    y, pt = _check(y_true, thresholds)
    r = np.asarray(risk, dtype=float)
    if r.shape != y.shape or np.isnan(r).any():
        raise ValueError(f"decision curve: {r.size} risks (or NaN) for {y.size} outcomes")
    treated = r[None, :] >= pt[:, None]
    tp = (treated & y[None, :]).sum(axis=1)
    fp = (treated & ~y[None, :]).sum(axis=1)
    n = y.size
    return {"threshold": pt, "n_treated": tp + fp, "tp": tp, "fp": fp,
            "net_benefit": tp / n - fp / n * pt / (1.0 - pt)}


def net_benefit_table(y_true: Any, risks: Mapping[str, Any], thresholds: Any = None):
    """Net-benefit curves of several models plus treat-all and treat-none, long format.

    Args:
        y_true: Outcomes 0/1.
        risks: Model name -> predicted probabilities of the same cases.
        thresholds: Threshold probabilities; default :func:`default_thresholds`.

    Returns:
        DataFrame with :data:`NET_BENEFIT_COLUMNS`, one row per model and threshold,
        models in the given order followed by ``treat_all`` and ``treat_none``.
    """
    import pandas as pd

    pt = default_thresholds() if thresholds is None else thresholds
    y, pt = _check(y_true, pt)
    frames = []
    # risk 1 is >= every threshold in [0, 1) (all treated); -inf is below all (none treated)
    strategies = {TREAT_ALL: np.ones(y.size), TREAT_NONE: np.full(y.size, -np.inf)}
    for name, risk in {**dict(risks), **strategies}.items():
        curve = net_benefit(y, risk, pt)
        frames.append(pd.DataFrame({"model": name, "n_cases": y.size, **curve}))
    return pd.concat(frames, ignore_index=True)[list(NET_BENEFIT_COLUMNS)]
