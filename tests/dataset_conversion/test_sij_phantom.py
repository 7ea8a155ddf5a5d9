"""The analytic SIJ phantom: geometry, contrast, labels and determinism."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import binary_dilation, binary_erosion

from dataset_conversion.sij_phantom import (
    Lesion, Mimic, PhantomParams, ScannerParams, direction_matrix, make_phantom, tilt_from_coronal_deg,
)

LEFT_ILIAC = Lesion(side=1, bone="ilium", pos=0.4, z_mm=0.0, half_length_mm=10.0, depth_mm=5.0,
                    half_z_mm=6.0, edge_mm=0.6, heterogeneity=0.1)
RIGHT_SACRAL = Lesion(side=-1, bone="sacrum", pos=0.6, z_mm=4.0, half_length_mm=8.0, depth_mm=4.0,
                      half_z_mm=5.0, edge_mm=1.5, heterogeneity=0.5)
ISLAND = Mimic("fatty_island", side=-1, bone="ilium", pos=0.3, z_mm=0.0, depth_mm=12.0, radius_mm=4.0,
               brightness=0.95, heterogeneity=0.1)


def _params(lesions=(LEFT_ILIAC, RIGHT_SACRAL), mimics=(), **scanner) -> PhantomParams:
    return PhantomParams(scanner=ScannerParams(**scanner), lesions=tuple(lesions), mimics=tuple(mimics))


@pytest.fixture(scope="module")
def rendered():
    return make_phantom(_params(mimics=(ISLAND,)), np.random.default_rng(13))


def test_shapes_types_and_anisotropic_spacing(rendered):
    image, mask, spacing, direction, origin = rendered
    assert image.dtype == np.float32 and mask.dtype == np.uint8
    assert image.shape == mask.shape == (16, 160, 192)  # (z, y, x)
    assert set(np.unique(mask)) == {0, 1}
    assert spacing == (0.7, 0.7, 4.0)
    assert spacing[2] / spacing[0] > 4
    assert len(direction) == 9 and len(origin) == 3


def test_direction_is_oblique_orthonormal_and_x_is_left_right(rendered):
    direction = np.asarray(rendered[3]).reshape(3, 3)
    np.testing.assert_allclose(direction.T @ direction, np.eye(3), atol=1e-12)
    assert np.linalg.det(direction) == pytest.approx(1.0)
    assert tilt_from_coronal_deg(direction) == pytest.approx(30.0, abs=1e-9)
    assert direction[0, 0] > 0.99  # first index axis runs to patient left
    for tilt in (20.0, 50.0):
        assert tilt_from_coronal_deg(direction_matrix(tilt)) == pytest.approx(tilt)
    tilted = direction_matrix(35.0, roll_deg=3.0, yaw_deg=-2.0)
    assert 30.0 < tilt_from_coronal_deg(tilted) < 40.0


def test_origin_puts_the_volume_centre_at_the_requested_point(rendered):
    image, _, spacing, direction, origin = rendered
    d = np.asarray(direction).reshape(3, 3)
    centre_index = (np.array(image.shape[::-1]) - 1) / 2
    centre = np.asarray(origin) + d @ (centre_index * np.asarray(spacing))
    np.testing.assert_allclose(centre, ScannerParams().center_lps, atol=1e-9)


def test_intensities_look_like_t1_mri(rendered):
    image, mask = rendered[0], rendered[1]
    assert image.min() >= 0
    assert 1000 < np.percentile(image, 99.5) < 2500  # fat; fits int16 comfortably
    outside = image[:, 75:85, :3]  # beyond the body outline at the lateral edge of the field of view
    assert outside.mean() < 150  # Rician background, no signal


def test_fm_is_brighter_than_surrounding_marrow(rendered):
    image, mask = rendered[0], rendered[1].astype(bool)
    ring = binary_dilation(mask, iterations=5) & ~binary_dilation(mask, iterations=2)
    marrow_like = ring & (image > 600) & (image < 1100)  # marrow, not cortex or joint
    assert marrow_like.sum() > 100
    assert image[mask].mean() > image[marrow_like].mean() + 200


def test_lesions_sit_on_their_side_and_along_the_joint(rendered):
    mask = rendered[1]
    nx = mask.shape[2]
    left = mask[:, :, nx // 2:].sum()
    right = mask[:, :, : nx // 2].sum()
    assert left > 0 and right > 0
    only_left = make_phantom(_params(lesions=(LEFT_ILIAC,)), np.random.default_rng(13))[1]
    assert only_left[:, :, : nx // 2].sum() == 0 and only_left.sum() > 100
    # the lesion spans a few thick slices around z = 0 (the middle)
    slices = np.nonzero(only_left.sum(axis=(1, 2)))[0]
    assert 2 <= len(slices) <= 5 and slices.min() <= 8 <= slices.max()


def test_mimics_are_bright_but_never_labelled():
    with_mimic = make_phantom(_params(mimics=(ISLAND,)), np.random.default_rng(3))
    without = make_phantom(_params(mimics=()), np.random.default_rng(3))
    np.testing.assert_array_equal(with_mimic[1], without[1])
    brighter = with_mimic[0] - without[0]
    assert brighter.max() > 250  # the island is fat-bright
    assert not (with_mimic[1].astype(bool) & (brighter > 100)).any()


def test_same_rng_seed_gives_identical_arrays():
    a = make_phantom(_params(), np.random.default_rng(11))
    b = make_phantom(_params(), np.random.default_rng(11))
    c = make_phantom(_params(), np.random.default_rng(12))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_no_lesions_gives_an_empty_mask_and_scanner_settings_apply():
    image, mask, spacing, _, _ = make_phantom(
        _params(lesions=(), pixel_mm=0.8, slice_mm=3.5, nx=176, ny=144, n_slices=12), np.random.default_rng(0))
    assert mask.sum() == 0
    assert image.shape == (12, 144, 176)
    assert spacing == (0.8, 0.8, 3.5)


def _clean(lesion: Lesion, psf_sigma_px: float = 0.5):
    """Noise-free, bias-free render of one lesion, plus the same patient without it."""
    scanner = dict(noise_sigma=0.0, bias_strength=0.0, psf_sigma_px=psf_sigma_px)
    with_lesion = make_phantom(_params(lesions=(lesion,), **scanner), np.random.default_rng(12))
    without = make_phantom(_params(lesions=(), **scanner), np.random.default_rng(12))
    return with_lesion[0], without[0], with_lesion[1].astype(bool)


def test_lesion_border_is_a_graded_profile_not_a_step():
    blurred = Lesion(side=1, bone="ilium", pos=0.4, z_mm=0.0, half_length_mm=10.0, depth_mm=6.0,
                     half_z_mm=6.0, edge_mm=2.0, heterogeneity=0.0)
    image, baseline, mask = _clean(blurred)
    contrast = image - baseline  # FM signal only
    z = 8  # middle slice, through the lesion centre
    row = int(np.argmax(mask[z].sum(axis=1)))
    profile = contrast[z, row] / contrast[z, row].max()
    inside = np.nonzero(mask[z, row])[0]
    deep_end = inside.max()  # the border deep in the iliac marrow (lesion grows laterally from the plate)
    across = profile[deep_end - 4: deep_end + 6]
    assert ((across > 0.1) & (across < 0.9)).sum() >= 4  # several intermediate values
    assert np.max(np.abs(np.diff(across))) < 0.35  # no jump at the mask boundary
    # the step of v1 (fat fraction >= 0.55 inside, <= 0.45 outside the mask) is gone:
    # just outside the mask there is still clearly raised (partial-volume) FM signal
    assert profile[deep_end + 1] > 0.2 and profile[deep_end] < 0.8


def test_mask_is_the_half_maximum_contour_of_the_lesion_signal():
    lesion = Lesion(side=-1, bone="ilium", pos=0.5, z_mm=0.0, half_length_mm=12.0, depth_mm=6.0,
                    half_z_mm=7.0, edge_mm=1.5, heterogeneity=0.0)
    image, baseline, mask = _clean(lesion, psf_sigma_px=0.0)
    fm_gain = (image - baseline) / np.maximum(1350.0 * 0.95 - baseline, 1.0)  # ~fat fraction
    ring_out = binary_dilation(mask) & ~mask & (baseline > 500)  # marrow just outside
    assert (fm_gain[mask] > 0.45).mean() > 0.95
    assert (fm_gain[ring_out] < 0.55).mean() > 0.95
    assert 0.05 < np.median(fm_gain[ring_out]) < 0.5  # graded, not zero
    # no gap in the fat fraction around one half: v1 clipped to >= 0.55 inside and <= 0.45
    # outside, which left no border voxel in between (a hidden intensity step on the mask)
    band = (binary_dilation(mask) & ~binary_erosion(mask)) & (baseline > 500)
    assert ((fm_gain[band] > 0.47) & (fm_gain[band] < 0.53)).mean() > 0.01
