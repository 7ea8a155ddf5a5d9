"""Predict masks with trained nnU-Net folds.

* Out-of-fold (OOF): each ``imagesTr`` case is predicted by the one fold model whose
  validation set holds it (``splits_final.json``), so no model sees its own training case.
* Ensemble: ``imagesTs`` (internal test) and ``imagesExt`` (external test) are predicted
  by all folds together; ``nnUNetPredictor`` averages the folds' outputs (it sums the
  folds' logits and divides by the number of folds).

Models are loaded with ``nnUNetPredictor.manual_initialization`` (no trainer lookup by
name). Masks are written as uint8 NIfTI on the source image's exact grid. Call
:func:`nnunet_fm.nnunet.environment.configure` first.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from nnunet_fm.nnunet.planning import dataset_name_for, validate_splits
from nnunet_fm.nnunet.profiles import Profile, get_profile
from nnunet_fm.nnunet.training import FINAL_CHECKPOINT, model_folder

LOG = logging.getLogger(__name__)

#: Raw image folder -> prediction subfolder (ARCHITECTURE.md section 3).
TEST_SETS = {"imagesTs": "internal_test", "imagesExt": "external_test"}


@dataclass
class PredictionReport:
    """Cases written and seconds per case, per output subfolder."""

    seconds_per_case: dict[str, dict[str, float]] = field(default_factory=dict)
    model_load_seconds: float = 0.0

    def add(self, subset: str, case_id: str, seconds: float) -> None:
        self.seconds_per_case.setdefault(subset, {})[case_id] = seconds

    def summary(self) -> dict:
        """Counts and mean seconds per case, per subset and overall."""
        out = {}
        every = []
        for subset, cases in self.seconds_per_case.items():
            values = list(cases.values())
            every += values
            out[subset] = {"n_cases": len(values), "mean_s_per_case": sum(values) / len(values) if values else None}
        out["all"] = {"n_cases": len(every), "mean_s_per_case": sum(every) / len(every) if every else None}
        out["model_load_seconds"] = self.model_load_seconds
        return out


def list_cases(image_folder: Path, file_ending: str = ".nii.gz") -> dict[str, list[Path]]:
    """Case id -> channel files (``CASE_0000.nii.gz``, ``CASE_0001.nii.gz``, ...) of a folder."""
    cases: dict[str, list[Path]] = {}
    if not image_folder.is_dir():
        return cases
    for path in sorted(image_folder.glob(f"*{file_ending}")):
        stem = path.name[: -len(file_ending)]
        case_id, sep, channel = stem.rpartition("_")
        if not sep or len(channel) != 4 or not channel.isdigit():
            raise ValueError(f"{path}: image file names must end in _XXXX{file_ending} (channel number)")
        cases.setdefault(case_id, []).append(path)
    return cases


def load_predictor(model_dir: Path, folds: Sequence[int], device: str = "cpu", mirroring: bool = False,
                   tile_step_size: float = 0.5, checkpoint: str = FINAL_CHECKPOINT):
    """An ``nnUNetPredictor`` holding the given folds of a trained model folder.

    Raises:
        FileNotFoundError: A fold has no checkpoint.
    """
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from nnunet_fm.nnunet.trainers import trainer_class

    model_dir = Path(model_dir)
    plans = json.loads((model_dir / "plans.json").read_text())
    dataset_json = json.loads((model_dir / "dataset.json").read_text())
    plans_manager = PlansManager(plans)
    parameters, trainer_name, configuration, mirror_axes = [], None, None, None
    for fold in folds:
        path = model_dir / f"fold_{fold}" / checkpoint
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: train fold {fold} first")
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        if trainer_name is None:
            trainer_name = ckpt["trainer_name"]
            configuration = ckpt["init_args"]["configuration"]
            mirror_axes = ckpt.get("inference_allowed_mirroring_axes")
        parameters.append(ckpt["network_weights"])
    configuration_manager = plans_manager.get_configuration(configuration)
    n_in = determine_num_input_channels(plans_manager, configuration_manager, dataset_json)
    n_out = plans_manager.get_label_manager(dataset_json).num_segmentation_heads
    network = trainer_class(trainer_name).build_network_architecture(
        plans_manager, configuration_manager, n_in, n_out, enable_deep_supervision=False)
    network.load_state_dict(parameters[0])
    predictor = nnUNetPredictor(tile_step_size=tile_step_size, use_gaussian=True, use_mirroring=mirroring,
                                perform_everything_on_device=device == "cuda", device=torch.device(device),
                                verbose=False, verbose_preprocessing=False, allow_tqdm=False)
    predictor.manual_initialization(network, plans_manager, configuration_manager, parameters, dataset_json,
                                    trainer_name, mirror_axes)
    return predictor


def predict_case(predictor, image_files: Sequence[Path], target: Path, num_threads: int = 2) -> Path:
    """Predict one case and write a uint8 mask on the first channel's exact grid."""
    import numpy as np
    import SimpleITK as sitk
    import torch
    from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape

    from nnunet_fm.image_io import read_image, write_image

    preprocessor = predictor.configuration_manager.preprocessor_class(verbose=False)
    data, _, properties = preprocessor.run_case([str(f) for f in image_files], None, predictor.plans_manager,
                                                predictor.configuration_manager, predictor.dataset_json)
    logits = predictor.predict_logits_from_preprocessed_data(torch.from_numpy(data)).cpu()
    seg = convert_predicted_logits_to_segmentation_with_correct_shape(
        logits, predictor.plans_manager, predictor.configuration_manager, predictor.label_manager, properties,
        return_probabilities=False, num_threads_torch=num_threads)
    source = read_image(image_files[0])
    seg = np.asarray(seg)
    expected = sitk.GetArrayViewFromImage(source).shape
    if seg.shape != expected:
        raise RuntimeError(f"{image_files[0]}: predicted shape {seg.shape} != image shape {expected}")
    mask = sitk.GetImageFromArray(seg.astype(np.uint8))
    mask.CopyInformation(source)
    return write_image(mask, target)


def _predict_many(predictor, cases: dict[str, list[Path]], out_dir: Path, subset: str, report: PredictionReport,
                  num_threads: int, progress) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for case_id, files in cases.items():
        start = time.perf_counter()
        predict_case(predictor, files, out_dir / f"{case_id}.nii.gz", num_threads)
        seconds = time.perf_counter() - start
        report.add(subset, case_id, seconds)
        LOG.debug("%s %s: %.2f s", subset, case_id, seconds)
        progress.update(1)


def load_splits(dataset_id: int) -> list[dict]:
    """The preprocessed ``splits_final.json`` (identical to the raw dataset's, checked at planning)."""
    from nnunetv2.paths import nnUNet_preprocessed

    path = Path(str(nnUNet_preprocessed)) / dataset_name_for(dataset_id) / "splits_final.json"
    splits = json.loads(path.read_text())
    validate_splits(splits, where=str(path))
    return splits


def predict_all(dataset_id: int, profile: str | Profile, out_dir: str | os.PathLike,
                folds: Sequence[int] = (0, 1, 2, 3, 4), device: str = "cpu", mirroring: bool | None = None,
                num_threads: int = 2, subsets: Sequence[str] = ("oof", "internal_test", "external_test"),
                ) -> PredictionReport:
    """Write OOF masks for ``imagesTr`` and fold-ensemble masks for ``imagesTs``/``imagesExt``.

    Args:
        dataset_id: Dataset id.
        profile: Profile the folds were trained with.
        out_dir: ``WORK/predictions``; gets ``oof/``, ``internal_test/``, ``external_test/``.
        folds: Folds to use. OOF covers the val cases of these folds.
        device: ``cpu`` or ``cuda``.
        mirroring: Test-time mirroring; ``None`` = the profile's default.
        num_threads: torch threads for resampling the output.
        subsets: Which outputs to write.

    Raises:
        ValueError: A case would be predicted by a model that trained on it.
    """
    from nnunetv2.paths import nnUNet_raw
    from tqdm import tqdm

    profile = get_profile(profile)
    mirroring = profile.mirroring if mirroring is None else mirroring
    out_dir = Path(out_dir)
    raw_dataset = Path(str(nnUNet_raw)) / dataset_name_for(dataset_id)
    model_dir = model_folder(dataset_id, profile)
    ending = json.loads((raw_dataset / "dataset.json").read_text()).get("file_ending", ".nii.gz")
    report = PredictionReport()
    train_cases = list_cases(raw_dataset / "imagesTr", ending)
    splits = load_splits(dataset_id)

    jobs: list[tuple[str, list[int], dict[str, list[Path]], Path]] = []
    if "oof" in subsets:
        for fold in folds:
            val = splits[fold]["val"]
            missing = [c for c in val if c not in train_cases]
            if missing:
                raise ValueError(f"fold {fold}: val case(s) {missing[:5]} have no image in imagesTr")
            leaked = sorted(set(val) & set(splits[fold]["train"]))
            if leaked:
                raise ValueError(f"fold {fold}: case(s) {leaked[:5]} are in its train and val sets")
            jobs.append(("oof", [fold], {c: train_cases[c] for c in val}, out_dir / "oof"))
    for folder, subset in TEST_SETS.items():
        if subset in subsets:
            cases = list_cases(raw_dataset / folder, ending)
            if cases:
                jobs.append((subset, list(folds), cases, out_dir / subset))
            else:
                LOG.warning("%s has no cases; %s not written", raw_dataset / folder, subset)
    total = sum(len(job[2]) for job in jobs)
    LOG.info("predicting %d case(s) with %s (mirroring %s) into %s", total, model_dir.name,
             "on" if mirroring else "off", out_dir)
    with tqdm(total=total, desc="nnU-Net predict", unit="case") as progress:
        for subset, use_folds, cases, target in jobs:
            start = time.perf_counter()
            predictor = load_predictor(model_dir, use_folds, device, mirroring, profile.tile_step_size)
            report.model_load_seconds += time.perf_counter() - start
            _predict_many(predictor, cases, target, subset, report, num_threads, progress)
    for subset, stats in report.summary().items():
        if isinstance(stats, dict) and stats.get("n_cases"):
            LOG.info("%s: %d case(s), %.2f s/case", subset, stats["n_cases"], stats["mean_s_per_case"])
    return report


def oof_fold_of_cases(splits: list[dict]) -> dict[str, int]:
    """Case id -> fold whose model predicts it out of fold."""
    return {case: fold for fold, split in enumerate(splits) for case in split["val"]}


def predict_with_nnunet_cli(dataset_id: int, profile: str | Profile, input_folder: str | os.PathLike,
                            output_folder: str | os.PathLike, folds: Sequence[int], env: dict[str, str],
                            device: str = "cpu", mirroring: bool = False, num_processes: int = 2,
                            work_dir: str | os.PathLike | None = None) -> float:
    """Run the same model through the ``nnUNetv2_predict`` command line (for comparison).

    ``nnUNetv2_predict`` finds the trainer class by the name stored in the checkpoint,
    walking nnunetv2's trainer package (which fails here: its ``primus`` trainers import
    torchvision). Our trainers do not change the network, so we hand the command a copy
    of the model folder (``plans.json``, ``dataset.json``, checkpoints with identical
    weights) whose checkpoints name nnU-Net's base ``nnUNetTrainer``.

    Args:
        env: nnU-Net environment (from :func:`nnunet_fm.nnunet.environment.nnunet_environment`);
            set explicitly for the subprocess, with ``nnUNet_results`` pointing at the copy.

    Returns:
        Wall-clock seconds of the subprocess (start-up included).
    """
    import torch

    profile = get_profile(profile)
    model_dir = model_folder(dataset_id, profile)
    name = dataset_name_for(dataset_id)
    tmp_root = Path(tempfile.mkdtemp(prefix="nnunet_cli_", dir=work_dir))
    try:
        shadow = tmp_root / name / f"nnUNetTrainer__{profile.plans_name}__{profile.configuration}"
        shadow.mkdir(parents=True)
        for item in ("plans.json", "dataset.json", "dataset_fingerprint.json"):
            if (model_dir / item).is_file():
                shutil.copy(model_dir / item, shadow / item)
        for fold in folds:
            ckpt = torch.load(model_dir / f"fold_{fold}" / FINAL_CHECKPOINT, map_location="cpu", weights_only=False)
            ckpt["trainer_name"] = "nnUNetTrainer"
            (shadow / f"fold_{fold}").mkdir()
            torch.save(ckpt, shadow / f"fold_{fold}" / FINAL_CHECKPOINT)
        Path(output_folder).mkdir(parents=True, exist_ok=True)
        executable = Path(sys.executable).parent / "nnUNetv2_predict"
        command = [str(executable) if executable.exists() else "nnUNetv2_predict",
                   "-i", str(input_folder), "-o", str(output_folder), "-d", str(dataset_id),
                   "-c", profile.configuration, "-p", profile.plans_name, "-tr", "nnUNetTrainer",
                   "-f", *[str(f) for f in folds], "-step_size", str(profile.tile_step_size),
                   "-device", device, "-npp", str(num_processes), "-nps", str(num_processes)]
        if not mirroring:
            command.append("--disable_tta")
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("nnUNet_")}
        child_env.update(env)
        child_env["nnUNet_results"] = str(tmp_root)
        start = time.perf_counter()
        result = subprocess.run(command, env=child_env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"nnUNetv2_predict failed ({result.returncode}):\n{result.stderr[-3000:]}")
        return seconds
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
