"""Plan and preprocess a raw dataset through nnunetv2's Python API.

Steps: copy and verify the converter's patient-level ``splits_final.json``, extract the
dataset fingerprint, plan with nnU-Net's default ``ExperimentPlanner`` (``nnUNetPlans``),
and for a light profile plan again with a subclass of the same planner under the
profile's own plans name: fewer features, a coarser in-plane target spacing and a 3-D
patch shrunk to a voxel budget, its topology recomputed by nnU-Net's own
``get_pool_and_conv_props`` (so the patch is divisible by the strides for any input),
then the batch size. Only the configuration the profile trains is preprocessed.

Run inside :func:`nnunet_fm.nnunet.environment.nnunet_workspace`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
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
    dataset_json = json.loads((raw_dataset / "dataset.json").read_text(encoding="utf-8"))
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
    splits = json.loads(source.read_text(encoding="utf-8"))
    validate_splits(splits, raw_training_cases(raw_dataset), where=str(source))
    target = preprocessed_dataset / SPLITS_FILE
    if not target.is_file() or json.loads(target.read_text(encoding="utf-8")) != splits:
        write_json(target, splits)
        LOG.info("copied %s -> %s", source, target)
    return verify_splits_copy(raw_dataset, preprocessed_dataset)


def verify_splits_copy(raw_dataset: Path, preprocessed_dataset: Path) -> Path:
    """Raise unless the preprocessed ``splits_final.json`` equals the raw dataset's."""
    source, target = raw_dataset / SPLITS_FILE, preprocessed_dataset / SPLITS_FILE
    if not target.is_file():
        raise SplitsError(f"{target} is missing; run planning first")
    if json.loads(target.read_text(encoding="utf-8")) != json.loads(source.read_text(encoding="utf-8")):
        raise SplitsError(f"{target} differs from {source}; rerun planning to copy the patient-level folds")
    return target


def _light_planner_class(profile: Profile):
    """nnU-Net's ``ExperimentPlanner`` constrained to the profile's CPU budget.

    nnU-Net plans spacing, normalisation, resampling, the initial patch (isotropic in mm,
    clipped to the median image) and the network topology. The subclass changes only
    its inputs (feature widths, in-plane target spacing) and, with a voxel budget,
    replaces the GPU-memory test of the patch-shrinking loop by :func:`shrink_patch_to_budget`,
    which shrinks the patch's largest extent in mm first and recomputes the topology
    with nnU-Net's ``get_pool_and_conv_props`` after every step, so the patch stays
    divisible by the network's strides for any shape and spacing.
    """
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner

    class FMLightPlanner(ExperimentPlanner):
        """nnU-Net's default planner with fewer features, a coarser in-plane spacing and a
        patch voxel budget (3-D only; the 2-D configuration keeps nnU-Net's memory model)."""

        def __init__(self, dataset_name_or_id, **kwargs):
            super().__init__(dataset_name_or_id, **kwargs)
            if profile.base_features is not None:
                self.UNet_base_num_features = profile.base_features
            if profile.max_features is not None:
                self.UNet_max_features_3d = profile.max_features
                self.UNet_max_features_2d = profile.max_features
            if profile.patch_voxel_budget is not None:
                # A budgeted patch always covers < 25 % of the image: no 3d_lowres search.
                self.lowres_creation_threshold = 0.0

        def _budgeted(self, patch_size) -> bool:
            return len(patch_size) == 3 and (profile.patch_voxel_budget is not None or profile.patch_size is not None)

        def static_estimate_VRAM_usage(self, patch_size, *args, **kwargs):  # noqa: N802 (nnU-Net's name)
            if self._budgeted(patch_size):
                return 1.0  # no GPU-memory shrinking: the budget below sizes the 3-D patch
            return ExperimentPlanner.static_estimate_VRAM_usage(patch_size, *args, **kwargs)

        def get_plans_for_configuration(self, spacing, median_shape, data_identifier,
                                        approximate_n_voxels_dataset, _cache):
            plan = super().get_plans_for_configuration(spacing, median_shape, data_identifier,
                                                       approximate_n_voxels_dataset, _cache)
            if not self._budgeted(plan["patch_size"]):
                return plan
            if profile.patch_size is not None:
                patch = [int(p) for p in profile.patch_size]
            else:
                patch = shrink_patch_to_budget(spacing, plan["patch_size"], profile.patch_voxel_budget,
                                               self.UNet_featuremap_min_edge_length)
            _retopologize(plan, spacing, patch, self.UNet_featuremap_min_edge_length, self.UNet_base_num_features,
                          self.UNet_max_features_3d, self.UNet_blocks_per_stage_encoder,
                          self.UNet_blocks_per_stage_decoder)
            plan["batch_size"] = self.UNet_min_batch_size
            return plan

        def determine_fullres_target_spacing(self):
            base = super().determine_fullres_target_spacing()
            if profile.min_patch_coverage is None or profile.patch_voxel_budget is None:
                return coarser_inplane_spacing(base, profile.inplane_spacing_factor)
            return spacing_for_patch_coverage(base, profile.inplane_spacing_factor, profile.min_patch_coverage,
                                              self._patch_coverage)

        def _patch_coverage(self, spacing) -> float:
            """Smallest fraction of the median image (resampled to ``spacing``) that the
            budgeted patch spans on any axis: nnU-Net's own resampled shapes and patch."""
            import numpy as np
            from nnunetv2.preprocessing.resampling.default_resampling import compute_new_shape

            fingerprint = self.dataset_fingerprint
            shapes = [compute_new_shape(shape, source, spacing)
                      for source, shape in zip(fingerprint["spacings"], fingerprint["shapes_after_crop"])]
            forward = self.determine_transpose()[0]
            median = np.median(shapes, 0)[forward]
            plan = self.get_plans_for_configuration(np.asarray(spacing)[forward], median,
                                                    "patch_coverage_probe", float(np.prod(median)), {})
            return float(min(min(1.0, p / m) for p, m in zip(plan["patch_size"], median)))

        def determine_transpose(self):
            # nnU-Net's rule on nnU-Net's own target spacing: a coarsened in-plane spacing
            # (capped at, so possibly tied with, the through-plane one) never moves the axes.
            import numpy as np

            if self.suppress_transpose:
                return [0, 1, 2], [0, 1, 2]
            base = ExperimentPlanner.determine_fullres_target_spacing(self)
            forward = [int(np.argmax(base))] + [i for i in range(3) if i != int(np.argmax(base))]
            return forward, [forward.index(i) for i in range(3)]

    return FMLightPlanner


def shrink_patch_to_budget(spacing, patch_size, voxel_budget: int, min_edge: int = 4) -> list[int]:
    """Shrink a patch until it holds at most ``voxel_budget`` voxels.

    Each step cuts one axis by its current total stride (so the patch stays a multiple
    of it) and recomputes the topology with nnU-Net's ``get_pool_and_conv_props``. The
    axis cut is the one with the largest extent in mm (the lowest axis on ties), so the
    patch stays as close to isotropic in mm as nnU-Net's initial patch; the through-plane
    axis of thick-slice data is cut last.

    Args:
        spacing: Target spacing per axis (mm), nnU-Net's transposed order.
        patch_size: Starting patch (divisible by its strides, as the planner made it).
        voxel_budget: Most voxels per patch.
        min_edge: nnU-Net's minimum feature-map edge at the bottleneck.

    Raises:
        ValueError: No axis can shrink further and the patch is still over budget.
    """
    import numpy as np
    from nnunetv2.experiment_planning.experiment_planners.network_topology import get_pool_and_conv_props

    patch = [int(p) for p in patch_size]
    *_, patch, divisible = get_pool_and_conv_props(spacing, patch, min_edge, 999999)
    patch = [int(p) for p in patch]
    while int(np.prod(patch)) > voxel_budget:
        candidates = [axis for axis in range(len(patch)) if patch[axis] > divisible[axis]]
        if not candidates:
            raise ValueError(f"patch {patch} cannot shrink below {voxel_budget} voxels; raise patch_voxel_budget")
        axis = max(candidates, key=lambda a: (patch[a] * spacing[a], -a))
        patch[axis] -= int(divisible[axis])
        *_, patch, divisible = get_pool_and_conv_props(spacing, patch, min_edge, 999999)
        patch = [int(p) for p in patch]
    return patch


#: Step between the in-plane spacing factors tried for the patch coverage.
COVERAGE_FACTOR_STEP = 1.1
#: Largest in-plane spacing factor tried (relative to the profile's own factor).
COVERAGE_MAX_FACTOR = 16.0


def spacing_for_patch_coverage(base_spacing, start_factor: float, min_coverage: float, coverage_of) -> Any:
    """The finest in-plane target spacing whose budgeted patch spans ``min_coverage`` of the image.

    A CPU voxel budget makes the patch small; on a large field of view (336 x 336 in-plane
    at 0.6 mm) a small patch at fine spacing sees only local texture, and the network then
    labels every tissue that looks alike (on T1: marrow fat and subcutaneous fat). nnU-Net's
    own plan avoids that with a patch close to the whole image; under the budget the
    resolution is traded for context instead: the in-plane factor grows from
    ``start_factor`` in steps of :data:`COVERAGE_FACTOR_STEP` until the patch spans
    ``min_coverage`` of the median image on every axis, or the in-plane spacing reaches
    the through-plane spacing (its cap in :func:`coarser_inplane_spacing`).

    Args:
        base_spacing: nnU-Net's default full-resolution target spacing (not transposed).
        start_factor: The profile's in-plane factor (the finest spacing considered).
        min_coverage: Fraction of the median image the patch must span on every axis.
        coverage_of: ``spacing -> coverage`` (the planner's patch under the budget).
    """
    factor = start_factor
    spacing = coarser_inplane_spacing(base_spacing, factor)
    coverage = coverage_of(spacing)
    while coverage < min_coverage and factor < start_factor * COVERAGE_MAX_FACTOR:
        coarser = coarser_inplane_spacing(base_spacing, factor * COVERAGE_FACTOR_STEP)
        if all(abs(a - b) < 1e-9 for a, b in zip(coarser, spacing)):
            break  # capped at the through-plane spacing: no coarser in-plane grid
        factor *= COVERAGE_FACTOR_STEP
        spacing, coverage = coarser, coverage_of(coarser)
    LOG.info("in-plane spacing factor %.2f: target spacing %s, the patch spans %.0f%% of the median image "
             "(wanted >= %.0f%%)", factor, [round(float(v), 3) for v in spacing], 100 * coverage, 100 * min_coverage)
    return spacing


def coarser_inplane_spacing(spacing, factor: float):
    """Target spacing with the in-plane axes multiplied by ``factor``.

    For anisotropic data (largest / smallest spacing >= 3) the through-plane axis keeps
    its spacing and the in-plane axes are capped at it; isotropic data scale every axis.
    """
    import numpy as np

    spacing = np.array(spacing, dtype=float)
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


def _retopologize(plan: dict, spacing, patch_size, min_edge: int, base_features: int, max_features: int,
                  blocks_encoder, blocks_decoder) -> None:
    """Use an explicit patch: nnU-Net's ``get_pool_and_conv_props`` derives the topology for
    it and rounds each axis up to a multiple of that axis's total stride."""
    from nnunetv2.experiment_planning.experiment_planners.network_topology import get_pool_and_conv_props

    if len(patch_size) != len(spacing) or any(int(p) < 1 for p in patch_size):
        raise ValueError(f"patch_size {list(patch_size)} must have {len(spacing)} positive axes")
    _, strides, kernels, patch, _ = get_pool_and_conv_props(spacing, [int(p) for p in patch_size], min_edge, 999999)
    n_stages = len(strides)
    plan["patch_size"] = tuple(int(p) for p in patch)
    plan["architecture"]["arch_kwargs"].update({
        "n_stages": n_stages, "kernel_sizes": kernels, "strides": strides,
        "features_per_stage": tuple(min(max_features, base_features * 2 ** i) for i in range(n_stages)),
        "n_conv_per_stage": tuple(blocks_encoder[:n_stages]),
        "n_conv_per_stage_decoder": tuple(blocks_decoder[:n_stages - 1]),
    })


def total_strides(config_plan: dict) -> list[int]:
    """Product of the network's strides per axis (what the patch must be divisible by)."""
    import numpy as np

    return np.prod(np.array(config_plan["architecture"]["arch_kwargs"]["strides"]), axis=0).astype(int).tolist()


#: Plan keys that change the preprocessed data (architecture, patch and batch size do not).
_PREPROCESSING_KEYS = ("data_identifier", "preprocessor_name", "spacing", "normalization_schemes",
                       "use_mask_for_norm", "resampling_fn_data", "resampling_fn_seg", "resampling_fn_data_kwargs",
                       "resampling_fn_seg_kwargs")


def preprocessed_marker(preprocessed_dataset: Path, data_identifier: str) -> Path:
    """File that records the digest of a finished preprocessing run (beside, not inside, the
    data folder: nnU-Net infers the dataset format from the file endings inside it)."""
    return preprocessed_dataset / f"{_DONE_MARKER}_{data_identifier}"


def preprocessing_digest(plans: dict, configuration: str) -> str:
    """Digest of the plan keys that change the preprocessed data."""
    config = plans["configurations"][configuration]
    relevant = {key: config.get(key) for key in _PREPROCESSING_KEYS}
    for key in ("transpose_forward", "image_reader_writer", "foreground_intensity_properties_per_channel"):
        relevant[key] = plans.get(key)
    text = json.dumps(relevant, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def derive_light_plans(dataset_id: int, profile: str | Profile, num_processes: int = 2) -> dict[str, Any]:
    """Plan ``dataset_id`` (fingerprint extracted) for a light profile and save the plans.

    nnU-Net's planner (see :func:`_light_planner_class`) derives spacing, patch and
    topology; then the profile's batch size is set and the result is checked: every
    patch axis divisible by the network's total stride on that axis.

    Returns:
        The plans dict, as written to ``nnUNet_preprocessed/<dataset>/<plans_name>.json``.

    Raises:
        ValueError: The profile's configuration could not be planned for this data.
    """
    from nnunetv2.paths import nnUNet_preprocessed

    profile = get_profile(profile)
    plans_file = Path(str(nnUNet_preprocessed)) / dataset_name_for(dataset_id) / f"{profile.plans_name}.json"
    if plans_file.is_file():
        plans_file.unlink()  # the planner merges into an existing file; start clean
    kwargs = {"plans_name": profile.plans_name}
    if profile.gpu_memory_target_gb is not None:
        kwargs["gpu_memory_target_in_gb"] = profile.gpu_memory_target_gb
    with quiet_stdout(), _planner_threads(num_processes):
        _light_planner_class(profile)(dataset_id, **kwargs).plan_experiment()
    plans = json.loads(plans_file.read_text(encoding="utf-8"))
    if profile.configuration not in plans["configurations"]:
        raise ValueError(f"{plans_file}: nnU-Net planned no {profile.configuration!r} configuration for this data "
                         f"(planned: {sorted(plans['configurations'])}); choose another nnunet profile")
    config_plan = plans["configurations"][profile.configuration]
    if profile.batch_size is not None:
        config_plan["batch_size"] = profile.batch_size
    strides = total_strides(config_plan)
    if any(int(p) % s for p, s in zip(config_plan["patch_size"], strides)):
        raise RuntimeError(f"{plans_file}: planned patch {config_plan['patch_size']} is not divisible by the "
                           f"total strides {strides}")  # nnU-Net's planner guarantees this; never expected
    plans["nnunet_fm_profile"] = _profile_key(profile)
    write_json(plans_file, plans)
    return plans


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
        derive_light_plans(dataset_id, profile, num_processes)
    seconds["plan"] = time.perf_counter() - t0

    plans = json.loads(plans_file.read_text(encoding="utf-8"))
    if profile.configuration not in plans["configurations"]:
        raise ValueError(f"{plans_file}: configuration {profile.configuration!r} was not planned "
                         f"(available: {sorted(plans['configurations'])})")
    config_plan = plans["configurations"][profile.configuration]

    t0 = time.perf_counter()
    marker = preprocessed_marker(pre_dataset, config_plan["data_identifier"])
    digest = preprocessing_digest(plans, profile.configuration)
    if force or not marker.is_file() or marker.read_text(encoding="utf-8").strip() != digest:
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
        "min_patch_coverage": profile.min_patch_coverage,
        "gpu_memory_target_gb": profile.gpu_memory_target_gb,
        "batch_size": profile.batch_size,
        "patch_size": list(profile.patch_size) if profile.patch_size else None,
        "patch_voxel_budget": profile.patch_voxel_budget,
        "configuration": profile.configuration,
    }


def _profile_stamp(plans_file: Path) -> Any:
    try:
        return json.loads(plans_file.read_text(encoding="utf-8")).get("nnunet_fm_profile")
    except (OSError, ValueError):
        return None
