"""nnU-Net's integrity check on a pool that fails loudly instead of hanging."""

from __future__ import annotations

import json
import os
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
pytest.importorskip("nnunetv2")

from nnunet_fm.nnunet.integrity import StarmapPool, pool_swapped, verify_dataset  # noqa: E402


def tiny_dataset(root, n_cases: int = 3, bad_label_case: int | None = None):
    """An nnU-Net raw folder of ``n_cases`` 1-channel cases; one mask may hold label 2."""
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True)
    for i in range(n_cases):
        image = sitk.GetImageFromArray(np.full((4, 6, 5), 100.0 + i, np.float32))
        image.SetSpacing((0.6, 0.6, 3.3))
        mask = np.zeros((4, 6, 5), np.uint8)
        mask[1:3, 2:4, 1:3] = 2 if i == bad_label_case else 1
        label = sitk.GetImageFromArray(mask)
        label.CopyInformation(image)
        sitk.WriteImage(image, str(root / "imagesTr" / f"SIJ_{i:04d}_0000.nii.gz"))
        sitk.WriteImage(label, str(root / "labelsTr" / f"SIJ_{i:04d}.nii.gz"))
    (root / "dataset.json").write_text(json.dumps({
        "channel_names": {"0": "T1"}, "labels": {"background": 0, "fm": 1},
        "numTraining": n_cases, "file_ending": ".nii.gz"}), encoding="utf-8")
    return root


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_good_dataset_passes_and_the_module_is_restored(tmp_path, jobs):
    from nnunetv2.experiment_planning import verify_dataset_integrity as nnunet_verify

    original = nnunet_verify.multiprocessing
    verify_dataset(str(tiny_dataset(tmp_path)), jobs)
    assert nnunet_verify.multiprocessing is original


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_unexpected_label_is_nnunets_own_error(tmp_path, jobs):
    from nnunetv2.experiment_planning import verify_dataset_integrity as nnunet_verify

    original = nnunet_verify.multiprocessing
    with pytest.raises(RuntimeError, match="unexpected labels"):
        verify_dataset(str(tiny_dataset(tmp_path, bad_label_case=1)), jobs)
    assert nnunet_verify.multiprocessing is original


def test_one_process_runs_here_without_a_pool(monkeypatch):
    import concurrent.futures

    def no_pool(*args, **kwargs):
        raise AssertionError("a process pool was started for one process")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_pool)
    with pytest.raises(AssertionError, match="pool was started"):  # the guard itself works
        StarmapPool(2).starmap(divmod, [(7, 2), (9, 4)])
    assert StarmapPool(1).starmap(divmod, [(7, 2), (9, 4)]) == [(3, 1), (2, 1)]
    assert StarmapPool(None).starmap(divmod, []) == []


def test_a_dead_worker_is_an_error_not_a_wait():
    """multiprocessing.Pool would wait for ever here; the swapped pool raises at once."""
    with pytest.raises(BrokenProcessPool):
        StarmapPool(2).starmap(os._exit, [(3,), (3,)])


def test_a_module_without_multiprocessing_is_refused():
    module = type("FakeModule", (), {"__name__": "nnunetv2.fake"})()
    with pytest.raises(RuntimeError, match="no longer uses multiprocessing"):
        with pool_swapped(module):
            pass
