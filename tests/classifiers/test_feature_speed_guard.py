"""Feature extraction: single-threaded workers and the guard on pyradiomics' 3-D shape class."""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
pytest.importorskip("radiomics")

from classifiers.feature_extraction import (  # noqa: E402
    SHAPE_NOTE_COLUMN,
    _single_thread_worker,
    _SingleThreaded,
    extract_case,
    extract_features,
    voxel_surface_faces,
)


def _write_case(folder, case_id: str, mask_array: np.ndarray, seed: int = 0):
    rng = np.random.default_rng(seed)
    image = rng.normal(300.0, 30.0, mask_array.shape).astype(np.float32) + 400.0 * mask_array
    img = sitk.GetImageFromArray(image)
    img.SetSpacing((0.595, 0.595, 3.3))
    msk = sitk.GetImageFromArray(mask_array.astype(np.uint8))
    msk.CopyInformation(img)
    (folder / "images").mkdir(exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    sitk.WriteImage(img, str(folder / "images" / f"{case_id}_0000.nii.gz"))
    sitk.WriteImage(msk, str(folder / "masks" / f"{case_id}.nii.gz"))
    return folder / "images" / f"{case_id}_0000.nii.gz", folder / "masks" / f"{case_id}.nii.gz"


def _block_mask(shape=(8, 40, 40)):
    mask = np.zeros(shape, np.uint8)
    mask[2:6, 10:25, 12:30] = 1  # 4 x 15 x 18 block
    return mask


def test_voxel_surface_faces_of_known_shapes():
    block = np.zeros((5, 6, 7), bool)
    block[1:3, 1:4, 1:5] = True  # 2 x 3 x 4
    assert voxel_surface_faces(block) == 2 * (2 * 3 + 3 * 4 + 2 * 4)
    assert voxel_surface_faces(np.ones((2, 2, 2), bool)) == 24  # faces on the array border count
    assert voxel_surface_faces(np.zeros((3, 3, 3), bool)) == 0
    checker = np.indices((4, 4, 4)).sum(axis=0) % 2 == 0  # fully fragmented: every face exposed
    assert voxel_surface_faces(checker) == 6 * int(checker.sum())


def test_shape_features_nan_with_reason_above_the_limit(tmp_path):
    image, mask = _write_case(tmp_path, "SIJ_0001", _block_mask())
    faces = 2 * (4 * 15 + 15 * 18 + 4 * 18)
    full = extract_case(image, mask, max_shape_surface_faces=None)
    capped = extract_case(image, mask, max_shape_surface_faces=faces - 1)
    at_limit = extract_case(image, mask, max_shape_surface_faces=faces)
    shape_names = [k for k in full if k.startswith("original_shape_")]
    assert shape_names and full[SHAPE_NOTE_COLUMN] == "" and at_limit[SHAPE_NOTE_COLUMN] == ""
    assert full["original_shape_VoxelVolume"] > 1000  # ~1.2 ml block after pyradiomics resampling
    assert all(name not in capped for name in shape_names)
    assert f"{faces} voxel faces > limit {faces - 1}" in capped[SHAPE_NOTE_COLUMN]
    # Everything else is unchanged.
    assert capped["original_firstorder_Mean"] == full["original_firstorder_Mean"]
    assert capped["fm_volume_ml"] == full["fm_volume_ml"]


def test_table_marks_the_guarded_case_only(tmp_path):
    _write_case(tmp_path, "SIJ_0001", _block_mask())
    fragmented = (np.random.default_rng(1).random((8, 40, 40)) < 0.2).astype(np.uint8)
    _write_case(tmp_path, "SIJ_0002", fragmented, seed=1)
    table = extract_features(tmp_path / "images", tmp_path / "masks", jobs=1, max_shape_surface_faces=2000)
    by_case = table.set_index("case_id")
    assert by_case.loc["SIJ_0001", SHAPE_NOTE_COLUMN] == ""
    assert "limit 2000" in by_case.loc["SIJ_0002", SHAPE_NOTE_COLUMN]
    assert not math.isnan(by_case.loc["SIJ_0001", "original_shape_VoxelVolume"])
    assert math.isnan(by_case.loc["SIJ_0002", "original_shape_VoxelVolume"])
    assert not math.isnan(by_case.loc["SIJ_0002", "original_firstorder_Mean"])
    assert (table["error"] == "").all()
    with pytest.raises(ValueError, match="max_shape_surface_faces"):
        extract_features(tmp_path / "images", tmp_path / "masks", jobs=1, max_shape_surface_faces=0)


def _thread_counts():
    from threadpoolctl import threadpool_info

    return sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(), [p["num_threads"] for p in threadpool_info()]


def test_workers_run_single_threaded():
    with ProcessPoolExecutor(1, initializer=_single_thread_worker) as pool:
        itk_threads, pools = pool.submit(_thread_counts).result()
    assert itk_threads == 1
    assert all(n == 1 for n in pools)


def test_in_process_limits_are_restored():
    before = _thread_counts()
    with _SingleThreaded():
        itk_threads, pools = _thread_counts()
        assert itk_threads == 1 and all(n == 1 for n in pools)
    assert _thread_counts() == before
