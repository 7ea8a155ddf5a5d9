"""ROC statistics that reproduce R's pROC (the reference the paper's readers expect).

All functions are pure and take numpy-compatible arrays: ``y_true`` holds labels 0/1
(1 = positive class, e.g. axSpA) and ``y_score`` real-valued scores.

Conventions (pROC ``roc(response, predictor, levels = c(0, 1), direction = "<")``):

* The direction is fixed: a higher score means the positive class. It is never flipped,
  so a score that ranks the wrong way has an AUC below 0.5.
* AUC is the Mann–Whitney statistic; a tie between a positive and a negative case
  counts one half.
* Thresholds are pROC's: the midpoints between consecutive distinct scores, plus
  ``-inf`` and ``+inf``. A case is predicted positive when ``score >= threshold``.
* DeLong confidence intervals (``ci.auc(method = "delong")``) are clipped to [0, 1].
  With one positive or one negative case pROC gives ``NA``; we give ``nan``. When the
  DeLong variance is zero (constant score, perfect separation) the interval collapses
  onto the AUC ([0.5, 0.5] and [1, 1]), as in pROC.
* Bootstrap intervals are stratified (cases and controls resampled separately, pROC's
  ``boot.stratified = TRUE``) percentile intervals with R's default quantile (type 7).
  They use numpy's generator, so individual resamples differ from R's; the intervals
  agree within Monte Carlo error.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
from typing import Any, Iterator, Mapping

import numpy as np

LOG = logging.getLogger(__name__)

#: Operating-point rule shared by :func:`youden_threshold` and
#: :func:`classification_metrics` (pROC ``direction = "<"``).
THRESHOLD_RULE = "predicted positive if score >= threshold"

#: Upper bound on elements of one bootstrap count matrix (keeps memory ~40 MB).
_MAX_BOOT_CELLS = 5_000_000


#: Label values taken as the positive class when none is named, in order.
DEFAULT_POSITIVE_LABELS = ("1", "axSpA")


# --------------------------------------------------------------------------- input


def normalise_label(value: Any) -> str:
    """Label value as text, with integral numbers written without decimals (1.0 -> "1")."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number == int(number):
        return str(int(number))
    return text


def choose_positive(values: list[str], positive: str | None) -> str:
    """The positive label among the distinct ``values`` (already normalised).

    Args:
        values: The two distinct (normalised) label values.
        positive: The positive label as given by the user, or None for
            :data:`DEFAULT_POSITIVE_LABELS`.

    Raises:
        ValueError: Not exactly two classes, or no positive class found.
    """
    if len(values) != 2:
        raise ValueError(f"the label column must hold exactly two classes, found {len(values)}: {values[:10]}")
    if positive is not None:
        wanted = normalise_label(positive)
        if wanted not in values:
            raise ValueError(f"--positive {positive!r} is not a label value; values are {values}")
        return wanted
    for candidate in DEFAULT_POSITIVE_LABELS:
        if candidate in values:
            return candidate
    raise ValueError(f"cannot tell the positive class among {values}; pass --positive")


def check_binary_input(y_true: Any, y_score: Any, name: str = "score") -> tuple[np.ndarray, np.ndarray]:
    """Validate labels and scores and return them as ``int8`` and ``float64`` arrays.

    Args:
        y_true: Labels, 0 (negative) or 1 (positive); booleans are accepted.
        y_score: Scores, higher = positive.
        name: Name of the score used in error messages.

    Returns:
        ``(y, s)`` as 1-D arrays.

    Raises:
        ValueError: Length mismatch, non-numeric or NaN scores, labels other than 0/1, or
            only one class present.
    """
    y = np.asarray(y_true)
    s = np.asarray(y_score)
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError(f"{name}: labels and scores must be 1-D, got shapes {y.shape} and {s.shape}")
    if y.shape[0] != s.shape[0]:
        raise ValueError(f"{name}: {y.shape[0]} labels but {s.shape[0]} scores (length mismatch)")
    try:
        s = s.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: scores must be numeric ({exc})") from None
    bad = np.flatnonzero(np.isnan(s))
    if bad.size:
        raise ValueError(f"{name}: {bad.size} NaN score(s), first at position {int(bad[0])}")
    try:
        y_float = y.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: labels must be 0/1, got values such as {y[:3].tolist()}") from None
    not_binary = np.flatnonzero(~np.isin(y_float, (0.0, 1.0)))
    if not_binary.size:
        raise ValueError(f"{name}: labels must be 0/1; position {int(not_binary[0])} holds {y[not_binary[0]]!r}")
    y_int = y_float.astype(np.int8)
    n_pos = int(y_int.sum())
    if n_pos == 0 or n_pos == y_int.size:
        only = "positive" if n_pos else "negative"
        raise ValueError(f"{name}: all {y_int.size} cases are {only}; ROC statistics need both classes")
    return y_int, s


def _midranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their mean rank (R's ``rank(ties.method = "average")``)."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts_group = np.concatenate(([True], sorted_values[1:] != sorted_values[:-1]))
    group = np.cumsum(starts_group) - 1
    starts = np.flatnonzero(starts_group)
    ends = np.append(starts[1:], values.size)
    mean_rank = (starts + ends + 1) / 2.0  # mean of 1-based ranks starts+1 .. ends
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = mean_rank[group]
    return ranks


# --------------------------------------------------------------------------- AUC, DeLong


@dataclasses.dataclass(frozen=True)
class DelongComponents:
    """DeLong's structural components (placements) of one or several scores.

    Attributes:
        auc: AUC per score, shape ``(k,)``.
        v_pos: Placement of each positive case, shape ``(k, n_pos)``: the share of
            negatives it outranks (ties 1/2). pROC's ``X``.
        v_neg: Placement of each negative case, shape ``(k, n_neg)``: the share of
            positives that outrank it (ties 1/2). pROC's ``Y``.
    """

    auc: np.ndarray
    v_pos: np.ndarray
    v_neg: np.ndarray

    @property
    def n_pos(self) -> int:
        """Number of positive cases."""
        return int(self.v_pos.shape[1])

    @property
    def n_neg(self) -> int:
        """Number of negative cases."""
        return int(self.v_neg.shape[1])

    def covariance(self) -> np.ndarray:
        """DeLong covariance of the AUCs, ``S10 / n_pos + S01 / n_neg``, shape ``(k, k)``.

        NaN when there is a single positive or negative case (pROC gives NA).
        """
        k = self.auc.shape[0]
        if self.n_pos <= 1 or self.n_neg <= 1:
            return np.full((k, k), np.nan)
        d_pos = self.v_pos - self.auc[:, None]
        d_neg = self.v_neg - self.auc[:, None]
        s10 = d_pos @ d_pos.T / (self.n_pos - 1)
        s01 = d_neg @ d_neg.T / (self.n_neg - 1)
        return s10 / self.n_pos + s01 / self.n_neg


def delong_components(y_true: Any, y_scores: Any) -> DelongComponents:
    """Structural components for one score (1-D) or several scores on the same cases.

    Args:
        y_true: Labels 0/1, shape ``(n,)``.
        y_scores: Scores, shape ``(n,)`` or ``(k, n)`` (one row per score).

    Returns:
        The placements and AUCs (midrank algorithm, O(n log n) per score).
    """
    scores = np.asarray(y_scores)
    scores_2d = scores[None, :] if scores.ndim == 1 else scores
    if scores_2d.ndim != 2:
        raise ValueError(f"scores must be 1-D or 2-D, got shape {scores.shape}")
    rows = [check_binary_input(y_true, row, name=f"score {i}") for i, row in enumerate(scores_2d)]
    y = rows[0][0]
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    v_pos = np.empty((len(rows), n_pos))
    v_neg = np.empty((len(rows), n_neg))
    for i, (_, s) in enumerate(rows):
        rank_all = _midranks(s)
        # rank among all minus rank among own class = how many of the other class lie
        # below (ties 1/2)
        v_pos[i] = (rank_all[pos] - _midranks(s[pos])) / n_neg
        v_neg[i] = 1.0 - (rank_all[~pos] - _midranks(s[~pos])) / n_pos
    return DelongComponents(auc=v_pos.mean(axis=1), v_pos=v_pos, v_neg=v_neg)


def auc(y_true: Any, y_score: Any) -> float:
    """Mann–Whitney AUC, ties 1/2, higher score = positive (pROC ``auc``)."""
    return float(delong_components(y_true, y_score).auc[0])


def delong_covariance(y_true: Any, y_scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance matrix for scores on the same cases.

    Args:
        y_true: Labels 0/1, shape ``(n,)``.
        y_scores: Scores, shape ``(n,)`` or ``(k, n)``.

    Returns:
        ``(aucs, covariance)`` with shapes ``(k,)`` and ``(k, k)``.
    """
    comp = delong_components(y_true, y_scores)
    return comp.auc, comp.covariance()


def _norm_ppf(p: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(p))


def _two_sided_normal_p(z: float) -> float:
    from scipy.special import ndtr

    return float(2.0 * ndtr(-abs(z))) if not math.isnan(z) else math.nan


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")


def ci_delong(y_true: Any, y_score: Any, level: float = 0.95) -> tuple[float, float]:
    """DeLong confidence interval of the AUC (pROC ``ci.auc(method = "delong")``).

    Args:
        y_true: Labels 0/1.
        y_score: Scores.
        level: Confidence level.

    Returns:
        ``(lower, upper)`` clipped to [0, 1]; ``(nan, nan)`` with a single positive or
        negative case (pROC: NA). A zero variance gives ``(auc, auc)``.
    """
    _check_level(level)
    comp = delong_components(y_true, y_score)
    theta = float(comp.auc[0])
    var = float(comp.covariance()[0, 0])
    if math.isnan(var):
        LOG.warning("DeLong CI undefined with %d positive / %d negative case(s)", comp.n_pos, comp.n_neg)
        return math.nan, math.nan
    if theta == 1.0:
        LOG.warning("AUC is 1 (perfect separation): the DeLong CI is 1-1 and can be misleading")
    sd = math.sqrt(max(var, 0.0))
    z = _norm_ppf(1.0 - (1.0 - level) / 2.0)
    lower, upper = theta - z * sd, theta + z * sd
    return min(max(lower, 0.0), 1.0), min(max(upper, 0.0), 1.0)


@dataclasses.dataclass(frozen=True)
class DelongTest:
    """Result of a DeLong test. Unpacks as ``(statistic, p_value)``.

    Attributes:
        statistic: Paired test: pROC's Z. Unpaired test: pROC's D (t-distributed).
        p_value: Two-sided p value.
        auc_1: AUC of the first curve.
        auc_2: AUC of the second curve.
        df: Welch degrees of freedom (unpaired test only, else None).
    """

    statistic: float
    p_value: float
    auc_1: float
    auc_2: float
    df: float | None = None

    def __iter__(self) -> Iterator[float]:
        return iter((self.statistic, self.p_value))


def delong_test_paired(y_true: Any, y_score_1: Any, y_score_2: Any) -> DelongTest:
    """DeLong test of two correlated AUCs (same cases), pROC ``roc.test(paired = TRUE)``.

    Args:
        y_true: Labels 0/1 of the shared cases.
        y_score_1: First score.
        y_score_2: Second score.

    Returns:
        ``DelongTest`` (unpacks to ``z, p``). As in pROC, equal AUCs with zero variance
        of the difference (e.g. two perfect scores) give ``z = 0, p = 1``; different
        AUCs with zero variance give ``z = ±inf, p = 0``.
    """
    y, s_1 = check_binary_input(y_true, y_score_1, name="score 1")
    _, s_2 = check_binary_input(y_true, y_score_2, name="score 2")
    comp = delong_components(y, np.vstack([s_1, s_2]))
    cov = comp.covariance()
    diff = float(comp.auc[0] - comp.auc[1])
    contrast = np.array([1.0, -1.0])
    var = float(contrast @ cov @ contrast)
    z = _ratio(diff, math.sqrt(max(var, 0.0)) if not math.isnan(var) else math.nan)
    if math.isnan(z) and diff == 0.0 and var == 0.0:
        z = 0.0
    return DelongTest(statistic=z, p_value=_two_sided_normal_p(z), auc_1=float(comp.auc[0]), auc_2=float(comp.auc[1]))


def delong_test_unpaired(y_true_1: Any, y_score_1: Any, y_true_2: Any, y_score_2: Any) -> DelongTest:
    """DeLong test of two AUCs on different cases, pROC ``roc.test(paired = FALSE)``.

    pROC's statistic is ``D = (AUC1 - AUC2) / sqrt(V1 + V2)`` with the two DeLong
    variances, and its p value comes from a t distribution with Welch–Satterthwaite
    degrees of freedom ``(V1 + V2)^2 / (V1^2 / (N1 - 1) + V2^2 / (N2 - 1))`` where N is
    the number of cases of each curve. Both variances zero gives NaN, as in pROC.

    Args:
        y_true_1: Labels of the first set.
        y_score_1: Scores of the first set.
        y_true_2: Labels of the second set.
        y_score_2: Scores of the second set.

    Returns:
        ``DelongTest`` with ``df`` set (unpacks to ``D, p``).
    """
    from scipy.special import stdtr

    comp_1 = delong_components(y_true_1, y_score_1)
    comp_2 = delong_components(y_true_2, y_score_2)
    var_1 = float(comp_1.covariance()[0, 0])
    var_2 = float(comp_2.covariance()[0, 0])
    diff = float(comp_1.auc[0] - comp_2.auc[0])
    stat = _ratio(diff, math.sqrt(var_1 + var_2) if not math.isnan(var_1 + var_2) else math.nan)
    n_1 = comp_1.n_pos + comp_1.n_neg
    n_2 = comp_2.n_pos + comp_2.n_neg
    df = _ratio((var_1 + var_2) ** 2, var_1**2 / (n_1 - 1) + var_2**2 / (n_2 - 1))
    p = math.nan if (math.isnan(stat) or math.isnan(df)) else float(2.0 * stdtr(df, -abs(stat)))
    return DelongTest(statistic=stat, p_value=p, auc_1=float(comp_1.auc[0]), auc_2=float(comp_2.auc[0]), df=df)


def _ratio(num: float, den: float) -> float:
    """``num / den`` with R's IEEE semantics (x/0 = ±inf, 0/0 = NaN) and no warnings."""
    if math.isnan(num) or math.isnan(den):
        return math.nan
    if den == 0.0:
        return math.nan if num == 0.0 else math.copysign(math.inf, num)
    return num / den


# --------------------------------------------------------------------------- bootstrap


def _as_rng(random_state: Any) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


@dataclasses.dataclass(frozen=True)
class _BootstrapCounts:
    """Per-resample histograms of positive and negative cases over the distinct scores."""

    pos: np.ndarray  # (B, U) counts of resampled positives at each distinct score
    neg: np.ndarray  # (B, U)
    n_pos: int
    n_neg: int


def _bootstrap_counts(y: np.ndarray, s: np.ndarray, n_boot: int, rng: np.random.Generator) -> Iterator[_BootstrapCounts]:
    """Stratified resamples as count matrices, in chunks to bound memory.

    Every resample only holds scores of the original cases, so a histogram over the
    original distinct scores describes it completely: AUC and ROC points follow from
    cumulative sums, with no per-resample sorting or Python loop.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    codes = np.unique(s, return_inverse=True)[1].ravel()
    n_unique = int(codes.max()) + 1
    pos_codes = codes[y == 1]
    neg_codes = codes[y == 0]
    n_pos, n_neg = pos_codes.size, neg_codes.size
    chunk = max(1, min(n_boot, _MAX_BOOT_CELLS // max(n_unique, n_pos + n_neg)))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        offsets = (np.arange(b) * n_unique)[:, None]
        draw_pos = pos_codes[rng.integers(0, n_pos, size=(b, n_pos))]
        draw_pos += offsets
        draw_neg = neg_codes[rng.integers(0, n_neg, size=(b, n_neg))]
        draw_neg += offsets
        pos = np.bincount(draw_pos.ravel(), minlength=b * n_unique).reshape(b, n_unique)
        neg = np.bincount(draw_neg.ravel(), minlength=b * n_unique).reshape(b, n_unique)
        yield _BootstrapCounts(pos=pos, neg=neg, n_pos=n_pos, n_neg=n_neg)
        done += b


def bootstrap_aucs(y_true: Any, y_score: Any, n_boot: int = 2000, random_state: Any = None) -> np.ndarray:
    """AUCs of ``n_boot`` stratified bootstrap resamples (vectorised).

    Args:
        y_true: Labels 0/1.
        y_score: Scores.
        n_boot: Number of resamples.
        random_state: Seed or ``numpy.random.Generator``.

    Returns:
        Array of shape ``(n_boot,)``.
    """
    y, s = check_binary_input(y_true, y_score)
    rng = _as_rng(random_state)
    out = []
    for counts in _bootstrap_counts(y, s, n_boot, rng):
        neg_below = np.cumsum(counts.neg, axis=1) - counts.neg
        # each positive beats the negatives below its score and ties the ones equal to it
        wins_x2 = (counts.pos * (2 * neg_below + counts.neg)).sum(axis=1)
        out.append(wins_x2 / (2.0 * counts.n_pos * counts.n_neg))
    return np.concatenate(out)


def ci_bootstrap(
    y_true: Any, y_score: Any, n_boot: int = 2000, level: float = 0.95, random_state: Any = None
) -> tuple[float, float]:
    """Stratified bootstrap percentile CI of the AUC (pROC ``ci.auc(method = "bootstrap")``).

    Args:
        y_true: Labels 0/1.
        y_score: Scores.
        n_boot: Number of resamples (pROC's ``boot.n``).
        level: Confidence level.
        random_state: Seed or ``numpy.random.Generator``.

    Returns:
        ``(lower, upper)``: R type-7 quantiles of the resampled AUCs.
    """
    _check_level(level)
    aucs = bootstrap_aucs(y_true, y_score, n_boot=n_boot, random_state=random_state)
    if np.all(aucs == 1.0):
        LOG.warning("every bootstrap AUC is 1 (perfect separation): the CI is 1-1 and can be misleading")
    alpha = (1.0 - level) / 2.0
    lower, upper = np.quantile(aucs, [alpha, 1.0 - alpha])
    return float(lower), float(upper)


def bootstrap_sensitivity_band(
    y_true: Any,
    y_score: Any,
    specificities: Any = None,
    n_boot: int = 2000,
    level: float = 0.95,
    random_state: Any = None,
) -> dict[str, np.ndarray]:
    """Bootstrap CI of sensitivity at given specificities (pROC ``ci.se``).

    In each stratified resample the sensitivity at a specificity is read off the
    empirical ROC curve as pROC's ``coords(input = "specificity")`` does: where the
    curve has several points at that specificity the highest sensitivity is taken,
    between points it is interpolated linearly. (A specificity within 1e-9 of a curve
    point counts as on it; pROC compares floats exactly.)

    Args:
        y_true: Labels 0/1.
        y_score: Scores.
        specificities: Values in [0, 1]; default 0, 0.01, ..., 1.
        n_boot: Number of resamples.
        level: Confidence level.
        random_state: Seed or ``numpy.random.Generator``.

    Returns:
        Dict with ``specificity``, ``lower``, ``median`` and ``upper`` arrays.
    """
    _check_level(level)
    y, s = check_binary_input(y_true, y_score)
    sp_target = np.linspace(0.0, 1.0, 101) if specificities is None else np.asarray(specificities, dtype=float).ravel()
    if sp_target.size == 0 or np.any((sp_target < 0) | (sp_target > 1)) or np.any(np.isnan(sp_target)):
        raise ValueError("specificities must be a non-empty set of values in [0, 1]")
    rng = _as_rng(random_state)
    chunks = []
    for counts in _bootstrap_counts(y, s, n_boot, rng):
        chunks.append(_sensitivity_at_specificity(counts, sp_target))
    sens = np.concatenate(chunks, axis=0)
    alpha = (1.0 - level) / 2.0
    lower, median, upper = np.quantile(sens, [alpha, 0.5, 1.0 - alpha], axis=0)
    return {"specificity": sp_target, "lower": lower, "median": median, "upper": upper}


def sensitivity_at_specificity(y_true: Any, y_score: Any, specificities: Any) -> np.ndarray:
    """Sensitivity read off the empirical ROC curve (pROC ``coords(input = "specificity")``).

    Several curve points at one specificity: the highest sensitivity; between points:
    linear interpolation. The rule :func:`bootstrap_sensitivity_band` applies per resample.

    Args:
        y_true: Labels 0/1.
        y_score: Scores.
        specificities: Values in [0, 1].

    Returns:
        Sensitivities, one per specificity.
    """
    y, s = check_binary_input(y_true, y_score)
    sp_target = np.asarray(specificities, dtype=float).ravel()
    if np.any((sp_target < 0) | (sp_target > 1)) or np.any(np.isnan(sp_target)):
        raise ValueError("specificities must lie in [0, 1]")
    codes = np.unique(s, return_inverse=True)[1].ravel()
    n_unique = int(codes.max()) + 1
    counts = _BootstrapCounts(
        pos=np.bincount(codes[y == 1], minlength=n_unique)[None, :],
        neg=np.bincount(codes[y == 0], minlength=n_unique)[None, :],
        n_pos=int(y.sum()),
        n_neg=int(y.size - y.sum()),
    )
    return _sensitivity_at_specificity(counts, sp_target)[0]


def _sensitivity_at_specificity(counts: _BootstrapCounts, sp_target: np.ndarray) -> np.ndarray:
    """Sensitivity at each target specificity for every resample, shape ``(B, S)``."""
    b, n_unique = counts.pos.shape
    # ROC point k (k = 0..U) is the threshold "score >= k-th distinct value" (k = U: +inf).
    # Absent values give duplicate points, which do not change the curve.
    tn = np.zeros((b, n_unique + 1))
    tn[:, 1:] = np.cumsum(counts.neg, axis=1)  # negatives below the threshold
    tp = np.zeros((b, n_unique + 1))
    tp[:, :-1] = np.cumsum(counts.pos[:, ::-1], axis=1)[:, ::-1]  # positives at/above it
    # First point with specificity >= target, found for all rows at once by offsetting
    # each row's (integer, non-decreasing) true-negative counts into a disjoint range.
    tol = 1e-9 * counts.n_neg
    offsets = (np.arange(b) * (counts.n_neg + 1.0))[:, None]
    flat = (tn + offsets).ravel()
    target_tn = sp_target[None, :] * counts.n_neg
    first = np.searchsorted(flat, (target_tn - tol + offsets).ravel(), side="left").reshape(b, -1)
    first -= (np.arange(b) * (n_unique + 1))[:, None]
    rows = np.arange(b)[:, None]
    tn_at = tn[rows, first]
    tp_at = tp[rows, first]
    exact = np.abs(tn_at - target_tn) <= tol
    prev = np.maximum(first - 1, 0)
    tn_prev = tn[rows, prev]
    tp_prev = tp[rows, prev]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (target_tn - tn_at) / (tn_prev - tn_at)
    interpolated = tp_at + share * (tp_prev - tp_at)
    return np.where(exact, tp_at, interpolated) / counts.n_pos


# --------------------------------------------------------------------------- curve, Youden


def roc_points(y_true: Any, y_score: Any) -> dict[str, np.ndarray]:
    """The empirical ROC curve at pROC's thresholds (``coords(roc, "all")``).

    Thresholds are ``-inf``, the midpoints between consecutive distinct scores and
    ``+inf``, in increasing order; a case is positive when ``score >= threshold``.

    Returns:
        Dict with ``threshold``, ``sensitivity``, ``specificity``, ``tp``, ``tn`` arrays.
    """
    y, s = check_binary_input(y_true, y_score)
    distinct = np.unique(s)
    thresholds = _proc_thresholds(distinct)
    pos_sorted = np.sort(s[y == 1])
    neg_sorted = np.sort(s[y == 0])
    tp = pos_sorted.size - np.searchsorted(pos_sorted, thresholds, side="left")
    tn = np.searchsorted(neg_sorted, thresholds, side="left")
    return {
        "threshold": thresholds,
        "sensitivity": tp / pos_sorted.size,
        "specificity": tn / neg_sorted.size,
        "tp": tp,
        "tn": tn,
    }


def _proc_thresholds(distinct: np.ndarray) -> np.ndarray:
    """pROC's ``roc.utils.thresholds`` for ``direction = "<"``."""
    low = np.concatenate(([-np.inf], distinct))
    high = np.concatenate((distinct, [np.inf]))
    with np.errstate(over="ignore", invalid="ignore"):
        mid = (low + high) / 2.0
        mid_halves = low / 2.0 + high / 2.0
    thresholds = np.where(np.abs(mid) > 1e100, mid_halves, mid)
    # Adjacent floats: the midpoint can round onto the lower value, which would put that
    # value on the wrong side; pROC then uses the upper value instead.
    onto_low = thresholds[1:-1] == low[1:-1]
    thresholds[1:-1][onto_low] = high[1:-1][onto_low]
    return thresholds


def youden_threshold(y_true: Any, y_score: Any) -> float:
    """Threshold maximising Youden's J = sensitivity + specificity - 1.

    pROC ``coords(roc, "best", best.method = "youden")`` semantics: candidate thresholds
    are pROC's (see :func:`roc_points`), and a case is predicted positive when
    ``score >= threshold``. pROC returns every threshold that ties for the maximum; we
    return the lowest of them (the first row pROC prints; the most sensitive choice).
    J is compared exactly (integer counts), not in floating point.

    Returns:
        The threshold (``-inf`` when no cut beats calling everyone positive).
    """
    points = roc_points(y_true, y_score)
    n_pos = points["tp"][0]
    n_neg = points["tn"][-1]
    j_scaled = points["tp"].astype(np.int64) * n_neg + points["tn"].astype(np.int64) * n_pos
    return float(points["threshold"][int(np.argmax(j_scaled))])


def wilson_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``k / n`` (R ``prop.test(correct = FALSE)``).

    Returns:
        ``(lower, upper)`` in [0, 1]; ``(nan, nan)`` when ``n == 0``.
    """
    _check_level(level)
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return math.nan, math.nan
    z = _norm_ppf(1.0 - (1.0 - level) / 2.0)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def classification_metrics(y_true: Any, y_score: Any, threshold: float, level: float = 0.95) -> dict[str, Any]:
    """Confusion counts and rates at a fixed threshold, each rate with a Wilson CI.

    Args:
        y_true: Labels 0/1.
        y_score: Scores.
        threshold: Cut-off; predicted positive when ``score >= threshold``.
        level: Confidence level of the Wilson intervals.

    Returns:
        Dict with ``threshold``, ``rule``, counts ``tp``, ``fp``, ``tn``, ``fn``, ``n``, and
        for ``sensitivity``, ``specificity``, ``accuracy``, ``ppv``, ``npv`` a dict
        ``{"value", "ci_wilson": [lo, hi], "k", "n"}`` (value NaN when ``n`` is 0, e.g. PPV
        with no predicted positives).
    """
    y, s = check_binary_input(y_true, y_score)
    predicted = s >= threshold
    positive = y == 1
    tp = int(np.sum(predicted & positive))
    fp = int(np.sum(predicted & ~positive))
    tn = int(np.sum(~predicted & ~positive))
    fn = int(np.sum(~predicted & positive))
    result: dict[str, Any] = {
        "threshold": float(threshold),
        "rule": THRESHOLD_RULE,
        "tp": tp, "fp": fp, "tn": tn, "fn": fn, "n": int(y.size),
    }
    for name, k, n in (
        ("sensitivity", tp, tp + fn),
        ("specificity", tn, tn + fp),
        ("accuracy", tp + tn, y.size),
        ("ppv", tp, tp + fp),
        ("npv", tn, tn + fn),
    ):
        lower, upper = wilson_ci(k, int(n), level)
        result[name] = {"value": k / n if n else math.nan, "ci_wilson": [lower, upper], "k": int(k), "n": int(n)}
    return result


# --------------------------------------------------------------------------- summary


def roc_summary(
    y_true: Any,
    scores: Mapping[str, Any],
    groups: Any = None,
    train_group: str | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    random_state: int = 0,
) -> dict[str, Any]:
    """Everything ``roc_stats.json`` holds, for several scores and groups of cases.

    Args:
        y_true: Labels 0/1, one per case.
        scores: Score name -> scores (one per case, higher = positive).
        groups: Optional group of each case (e.g. ``train``/``internal_test``/
            ``external_test``); without it all cases form the group ``"all"``.
        train_group: Group on which the Youden threshold is chosen, then applied
            unchanged to every group. Default: ``"train"`` when that group exists; with no
            groups the threshold is chosen on all cases (apparent performance).
        n_boot: Bootstrap resamples for the percentile CIs.
        level: Confidence level of every interval.
        random_state: Base seed; each (group, score) gets its own reproducible stream.

    Returns:
        A JSON-ready dict: ``groups`` (per group: ``n_pos``, ``n_neg``, per score ``auc``,
        ``ci_delong``, ``ci_bootstrap``; ``paired_delong`` for each pair of scores),
        ``unpaired_delong`` (same score, each pair of groups) and ``operating_point``.

    Raises:
        ValueError: Bad input (the group and score are named), no scores, or an unknown
            training group.
    """
    y_all, score_arrays, group_of, group_names, train_group = _summary_inputs(y_true, scores, groups, train_group)
    per_group = {group: _group_entry(y_all, score_arrays, group_of == group, group, g_index, n_boot, level,
                                     random_state)
                 for g_index, group in enumerate(group_names)}
    return {
        "conventions": ROC_CONVENTIONS,
        "level": level,
        "n_bootstrap": int(n_boot),
        "seed": random_state,
        "groups": per_group,
        "unpaired_delong": _unpaired_entries(y_all, score_arrays, group_of, group_names),
        "operating_point": _operating_point(y_all, score_arrays, group_of, group_names, train_group,
                                            apparent=groups is None, level=level),
    }


#: How ``roc_stats.json`` computes each figure (written into the file).
ROC_CONVENTIONS = {
    "reference": "R pROC, roc(levels = c(0, 1), direction = '<')",
    "direction": "higher score = positive class, never flipped",
    "auc": "Mann-Whitney, ties count 1/2",
    "ci_delong": "pROC ci.auc(method = 'delong'), clipped to [0, 1]",
    "ci_bootstrap": "stratified bootstrap, percentile (R quantile type 7)",
    "paired_delong": "pROC roc.test(method = 'delong', paired = TRUE): z, two-sided normal p",
    "unpaired_delong": "pROC roc.test(method = 'delong', paired = FALSE): z is pROC's D, "
                       "two-sided p from t with Welch df",
    "operating_point": "Youden threshold chosen on train_group (lowest of tied thresholds), applied "
                       "unchanged to every group; " + THRESHOLD_RULE + "; -inf/inf written as null",
    "wilson": "Wilson score interval (R prop.test(correct = FALSE))",
}


def _summary_inputs(y_true: Any, scores: Mapping[str, Any], groups: Any, train_group: str | None):
    """Checked arrays of :func:`roc_summary`: labels, scores, group of each case, group names, training group."""
    if not scores:
        raise ValueError("no scores given")
    y_all = np.asarray(y_true)
    score_arrays = {name: np.asarray(values) for name, values in scores.items()}
    for name, values in score_arrays.items():
        if values.shape != y_all.shape:
            raise ValueError(f"score {name!r}: {values.shape[0] if values.ndim else 0} values for {y_all.shape[0]} labels")
    if groups is None:
        group_of = np.full(y_all.shape, "all", dtype=object)
    else:
        group_of = np.asarray(groups).astype(str).astype(object)
        if group_of.shape != y_all.shape:
            raise ValueError(f"{group_of.shape[0]} group values for {y_all.shape[0]} labels")
    group_names = list(dict.fromkeys(group_of.tolist()))  # order of first appearance
    if train_group is None:
        train_group = "train" if "train" in group_names else ("all" if groups is None else None)
        if train_group is None:
            raise ValueError(f"no 'train' group: name the group for the Youden threshold (--train-group / "
                             f"train_group); groups are {group_names}")
    elif train_group not in group_names:
        raise ValueError(f"training group {train_group!r} not among the groups {group_names}")
    return y_all, score_arrays, group_of, group_names, train_group


def _group_entry(y_all: np.ndarray, score_arrays: dict[str, np.ndarray], mask: np.ndarray, group: str, g_index: int,
                 n_boot: int, level: float, random_state: int) -> dict[str, Any]:
    """AUC, DeLong and bootstrap CIs of every score, and the paired DeLong tests, in one group."""
    y_g = y_all[mask]
    entry: dict[str, Any] = {"n_cases": int(mask.sum())}
    scores_out: dict[str, Any] = {}
    for s_index, (name, values) in enumerate(score_arrays.items()):
        label = f"group {group!r}, score {name!r}"
        y_checked, s_checked = check_binary_input(y_g, values[mask], name=label)
        rng = np.random.default_rng([random_state, g_index, s_index])
        scores_out[name] = {
            "auc": auc(y_checked, s_checked),
            "ci_delong": list(ci_delong(y_checked, s_checked, level)),
            "ci_bootstrap": list(ci_bootstrap(y_checked, s_checked, n_boot, level, rng)),
            "n_pos": int(y_checked.sum()),
            "n_neg": int(y_checked.size - y_checked.sum()),
        }
    first = next(iter(scores_out.values()))
    entry["n_pos"], entry["n_neg"] = first["n_pos"], first["n_neg"]
    entry["scores"] = scores_out
    entry["paired_delong"] = [
        _paired_entry(y_g, name_1, score_arrays[name_1][mask], name_2, score_arrays[name_2][mask])
        for name_1, name_2 in itertools.combinations(score_arrays, 2)
    ]
    return entry


def _unpaired_entries(y_all: np.ndarray, score_arrays: dict[str, np.ndarray], group_of: np.ndarray,
                      group_names: list[str]) -> list[dict[str, Any]]:
    """Unpaired DeLong tests of the same score between each pair of groups."""
    unpaired = []
    for name, values in score_arrays.items():
        for group_1, group_2 in itertools.combinations(group_names, 2):
            m1, m2 = group_of == group_1, group_of == group_2
            test = delong_test_unpaired(y_all[m1], values[m1], y_all[m2], values[m2])
            unpaired.append({
                "score": name, "group_1": group_1, "group_2": group_2,
                "auc_1": test.auc_1, "auc_2": test.auc_2,
                "z": test.statistic, "df": test.df, "p": test.p_value,
            })
    return unpaired


def _operating_point(y_all: np.ndarray, score_arrays: dict[str, np.ndarray], group_of: np.ndarray,
                     group_names: list[str], train_group: str, apparent: bool, level: float) -> dict[str, Any]:
    """Youden threshold of each score on ``train_group``, applied unchanged to every group."""
    train_mask = group_of == train_group
    operating: dict[str, Any] = {
        "method": "youden",
        "rule": THRESHOLD_RULE,
        "train_group": train_group,
        "apparent": apparent,
        "scores": {},
    }
    for name, values in score_arrays.items():
        threshold = youden_threshold(y_all[train_mask], values[train_mask])
        operating["scores"][name] = {
            "threshold": threshold,
            "groups": {
                group: classification_metrics(y_all[group_of == group], values[group_of == group], threshold, level)
                for group in group_names
            },
        }
    return operating


def _paired_entry(y: np.ndarray, name_1: str, s_1: np.ndarray, name_2: str, s_2: np.ndarray) -> dict[str, Any]:
    test = delong_test_paired(y, s_1, s_2)
    return {"score_1": name_1, "score_2": name_2, "auc_1": test.auc_1, "auc_2": test.auc_2,
            "z": test.statistic, "p": test.p_value}

