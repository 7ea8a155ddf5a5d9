"""Fat-metaplasia (FM) burden and distribution features, prefixed ``fm_``.

Pure functions over numpy arrays in SimpleITK's numpy order (z, y, x): ``mask`` (FM
labels 0/1 or bool), ``image`` (the T1 volume, raw non-negative intensities) and the
voxel ``spacing_zyx`` in mm. The image index axis x is taken as the patient's
left-right axis (true for axial and semi-coronal SIJ acquisitions); which end of x is
the patient's left is given by ``left_is_positive_x`` (read it from the direction
matrix, see :func:`left_is_positive_x_from_direction`).

Definitions (all documented here, used by the feature table):

``fm_volume_ml``
    FM voxel count x voxel volume / 1000.
``fm_lesion_count`` / ``fm_largest_lesion_ml``
    Connected components of the FM mask with 26-connectivity (face, edge and corner
    neighbours) and the volume of the largest one.
``fm_left_ml`` / ``fm_right_ml`` / ``fm_lr_balance`` / ``fm_bilateral``
    Voxels are split at a midline x (voxels exactly on it count for neither side).
    ``fm_lr_balance = (L - R) / (L + R)`` in [-1, 1]:
    0 symmetric, +1 left only, -1 right only. ``fm_bilateral`` = 1 when both sides hold
    FM. The midline is estimated from the data (:func:`estimate_midline_x`): the middle
    of the body's left-right extent (voxels brighter than the image mean), which follows
    the patient when the field of view is off-centre; it falls back to the image's x
    centre when no body is found.
``fm_iliac_fraction``
    Share of FM volume lateral to the sacroiliac joint line (iliac side) vs medial to it
    (sacral side). The joint line is estimated per side, and within a side per slice and
    FM row (the joint is curved and oblique in plane), as the darkest band (the joint
    space and the cortical end plates are dark on T1) of the T1 intensity profile along
    x, averaged over that slice's rows within +-5 mm (FM voxels left out, since bright
    FM blurred into the band would hide it) and smoothed with a 1.5 mm Gaussian,
    searched over the x extent of that side's FM in those rows widened by 10 mm,
    clipped to that side of the midline and kept 4.5 mm inside the body's left-right
    extent (the skin-air step is darker still) (:func:`estimate_joint_lines`). FM is bright, so the dark band
    falls between iliac and sacral FM. This is a heuristic: with FM far from the joint or
    other dark structures (sacral foramina, vessels) nearby the split can be off.
``fm_slice_count`` / ``fm_slice_extent_mm``
    Number of slices (index z) holding FM, and the span along the slice axis from the
    first to the last such slice, inclusive, in mm (count of spanned slices x slice
    spacing).
``fm_marrow_intensity_ratio``
    Median T1 of FM over the median T1 of a surrounding marrow shell: voxels 2-6 mm (3-D
    physical distance) from the FM, not FM, and not dark. Dark voxels (cortical bone,
    joint space, air) are those below half the shell's first-pass median. NaN when the
    shell holds fewer than 10 voxels or its median is not positive (raw intensities are
    expected, not z-scored ones).
``fm_t1_features_note``
    Empty for a T1 image. For another sequence (``sequence`` is not T1), the two
    features that read T1 contrast (``fm_iliac_fraction``, ``fm_marrow_intensity_ratio``:
    dark joint band, bright FM against marrow) are NaN and this note says why; on STIR
    the joint and FM contrast differ and the values would be meaningless.
``mask_empty``
    1 when the mask holds no FM. Then volumes and counts are 0 and ratios NaN.

Speed: connected components and the marrow shell's distance transform
run on the FM bounding box (plus the 6 mm the shell reads), the body extent is computed
once and the joint-line windows of all rows of a slice at once; each gives exactly the
whole-array value (tests/classifiers/test_feature_extraction.py compares them).
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np

#: Output keys of :func:`fm_features`, in the order of the feature table.
FM_FEATURE_NAMES = (
    "fm_volume_ml",
    "fm_lesion_count",
    "fm_largest_lesion_ml",
    "fm_left_ml",
    "fm_right_ml",
    "fm_lr_balance",
    "fm_bilateral",
    "fm_iliac_fraction",
    "fm_slice_count",
    "fm_slice_extent_mm",
    "fm_marrow_intensity_ratio",
)

#: Features that assume T1 contrast; NaN with a note for any other sequence.
T1_ONLY_FEATURES = ("fm_iliac_fraction", "fm_marrow_intensity_ratio")
#: Text column explaining why :data:`T1_ONLY_FEATURES` are NaN (empty for T1).
FM_T1_NOTE_COLUMN = "fm_t1_features_note"
#: fm_ columns of the feature table: the numeric features, then the note.
FM_TABLE_COLUMNS = FM_FEATURE_NAMES + (FM_T1_NOTE_COLUMN,)

JOINT_SMOOTHING_MM = 1.5
JOINT_SEARCH_MARGIN_MM = 10.0
JOINT_ROW_BAND_MM = 5.0
SHELL_INNER_MM = 2.0
SHELL_OUTER_MM = 6.0
MIN_SHELL_VOXELS = 10


def is_t1_sequence(sequence: str) -> bool:
    """True for T1-weighted sequence names (``T1``, ``T1W``, ``t1-weighted``; any case)."""
    return re.sub(r"[\s_-]+", "", str(sequence).strip().lower()) in ("t1", "t1w", "t1weighted")


def t1_features_note(sequence: str) -> str:
    """Why the T1-only features are NaN for ``sequence`` ('' for a T1 sequence)."""
    if is_t1_sequence(sequence):
        return ""
    return (f"{' and '.join(T1_ONLY_FEATURES)} need a T1 image; sequence is {sequence!r}, "
            "so they are left NaN")


def left_is_positive_x_from_direction(direction: Sequence[float]) -> bool:
    """Whether index x grows toward the patient's left.

    Args:
        direction: SimpleITK direction (row-major 3x3). Physical space is LPS, whose
            first axis points to the patient's left, so the sign of the index-x
            column's L component decides.
    """
    return float(direction[0]) >= 0.0


def voxel_volume_ml(spacing_zyx: Sequence[float]) -> float:
    """Volume of one voxel in millilitres."""
    return float(np.prod(np.asarray(spacing_zyx, dtype=float))) / 1000.0


def label_lesions(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected components of a binary mask: (labels, count)."""
    from scipy import ndimage

    return ndimage.label(np.asarray(mask, dtype=bool), structure=np.ones((3, 3, 3), dtype=bool))


def body_x_extent(image: np.ndarray | None) -> tuple[int, int] | None:
    """Left-right extent of the body as (first, last) x index, or None.

    The body is the set of voxels brighter than the image mean (MRI background is dark);
    its extent runs from the 1st to the 99th percentile of the body's x indices, which
    ignores stray bright noise.
    """
    if image is None:
        return None
    image = np.asarray(image, dtype=float)
    finite = np.isfinite(image)
    if not finite.any():
        return None
    body = finite & (image > float(np.mean(image[finite])))
    if not body.any() or body.all():
        return None
    x_counts = body.sum(axis=(0, 1)).astype(float)
    cdf = np.cumsum(x_counts) / x_counts.sum()
    return int(np.searchsorted(cdf, 0.01)), int(np.searchsorted(cdf, 0.99))


def estimate_midline_x(image: np.ndarray | None, shape_zyx: Sequence[int]) -> float:
    """Patient midline as a (fractional) x index: the middle of the body's x extent.

    Falls back to the image's x centre when no body is found (or no image is given).
    """
    return midline_from_extent(body_x_extent(image), shape_zyx)


def midline_from_extent(extent: tuple[int, int] | None, shape_zyx: Sequence[int]) -> float:
    """Midline x index from a body extent of :func:`body_x_extent` (the image's x centre
    when ``extent`` is None)."""
    if extent is None:
        return (shape_zyx[2] - 1) / 2.0
    return (extent[0] + extent[1]) / 2.0


def bounding_box(mask: np.ndarray, margin: Sequence[int] | int = 0) -> tuple[slice, ...] | None:
    """Slices of the nonzero voxels' bounding box widened by ``margin`` voxels per axis
    (clipped to the array), or None for an empty mask.

    The fm_ features computed on this crop are the whole-array values: every mask voxel
    lies inside it, and each use below keeps a margin covering all voxels it reads.
    """
    mask = np.asarray(mask)
    margins = [int(margin)] * mask.ndim if np.isscalar(margin) else [int(m) for m in margin]
    box = []
    for axis in range(mask.ndim):
        present = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        if present.size == 0:
            return None
        box.append(slice(max(int(present[0]) - margins[axis], 0),
                         min(int(present[-1]) + 1 + margins[axis], mask.shape[axis])))
    return tuple(box)


def _search_window(
    fm_xs: np.ndarray, nx: int, sx: float, midline_x: float, left_of_index: bool, body_extent
) -> tuple[int, int] | None:
    """x range searched for the joint line: FM extent +- margin, inside body and side."""
    margin = int(math.ceil(JOINT_SEARCH_MARGIN_MM / sx))
    x_lo, x_hi = max(int(fm_xs.min()) - margin, 0), min(int(fm_xs.max()) + margin, nx - 1)
    if body_extent is not None:
        edge = int(math.ceil(3 * JOINT_SMOOTHING_MM / sx))
        x_lo, x_hi = max(x_lo, body_extent[0] + edge), min(x_hi, body_extent[1] - edge)
    if left_of_index:
        x_hi = min(x_hi, int(math.floor(midline_x)))
    else:
        x_lo = max(x_lo, int(math.ceil(midline_x)))
    return (x_lo, x_hi) if x_hi >= x_lo else None


def _darkest_band(region: np.ndarray, fm_region: np.ndarray, window: tuple[int, int], sx: float) -> float | None:
    """x index of the minimum of the FM-free, smoothed mean intensity profile along x."""
    from scipy import ndimage

    nx = region.shape[-1]
    values = np.where(fm_region, np.nan, region.astype(float)).reshape(-1, nx)
    # FM itself is left out: its brightness, blurred by the smoothing, would fill the
    # dark joint band right next to it. Columns that are all FM are interpolated.
    counts = np.isfinite(values).sum(axis=0)
    if not counts.any():
        return None
    with np.errstate(all="ignore"):
        profile = np.nansum(values, axis=0) / np.maximum(counts, 1)
    known = counts > 0
    profile = np.interp(np.arange(nx), np.flatnonzero(known), profile[known])
    profile = ndimage.gaussian_filter1d(profile, sigma=JOINT_SMOOTHING_MM / sx, mode="nearest")
    x_lo, x_hi = window
    return float(x_lo + int(np.argmin(profile[x_lo : x_hi + 1])))


def estimate_joint_line_x(
    image: np.ndarray,
    side_mask: np.ndarray,
    spacing_zyx: Sequence[float],
    midline_x: float,
    left_of_index: bool,
    body_extent: tuple[int, int] | None = None,
) -> float | None:
    """One x index of the sacroiliac joint line for a whole side (darkest smoothed T1 band).

    Args:
        image: T1 volume (z, y, x).
        side_mask: FM of one side only.
        spacing_zyx: voxel spacing in mm.
        midline_x: midline x index; the search stays on ``side_mask``'s side of it.
        left_of_index: True when this side has x indices below the midline.
        body_extent: (first, last) body x index; the search keeps 3 smoothing widths
            away from the body's edges, whose skin-air step would otherwise be darkest.

    Returns:
        The joint-line x index, or None when the side holds no FM.
    """
    if not side_mask.any():
        return None
    zs, ys, xs = np.nonzero(side_mask)
    sx = float(spacing_zyx[2])
    window = _search_window(xs, image.shape[2], sx, midline_x, left_of_index, body_extent)
    if window is None:
        return None
    box = (slice(zs.min(), zs.max() + 1), slice(ys.min(), ys.max() + 1), slice(None))
    return _darkest_band(image[box], side_mask[box], window, sx)


def estimate_joint_lines(
    image: np.ndarray,
    side_mask: np.ndarray,
    spacing_zyx: Sequence[float],
    midline_x: float,
    left_of_index: bool,
    body_extent: tuple[int, int] | None = None,
) -> np.ndarray:
    """Joint-line x index per (slice, row) holding FM on one side; NaN elsewhere.

    The SIJ is curved and oblique in the semi-coronal plane, so one x per side is too
    coarse: each FM row uses the profile of its own slice averaged over rows within
    +-5 mm, searched as in :func:`estimate_joint_line_x`.
    """
    from scipy import ndimage

    nz, ny, nx = side_mask.shape
    lines = np.full((nz, ny), np.nan)
    sx = float(spacing_zyx[2])
    size = 2 * max(int(round(JOINT_ROW_BAND_MM / float(spacing_zyx[1]))), 0) + 1
    x_index = np.arange(nx)
    for z in np.flatnonzero(side_mask.any(axis=(1, 2))):
        fm = side_mask[z]
        free = ~fm
        # Band means over +-5 mm of rows, FM left out (as in _darkest_band), all rows at once.
        sums = ndimage.uniform_filter1d(np.where(free, image[z].astype(float), 0.0), size, axis=0, mode="constant")
        counts = ndimage.uniform_filter1d(free.astype(float), size, axis=0, mode="constant")
        fm_rows = np.flatnonzero(fm.any(axis=1))
        profiles = np.empty((fm_rows.size, nx))
        for i, y in enumerate(fm_rows):
            known = counts[y] > 1e-9
            if not known.any():
                profiles[i] = np.nan
                continue
            profiles[i] = np.interp(x_index, x_index[known], sums[y, known] / counts[y, known])
        profiles = ndimage.gaussian_filter1d(profiles, sigma=JOINT_SMOOTHING_MM / sx, axis=1, mode="nearest")
        # FM x extent within each row's band gives the search window.
        row_min = np.where(fm.any(axis=1), np.argmax(fm, axis=1), nx)
        row_max = np.where(fm.any(axis=1), nx - 1 - np.argmax(fm[:, ::-1], axis=1), -1)
        band_min = ndimage.minimum_filter1d(row_min, size, mode="constant", cval=nx)
        band_max = ndimage.maximum_filter1d(row_max, size, mode="constant", cval=-1)
        x_lo, x_hi = _search_windows(band_min[fm_rows], band_max[fm_rows], nx, sx, midline_x, left_of_index,
                                     body_extent)
        usable = (x_hi >= x_lo) & np.isfinite(profiles).all(axis=1)
        # Darkest x inside each row's window: the first minimum, as argmin over the window.
        inside = (x_index[None, :] >= x_lo[:, None]) & (x_index[None, :] <= x_hi[:, None])
        darkest = np.argmin(np.where(inside, profiles, np.inf), axis=1)
        lines[z, fm_rows[usable]] = darkest[usable]
    return lines


def _search_windows(lo_xs: np.ndarray, hi_xs: np.ndarray, nx: int, sx: float, midline_x: float,
                    left_of_index: bool, body_extent) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_search_window` for many rows at once, from each row's FM x extent
    (``lo_xs``, ``hi_xs``); a row whose window is empty has ``x_hi < x_lo``."""
    margin = int(math.ceil(JOINT_SEARCH_MARGIN_MM / sx))
    x_lo = np.maximum(np.asarray(lo_xs, dtype=np.int64) - margin, 0)
    x_hi = np.minimum(np.asarray(hi_xs, dtype=np.int64) + margin, nx - 1)
    if body_extent is not None:
        edge = int(math.ceil(3 * JOINT_SMOOTHING_MM / sx))
        x_lo, x_hi = np.maximum(x_lo, body_extent[0] + edge), np.minimum(x_hi, body_extent[1] - edge)
    if left_of_index:
        x_hi = np.minimum(x_hi, int(math.floor(midline_x)))
    else:
        x_lo = np.maximum(x_lo, int(math.ceil(midline_x)))
    return x_lo, x_hi


def marrow_intensity_ratio(image: np.ndarray, mask: np.ndarray, spacing_zyx: Sequence[float]) -> float:
    """Median T1 of FM over the median T1 of the 2-6 mm non-dark marrow shell around it."""
    from scipy import ndimage

    mask = np.asarray(mask, dtype=bool)
    # Only voxels within SHELL_OUTER_MM of the FM matter: crop to its bounding box plus
    # more than that distance per axis. The distance transform of the crop is the whole
    # array's (every FM voxel is in it, and scipy's exact transform depends on coordinate
    # differences only), and voxels left out are farther than SHELL_OUTER_MM.
    margin = [int(math.floor(SHELL_OUTER_MM / float(s))) + 1 for s in spacing_zyx]
    box = bounding_box(mask, margin)
    if box is None:
        return math.nan
    mask = mask[box]
    image = np.asarray(image)[box]
    distance = ndimage.distance_transform_edt(~mask, sampling=[float(s) for s in spacing_zyx])
    shell = (distance >= SHELL_INNER_MM) & (distance <= SHELL_OUTER_MM) & ~mask
    values = image[shell].astype(float)
    values = values[np.isfinite(values)]
    if values.size < MIN_SHELL_VOXELS:
        return math.nan
    first = float(np.median(values))
    if first <= 0:
        return math.nan
    values = values[values >= 0.5 * first]
    if values.size < MIN_SHELL_VOXELS:
        return math.nan
    shell_median = float(np.median(values))
    return float(np.median(image[mask].astype(float))) / shell_median


def fm_features(
    mask: np.ndarray,
    image: np.ndarray | None,
    spacing_zyx: Sequence[float],
    left_is_positive_x: bool = True,
    midline_x: float | None = None,
    sequence: str = "T1",
) -> dict[str, float | str]:
    """All ``fm_`` features of one case, the T1 note, and ``mask_empty``.

    Args:
        mask: FM mask (z, y, x); nonzero = FM.
        image: T1 volume on the same grid, or None (intensity features become NaN and
            the midline falls back to the image centre).
        spacing_zyx: voxel spacing (z, y, x) in mm.
        left_is_positive_x: True when index x grows toward the patient's left.
        midline_x: midline as an x index; estimated from ``image`` when None.
        sequence: MR sequence of ``image`` (e.g. ``T1``, ``STIR``). For a non-T1
            sequence the :data:`T1_ONLY_FEATURES` are NaN and the note says why.

    Returns:
        Mapping with the keys of :data:`FM_TABLE_COLUMNS` and ``mask_empty``.

    Raises:
        ValueError: Image and mask shapes differ, or the arrays are not 3-D.
    """
    mask = np.asarray(mask) != 0
    if mask.ndim != 3:
        raise ValueError(f"mask must be 3-D (z, y, x); got shape {mask.shape}")
    if image is not None:
        image = np.asarray(image)
        if image.shape != mask.shape:
            raise ValueError(f"image shape {image.shape} != mask shape {mask.shape}")
    if len(spacing_zyx) != 3:
        raise ValueError(f"spacing must have 3 values (z, y, x); got {spacing_zyx}")
    voxel_ml = voxel_volume_ml(spacing_zyx)
    n_voxels = int(mask.sum())
    out: dict[str, float | str] = {name: math.nan for name in FM_FEATURE_NAMES}
    note = t1_features_note(sequence)
    out[FM_T1_NOTE_COLUMN] = note
    if n_voxels == 0:
        out.update(
            fm_volume_ml=0.0, fm_lesion_count=0, fm_largest_lesion_ml=0.0, fm_left_ml=0.0, fm_right_ml=0.0,
            fm_bilateral=0, fm_slice_count=0, fm_slice_extent_mm=0.0, mask_empty=1,
        )
        return out

    # Components of the bounding-box crop are the whole array's (raster order kept).
    labels, count = label_lesions(mask[bounding_box(mask)])
    sizes = np.bincount(labels.ravel())[1:]
    body_extent = body_x_extent(image)
    if midline_x is None:
        midline_x = midline_from_extent(body_extent, mask.shape)
    x_index = np.arange(mask.shape[2])
    low_side = mask & (x_index < midline_x)[None, None, :]
    high_side = mask & (x_index > midline_x)[None, None, :]
    low_ml, high_ml = float(low_side.sum()) * voxel_ml, float(high_side.sum()) * voxel_ml
    left_ml, right_ml = (high_ml, low_ml) if left_is_positive_x else (low_ml, high_ml)
    side_total = left_ml + right_ml

    slices = np.flatnonzero(mask.any(axis=(1, 2)))
    out.update(
        fm_volume_ml=n_voxels * voxel_ml,
        fm_lesion_count=int(count),
        fm_largest_lesion_ml=float(sizes.max()) * voxel_ml,
        fm_left_ml=left_ml,
        fm_right_ml=right_ml,
        fm_lr_balance=(left_ml - right_ml) / side_total if side_total > 0 else math.nan,
        fm_bilateral=int(left_ml > 0 and right_ml > 0),
        fm_slice_count=int(slices.size),
        fm_slice_extent_mm=float(slices[-1] - slices[0] + 1) * float(spacing_zyx[0]),
        mask_empty=0,
    )
    if image is not None and not note:
        out["fm_iliac_fraction"] = _iliac_fraction(
            image, low_side, high_side, spacing_zyx, midline_x, n_voxels, body_extent
        )
        out["fm_marrow_intensity_ratio"] = marrow_intensity_ratio(image, mask, spacing_zyx)
    return out


def _iliac_fraction(image, low_side, high_side, spacing_zyx, midline_x, n_voxels, body_extent) -> float:
    """Share of FM voxels lateral to their row's joint line (see module docstring)."""
    x_index = np.arange(image.shape[2])[None, None, :]
    iliac = 0
    for side, is_low in ((low_side, True), (high_side, False)):
        lines = estimate_joint_lines(image, side, spacing_zyx, midline_x, is_low, body_extent)[:, :, None]
        with np.errstate(invalid="ignore"):
            lateral = (x_index < lines) if is_low else (x_index > lines)
        iliac += int((side & lateral).sum())
    # Voxels on a joint line or exactly on the midline count as sacral (not lateral).
    return iliac / n_voxels
