"""SIMULATED readers for the reader study on the synthetic cohort.

Everything this module produces is SIMULATED: no human read these images. It stands in
for the paper's reader study (a resident and an expert segmenting FM without and with
the model's mask) so that the reader-study statistics can be exercised end to end and
the published pattern (resident 75.7% -> 82.9% DSC with the model, p < 0.05; expert
85.0% -> 85.7%, p > 0.05) can be checked for plausibility, not reproduced.

Perturbation model (all distances in mm on the anisotropic grid; ``sdf`` = signed
distance to the mask surface, negative inside, from exact Euclidean distance transforms
with ``sampling=spacing``):

1. Boundary error. A reader's perceived outline is ``sdf_ref - (b + s) < 0`` where
   ``b ~ N(0, bias_sd_mm)`` is one case-wide erosion (< 0) or dilation (> 0) and ``s`` is a
   smooth random displacement field: white noise smoothed with a Gaussian of
   ``correlation_mm`` (per-axis sigma = correlation_mm / spacing), scaled to SD
   ``boundary_sd_mm``.
2. Missed lesions. Each 26-connected reference lesion smaller than ``small_lesion_ml`` is
   missed with probability ``miss_small``, a larger one with ``miss_large``.
3. False positives. ``Poisson(fp_rate)`` extra blobs (ellipsoids of in-plane radius
   ``fp_radius_mm`` spanning one slice) near the reference lesions (inside the
   reference's bounding box grown by 10 mm in-plane), never touching a lesion.
4. Assisted reading starts from the model's mask and corrects it with the reader's
   ``diligence`` d: the boundary becomes ``(1 - d) sdf_model + d sdf_perceived`` (the
   reader's own noisy outline of step 1); each model lesion that touches no reference
   lesion is deleted with probability d; each reference lesion the model missed is
   added (as the reader perceives it) with probability d x (1 - miss probability).
   Own false positives drop to ``assisted_fp_factor`` x ``fp_rate``.

Skill profiles (:func:`reader_profile`): the resident has larger boundary error
(bias SD 0.6 mm, displacement SD 1.3 mm vs 0.5 / 1.1 mm), misses more small lesions
(35% vs 8% of lesions < 0.3 ml), adds more blobs (0.8 vs 0.15 per case) and is less
diligent (0.3 vs 0.8) than the expert. Calibration on ellipsoidal FM-like lesions
(0.7 x 0.7 x 4 mm, 12 cases, model masks of mean DSC 0.81): resident 0.74 -> 0.85,
expert 0.86 -> 0.87, i.e. roughly the paper's pattern (the resident gains several DSC
points with assistance, the expert about none). Absolute values depend on lesion sizes.

Every random draw comes from the ``numpy.random.Generator`` passed in, in a fixed order,
so a seed gives one result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
from scipy import ndimage

#: Skills a simulated reader can have.
SKILLS = ("resident", "expert")

# Signed distances are exact up to this far from a mask (boundary moves stay well below).
_SDF_MARGIN_MM = 12.0


@dataclass(frozen=True)
class ReaderProfile:
    """Parameters of a simulated reader (see the module docstring for their roles)."""

    bias_sd_mm: float
    boundary_sd_mm: float
    correlation_mm: float
    small_lesion_ml: float
    miss_small: float
    miss_large: float
    fp_rate: float
    fp_radius_mm: float
    diligence: float
    assisted_fp_factor: float = 0.3


def reader_profile(skill: str) -> ReaderProfile:
    """The profile of a ``"resident"`` or an ``"expert"``."""
    if skill == "resident":
        return ReaderProfile(bias_sd_mm=0.6, boundary_sd_mm=1.3, correlation_mm=5.0, small_lesion_ml=0.3,
                             miss_small=0.35, miss_large=0.03, fp_rate=0.8, fp_radius_mm=2.5, diligence=0.3)
    if skill == "expert":
        return ReaderProfile(bias_sd_mm=0.5, boundary_sd_mm=1.1, correlation_mm=5.0, small_lesion_ml=0.3,
                             miss_small=0.08, miss_large=0.0, fp_rate=0.15, fp_radius_mm=2.5, diligence=0.8)
    raise ValueError(f"unknown reader skill '{skill}'; expected one of {SKILLS}")


def signed_distance_mm(mask: np.ndarray, spacing_mm: Sequence[float], margin_mm: float | None = None) -> np.ndarray:
    """Signed distance to the mask (negative inside, positive outside) in mm.

    Args:
        mask: Boolean mask.
        spacing_mm: Voxel spacing in mm.
        margin_mm: If given, distances are computed only in the mask's bounding box grown
            by this margin (exact there) and set to ``+inf`` outside it: enough wherever
            boundary displacements stay below the margin, and much faster.

    An empty mask gives ``+inf`` everywhere; a full one ``-inf``.
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        return np.full(mask.shape, np.inf)
    window = tuple(slice(0, n) for n in mask.shape)
    if margin_mm is not None:
        idx = np.argwhere(mask)
        grow = np.ceil(margin_mm / np.asarray(spacing_mm, float)).astype(int) + 1
        lo = np.maximum(idx.min(axis=0) - grow, 0)
        hi = np.minimum(idx.max(axis=0) + grow + 1, mask.shape)
        window = tuple(slice(a, b) for a, b in zip(lo, hi))
    crop = mask[window]
    if crop.all():
        inner = np.full(crop.shape, -np.inf)
    else:
        outside = ndimage.distance_transform_edt(~crop, sampling=spacing_mm)
        inside = ndimage.distance_transform_edt(crop, sampling=spacing_mm)
        inner = np.where(crop, -inside, outside)
    result = np.full(mask.shape, np.inf)
    result[window] = inner
    return result


def smooth_field(shape: Sequence[int], spacing_mm: Sequence[float], correlation_mm: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Gaussian random field with unit SD and a correlation length in mm."""
    noise = rng.standard_normal(tuple(shape))
    sigma = [correlation_mm / float(s) for s in spacing_mm]
    field = ndimage.gaussian_filter(noise, sigma, mode="reflect")
    sd = float(field.std())
    return field / sd if sd > 0 else field


def perceived_sdf(reference: np.ndarray, spacing_mm: Sequence[float], bias_sd_mm: float, boundary_sd_mm: float,
                  correlation_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Signed distance of a reader's outline: the reference's, shifted by bias + smooth field."""
    bias = float(rng.normal(0.0, bias_sd_mm)) if bias_sd_mm > 0 else 0.0
    field = smooth_field(reference.shape, spacing_mm, correlation_mm, rng) * boundary_sd_mm
    return signed_distance_mm(reference, spacing_mm, _SDF_MARGIN_MM) - (bias + field)


def perturb_boundary(mask: np.ndarray, spacing_mm: Sequence[float], bias_sd_mm: float, boundary_sd_mm: float,
                     correlation_mm: float, rng: np.random.Generator) -> np.ndarray:
    """The mask with random erosion/dilation and smooth boundary displacement (step 1)."""
    return perceived_sdf(mask, spacing_mm, bias_sd_mm, boundary_sd_mm, correlation_mm, rng) < 0


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))  # 26-connected
    return labels, int(n)


def _region(component: np.ndarray, spacing_mm: Sequence[float], margin_mm: float = 3.0) -> np.ndarray:
    """The component grown by ``margin_mm``: where a reader's edit of that lesion acts."""
    return signed_distance_mm(component, spacing_mm, margin_mm) <= margin_mm


def _false_positive_blobs(reference: np.ndarray, spacing_mm: Sequence[float], rate: float, radius_mm: float,
                          rng: np.random.Generator) -> np.ndarray:
    blobs = np.zeros(reference.shape, bool)
    count = int(rng.poisson(rate)) if rate > 0 else 0
    if count == 0:
        return blobs
    spacing = np.asarray(spacing_mm, float)
    if reference.any():
        idx = np.argwhere(reference)
        grow = np.ceil(np.array([0.0, 10.0, 10.0]) / spacing).astype(int)
        lo = np.maximum(idx.min(axis=0) - grow, 0)
        hi = np.minimum(idx.max(axis=0) + grow, np.array(reference.shape) - 1)
    else:
        lo, hi = np.zeros(3, int), np.array(reference.shape) - 1
    keep_out = signed_distance_mm(reference, spacing, radius_mm + 1.0) <= radius_mm + 1.0
    grids = np.ogrid[tuple(slice(0, n) for n in reference.shape)]
    for _ in range(count):
        centre = [int(rng.integers(l, h + 1)) for l, h in zip(lo, hi)]
        blob = ((grids[0] == centre[0])
                & (((grids[1] - centre[1]) * spacing[1]) ** 2 + ((grids[2] - centre[2]) * spacing[2]) ** 2
                   <= radius_mm ** 2))
        if not (blob & keep_out).any():
            blobs |= blob
    return blobs


def simulate_reader_mask(reference: np.ndarray, model_mask: np.ndarray | None, spacing_mm: Sequence[float],
                         skill: str, assisted: bool, rng: np.random.Generator,
                         profile: ReaderProfile | None = None) -> np.ndarray:
    """A SIMULATED reader's FM mask for one case.

    Args:
        reference: Reference mask (z, y, x), boolean.
        model_mask: The model's mask on the same grid (needed when ``assisted``).
        spacing_mm: Voxel spacing (z, y, x) in mm.
        skill: ``"resident"`` or ``"expert"``.
        assisted: Read with the model's mask as the starting point.
        rng: Source of every random draw.
        profile: Overrides the skill's :func:`reader_profile`.

    Returns:
        Boolean mask, same shape as ``reference``.
    """
    reference = np.asarray(reference, bool)
    p = profile or reader_profile(skill)
    if assisted and model_mask is None:
        raise ValueError("an assisted reader needs the model's mask")
    spacing = tuple(float(s) for s in spacing_mm)
    voxel_ml = math.prod(spacing) / 1000.0
    sdf_seen = perceived_sdf(reference, spacing, p.bias_sd_mm, p.boundary_sd_mm, p.correlation_mm, rng)
    seen = sdf_seen < 0
    ref_labels, n_ref = _components(reference)
    missed = []
    for lesion in range(1, n_ref + 1):
        component = ref_labels == lesion
        small = component.sum() * voxel_ml < p.small_lesion_ml
        missed.append(bool(rng.random() < (p.miss_small if small else p.miss_large)))
    if not assisted:
        mask = seen.copy()
        for lesion, is_missed in enumerate(missed, start=1):
            if is_missed:
                mask &= ~_region(ref_labels == lesion, spacing)
        return mask | _false_positive_blobs(reference, spacing, p.fp_rate, p.fp_radius_mm, rng)

    model_mask = np.asarray(model_mask, bool)
    if model_mask.shape != reference.shape:
        raise ValueError(f"model mask shape {model_mask.shape} != reference shape {reference.shape}")
    sdf_model = signed_distance_mm(model_mask, spacing, _SDF_MARGIN_MM)
    d = p.diligence
    with np.errstate(invalid="ignore"):  # inf - inf where both masks are empty
        blended = np.where(np.isfinite(sdf_model), (1.0 - d) * sdf_model + d * sdf_seen, sdf_seen)
    mask = np.nan_to_num(blended, nan=np.inf) < 0
    # Lesions only the model has: the blend cannot create these, so keep what the model drew.
    model_labels, n_model = _components(model_mask)
    for lesion in range(1, n_model + 1):
        component = model_labels == lesion
        if not (component & reference).any():
            region = _region(component, spacing)
            mask &= ~region
            if rng.random() >= d:  # not noticed: the false positive stays as drawn
                mask |= component
    for lesion, is_missed in enumerate(missed, start=1):
        component = ref_labels == lesion
        if (component & model_mask).any():
            continue
        region = _region(component, spacing)
        mask &= ~region
        if not is_missed and rng.random() < d:
            mask |= seen & region
    fp = _false_positive_blobs(reference, spacing, p.fp_rate * p.assisted_fp_factor, p.fp_radius_mm, rng)
    return mask | fp


def with_profile(skill: str, **changes) -> ReaderProfile:
    """A skill's profile with some parameters changed (for sensitivity runs)."""
    return replace(reader_profile(skill), **changes)
