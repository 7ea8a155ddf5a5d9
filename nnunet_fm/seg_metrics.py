"""Segmentation metrics for binary masks on anisotropic voxel grids.

Pure functions over numpy boolean arrays in numpy axis order (z, y, x) with the voxel
spacing in mm in the same order, plus :func:`case_metrics`, which takes two SimpleITK
images and returns one row of the segmentation-metrics CSV (ARCHITECTURE.md section 4).

Definitions (A = reference, B = prediction, |.| = voxel count):

* ``dice`` = 2|A∩B| / (|A| + |B|); ``jaccard`` = |A∩B| / |A∪B|.
* Surface distances follow DeepMind's ``surface-distance`` package (Nikolov et al.
  2021), ported here because that package fails under numpy 2 on empty masks. The
  surface is a marching-cubes mesh on the voxel-corner grid: every 2x2x2 neighbourhood
  code maps to surface elements ("surfels") with a known area for the given spacing;
  the distance of each surfel to the other surface comes from an exact Euclidean
  distance transform with ``sampling=spacing``. Every surfel is weighted by its area.
* ``hd95_mm``: robust Hausdorff distance at the 95th percentile as surface-distance's
  ``compute_robust_hausdorff(.., 95)`` gives it: the max over the two directions of the
  surfel-area-weighted 95th percentile of the directed distances.
* ``assd_mm``: average symmetric surface distance, the mean of the two directed
  surfel-area-weighted average distances (surface-distance's
  ``compute_average_surface_distance`` returns the two; we average them).
* ``nsd``: normalised surface Dice (surface-distance's
  ``compute_surface_dice_at_tolerance``) at ``nsd_tolerance_mm``. Default
  :data:`DEFAULT_NSD_TOLERANCE_MM` = 2.0 mm: about three in-plane voxels of a
  0.7 x 0.7 x 4 mm FM mask (in-plane inter-reader boundary scatter passes) but half a
  slice, so a missing or extra slice of lesion counts as surface error.
* ``nsd_slice``: the same surface Dice at a tolerance tied to the slice spacing,
  ``nsd_tolerance_slice_mm`` = the case's largest voxel spacing (its slice spacing for
  the anisotropic FM scans), so a boundary one slice off is within tolerance; the
  largest spacing is also written as ``slice_spacing_mm``. 2 mm (``nsd``) is below the
  slice thickness of every centre, so ``nsd`` counts every through-plane step as error.
* ``volume_similarity`` = 1 - |(|A| - |B|)| / (|A| + |B|).
* ``ref_volume_ml`` / ``pred_volume_ml`` = voxel count x voxel volume / 1000.
* Lesions are 26-connected components in 3-D (``scipy.ndimage.label`` with a 3x3x3
  structure). ``ref_lesions`` = components of A; ``detected_lesions`` = components of A
  of which at least ``lesion_overlap_fraction`` (default
  :data:`DEFAULT_LESION_OVERLAP_FRACTION` = 0.1) of the voxels lie in B;
  ``fp_lesions`` = components of B of which less than that fraction lies in A. One
  shared voxel does not make a detection. :func:`lesion_table` gives the per-lesion rows.
* Penalty when exactly one mask is empty: HD95 and ASSD are undefined (raw ``hd95_mm``
  and ``assd_mm`` stay NaN); ``hd95_mm_penalised`` / ``assd_mm_penalised`` replace the
  NaN by ``penalty_mm`` = the diagonal of the image's physical extent,
  sqrt(sum_i (n_i x spacing_i)^2) in mm -- the largest distance two points of the
  image can have -- so such cases count as the worst possible result instead of
  being dropped from the mean. Elsewhere the penalised columns equal the raw ones.

Empty masks never raise. Both empty: dice = jaccard = nsd = volume_similarity = 1,
distances 0, ``empty_case = "both"``. Exactly one empty: dice = jaccard = nsd =
volume_similarity = 0, distances NaN, ``empty_case`` = ``"ref_only"`` (only the
reference has foreground) or ``"pred_only"``.

Oblique grids: with an orthonormal direction matrix the physical frame is a rotation of
the index frame, so distances are index distances scaled by spacing; a direction matrix
that is not orthonormal (shear) is rejected with ``ValueError``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from scipy import ndimage

#: Default tolerance of the normalised surface Dice, in mm (see module docstring).
DEFAULT_NSD_TOLERANCE_MM = 2.0

#: Fraction of a lesion's voxels that must be covered for it to count as detected.
DEFAULT_LESION_OVERLAP_FRACTION = 0.1

#: Columns of the per-lesion table (one row per reference lesion).
LESION_COLUMNS = ("case_id", "lesion_id", "lesion_volume_ml", "overlap_fraction", "detected")

#: Largest allowed deviation of ``D^T D`` from the identity for a direction matrix ``D``.
ORTHONORMAL_TOLERANCE = 1e-3

#: Columns of the per-case segmentation metrics CSV, in order (ARCHITECTURE.md section 4).
CSV_COLUMNS = (
    "case_id", "dice", "jaccard", "hd95_mm", "assd_mm", "nsd", "volume_similarity",
    "ref_volume_ml", "pred_volume_ml", "ref_lesions", "detected_lesions", "fp_lesions",
    "empty_case", "nsd_slice", "nsd_tolerance_slice_mm", "slice_spacing_mm",
    "hd95_mm_penalised", "assd_mm_penalised", "penalty_mm",
)

#: Values of ``empty_case``.
EMPTY_CASES = ("none", "both", "ref_only", "pred_only")

# Weights that turn a 2x2x2 neighbourhood into an 8-bit code (surface-distance's
# ENCODE_NEIGHBOURHOOD_3D_KERNEL).
_NEIGHBOURHOOD_KERNEL = np.array([[[128, 64], [32, 16]], [[8, 4], [2, 1]]])

# For each of the 256 neighbourhood codes, the marching-cubes surfel normals of
# surface-distance's _NEIGHBOUR_CODE_TO_NORMALS (Apache-2.0, (c) 2018 Google), in the
# same order. Only a normal's length is used (it encodes the surfel area), so the signs
# are dropped; each 3-digit token holds 8 x |component| for axes 0, 1, 2.
_NEIGHBOUR_CODE_TO_NORMALS_X8 = (
    '000', '111', '111', '220 220', '111', '202 202',
    '111 111', '400 222 111', '111', '111 111', '202 202', '400 222 111',
    '220 220', '400 222 111', '400 222 111', '400 400', '111', '022 022',
    '111 111', '040 222 111', '111 111', '004 222 111', '111 111 111', '111 222 222 111',
    '111 111', '022 022 111', '202 202 111', '111 333 022 202', '111 220 220', '333 022 111 220',
    '400 111 222 111', '400 111 222', '111', '111 111', '022 022', '040 111 222',
    '111 111', '111 202 202', '022 022 111', '333 022 111 202', '111 111', '111 111 111',
    '004 222 111', '222 222 111 111', '111 220 220', '400 222 111 111', '022 333 111 220', '400 222 111',
    '220 220', '040 222 111', '040 111 222', '040 040', '220 220 111', '333 202 111 220',
    '111 040 222 111', '040 222 111', '111 220 220', '040 222 111 111', '333 220 111 202', '040 222 111',
    '220 220 220 220', '220 220 111', '111 220 220', '220 220', '111', '111 111',
    '111 111', '111 220 220', '022 022', '004 222 111', '022 022 111', '333 022 111 220',
    '111 111', '111 111 111', '111 202 202', '400 222 111 111', '040 222 111', '222 222 111 111',
    '202 333 022 111', '400 222 111', '202 202', '004 222 111', '111 202 202', '202 333 220 111',
    '004 222 111', '004 004', '111 111 222 004', '111 222 004', '202 202 111', '004 222 111 111',
    '202 202 202 202', '111 202 202', '202 333 220 111', '004 222 111', '111 202 202', '202 202',
    '111 111', '111 111 111', '111 022 022', '040 111 222 111', '022 022 111', '004 222 111 111',
    '022 022 022 022', '022 022 111', '111 111 111', '111 111 111 111', '004 222 111 111', '111 111 111',
    '040 222 111 111', '111 111 111', '022 022 111', '111 111', '400 222 111', '222 111 222 111',
    '333 022 111 202', '040 222 111', '333 220 022 111', '111 222 004', '111 022 022', '022 022',
    '400 222 111 111', '111 111 111', '202 202 111', '111 111', '220 220 111', '111 111',
    '111 111', '111', '111', '111 111', '111 111', '220 220 111',
    '111 111', '202 202 111', '111 111 111', '400 222 111 111', '022 022', '111 022 022',
    '111 222 004', '333 220 022 111', '040 222 111', '333 022 111 202', '222 111 222 111', '400 222 111',
    '111 111', '022 022 111', '111 111 111', '040 222 111 111', '111 111 111', '004 222 111 111',
    '111 111 111 111', '111 111 111', '022 022 111', '022 022 022 022', '004 222 111 111', '022 022 111',
    '040 111 222 111', '111 022 022', '111 111 111', '111 111', '202 202', '111 202 202',
    '004 222 111', '202 333 220 111', '111 202 202', '202 202 202 202', '004 222 111 111', '202 202 111',
    '111 222 004', '111 111 222 004', '004 004', '004 222 111', '202 333 220 111', '111 202 202',
    '004 222 111', '202 202', '400 222 111', '202 333 022 111', '222 222 111 111', '040 222 111',
    '400 222 111 111', '111 202 202', '111 111 111', '111 111', '333 022 111 220', '022 022 111',
    '004 222 111', '022 022', '111 220 220', '111 111', '111 111', '111',
    '220 220', '111 220 220', '220 220 111', '220 220 220 220', '040 222 111', '333 220 111 202',
    '040 222 111 111', '111 220 220', '040 222 111', '111 040 222 111', '333 202 111 220', '220 220 111',
    '040 040', '040 111 222', '040 222 111', '220 220', '400 222 111', '022 333 111 220',
    '400 222 111 111', '111 220 220', '222 222 111 111', '004 222 111', '111 111 111', '111 111',
    '333 022 111 202', '022 022 111', '111 202 202', '111 111', '040 111 222', '022 022',
    '111 111', '111', '400 111 222', '400 111 222 111', '333 022 111 220', '111 220 220',
    '111 333 022 202', '202 202 111', '022 022 111', '111 111', '111 222 222 111', '111 111 111',
    '004 222 111', '111 111', '040 222 111', '111 111', '022 022', '111',
    '400 400', '400 222 111', '400 222 111', '220 220', '400 222 111', '202 202',
    '111 111', '111', '400 222 111', '111 111', '202 202', '111',
    '220 220', '111', '111', '000',
)


def surfel_area_table(spacing_mm: Sequence[float]) -> np.ndarray:
    """Surface area in mm² of the surfels of every 2x2x2 neighbourhood code.

    Args:
        spacing_mm: Voxel spacing (z, y, x) in mm.

    Returns:
        Float array of shape (256,).
    """
    s0, s1, s2 = (float(s) for s in spacing_mm)
    table = np.zeros(256)
    for code, tokens in enumerate(_NEIGHBOUR_CODE_TO_NORMALS_X8):
        total = 0.0
        for token in tokens.split():
            n0, n1, n2 = (int(c) / 8.0 for c in token)
            # Same operation order as surface-distance, so areas agree to the last bit.
            scaled = np.array([n0 * s1 * s2, n1 * s0 * s2, n2 * s0 * s1])
            total += np.linalg.norm(scaled)
        table[code] = total
    return table


def _check_pair(ref: np.ndarray, pred: np.ndarray, spacing_mm: Sequence[float]) -> tuple[np.ndarray, np.ndarray, tuple]:
    ref = np.asarray(ref)
    pred = np.asarray(pred)
    if ref.ndim != 3 or pred.ndim != 3:
        raise ValueError(f"masks must be 3-D; got shapes {ref.shape} and {pred.shape}")
    if ref.shape != pred.shape:
        raise ValueError(f"mask shapes differ: reference {ref.shape}, prediction {pred.shape}")
    spacing = tuple(float(s) for s in spacing_mm)
    if len(spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"spacing_mm must be three positive numbers; got {spacing_mm}")
    return ref.astype(bool, copy=False), pred.astype(bool, copy=False), spacing


def surface_distances(ref: np.ndarray, pred: np.ndarray, spacing_mm: Sequence[float]) -> dict[str, np.ndarray]:
    """Directed surfel distances between two masks (surface-distance's algorithm).

    Args:
        ref: Reference mask (z, y, x), boolean.
        pred: Predicted mask, same shape.
        spacing_mm: Voxel spacing (z, y, x) in mm.

    Returns:
        Dict with ``distances_ref_to_pred`` / ``surfel_areas_ref`` (one entry per
        reference surfel, sorted by distance) and ``distances_pred_to_ref`` /
        ``surfel_areas_pred``. A mask without surface gets empty arrays, and the other
        mask's distances are ``inf``.
    """
    ref, pred, spacing = _check_pair(ref, pred, spacing_mm)
    empty = {
        "distances_ref_to_pred": np.array([]), "surfel_areas_ref": np.array([]),
        "distances_pred_to_ref": np.array([]), "surfel_areas_pred": np.array([]),
    }
    union = ref | pred
    if not union.any():
        return empty
    # Crop to the union's bounding box plus one zero voxel on the high side of every
    # axis; correlate() supplies the zero on the low side (cval=0), giving the full
    # voxel-corner grid.
    occupied = [np.flatnonzero(union.any(axis=tuple(a for a in range(3) if a != axis))) for axis in range(3)]
    lo = [int(o.min()) for o in occupied]
    hi = [int(o.max()) for o in occupied]
    window = tuple(slice(l, h + 1) for l, h in zip(lo, hi))
    shape = tuple(h - l + 2 for l, h in zip(lo, hi))
    areas = surfel_area_table(spacing)
    result = {}
    borders, codes = {}, {}
    for name, mask in (("ref", ref), ("pred", pred)):
        crop = np.zeros(shape, np.uint8)
        crop[:-1, :-1, :-1] = mask[window]
        code = ndimage.correlate(crop, _NEIGHBOURHOOD_KERNEL, mode="constant", cval=0)
        codes[name] = code
        borders[name] = (code != 0) & (code != 255)
    distmaps = {}
    for name in ("ref", "pred"):
        if borders[name].any():
            distmaps[name] = ndimage.distance_transform_edt(~borders[name], sampling=spacing)
        else:
            distmaps[name] = np.full(shape, np.inf)
    for name, other in (("ref", "pred"), ("pred", "ref")):
        distances = distmaps[other][borders[name]]
        surfel_areas = areas[codes[name][borders[name]]]
        # Sort by distance, then area: the order of surface-distance's sorted(zip(..)).
        order = np.lexsort((surfel_areas, distances))
        result[f"distances_{name}_to_{other}"] = distances[order]
        result[f"surfel_areas_{name}"] = surfel_areas[order]
    return result


def _directed_percentile(distances: np.ndarray, surfel_areas: np.ndarray, percent: float) -> float:
    if len(distances) == 0:
        return math.inf
    cumulative = np.cumsum(surfel_areas) / np.sum(surfel_areas)
    index = int(np.searchsorted(cumulative, percent / 100.0))
    return float(distances[min(index, len(distances) - 1)])


def robust_hausdorff_mm(distances: dict[str, np.ndarray], percent: float = 95.0) -> float:
    """Surfel-weighted robust Hausdorff distance from :func:`surface_distances` output."""
    return max(
        _directed_percentile(distances["distances_ref_to_pred"], distances["surfel_areas_ref"], percent),
        _directed_percentile(distances["distances_pred_to_ref"], distances["surfel_areas_pred"], percent),
    )


def directed_average_distances_mm(distances: dict[str, np.ndarray]) -> tuple[float, float]:
    """Surfel-weighted mean distance reference->prediction and prediction->reference."""
    out = []
    for d, a in (("distances_ref_to_pred", "surfel_areas_ref"), ("distances_pred_to_ref", "surfel_areas_pred")):
        total = np.sum(distances[a])
        out.append(float(np.sum(distances[d] * distances[a]) / total) if total > 0 else math.nan)
    return out[0], out[1]


def surface_dice_from_distances(distances: dict[str, np.ndarray], tolerance_mm: float) -> float:
    """Surface Dice at ``tolerance_mm`` from :func:`surface_distances` output."""
    area_ref, area_pred = distances["surfel_areas_ref"], distances["surfel_areas_pred"]
    total = np.sum(area_ref) + np.sum(area_pred)
    if total == 0:
        return math.nan
    overlap_ref = np.sum(area_ref[distances["distances_ref_to_pred"] <= tolerance_mm])
    overlap_pred = np.sum(area_pred[distances["distances_pred_to_ref"] <= tolerance_mm])
    return float((overlap_ref + overlap_pred) / total)


def empty_case(ref: np.ndarray, pred: np.ndarray) -> str:
    """Which masks are empty: ``"none"``, ``"both"``, ``"ref_only"`` or ``"pred_only"``.

    ``"ref_only"`` means only the reference has foreground (the prediction is empty).
    """
    has_ref, has_pred = bool(np.any(ref)), bool(np.any(pred))
    if has_ref and has_pred:
        return "none"
    if not has_ref and not has_pred:
        return "both"
    return "ref_only" if has_ref else "pred_only"


def dice(ref: np.ndarray, pred: np.ndarray) -> float:
    """Dice similarity coefficient; 1.0 when both masks are empty."""
    ref, pred = np.asarray(ref, bool), np.asarray(pred, bool)
    total = int(ref.sum()) + int(pred.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.count_nonzero(ref & pred)) / total


def jaccard(ref: np.ndarray, pred: np.ndarray) -> float:
    """Jaccard index (intersection over union); 1.0 when both masks are empty."""
    ref, pred = np.asarray(ref, bool), np.asarray(pred, bool)
    union = int(np.count_nonzero(ref | pred))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(ref & pred)) / union


def _by_emptiness(ref: np.ndarray, pred: np.ndarray, both: float, one: float):
    case = empty_case(ref, pred)
    if case == "both":
        return both
    if case != "none":
        return one
    return None


def hd95_mm(ref: np.ndarray, pred: np.ndarray, spacing_mm: Sequence[float]) -> float:
    """Robust 95% Hausdorff distance in mm (0 if both empty, NaN if one is empty)."""
    ref, pred, spacing = _check_pair(ref, pred, spacing_mm)
    special = _by_emptiness(ref, pred, 0.0, math.nan)
    if special is not None:
        return special
    return robust_hausdorff_mm(surface_distances(ref, pred, spacing), 95.0)


def assd_mm(ref: np.ndarray, pred: np.ndarray, spacing_mm: Sequence[float]) -> float:
    """Average symmetric surface distance in mm: mean of the two directed averages."""
    ref, pred, spacing = _check_pair(ref, pred, spacing_mm)
    special = _by_emptiness(ref, pred, 0.0, math.nan)
    if special is not None:
        return special
    forward, backward = directed_average_distances_mm(surface_distances(ref, pred, spacing))
    return (forward + backward) / 2.0


def nsd(ref: np.ndarray, pred: np.ndarray, spacing_mm: Sequence[float],
        tolerance_mm: float = DEFAULT_NSD_TOLERANCE_MM) -> float:
    """Normalised surface Dice at ``tolerance_mm`` (1 if both empty, 0 if one is empty)."""
    ref, pred, spacing = _check_pair(ref, pred, spacing_mm)
    special = _by_emptiness(ref, pred, 1.0, 0.0)
    if special is not None:
        return special
    return surface_dice_from_distances(surface_distances(ref, pred, spacing), tolerance_mm)


def volume_similarity(ref: np.ndarray, pred: np.ndarray) -> float:
    """1 - | |A| - |B| | / (|A| + |B|); 1.0 when both masks are empty."""
    a, b = int(np.count_nonzero(ref)), int(np.count_nonzero(pred))
    if a + b == 0:
        return 1.0
    return 1.0 - abs(a - b) / (a + b)


def volume_ml(mask: np.ndarray, spacing_mm: Sequence[float]) -> float:
    """Foreground volume in millilitres."""
    return int(np.count_nonzero(mask)) * float(np.prod([float(s) for s in spacing_mm])) / 1000.0


def _check_fraction(fraction: float) -> float:
    fraction = float(fraction)
    if not (math.isfinite(fraction) and 0.0 < fraction <= 1.0):
        raise ValueError(f"lesion overlap fraction must lie in (0, 1]; got {fraction}")
    return fraction


def _component_overlaps(mask: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Voxel count and covered fraction of every 26-connected component of ``mask``."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    covered = np.bincount(labels[other & mask].ravel(), minlength=n + 1)[1:]
    return sizes, covered / np.maximum(sizes, 1)


def lesion_table(ref: np.ndarray, pred: np.ndarray, spacing_mm: Sequence[float],
                 overlap_fraction: float = DEFAULT_LESION_OVERLAP_FRACTION) -> list[dict[str, Any]]:
    """One row per reference lesion (26-connected component, numbered in scan order).

    Returns:
        Dicts with ``lesion_id`` (1-based), ``lesion_volume_ml``, ``overlap_fraction``
        (fraction of its voxels inside the prediction) and ``detected``
        (``overlap_fraction >= overlap_fraction`` threshold).
    """
    threshold = _check_fraction(overlap_fraction)
    ref, pred = np.asarray(ref, bool), np.asarray(pred, bool)
    sizes, fractions = _component_overlaps(ref, pred)
    voxel_ml = float(np.prod([float(s) for s in spacing_mm])) / 1000.0
    return [{"lesion_id": i + 1, "lesion_volume_ml": int(size) * voxel_ml, "overlap_fraction": float(fraction),
             "detected": bool(fraction >= threshold)} for i, (size, fraction) in enumerate(zip(sizes, fractions))]


def lesion_counts(ref: np.ndarray, pred: np.ndarray,
                  overlap_fraction: float = DEFAULT_LESION_OVERLAP_FRACTION) -> dict[str, int]:
    """Lesion-level counts over 26-connected components with an overlap threshold.

    Returns:
        ``ref_lesions`` (components of the reference), ``detected_lesions`` (reference
        components with at least ``overlap_fraction`` of their voxels predicted) and
        ``fp_lesions`` (predicted components with less than ``overlap_fraction`` of
        their voxels in the reference).
    """
    threshold = _check_fraction(overlap_fraction)
    ref, pred = np.asarray(ref, bool), np.asarray(pred, bool)
    _, ref_fractions = _component_overlaps(ref, pred)
    _, pred_fractions = _component_overlaps(pred, ref)
    return {
        "ref_lesions": int(ref_fractions.size),
        "detected_lesions": int(np.count_nonzero(ref_fractions >= threshold)),
        "fp_lesions": int(np.count_nonzero(pred_fractions < threshold)),
    }


def extent_diagonal_mm(shape: Sequence[int], spacing_mm: Sequence[float]) -> float:
    """Diagonal of the image's physical extent in mm: the HD95/ASSD penalty."""
    return float(math.sqrt(sum((int(n) * float(s)) ** 2 for n, s in zip(shape, spacing_mm))))


def mask_metrics(ref: np.ndarray, pred: np.ndarray, spacing_mm: Sequence[float],
                 nsd_tolerance_mm: float = DEFAULT_NSD_TOLERANCE_MM,
                 lesion_overlap_fraction: float = DEFAULT_LESION_OVERLAP_FRACTION) -> dict[str, Any]:
    """Every per-case metric of two masks (surface distances computed once).

    Args:
        ref: Reference mask (z, y, x), boolean.
        pred: Predicted mask, same shape.
        spacing_mm: Voxel spacing (z, y, x) in mm.
        nsd_tolerance_mm: Tolerance of the normalised surface Dice.
        lesion_overlap_fraction: Detection threshold of :func:`lesion_counts`.

    Returns:
        Dict with the CSV columns except ``case_id``.
    """
    ref, pred, spacing = _check_pair(ref, pred, spacing_mm)
    case = empty_case(ref, pred)
    slice_tolerance = max(spacing)
    if case == "none":
        distances = surface_distances(ref, pred, spacing)
        forward, backward = directed_average_distances_mm(distances)
        hd95, assd = robust_hausdorff_mm(distances, 95.0), (forward + backward) / 2.0
        surface_dice = surface_dice_from_distances(distances, nsd_tolerance_mm)
        surface_dice_slice = surface_dice_from_distances(distances, slice_tolerance)
    elif case == "both":
        hd95, assd, surface_dice, surface_dice_slice = 0.0, 0.0, 1.0, 1.0
    else:
        hd95, assd, surface_dice, surface_dice_slice = math.nan, math.nan, 0.0, 0.0
    penalty = extent_diagonal_mm(ref.shape, spacing)
    row = {
        "dice": dice(ref, pred),
        "jaccard": jaccard(ref, pred),
        "hd95_mm": hd95,
        "assd_mm": assd,
        "nsd": surface_dice,
        "volume_similarity": volume_similarity(ref, pred),
        "ref_volume_ml": volume_ml(ref, spacing),
        "pred_volume_ml": volume_ml(pred, spacing),
    }
    row.update(lesion_counts(ref, pred, lesion_overlap_fraction))
    row["empty_case"] = case
    row.update({
        "nsd_slice": surface_dice_slice, "nsd_tolerance_slice_mm": slice_tolerance, "slice_spacing_mm": slice_tolerance,
        "hd95_mm_penalised": penalty if math.isnan(hd95) else hd95,
        "assd_mm_penalised": penalty if math.isnan(assd) else assd,
        "penalty_mm": penalty,
    })
    return row


def check_orthonormal_direction(direction: Sequence[float], tolerance: float = ORTHONORMAL_TOLERANCE) -> None:
    """Raise ``ValueError`` unless the 3x3 direction matrix (row-major) is orthonormal.

    Surface distances are computed in index space scaled by spacing; that equals the
    physical distance only when the direction matrix is a rotation (or reflection).
    """
    matrix = np.asarray(direction, float).reshape(3, 3)
    worst = float(np.max(np.abs(matrix.T @ matrix - np.eye(3))))
    if worst > tolerance:
        raise ValueError(
            f"direction matrix {matrix.round(6).tolist()} is not orthonormal (|D^T D - I| = {worst:.3g} "
            f"> {tolerance:g}); sheared grids are not supported: resample to an orthonormal grid first")


def mask_array(image, what: str = "mask") -> np.ndarray:
    """Boolean foreground (label 1) of a SimpleITK 0/1 mask in (z, y, x) order.

    Raises:
        ValueError: The mask holds values other than 0 and 1.
    """
    import SimpleITK as sitk

    array = sitk.GetArrayViewFromImage(image)
    values = np.unique(array)
    extra = [v for v in values.tolist() if v not in (0, 1)]
    if extra:
        raise ValueError(f"{what} holds values {extra[:5]} besides 0/1; expected a binary mask")
    return np.asarray(array == 1)


def case_metrics(ref_image, pred_image, nsd_tolerance_mm: float = DEFAULT_NSD_TOLERANCE_MM,
                 geometry_tolerance: float | None = None, case_id: str = "",
                 lesion_overlap_fraction: float = DEFAULT_LESION_OVERLAP_FRACTION,
                 lesions: list | None = None) -> dict[str, Any]:
    """One row of the segmentation metrics CSV from two SimpleITK mask images.

    Args:
        ref_image: Reference mask (0/1).
        pred_image: Predicted mask (0/1) on the same grid.
        nsd_tolerance_mm: Tolerance of the normalised surface Dice in mm.
        geometry_tolerance: Tolerance for the grid comparison (default
            ``nnunet_fm.image_io.GEOMETRY_TOLERANCE``).
        case_id: Written into the ``case_id`` column and error messages.
        lesion_overlap_fraction: Lesion detection threshold (:func:`lesion_counts`).
        lesions: If a list is given, the case's :func:`lesion_table` rows (with
            ``case_id``) are appended to it.

    Returns:
        Dict whose keys are exactly :data:`CSV_COLUMNS`.

    Raises:
        GeometryMismatchError: The prediction is not on the reference grid.
        ValueError: Non-orthonormal direction or non-binary mask.
    """
    from nnunet_fm.image_io import GEOMETRY_TOLERANCE, check_same_geometry, voxel_spacing_zyx

    label = f"case {case_id}: " if case_id else ""
    tolerance = GEOMETRY_TOLERANCE if geometry_tolerance is None else geometry_tolerance
    check_same_geometry(ref_image, pred_image, tolerance, what=f"{label}predicted mask")
    try:
        check_orthonormal_direction(ref_image.GetDirection())
    except ValueError as exc:
        raise ValueError(f"{label}reference mask: {exc}") from None
    ref = mask_array(ref_image, f"{label}reference mask")
    pred = mask_array(pred_image, f"{label}predicted mask")
    spacing = voxel_spacing_zyx(ref_image)
    row = {"case_id": case_id}
    row.update(mask_metrics(ref, pred, spacing, nsd_tolerance_mm, lesion_overlap_fraction))
    if lesions is not None:
        lesions.extend({"case_id": case_id, **lesion} for lesion in lesion_table(ref, pred, spacing,
                                                                                  lesion_overlap_fraction))
    return {column: row[column] for column in CSV_COLUMNS}
