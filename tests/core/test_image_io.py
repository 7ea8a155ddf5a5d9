from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_fm.image_io import (
    Geometry, GeometryMismatchError, ImageReadError, align_mask_to_image, check_same_geometry,
    read_image, strip_volume_suffix, voxel_spacing_zyx, write_image,
)
from tests.conftest import make_image, oblique_direction


def test_nifti_round_trip_keeps_oblique_geometry(tmp_path):
    array = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    image = make_image(array, spacing=(0.7, 0.8, 4.0), direction=oblique_direction(37))
    write_image(image, tmp_path / "a.nii.gz")
    back = read_image(tmp_path / "a.nii.gz")
    assert Geometry.of(back).differences(Geometry.of(image), 1e-6) == []
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), array)
    assert voxel_spacing_zyx(back) == pytest.approx((4.0, 0.8, 0.7))


def test_dicom_series_is_sorted_by_position_not_name(tmp_path):
    array = (np.arange(5)[:, None, None] * 100 + np.zeros((5, 6, 7))).astype(np.int16)
    image = make_image(array, spacing=(0.8, 0.8, 3.5), direction=oblique_direction(25))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    names = ["e", "c", "a", "d", "b"]  # file order differs from slice order
    for k in range(5):
        s = image[:, :, k]
        s.SetMetaData("0008|0060", "MR")
        s.SetMetaData("0020|000e", "1.2.826.0.1.3680043.2.1125.1")
        s.SetMetaData("0020|0037", "\\".join(f"{v:.6f}" for v in (image.GetDirection()[0], image.GetDirection()[3], image.GetDirection()[6], image.GetDirection()[1], image.GetDirection()[4], image.GetDirection()[7])))
        s.SetMetaData("0020|0032", "\\".join(f"{v:.6f}" for v in image.TransformIndexToPhysicalPoint((0, 0, k))))
        s.SetMetaData("0020|0013", str(k + 1))
        writer.SetFileName(str(tmp_path / f"{names[k]}.dcm"))
        writer.Execute(s)
    back = read_image(tmp_path)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back)[:, 0, 0], [0, 100, 200, 300, 400])
    assert back.GetSpacing()[2] == pytest.approx(3.5, abs=1e-4)
    assert np.allclose(back.GetDirection(), image.GetDirection(), atol=1e-5)


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(ImageReadError, match="does not exist"):
        read_image(tmp_path / "missing.nii.gz")
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not an image")
    with pytest.raises(ImageReadError, match="cannot read"):
        read_image(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageReadError, match="no DICOM series"):
        read_image(tmp_path / "empty")
    sitk.WriteImage(sitk.Image(4, 4, sitk.sitkUInt8), str(tmp_path / "flat.nii.gz"))
    with pytest.raises(ImageReadError, match="2-D"):
        read_image(tmp_path / "flat.nii.gz")


def test_geometry_tolerance_accepts_float_noise_and_rejects_real_shifts():
    image = make_image(np.zeros((3, 4, 5), np.float32))
    noisy = make_image(np.zeros((3, 4, 5), np.uint8), direction=tuple(v + 3e-5 for v in oblique_direction()))
    aligned = align_mask_to_image(image, noisy)
    assert aligned.GetDirection() == image.GetDirection()
    shifted = make_image(np.zeros((3, 4, 5), np.uint8), origin=(-50.0, 20.5, 10.0))
    with pytest.raises(GeometryMismatchError, match="origin differs by 0.5"):
        check_same_geometry(image, shifted)
    smaller = make_image(np.zeros((3, 4, 4), np.uint8))
    with pytest.raises(GeometryMismatchError, match="size"):
        check_same_geometry(image, smaller)


def test_strip_volume_suffix():
    assert [strip_volume_suffix(n) for n in ("a.nii.gz", "b.nii", "c.mha", "d.nrrd", "e.txt")] == ["a", "b", "c", "d", "e.txt"]


def test_real_sample_mask_needs_the_stated_tolerance(real_sample):
    image = read_image(real_sample / "1013" / "t1w.nii.gz", sitk.sitkFloat32)
    mask = read_image(real_sample / "1013" / "inflammation_stir_R11.nii.gz")
    assert image.GetSize() == (336, 336, 25)
    assert image.GetSpacing() == pytest.approx((0.595, 0.595, 3.3), abs=1e-3)
    worst = np.max(np.abs(np.subtract(image.GetDirection(), mask.GetDirection())))
    assert 1e-6 < worst < 1e-4  # SimpleITK's default would refuse, our tolerance accepts
    aligned = align_mask_to_image(image, mask)
    product = sitk.Cast(aligned, sitk.sitkFloat32) * image  # fails without alignment
    assert sitk.GetArrayViewFromImage(product).max() > 0


def test_geometry_messages_give_units_and_the_option_to_change():
    image = make_image(np.zeros((3, 4, 5), np.float32))
    shifted = make_image(np.zeros((3, 4, 5), np.uint8), origin=(-50.0036, 20.0, 10.0))
    with pytest.raises(GeometryMismatchError) as info:
        check_same_geometry(image, shifted, what="mask m.nii.gz")
    message = str(info.value)
    assert "mask m.nii.gz" in message and "origin differs by 0.0036 mm (> tolerance 0.0001 mm" in message
    assert "--geometry-tolerance" in message and "conversion.geometry_tolerance" in message
    rotated = make_image(np.zeros((3, 4, 5), np.uint8), direction=oblique_direction(30.5))
    with pytest.raises(GeometryMismatchError, match=r"direction differs by 0\.5 degrees"):
        check_same_geometry(image, rotated)


@pytest.mark.parametrize("tolerance", [float("nan"), float("inf"), -1e-4])
def test_non_finite_or_negative_tolerance_is_refused(tolerance):
    image = make_image(np.zeros((3, 4, 5), np.float32))
    with pytest.raises(ValueError, match="geometry tolerance must be a finite number"):
        check_same_geometry(image, image, tolerance)


def test_nan_in_a_geometry_is_a_difference():
    identity = tuple(np.eye(3).ravel())
    ours = Geometry((5, 4, 3), (0.7, 0.7, 4.0), (0.0, 0.0, 0.0), identity)
    theirs = Geometry((5, 4, 3), (0.7, float("nan"), 4.0), (0.0, 0.0, 0.0), identity)
    assert ours.differences(theirs) == ["spacing differs by nan mm (> tolerance 0.0001 mm)"]


def test_truncated_gzip_nifti_is_refused_not_zero_filled(tmp_path):
    # SimpleITK alone returns this file with the missing half as zeros.
    array = (np.arange(18 * 20 * 22) % 200 + 1).astype(np.int16).reshape(18, 20, 22)
    path = tmp_path / "cut.nii.gz"
    write_image(make_image(array), path)
    path.write_bytes(path.read_bytes()[:-40])
    assert (sitk.GetArrayFromImage(sitk.ReadImage(str(path))) == 0).any()
    with pytest.raises(ImageReadError, match="cut.nii.gz.*truncated"):
        read_image(path)


def test_header_voxel_count_is_checked_before_reading(tmp_path):
    path = tmp_path / "big.nrrd"
    write_image(make_image(np.zeros((10, 10, 10), np.uint8)), path)
    with pytest.raises(ImageReadError, match=r"big.nrrd: header declares 10x10x10 = 1,000 voxels.*limit of 999"):
        read_image(path, max_voxels=999)
