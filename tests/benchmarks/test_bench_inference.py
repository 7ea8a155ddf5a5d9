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
    (["--repeats", "0"], "argument --repeats: must be >= 1, got 0"),
    (["--max-cases", "-2"], "argument --max-cases: must be >= 1, got -2"),
    (["--repeats", "nan"], "argument --repeats: must be a whole number, got 'nan'"),
])
def test_bad_options_are_one_line_before_any_work(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        main(["--work", str(tmp_path / "nowhere"), *argv])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(message)


def test_read_only_output_folder_is_refused_before_any_work(tmp_path, capsys):
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("root can write into read-only folders")
        with pytest.raises(SystemExit):
            main(["--work", str(tmp_path / "nowhere"), "--out", str(locked / "inference.json")])
        assert f"folder {locked} is not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_missing_models_name_the_folder(tmp_path):
    with pytest.raises(SystemExit) as stop:
        main(["--work", str(tmp_path)])
    assert str(tmp_path / "nnUNet_raw") in str(stop.value) and "bench_quick_profile" in str(stop.value)


def test_untrained_fold_is_named_before_any_work(tmp_path):
    (tmp_path / "nnUNet_raw" / "Dataset501_SIJFM" / "imagesTs").mkdir(parents=True)
    _write(tmp_path / "nnUNet_raw" / "Dataset501_SIJFM" / "imagesTs" / "SIJ_1_0001_0000.nii.gz", np.zeros((4, 8, 8)))
    with pytest.raises(SystemExit) as stop:
        main(["--work", str(tmp_path), "--folds", "3"])
    assert str(stop.value).endswith("fold_3/checkpoint_final.pth is missing: train fold 3 first")
    assert not (tmp_path / "inference_bench").exists()
