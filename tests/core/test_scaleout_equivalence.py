"""Issue 12 acceptance: the stages on a real 2-worker Dask LocalCluster give the local path's outputs.

One module-scoped ``LocalCluster`` (2 worker processes, one thread each, started by
:func:`nnunet_fm.cluster.open_client`) runs evaluation, feature extraction, a tiny
2-fold nnU-Net training and prediction. Evaluation and features must give the same CSV
bytes as the local path; prediction with the same trained models the same masks; a
worker killed mid-task is replaced, its task reruns and the stage output is unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

from nnunet_fm.cluster import ClusterConfig, open_client  # noqa: E402 - after the importorskip

# ----------------------------------------------------------------- tasks that kill their worker once


def _evaluate_or_die_once(task: tuple, marker: str, victim: str):
    """Like ``seg_evaluation._evaluate_star``, but the first attempt of case ``victim`` kills its worker."""
    from nnunet_fm.seg_evaluation import evaluate_case_with_lesions

    if task[0] == victim and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os._exit(1)
    return evaluate_case_with_lesions(*task)


def _train_fold_or_die_once(fold: int, marker: str, victim: int, **kwargs):
    """Like ``training.train_fold_task``; the first attempt of fold ``victim`` trains one epoch, leaves
    ``checkpoint_latest.pth`` as an interrupted run would, then kills its worker."""
    from nnunet_fm.nnunet import training

    if fold == victim and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        result = training.train_fold_task(fold, **{**kwargs, "profile": replace(kwargs["profile"], num_epochs=1)})
        result.checkpoint.rename(result.checkpoint.with_name(training.LATEST_CHECKPOINT))
        os._exit(1)
    return training.train_fold_task(fold, **kwargs)


# ----------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def client():
    config = ClusterConfig(scheduler="local", n_workers=2, dashboard=False, worker_memory_limit="0")
    with open_client(config) as dask_client:
        yield dask_client


def _write_mask_pairs(folder: Path, n_cases: int = 4) -> tuple[Path, Path, Path]:
    """Images, reference masks and predicted masks: 20 oblique slices at 0.6 x 0.6 x 3.3 mm.

    Case 2's prediction is empty and case 3 has two lesions, one missed.
    """
    import SimpleITK as sitk

    rng = np.random.default_rng(5)
    images, refs, preds = folder / "images", folder / "ref", folder / "pred"
    for sub in (images, refs, preds):
        sub.mkdir(parents=True)
    angle = np.deg2rad(20.0)
    direction = (1.0, 0.0, 0.0, 0.0, float(np.cos(angle)), float(-np.sin(angle)),
                 0.0, float(np.sin(angle)), float(np.cos(angle)))
    for i in range(n_cases):
        ref = np.zeros((20, 56, 56), np.uint8)
        ref[6:12, 12:30, 14:34] = 1
        if i == 3:
            ref[14:17, 40:48, 40:48] = 1
        pred = np.roll(ref, int(rng.integers(-3, 4)), axis=2)
        if i == 3:
            pred[12:19, 34:54, 34:54] = 0
        if i == 2:
            pred[:] = 0
        image = (100 + 20 * rng.standard_normal(ref.shape) + 80 * ref).astype(np.float32)
        case = f"SIJ_1_{i + 1:04d}"
        for array, path in ((image, images / f"{case}_0000.nii.gz"), (ref, refs / f"{case}.nii.gz"),
                            (pred, preds / f"{case}.nii.gz")):
            volume = sitk.GetImageFromArray(array)
            volume.SetSpacing((0.6, 0.6, 3.3))
            volume.SetDirection(direction)
            volume.SetOrigin((-20.0, 15.5, 3.0))
            sitk.WriteImage(volume, str(path))
    return images, refs, preds


@pytest.fixture(scope="module")
def masks(tmp_path_factory):
    return _write_mask_pairs(tmp_path_factory.mktemp("scaleout_masks"))


@pytest.fixture(scope="module")
def tiny_nnunet(tmp_path_factory):
    """A tiny raw dataset planned with the ``test`` profile; the module's tests run inside its workspace."""
    pytest.importorskip("nnunetv2")
    from nnunet_fm.config import NnunetConfig
    from nnunet_fm.nnunet.environment import NnunetFolders, nnunet_workspace
    from nnunet_fm.nnunet.planning import plan_and_preprocess
    from tests.core.test_nnunet_pipeline import DATASET_ID, write_tiny_raw_dataset

    raw = tmp_path_factory.mktemp("scaleout_nnunet") / "nnUNet_raw"
    dataset = write_tiny_raw_dataset(raw)
    folders = NnunetFolders.from_raw(raw)
    with nnunet_workspace(NnunetConfig(profile="quick", num_processes=1, num_processes_da=0), folders):
        plan_and_preprocess(DATASET_ID, "test", num_processes=1, check_integrity=False)
        yield {"dataset_id": DATASET_ID, "dataset": dataset, "folders": folders}


# ----------------------------------------------------------------- evaluation and features


def test_evaluation_through_dask_writes_the_local_csvs_byte_for_byte(client, masks, tmp_path):
    from nnunet_fm.seg_evaluation import evaluate_folders

    _, refs, preds = masks
    local = evaluate_folders(preds, refs, tmp_path / "local.csv", jobs=1, progress=False,
                             lesions_csv=tmp_path / "local_lesions.csv")
    evaluate_folders(preds, refs, tmp_path / "dask.csv", progress=False, lesions_csv=tmp_path / "dask_lesions.csv",
                     cluster=client)
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert (tmp_path / "dask_lesions.csv").read_bytes() == (tmp_path / "local_lesions.csv").read_bytes()
    # real values, not two empty tables: the empty prediction and the missed lesion are there
    assert list(local["empty_case"]) == ["none", "none", "ref_only", "none"]
    lesions = local.attrs["lesions"]
    assert len(lesions[lesions["case_id"] == "SIJ_1_0004"]) == 2
    assert lesions["detected"].astype(bool).sum() == len(lesions) - 2  # case 3 (empty) and case 4's second


def test_evaluation_survives_a_killed_worker_with_the_same_csv(client, masks, tmp_path, monkeypatch):
    from nnunet_fm import seg_evaluation

    _, refs, preds = masks
    seg_evaluation.evaluate_folders(preds, refs, tmp_path / "local.csv", jobs=1, progress=False)
    marker = tmp_path / "killed_once"
    monkeypatch.setattr(seg_evaluation, "_evaluate_star",
                        functools.partial(_evaluate_or_die_once, marker=str(marker), victim="SIJ_1_0002"))
    seg_evaluation.evaluate_folders(preds, refs, tmp_path / "dask.csv", progress=False, cluster=client)
    assert marker.is_file(), "the victim's first attempt did not run"
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    client.wait_for_workers(2, timeout=60)  # the nanny replaced the dead worker


def test_features_through_dask_equal_the_local_table_and_csv(client, masks, tmp_path):
    import pandas as pd

    from classifiers.feature_extraction import extract_features

    images, refs, _ = masks
    local = extract_features(images, refs, jobs=1, out_csv=tmp_path / "local.csv")
    on_dask = extract_features(images, refs, out_csv=tmp_path / "dask.csv", cluster=client)
    pd.testing.assert_frame_equal(on_dask, local)
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert list(local["error"]) == [""] * 4 and local["original_shape_VoxelVolume"].notna().all()


# ----------------------------------------------------------------- nnU-Net training and prediction


@contextlib.contextmanager
def _results_folder(tiny_nnunet, name: str):
    """The tiny dataset's workspace with its own ``nnUNet_results`` folder (one trained model per test)."""
    from nnunet_fm.config import NnunetConfig
    from nnunet_fm.nnunet.environment import NnunetFolders, nnunet_workspace

    folders = tiny_nnunet["folders"]
    with nnunet_workspace(NnunetConfig(profile="quick", num_processes=1, num_processes_da=0),
                          NnunetFolders(folders.raw, folders.preprocessed, folders.results.parent / name)):
        yield


def _weights(model_dir: Path, fold: int) -> dict:
    import torch

    from nnunet_fm.nnunet.training import FINAL_CHECKPOINT

    checkpoint = torch.load(model_dir / f"fold_{fold}" / FINAL_CHECKPOINT, map_location="cpu", weights_only=False)
    return checkpoint["network_weights"]


def test_training_and_prediction_on_dask_equal_the_local_path(client, tiny_nnunet, tmp_path):
    import SimpleITK as sitk
    import torch

    from nnunet_fm.nnunet.prediction import list_cases, predict_all
    from nnunet_fm.nnunet.profiles import TEST
    from nnunet_fm.nnunet.training import model_folder, train_folds

    dataset_id, local_dir, dask_dir = tiny_nnunet["dataset_id"], tmp_path / "local", tmp_path / "dask"
    with _results_folder(tiny_nnunet, "results_local"):
        assert [r.status for r in train_folds(dataset_id, TEST, [0, 1], num_threads=1)] == ["trained"] * 2
        local = predict_all(dataset_id, TEST, local_dir, folds=[0, 1], num_threads=1)
        local_models = model_folder(dataset_id, TEST)
    with _results_folder(tiny_nnunet, "results_dask"):
        results = train_folds(dataset_id, TEST, [0, 1], num_threads=1, cluster=client)
        assert [(r.fold, r.status) for r in results] == [(0, "trained"), (1, "trained")]
        again = train_folds(dataset_id, TEST, [0, 1], num_threads=1, cluster=client)
        assert [r.status for r in again] == ["skipped", "skipped"]  # finished folds are skipped as locally
        on_dask = predict_all(dataset_id, TEST, dask_dir, folds=[0, 1], num_threads=1, cluster=client)
        dask_models = model_folder(dataset_id, TEST)
    assert dask_models != local_models
    for fold in (0, 1):  # same seed: the same weights, bit for bit, in a worker process
        ours, theirs = _weights(dask_models, fold), _weights(local_models, fold)
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    raw, n_masks, n_foreground = tiny_nnunet["dataset"], 0, 0
    for subset, folder in (("oof", "imagesTr"), ("internal_test", "imagesTs"), ("external_test", "imagesExt")):
        cases = sorted(list_cases(raw / folder))
        assert sorted(on_dask.seconds_per_case[subset]) == sorted(local.seconds_per_case[subset]) == cases
        for case in cases:
            ours = sitk.ReadImage(str(dask_dir / subset / f"{case}.nii.gz"))
            theirs = sitk.ReadImage(str(local_dir / subset / f"{case}.nii.gz"))
            np.testing.assert_array_equal(sitk.GetArrayFromImage(ours), sitk.GetArrayFromImage(theirs))
            assert ours.GetOrigin() == theirs.GetOrigin() and ours.GetDirection() == theirs.GetDirection()
            n_masks += 1
            n_foreground += int(sitk.GetArrayFromImage(ours).any())
        assert not list((dask_dir / subset).glob(".*partial*"))  # atomic export on the workers too
    assert n_masks == 10
    assert n_foreground == n_masks  # real masks, not ten empty volumes


def test_a_fold_whose_worker_died_reruns_and_resumes_from_its_latest_checkpoint(client, tiny_nnunet, tmp_path,
                                                                                monkeypatch):
    from nnunet_fm.nnunet import training
    from nnunet_fm.nnunet.profiles import TEST

    marker = tmp_path / "fold_1_killed_once"
    monkeypatch.setattr(training, "train_fold_task",
                        functools.partial(_train_fold_or_die_once, marker=str(marker), victim=1))
    with _results_folder(tiny_nnunet, "results_killed"):
        results = training.train_folds(tiny_nnunet["dataset_id"], TEST, [0, 1], num_threads=1, cluster=client)
        model_dir = training.model_folder(tiny_nnunet["dataset_id"], TEST)
    assert marker.is_file(), "fold 1's first attempt did not run"
    assert [(r.fold, r.status) for r in results] == [(0, "trained"), (1, "resumed")]
    assert results[1].epochs == TEST.num_epochs - 1  # the rerun continued from checkpoint_latest
    for fold in (0, 1):
        assert (model_dir / f"fold_{fold}" / training.FINAL_CHECKPOINT).is_file()
        assert not (model_dir / f"fold_{fold}" / training.LATEST_CHECKPOINT).exists()
    client.wait_for_workers(2, timeout=60)


def test_prediction_on_dask_refuses_a_missing_fold_before_submitting(client, tiny_nnunet, tmp_path):
    from nnunet_fm.nnunet.prediction import predict_all
    from nnunet_fm.nnunet.profiles import TEST

    with pytest.raises(FileNotFoundError, match="fold_4"):
        predict_all(tiny_nnunet["dataset_id"], TEST, tmp_path / "p", folds=[4], subsets=("internal_test",),
                    cluster=client)


def test_cli_scheduler_flag_reaches_evaluation_and_features(client, masks, tmp_path):
    """``--scheduler tcp://...`` on ``evaluate-seg`` and ``features`` runs the cases there, same files."""
    from nnunet_fm.cli import main

    images, refs, preds = masks
    address = client.scheduler.address
    assert address.startswith("tcp://")
    for name, extra in (("local", []), ("dask", ["--scheduler", address])):
        assert main(["evaluate-seg", "--pred", str(preds), "--ref", str(refs), "--out",
                     str(tmp_path / name / "seg.csv"), *extra]) == 0
        assert main(["features", "--images", str(images), "--masks", str(refs), "--out",
                     str(tmp_path / name / "features.csv"), "--jobs", "1", *extra]) == 0
    for file in ("seg.csv", "seg_lesions.csv", "features.csv"):
        assert (tmp_path / "dask" / file).read_bytes() == (tmp_path / "local" / file).read_bytes(), file
    # a bad scheduler is refused before any work, naming the flag
    assert main(["features", "--images", str(images), "--masks", str(refs), "--out", str(tmp_path / "x.csv"),
                 "--scheduler", "mars"]) == 1
    assert not (tmp_path / "x.csv").exists()
