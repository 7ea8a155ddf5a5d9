"""FM shape features on hand-built masks with known answers."""

import math

import numpy as np
import pytest

from classifiers.shape_features import (
    FM_FEATURE_NAMES,
    FM_T1_NOTE_COLUMN,
    is_t1_sequence,
    estimate_joint_line_x,
    estimate_midline_x,
    fm_features,
    left_is_positive_x_from_direction,
)

SPACING = (4.0, 0.7, 0.7)  # z, y, x in mm
VOXEL_ML = 4.0 * 0.7 * 0.7 / 1000.0


def _pelvis(shape=(8, 40, 60), body_x=(5, 55)):
    """Uniform bright 'body' on a dark background; marrow 100, background 0."""
    image = np.zeros(shape, dtype=np.float32)
    image[:, :, body_x[0] : body_x[1]] = 100.0
    return image


def test_two_cubes_volume_count_balance():
    image = _pelvis()  # body x 5..54 -> midline 29.5
    mask = np.zeros(image.shape, dtype=np.uint8)
    mask[2:4, 10:13, 10:13] = 1  # 2*3*3 = 18 voxels at low x
    mask[2:5, 20:24, 40:44] = 1  # 3*4*4 = 48 voxels at high x
    out = fm_features(mask, image, SPACING, left_is_positive_x=True)
    assert out["mask_empty"] == 0
    assert out["fm_volume_ml"] == pytest.approx(66 * VOXEL_ML)
    assert out["fm_lesion_count"] == 2
    assert out["fm_largest_lesion_ml"] == pytest.approx(48 * VOXEL_ML)
    # x grows to the left: high-x cube (48) is left, low-x cube (18) is right.
    assert out["fm_left_ml"] == pytest.approx(48 * VOXEL_ML)
    assert out["fm_right_ml"] == pytest.approx(18 * VOXEL_ML)
    assert out["fm_lr_balance"] == pytest.approx((48 - 18) / 66)
    assert out["fm_bilateral"] == 1
    assert out["fm_slice_count"] == 3
    assert out["fm_slice_extent_mm"] == pytest.approx(12.0)
    assert set(FM_FEATURE_NAMES) <= set(out)


def test_direction_flips_left_right():
    image = _pelvis()
    mask = np.zeros(image.shape, dtype=np.uint8)
    mask[2, 10:12, 40:42] = 1
    assert fm_features(mask, image, SPACING, left_is_positive_x=True)["fm_lr_balance"] == pytest.approx(1.0)
    assert fm_features(mask, image, SPACING, left_is_positive_x=False)["fm_lr_balance"] == pytest.approx(-1.0)
    assert fm_features(mask, image, SPACING)["fm_bilateral"] == 0
    # LPS: +x physical is patient left; an identity direction has index x to the left.
    assert left_is_positive_x_from_direction((1, 0, 0, 0, 1, 0, 0, 0, 1))
    assert not left_is_positive_x_from_direction((-1, 0, 0, 0, -1, 0, 0, 0, 1))


def test_26_connectivity_counts_diagonal_voxels_as_one():
    image = _pelvis()
    mask = np.zeros(image.shape, dtype=np.uint8)
    mask[2, 10, 10] = 1
    mask[3, 11, 11] = 1  # corner neighbour: same lesion under 26-connectivity
    mask[2, 30, 20] = 1
    out = fm_features(mask, image, SPACING)
    assert out["fm_lesion_count"] == 2
    assert out["fm_largest_lesion_ml"] == pytest.approx(2 * VOXEL_ML)
    assert out["fm_slice_extent_mm"] == pytest.approx(8.0)


def test_midline_follows_off_centre_body():
    image = _pelvis(shape=(4, 20, 80), body_x=(30, 70))
    assert estimate_midline_x(image, image.shape) == pytest.approx(49.5)
    assert estimate_midline_x(None, image.shape) == pytest.approx(39.5)
    assert estimate_midline_x(np.zeros((2, 2, 9)), (2, 2, 9)) == pytest.approx(4.0)


def test_iliac_fraction_and_joint_line():
    image = _pelvis()  # midline 29.5
    # Dark joint spaces at x = 15 (low side) and x = 44 (high side).
    image[:, :, 15] = 10.0
    image[:, :, 44] = 10.0
    mask = np.zeros(image.shape, dtype=np.uint8)
    mask[3, 10:14, 11:14] = 1  # low side, lateral to x=15: iliac, 12 voxels
    mask[3, 10:14, 17:19] = 1  # low side, medial: sacral, 8 voxels
    mask[3, 20:24, 46:50] = 1  # high side, lateral to x=44: iliac, 16 voxels
    image[mask > 0] = 250.0
    low = mask.copy()
    low[:, :, 30:] = 0
    assert estimate_joint_line_x(image, low > 0, SPACING, 29.5, True, (5, 54)) == 15.0
    out = fm_features(mask, image, SPACING)
    assert out["fm_iliac_fraction"] == pytest.approx((12 + 16) / 36)
    assert out["fm_lesion_count"] == 3


def test_marrow_intensity_ratio_ignores_dark_shell_voxels():
    image = _pelvis()
    image[:, :, 28:31] = 5.0  # dark band (cortex) inside the shell region
    mask = np.zeros(image.shape, dtype=np.uint8)
    mask[3:5, 15:25, 20:26] = 1
    image[mask > 0] = 300.0
    out = fm_features(mask, image, SPACING)
    assert out["fm_marrow_intensity_ratio"] == pytest.approx(3.0)


def test_empty_mask_defined_values():
    image = _pelvis()
    out = fm_features(np.zeros(image.shape, dtype=np.uint8), image, SPACING)
    assert out["mask_empty"] == 1
    assert out["fm_volume_ml"] == 0.0
    assert out["fm_lesion_count"] == 0
    assert out["fm_largest_lesion_ml"] == 0.0
    assert out["fm_slice_count"] == 0
    assert out["fm_bilateral"] == 0
    for name in ("fm_lr_balance", "fm_iliac_fraction", "fm_marrow_intensity_ratio"):
        assert math.isnan(out[name])


def test_no_image_gives_nan_intensity_features_and_shape_errors():
    mask = np.zeros((4, 10, 10), dtype=bool)
    mask[1, 2:4, 2:4] = True
    out = fm_features(mask, None, SPACING)
    assert out["fm_volume_ml"] == pytest.approx(4 * VOXEL_ML)
    assert math.isnan(out["fm_iliac_fraction"]) and math.isnan(out["fm_marrow_intensity_ratio"])
    with pytest.raises(ValueError, match="shape"):
        fm_features(mask, np.zeros((4, 10, 11)), SPACING)
    with pytest.raises(ValueError, match="3-D"):
        fm_features(mask[0], None, SPACING)


def test_t1_only_features_are_nan_with_a_note_on_stir():
    image = _pelvis()
    image[:, :, 28:31] = 5.0
    mask = np.zeros(image.shape, dtype=np.uint8)
    mask[3:5, 15:25, 20:26] = 1
    image[mask > 0] = 300.0
    t1 = fm_features(mask, image, SPACING, sequence="T1")
    stir = fm_features(mask, image, SPACING, sequence="STIR")
    assert t1[FM_T1_NOTE_COLUMN] == ""
    assert t1["fm_marrow_intensity_ratio"] == pytest.approx(3.0)
    assert math.isfinite(t1["fm_iliac_fraction"])
    assert math.isnan(stir["fm_iliac_fraction"]) and math.isnan(stir["fm_marrow_intensity_ratio"])
    assert "need a T1 image" in stir[FM_T1_NOTE_COLUMN] and "'STIR'" in stir[FM_T1_NOTE_COLUMN]
    for name in FM_FEATURE_NAMES:  # everything else is unchanged by the sequence
        if name not in ("fm_iliac_fraction", "fm_marrow_intensity_ratio"):
            assert stir[name] == t1[name], name


@pytest.mark.parametrize("name, expected", [("T1", True), ("t1w", True), ("T1-weighted", True),
                                            ("STIR", False), ("T2", False), ("T1FS", False)])
def test_t1_sequence_names(name, expected):
    assert is_t1_sequence(name) is expected
