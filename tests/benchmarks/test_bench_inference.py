"""The inference benchmark's checks and mask comparison (no timing asserts; no trained model)."""

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")

from benchmarks.bench_inference import compare_masks, main  # noqa: E402


def _write(path, array, spacing=(0.6, 0.6, 3.3)):
    image = sitk.GetImageFromArray(array.astype(np.uint8))
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))


def test_compare_masks_dice_and_geometry(tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    a = np.zeros((4, 8, 8), dtype=np.uint8)
    a[1:3, 2:6, 2:6] = 1  # 32 voxels
    b = a.copy()
    b[1, 2, 2] = 0  # 31 voxels, 31 shared
    _write(ours / "A.nii.gz", a)
    _write(theirs / "A.nii.gz", b)
    _write(ours / "B.nii.gz", np.zeros((4, 8, 8)))
    _write(theirs / "B.nii.gz", np.zeros((4, 8, 8)), spacing=(0.7, 0.6, 3.3))
    result = compare_masks(ours, theirs, {"A": [], "B": []})
    assert result["A"] == {"dice": pytest.approx(62 / 63), "same_geometry": True}
    assert result["B"] == {"dice": 1.0, "same_geometry": False}  # two empty masks agree; grids do not


@pytest.mark.parametrize("argv, message", [
    (["--repeats", "0"], "--repeats must be at least 1, got 0"),
    (["--max-cases", "0"], "--max-cases must be at least 1, got 0"),
])
def test_bad_options_are_one_line_before_any_work(tmp_path, argv, message):
    with pytest.raises(SystemExit) as stop:
        main(["--work", str(tmp_path / "nowhere"), *argv])
    assert str(stop.value) == message


def test_missing_models_name_the_folder(tmp_path):
    with pytest.raises(SystemExit) as stop:
        main(["--work", str(tmp_path)])
    assert str(tmp_path / "nnUNet_raw") in str(stop.value) and "bench_quick_profile" in str(stop.value)
