"""Plan and preprocess a raw dataset through nnunetv2's Python API.

Steps: copy and verify the converter's patient-level ``splits_final.json``, extract the
dataset fingerprint, plan with nnU-Net's default ``ExperimentPlanner`` (``nnUNetPlans``),
and for a light profile plan again with the same planner under the profile's own plans
name with fewer features and a coarser in-plane target spacing (nnU-Net's planner then
derives a consistent patch size and topology), then set the batch size. Only the
configuration the profile trains is preprocessed.

Call :func:`nnunet_fm.nnunet.environment.configure` first.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnunet_fm.atomic import write_json, write_text
from nnunet_fm.nnunet.profiles import Profile, get_profile

LOG = logging.getLogger(__name__)

SPLITS_FILE = "splits_final.json"
_DONE_MARKER = ".nnunet_fm_preprocessed"


class SplitsError(ValueError):
    """``splits_final.json`` is missing, malformed or leaks cases between train and val."""


@dataclass
class PlanningResult:
    """What planning produced and how long each step took."""

    dataset_name: str
    plans_name: str
    configuration: str
    plans_file: Path
    seconds: dict[str, float] = field(default_factory=dict)
    plan_summary: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def _planner_threads(num_processes: int):
    """nnU-Net's planner calls ``torch.set_num_threads(nnUNet_n_proc_DA)``, which fails for 0
    (our CPU setting: augmentation in the main process); lift it while planning."""
    import os

    old = os.environ.get("nnUNet_n_proc_DA")
    if old is not None and int(old) < 1:
        os.environ["nnUNet_n_proc_DA"] = str(max(1, num_processes))
    try:
        yield
    finally:
        if old is not None:
            os.environ["nnUNet_n_proc_DA"] = old


@contextlib.contextmanager
def quiet_stdout(enabled: bool = True):
    """nnU-Net prints a lot to stdout; send it to the debug log instead."""
    if not enabled:
        yield
        return
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        try:
            yield
        finally:
            text = buffer.getvalue().strip()
            if text:
                LOG.debug("nnU-Net output:\n%s", text[-5000:])


def dataset_name_for(dataset_id: int) -> str:
    """``DatasetXXX_NAME`` of ``dataset_id`` in ``nnUNet_raw``."""
    from nnunetv2.utilities.dataset_name_id_conversion import convert_id_to_dataset_name

    return str(convert_id_to_dataset_name(dataset_id))


def raw_training_cases(raw_dataset: Path) -> list[str]:
    """Case ids of ``imagesTr`` (from ``labelsTr`` file names)."""
    dataset_json = json.loads((raw_dataset / "dataset.json").read_text())
    ending = dataset_json.get("file_ending", ".nii.gz")
    return sorted(p.name[: -len(ending)] for p in (raw_dataset / "labelsTr").glob(f"*{ending}"))


def validate_splits(splits: Any, cases: list[str] | None = None, where: str = SPLITS_FILE) -> None:
    """Check a splits list: train/val disjoint, each case in exactly one val set.

    Args:
        splits: Parsed ``splits_final.json``.
        cases: All training case ids; when given, the val sets must cover them exactly.
        where: Name used in error messages.

    Raises:
        SplitsError: On any fault, naming the fold and case.
    """
    if not isinstance(splits, list) or not splits:
        raise SplitsError(f"{where}: expected a non-empty list of folds")
    seen: dict[str, int] = {}
    for fold, split in enumerate(splits):
        if not isinstance(split, dict) or set(split) != {"train", "val"}:
            raise SplitsError(f"{where}: fold {fold} must have exactly 'train' and 'val'")
        overlap = sorted(set(split["train"]) & set(split["val"]))
        if overlap:
            raise SplitsError(f"{where}: fold {fold} has case(s) in both train and val: {overlap[:5]}")
        for case in split["val"]:
            if case in seen:
                raise SplitsError(f"{where}: case {case} is in the val set of folds {seen[case]} and {fold}")
            seen[case] = fold
    if cases is not None:
        missing = sorted(set(cases) - set(seen))
        unknown = sorted(set(seen) - set(cases))
        if missing:
            raise SplitsError(f"{where}: training case(s) in no val set: {missing[:5]}")
        if unknown:
            raise SplitsError(f"{where}: unknown case(s) (not in imagesTr): {unknown[:5]}")
        for fold, split in enumerate(splits):
            expected = set(cases) - set(split["val"])
            if set(split["train"]) != expected:
                raise SplitsError(f"{where}: fold {fold} train set is not the complement of its val set")


def copy_splits(raw_dataset: Path, preprocessed_dataset: Path) -> Path:
    """Copy the converter's ``splits_final.json`` into the preprocessed folder and verify it.

    An existing different copy is replaced (the raw dataset is the source of truth), so
    nnU-Net's own random split is never used.

    Raises:
        SplitsError: The raw dataset has no (valid) splits file.
    """
    source = raw_dataset / SPLITS_FILE
    if not source.is_file():
        raise SplitsError(f"{source} is missing: the converter writes patient-level folds there")
    splits = json.loads(source.read_text())
    validate_splits(splits, raw_training_cases(raw_dataset), where=str(source))
    target = preprocessed_dataset / SPLITS_FILE
    if not target.is_file() or json.loads(target.read_text()) != splits:
        write_json(target, splits)
        LOG.info("copied %s -> %s", source, target)
    return verify_splits_copy(raw_dataset, preprocessed_dataset)


def verify_splits_copy(raw_dataset: Path, preprocessed_dataset: Path) -> Path:
    """Raise unless the preprocessed ``splits_final.json`` equals the raw dataset's."""
    source, target = raw_dataset / SPLITS_FILE, preprocessed_dataset / SPLITS_FILE
    if not target.is_file():
        raise SplitsError(f"{target} is missing; run planning first")
    if json.loads(target.read_text()) != json.loads(source.read_text()):
        raise SplitsError(f"{target} differs from {source}; rerun planning to copy the patient-level folds")
    return target


def _light_planner_class(profile: Profile):
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner

    class FMLightPlanner(ExperimentPlanner):
        """nnU-Net's default planner with fewer features and a coarser in-plane spacing."""

        def __init__(self, dataset_name_or_id, **kwargs):
            super().__init__(dataset_name_or_id, **kwargs)
            if profile.base_features is not None:
                self.UNet_base_num_features = profile.base_features
            if profile.max_features is not None:
                self.UNet_max_features_3d = profile.max_features
                self.UNet_max_features_2d = profile.max_features

        def determine_fullres_target_spacing(self):
            import numpy as np

            spacing = np.array(super().determine_fullres_target_spacing(), dtype=float)
            factor = profile.inplane_spacing_factor
            if factor == 1.0:
                return spacing
            coarse = float(spacing.max())
            anisotropic = coarse / float(spacing.min()) >= 3
            out = spacing.copy()
            for axis, value in enumerate(spacing):
                if anisotropic and value == coarse:
                    continue  # through-plane axis keeps its spacing
                out[axis] = min(value * factor, coarse) if anisotropic else value * factor
            return out

    return FMLightPlanner


#: Plan keys that change the preprocessed data (architecture, patch and batch size do not).
_PREPROCESSING_KEYS = ("data_identifier", "preprocessor_name", "spacing", "normalization_schemes",
                       "use_mask_for_norm", "resampling_fn_data", "resampling_fn_seg", "resampling_fn_data_kwargs",
                       "resampling_fn_seg_kwargs")


def _set_patch_size(config_plan: dict, patch_size) -> None:
    """Set a smaller patch; it must be divisible by the network's total stride per axis."""
    import numpy as np

    strides = np.prod(np.array(config_plan["architecture"]["arch_kwargs"]["strides"]), axis=0)
    patch = [int(p) for p in patch_size]
    if len(patch) != len(strides) or any(p % s for p, s in zip(patch, strides)):
        raise ValueError(f"patch size {patch} must have {len(strides)} axes divisible by the total strides "
                         f"{strides.tolist()}")
    config_plan["patch_size"] = patch


def _plans_digest(plans: dict, configuration: str) -> str:
    config = plans["configurations"][configuration]
    relevant = {key: config.get(key) for key in _PREPROCESSING_KEYS}
    relevant["transpose_forward"] = plans.get("transpose_forward")
    text = json.dumps(relevant, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_and_preprocess(dataset_id: int, profile: str | Profile, num_processes: int = 2,
                        force: bool = False, check_integrity: bool = True) -> PlanningResult:
    """Fingerprint, plan and preprocess ``dataset_id`` for ``profile``.

    Each step is skipped when its output exists (unless ``force``), so reruns are cheap.

    Args:
        dataset_id: nnU-Net dataset id in ``nnUNet_raw``.
        profile: Profile name or object.
        num_processes: Worker processes for fingerprint and preprocessing.
        force: Redo every step.
        check_integrity: Run nnU-Net's dataset integrity check before fingerprinting.
    """
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset, plan_experiment_dataset, preprocess_dataset)
    from nnunetv2.paths import nnUNet_preprocessed, nnUNet_raw

    profile = get_profile(profile)
    name = dataset_name_for(dataset_id)
    raw_dataset = Path(str(nnUNet_raw)) / name
    pre_dataset = Path(str(nnUNet_preprocessed)) / name
    pre_dataset.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    copy_splits(raw_dataset, pre_dataset)

    t0 = time.perf_counter()
    if force or not (pre_dataset / "dataset_fingerprint.json").is_file():
        LOG.info("%s: extracting dataset fingerprint", name)
        with quiet_stdout():
            extract_fingerprint_dataset(dataset_id, num_processes=num_processes,
                                        check_dataset_integrity=check_integrity, clean=True,
                                        verbose=False, show_progress_bar=False)
    seconds["fingerprint"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    default_file = pre_dataset / "nnUNetPlans.json"
    if force or not default_file.is_file():
        LOG.info("%s: planning with nnU-Net's default ExperimentPlanner", name)
        with quiet_stdout(), _planner_threads(num_processes):
            plan_experiment_dataset(dataset_id)
    plans_file = pre_dataset / f"{profile.plans_name}.json"
    if not profile.is_default_plan and (force or not plans_file.is_file() or
                                        _profile_stamp(plans_file) != _profile_key(profile)):
        LOG.info("%s: deriving light plans %s", name, profile.plans_name)
        planner_class = _light_planner_class(profile)
        kwargs = {"plans_name": profile.plans_name}
        if profile.gpu_memory_target_gb is not None:
            kwargs["gpu_memory_target_in_gb"] = profile.gpu_memory_target_gb
        with quiet_stdout(), _planner_threads(num_processes):
            if plans_file.is_file():
                plans_file.unlink()  # the planner merges into an existing file; start clean
            planner = planner_class(dataset_id, **kwargs)
            planner.plan_experiment()
        plans = json.loads(plans_file.read_text())
        if profile.batch_size is not None:
            plans["configurations"][profile.configuration]["batch_size"] = profile.batch_size
        if profile.patch_size is not None:
            _set_patch_size(plans["configurations"][profile.configuration], profile.patch_size)
        plans["nnunet_fm_profile"] = _profile_key(profile)
        write_json(plans_file, plans)
    seconds["plan"] = time.perf_counter() - t0

    plans = json.loads(plans_file.read_text())
    if profile.configuration not in plans["configurations"]:
        raise ValueError(f"{plans_file}: configuration {profile.configuration!r} was not planned "
                         f"(available: {sorted(plans['configurations'])})")
    config_plan = plans["configurations"][profile.configuration]

    t0 = time.perf_counter()
    data_folder = pre_dataset / config_plan["data_identifier"]
    # The marker lives beside (not inside) the data folder: nnU-Net infers the dataset
    # format from the file endings inside it.
    marker = pre_dataset / f"{_DONE_MARKER}_{config_plan['data_identifier']}"
    digest = _plans_digest(plans, profile.configuration)
    if force or not marker.is_file() or marker.read_text().strip() != digest:
        LOG.info("%s: preprocessing %s / %s", name, profile.plans_name, profile.configuration)
        with quiet_stdout():
            preprocess_dataset(dataset_id, profile.plans_name, configurations=[profile.configuration],
                               num_processes=[num_processes], verbose=False, show_progress_bar=False)
        write_text(marker, digest + "\n")
    seconds["preprocess"] = time.perf_counter() - t0
    verify_splits_copy(raw_dataset, pre_dataset)

    summary = {
        "spacing": config_plan["spacing"],
        "patch_size": config_plan["patch_size"],
        "batch_size": config_plan["batch_size"],
        "median_image_size_in_voxels": config_plan.get("median_image_size_in_voxels"),
        "features_per_stage": config_plan["architecture"]["arch_kwargs"]["features_per_stage"],
        "strides": config_plan["architecture"]["arch_kwargs"]["strides"],
    }
    LOG.info("%s: plans %s/%s: %s (fingerprint %.1f s, plan %.1f s, preprocess %.1f s)", name,
             profile.plans_name, profile.configuration, summary, seconds["fingerprint"], seconds["plan"],
             seconds["preprocess"])
    return PlanningResult(name, profile.plans_name, profile.configuration, plans_file, seconds, summary)


def _profile_key(profile: Profile) -> dict[str, Any]:
    """The plan-relevant fields of a profile (a changed profile re-plans)."""
    return {
        "base_features": profile.base_features,
        "max_features": profile.max_features,
        "inplane_spacing_factor": profile.inplane_spacing_factor,
        "gpu_memory_target_gb": profile.gpu_memory_target_gb,
        "batch_size": profile.batch_size,
        "patch_size": list(profile.patch_size) if profile.patch_size else None,
        "configuration": profile.configuration,
    }


def _profile_stamp(plans_file: Path) -> Any:
    try:
        return json.loads(plans_file.read_text()).get("nnunet_fm_profile")
    except (OSError, ValueError):
        return None


def remove_preprocessed(preprocessed_dataset: Path, data_identifier: str) -> None:
    """Delete one preprocessed data folder (used when a profile changes)."""
    folder = preprocessed_dataset / data_identifier
    if folder.is_dir():
        shutil.rmtree(folder)
