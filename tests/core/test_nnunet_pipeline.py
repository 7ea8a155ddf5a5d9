"""nnU-Net wrapper end to end on a tiny raw dataset: plan, train, resume, predict.

nnU-Net really plans, trains (a few iterations of a very small net) and predicts here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

DATASET_ID = 987
DATASET_NAME = f"Dataset{DATASET_ID}_TinyFM"
SPACING_XYZ = (0.7, 0.7, 4.0)
SHAPE_ZYX = (16, 48, 48)
# Slightly oblique direction (rotation about z), as real semi-coronal SIJ MRI.
_ANGLE = np.deg2rad(10.0)
DIRECTION = (float(np.cos(_ANGLE)), float(-np.sin(_ANGLE)), 0.0,
             float(np.sin(_ANGLE)), float(np.cos(_ANGLE)), 0.0,
             0.0, 0.0, 1.0)


def make_case(rng: np.random.Generator, shape_zyx=SHAPE_ZYX):
    """A noisy volume with 1-3 bright ellipsoidal blobs and their mask (z, y, x arrays)."""
    zz, yy, xx = np.meshgrid(*[np.arange(n) for n in shape_zyx], indexing="ij")
    mask = np.zeros(shape_zyx, dtype=np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        cz = rng.uniform(4, shape_zyx[0] - 4)
        cy, cx = rng.uniform(10, shape_zyx[1] - 10), rng.uniform(10, shape_zyx[2] - 10)
        rz, ry, rx = rng.uniform(1.5, 3), rng.uniform(4, 8), rng.uniform(4, 8)
        mask |= ((((zz - cz) / rz) ** 2 + ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) <= 1).astype(np.uint8)
    image = 100 + 15 * rng.standard_normal(shape_zyx) + 120 * mask
    return image.astype(np.float32), mask


def write_tiny_raw_dataset(raw_root: Path, n_train: int = 6, n_test: int = 2, n_ext: int = 2, n_folds: int = 2,
                           seed: int = 0, dataset_id: int = DATASET_ID, name: str = "TinyFM") -> Path:
    """Write an nnU-Net raw dataset (ARCHITECTURE.md section 2 layout) of tiny blob volumes."""
    import SimpleITK as sitk

    rng = np.random.default_rng(seed)
    root = raw_root / f"Dataset{dataset_id:03d}_{name}"
    sets = {"Tr": [f"SIJ_1_{i:04d}" for i in range(1, n_train + 1)],
            "Ts": [f"SIJ_1_{i:04d}" for i in range(n_train + 1, n_train + n_test + 1)],
            "Ext": [f"SIJ_2_{i:04d}" for i in range(1, n_ext + 1)]}
    for suffix, cases in sets.items():
        (root / f"images{suffix}").mkdir(parents=True, exist_ok=True)
        (root / f"labels{suffix}").mkdir(parents=True, exist_ok=True)
        for case in cases:
            image, mask = make_case(rng)
            for array, path in ((image, root / f"images{suffix}" / f"{case}_0000.nii.gz"),
                                (mask, root / f"labels{suffix}" / f"{case}.nii.gz")):
                itk = sitk.GetImageFromArray(array)
                itk.SetSpacing(SPACING_XYZ)
                itk.SetOrigin((-12.5, 30.25, -7.0))
                itk.SetDirection(DIRECTION)
                sitk.WriteImage(itk, str(path), useCompression=True)
    (root / "dataset.json").write_text(json.dumps({
        "channel_names": {"0": "T1"}, "labels": {"background": 0, "fm": 1},
        "numTraining": n_train, "file_ending": ".nii.gz", "name": name}))
    train = sets["Tr"]
    folds = [train[i::n_folds] for i in range(n_folds)]
    splits = [{"train": [c for c in train if c not in val], "val": val} for val in folds]
    (root / "splits_final.json").write_text(json.dumps(splits))
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny raw dataset, planned and preprocessed with the ``test`` profile."""
    pytest.importorskip("nnunetv2")
    from nnunet_fm.config import NnunetConfig
    from nnunet_fm.nnunet.environment import NnunetFolders, nnunet_workspace

    base = tmp_path_factory.mktemp("nnunet")
    raw = base / "nnUNet_raw"
    write_tiny_raw_dataset(raw)
    folders = NnunetFolders.from_raw(raw)
    config = NnunetConfig(profile="quick", num_processes=1, num_processes_da=0)
    with nnunet_workspace(config, folders) as env:  # restored after the module's tests
        from nnunet_fm.nnunet.planning import plan_and_preprocess

        planning = plan_and_preprocess(DATASET_ID, "test", num_processes=1, check_integrity=False)
        yield {"base": base, "raw": raw, "folders": folders, "env": env, "planning": planning, "config": config}


def test_environment_comes_from_config_not_shell(tmp_path, monkeypatch):
    pytest.importorskip("nnunetv2")
    from nnunet_fm.config import NnunetConfig
    from nnunet_fm.nnunet.environment import NnunetFolders, nnunet_workspace

    monkeypatch.setenv("nnUNet_raw", "/shell/value/raw")
    monkeypatch.setenv("nnUNet_def_n_proc", "8")
    monkeypatch.setenv("nnUNet_n_proc_DA", "12")
    monkeypatch.setenv("nnUNet_compile", "true")
    # nnunetv2 imported before the workspace: its import-time copies must still be patched.
    import nnunetv2.configuration
    import nnunetv2.inference.predict_from_raw_data as predict_module

    monkeypatch.setattr(nnunetv2.configuration, "default_num_processes", 8)
    monkeypatch.setattr(predict_module, "default_num_processes", 8)
    raw = tmp_path / "nnUNet_raw"
    with nnunet_workspace(NnunetConfig(num_processes=1, num_processes_da=0), NnunetFolders.from_raw(raw)) as env:
        assert os.environ["nnUNet_raw"] == str(raw.resolve())
        assert os.environ["nnUNet_preprocessed"] == str(tmp_path.resolve() / "nnUNet_preprocessed")
        assert os.environ["nnUNet_results"] == str(tmp_path.resolve() / "nnUNet_results")
        assert env["nnUNet_def_n_proc"] == "1" and os.environ["nnUNet_n_proc_DA"] == "0"
        assert os.environ["nnUNet_compile"] == "false"
        from nnunetv2.paths import nnUNet_raw

        assert nnunetv2.configuration.default_num_processes == 1
        assert predict_module.default_num_processes == 1
        assert str(nnUNet_raw) == str(raw.resolve())
    # the shell's values are back after the block
    assert os.environ["nnUNet_raw"] == "/shell/value/raw" and os.environ["nnUNet_n_proc_DA"] == "12"
    assert nnunetv2.configuration.default_num_processes == 8


def test_splits_copied_and_verified(tiny):
    raw_splits = json.loads((tiny["raw"] / DATASET_NAME / "splits_final.json").read_text(encoding="utf-8"))
    pre = tiny["folders"].preprocessed / DATASET_NAME
    assert json.loads((pre / "splits_final.json").read_text(encoding="utf-8")) == raw_splits
    plans = json.loads((pre / "nnUNetPlans_fmtest.json").read_text(encoding="utf-8"))
    arch = plans["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]
    assert max(arch["features_per_stage"]) <= 16 and arch["features_per_stage"][0] == 4
    assert (pre / "nnUNetPlans.json").is_file()  # nnU-Net's default plan is kept beside ours


def test_bad_splits_fail_loudly():
    from nnunet_fm.nnunet.planning import SplitsError, validate_splits

    with pytest.raises(SplitsError, match="SIJ_1_0001"):
        validate_splits([{"train": ["SIJ_1_0001"], "val": ["SIJ_1_0001"]}])
    with pytest.raises(SplitsError, match="SIJ_1_0002"):
        validate_splits([{"train": [], "val": ["SIJ_1_0001"]}], cases=["SIJ_1_0001", "SIJ_1_0002"])
    with pytest.raises(SplitsError, match="folds 0 and 1"):
        validate_splits([{"train": [], "val": ["a"]}, {"train": [], "val": ["a"]}])


def test_train_resume_skip_predict(tiny, tmp_path):
    import SimpleITK as sitk
    import torch

    from nnunet_fm.nnunet.prediction import list_cases, oof_fold_of_cases, predict_all
    from nnunet_fm.nnunet.profiles import TEST
    from nnunet_fm.nnunet.training import model_folder, train_fold, train_folds
    from dataclasses import replace

    # Fold 0: train one epoch "then interrupt" (a 1-epoch run leaves checkpoint_final;
    # turn it into checkpoint_latest as an interrupted run would have left it).
    one_epoch = replace(TEST, num_epochs=1)
    first = train_fold(DATASET_ID, one_epoch, 0, num_threads=1)
    assert first.status == "trained"
    fold0 = model_folder(DATASET_ID, TEST) / "fold_0"
    ckpt = torch.load(fold0 / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    assert ckpt["current_epoch"] == 1 and ckpt["trainer_name"] == "nnUNetTrainerFMQuick"
    (fold0 / "checkpoint_final.pth").rename(fold0 / "checkpoint_latest.pth")

    resumed = train_fold(DATASET_ID, TEST, 0, num_threads=1)
    assert resumed.status == "resumed" and resumed.epochs == TEST.num_epochs - 1
    ckpt = torch.load(fold0 / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    assert ckpt["current_epoch"] == TEST.num_epochs
    assert not (fold0 / "checkpoint_latest.pth").exists()

    results = train_folds(DATASET_ID, TEST, [0, 1], num_threads=1)
    assert [r.status for r in results] == ["skipped", "trained"]
    mtime = (fold0 / "checkpoint_final.pth").stat().st_mtime
    assert train_fold(DATASET_ID, TEST, 0).status == "skipped"
    assert (fold0 / "checkpoint_final.pth").stat().st_mtime == mtime

    # The trainer used our split, not nnU-Net's random one.
    log_text = "".join(p.read_text(encoding="utf-8") for p in (model_folder(DATASET_ID, TEST) / "fold_1").glob("training_log_*.txt"))
    assert "Using splits from existing split file" in log_text

    out = tmp_path / "predictions"
    report = predict_all(DATASET_ID, TEST, out, folds=[0, 1], mirroring=False, num_threads=1)
    raw = tiny["raw"] / DATASET_NAME
    for sub, folder in (("oof", "imagesTr"), ("internal_test", "imagesTs"), ("external_test", "imagesExt")):
        cases = list_cases(raw / folder)
        assert sorted(p.name for p in (out / sub).iterdir()) == sorted(f"{c}.nii.gz" for c in cases)
        for case, files in cases.items():
            source = sitk.ReadImage(str(files[0]))
            mask = sitk.ReadImage(str(out / sub / f"{case}.nii.gz"))
            assert mask.GetSize() == source.GetSize()
            assert np.allclose(mask.GetSpacing(), source.GetSpacing())
            assert np.allclose(mask.GetOrigin(), source.GetOrigin())
            assert np.allclose(mask.GetDirection(), source.GetDirection())
            assert mask.GetPixelID() == sitk.sitkUInt8
            assert set(np.unique(sitk.GetArrayFromImage(mask))) <= {0, 1}
        assert len(report.seconds_per_case[sub]) == len(cases)

    # No leakage: every OOF case came from the fold whose val set holds it.
    splits = json.loads((tiny["folders"].preprocessed / DATASET_NAME / "splits_final.json").read_text(encoding="utf-8"))
    owner = oof_fold_of_cases(splits)
    assert sorted(owner) == sorted(list_cases(raw / "imagesTr"))
    for case, fold in owner.items():
        assert case not in splits[fold]["train"]

    # OOF inputs came from nnU-Net's preprocessed data; from raw images the masks are identical.
    from nnunet_fm.nnunet.prediction import reusable_preprocessed_folder

    assert reusable_preprocessed_folder(DATASET_ID, model_folder(DATASET_ID, TEST)) is not None
    again = tmp_path / "from_raw"
    predict_all(DATASET_ID, TEST, again, folds=[0, 1], num_threads=1, subsets=("oof",), reuse_preprocessed=False)
    for case in owner:
        np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(out / "oof" / f"{case}.nii.gz"))),
                                      sitk.GetArrayFromImage(sitk.ReadImage(str(again / "oof" / f"{case}.nii.gz"))))
    assert not list((out / "oof").glob(".*partial*"))  # atomic export leaves no partial files


def test_tiled_predictor_matches_nnunet_predictor(tiny, tmp_path):
    """Concurrent sliding-window tiles give nnU-Net's own logits, bit for bit."""
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    from nnunet_fm.nnunet.prediction import list_cases, load_fold_models, preprocess_case
    from nnunet_fm.nnunet.profiles import TEST
    from nnunet_fm.nnunet.training import model_folder, train_fold

    for fold in (0, 1):
        train_fold(DATASET_ID, TEST, fold, num_threads=1)
    models = load_fold_models(model_folder(DATASET_ID, TEST), [0, 1], tile_step_size=0.25, tile_workers=2)
    reference = nnUNetPredictor(tile_step_size=0.25, use_gaussian=True, use_mirroring=False,
                                perform_everything_on_device=False, device=torch.device("cpu"), verbose=False,
                                allow_tqdm=False)
    reference.manual_initialization(models.predictor.network, models.predictor.plans_manager,
                                    models.predictor.configuration_manager,
                                    [models.parameters[0], models.parameters[1]],
                                    models.predictor.dataset_json, "nnUNetTrainerFMQuick", None)
    files = next(iter(list_cases(tiny["raw"] / DATASET_NAME / "imagesTs").values()))
    data, _ = preprocess_case(models.predictor, files)
    x = torch.from_numpy(np.tile(data, (1, 1, 2, 3)))  # larger than the patch: many tiles
    ours = models.use([0, 1]).predict_logits_from_preprocessed_data(x)
    theirs = reference.predict_logits_from_preprocessed_data(x)
    assert len(models.predictor._internal_get_sliding_window_slicers(x.shape[1:])) > 5  # several windows
    assert torch.equal(ours, theirs)


def test_default_network_trainers_build_nnunets_network(tiny):
    """Every trainer named in DEFAULT_NETWORK_TRAINERS keeps nnUNetTrainer's network, and the
    network prediction builds without the training code has the trainer's exact layout."""
    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from nnunet_fm.nnunet.prediction import build_inference_network
    from nnunet_fm.nnunet.profiles import DEFAULT_NETWORK_TRAINERS, TEST
    from nnunet_fm.nnunet.trainers import TRAINERS, trainer_class

    assert DEFAULT_NETWORK_TRAINERS <= set(TRAINERS)
    plans = PlansManager(str(tiny["planning"].plans_file))
    configuration = plans.get_configuration(TEST.configuration)
    for name in sorted(DEFAULT_NETWORK_TRAINERS):
        assert trainer_class(name).build_network_architecture is nnUNetTrainer.build_network_architecture, name
        torch.manual_seed(0)
        ours = build_inference_network(name, plans, configuration, 1, 2)
        torch.manual_seed(0)
        theirs = trainer_class(name).build_network_architecture(plans, configuration, 1, 2,
                                                                enable_deep_supervision=False)
        assert type(ours) is type(theirs)
        a, b = ours.state_dict(), theirs.state_dict()
        assert list(a) == list(b)
        assert all(torch.equal(a[k], b[k]) for k in a)  # same layers, same init order
    with pytest.raises(ValueError, match="unknown trainer 'NoSuchTrainer'"):
        build_inference_network("NoSuchTrainer", plans, configuration, 1, 2)


def test_prediction_network_needs_no_training_code(tiny):
    """Building the network for prediction does not import nnU-Net's trainer module."""
    import subprocess
    import sys

    from nnunet_fm.nnunet.profiles import TEST

    code = (
        "import sys\n"
        "from nnunetv2.utilities.plans_handling.plans_handler import PlansManager\n"
        "from nnunet_fm.nnunet.prediction import build_inference_network\n"
        f"plans = PlansManager({str(tiny['planning'].plans_file)!r})\n"
        f"configuration = plans.get_configuration({TEST.configuration!r})\n"
        f"net = build_inference_network({TEST.trainer!r}, plans, configuration, 1, 2)\n"
        "assert sum(p.numel() for p in net.parameters()) > 0\n"
        "print('nnunetv2.training.nnUNetTrainer.nnUNetTrainer' in sys.modules)\n"
    )
    env = {**os.environ, **tiny["env"]}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_cli_parsers_accept_documented_flags():
    from nnunet_fm.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["train", "--raw", "r", "--dataset-id", "501", "--profile", "quick",
                              "--folds", "0", "1", "--device", "cpu", "--force"])
    assert args.folds == [0, 1] and args.force and args.profile == "quick"
    args = parser.parse_args(["predict", "--raw", "r", "--dataset-id", "501", "--profile", "quick",
                              "--out", "o", "--no-mirroring"])
    assert args.mirroring is False
