"""Training profiles as data: which plan edits, trainer and schedule each profile uses.

``quick``  CPU profile: a lighter plan derived from nnU-Net's default plan and a short
           schedule, tuned on the synthetic cohort with ``benchmarks/bench_quick_profile.py``
           (measured on the shared 2-core machine):
           - 3d_fullres, not 2d: per CPU-second the 3-D net (1x3x3 kernels in the first
             stages at 4 mm slices) was cheaper per voxel than the 2-D net and sees
             context across slices; 2d at batch 16 collapsed to background early.
           - in-plane target spacing x2 (0.7 -> 1.4 mm): 4x fewer voxels; FM lesions are
             >= 2.5 mm deep, so they survive.
           - features 8..64 (nnU-Net 32..320): ~10x cheaper per iteration.
           - context before resolution (``min_patch_coverage`` 0.6): the in-plane spacing
             is coarsened beyond x2 until the budgeted patch spans >= 60 % of the median
             image on every axis (capped at the slice spacing). Tuned on real scans
             (``benchmarks/bench_real_quick_plan.py``, UCL disease region, 8 T1W scans at
             0.595 x 0.595 x 3.3 mm, 4-fold OOF on folds 0-1): at 1.19 mm the patch spanned
             29 % of the image and the net labelled subcutaneous fat as bone (DSC 0.50,
             2.2x the manual volume); at 2.38 mm (48 %) 0.70, at 3.3 mm (66 %) 0.75 (volume
             0.97x). The phantom's plan is unchanged (its patch spans 60 % at x2).
           - patch derived per dataset by nnU-Net's planner under a voxel budget of
             49152 (= 16x48x64, the patch tuned on the phantom's 16x80x96 volumes) with
             half of each batch centred on foreground: raises the foreground fraction,
             the patch is ~2.5x cheaper than the phantom volume. The planner keeps the
             patch divisible by the network's strides for any shape and spacing (a
             hard-coded patch failed on 336x336x25 scans at 0.595x0.595x3.3 mm).
           - 40 epochs x 10 iterations, batch 2, AdamW (amsgrad, lr 3e-3, nnU-Net's poly
             decay), as nnU-Net's own ``nnUNetTrainerAdam`` variant. With nnU-Net's SGD
             (lr 0.01, momentum 0.99) 3 of 5 folds still predicted background only after
             46 x 10 iterations (fold DSC 0.75, 0.74, 0.00, 0.00, 0.05), also with every
             patch centred on foreground; AdamW left the all-background start after ~100
             iterations on the worst fold (fold 2: pseudo Dice 0.83 after 400 iterations).
             ~0.28 s/iteration on an idle 2-core CPU.
           - light augmentation (no Gaussian blur, no low-resolution simulation): with
             nnU-Net's full augmentation the same 420 iterations learned much more slowly
             (two of five folds still predicted background only) and blur's kernel
             benchmarking added 10-20 s spikes.
           - mirroring off at test time (8x cheaper on CPU).
           - checkpoint_latest every 5 epochs (resume loses <= 5 epochs, ~10 s) and one
             progress plot per fold, at the end: neither changes what is learned.
``paper``  nnU-Net's own defaults (``nnUNetPlans``, 3d_fullres, 1000 x 250 iterations,
           50 validation iterations per epoch (``val_iterations_per_epoch``), mirroring at
           test time) for a GPU. Not for CPU: for 336 x 336 x 25 scans at 0.595/3.3 mm
           nnU-Net plans a 20 x 320 x 256 patch, batch 2, features 32..320; one training
           step (forward + backward) took 82-93 s on the 2-core CPU (load ~2), one
           validation forward ~10 s per patch, so one epoch of 250 + 50 iterations is ~6 h.
``test``   A tiny profile for the unit tests only (a few iterations of a very small net).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from nnunet_fm.config import NnunetConfig


#: Smallest accepted patch voxel budget (nnU-Net needs >= 4 voxels per axis at the bottleneck).
MIN_PATCH_VOXELS = 4096


@dataclass(frozen=True)
class Profile:
    """One way of planning, training and predicting with nnU-Net.

    Attributes:
        name: Profile name.
        plans_name: nnU-Net plans identifier; ``nnUNetPlans`` means nnU-Net's default plan
            unchanged, anything else is derived from it and saved under this name.
        configuration: nnU-Net configuration trained (``3d_fullres`` or ``2d``).
        trainer: Name of the trainer class in :mod:`nnunet_fm.nnunet.trainers`.
        base_features: Features of the first stage (nnU-Net default 32); ``None`` = default.
        max_features: Cap of features per stage (nnU-Net default 320 in 3-D); ``None`` = default.
        inplane_spacing_factor: Target spacing of the in-plane axes = default target
            spacing x this factor (capped at the through-plane spacing); 1 = default.
        min_patch_coverage: With a voxel budget: coarsen the in-plane target spacing
            (beyond ``inplane_spacing_factor``) until the budgeted patch spans at least this
            fraction of the median image on every axis (context over resolution);
            ``None`` = keep ``inplane_spacing_factor``.
        gpu_memory_target_gb: Planner's memory target, which sizes the patch; ``None`` = 8.
        batch_size: Batch size after planning; ``None`` keeps the planner's.
        patch_size: Explicit patch size; nnU-Net's ``get_pool_and_conv_props`` derives the
            network topology for it and rounds each axis up to a multiple of its total
            stride. ``None`` keeps the planner's (budgeted) patch.
        patch_voxel_budget: Most voxels per 3-D patch: nnU-Net's planner shrinks its patch
            (largest axis relative to the median image first) until it fits; ``None`` =
            nnU-Net's GPU-memory model. Ignored for 3-D when ``patch_size`` is set.
        oversample_foreground: Fraction of patches centred on foreground (nnU-Net 0.33).
        num_epochs: Training epochs.
        iterations_per_epoch: Training iterations per epoch.
        val_iterations_per_epoch: Validation iterations per epoch (pseudo Dice only).
        initial_lr: Initial learning rate (poly decay over ``num_epochs``).
        optimizer: ``sgd`` (nnU-Net default) or ``adamw`` (quick trainer only).
        save_every: Epochs between ``checkpoint_latest.pth`` writes (resume granularity).
        light_augmentation: Drop the costliest CPU augmentations (see trainers).
        mirroring: Default test-time mirroring.
        tile_step_size: Sliding-window step as a fraction of the patch.
        compile_network: torch.compile (GPU only; the trainer never compiles on CPU).
    """

    name: str
    plans_name: str
    configuration: str
    trainer: str
    base_features: Optional[int] = None
    max_features: Optional[int] = None
    inplane_spacing_factor: float = 1.0
    min_patch_coverage: Optional[float] = None
    gpu_memory_target_gb: Optional[float] = None
    batch_size: Optional[int] = None
    patch_size: Optional[tuple[int, ...]] = None
    patch_voxel_budget: Optional[int] = None
    oversample_foreground: float = 0.33
    num_epochs: int = 1000
    iterations_per_epoch: int = 250
    val_iterations_per_epoch: int = 50
    initial_lr: float = 1e-2
    optimizer: str = "sgd"
    save_every: int = 50
    light_augmentation: bool = False
    mirroring: bool = True
    tile_step_size: float = 0.5
    compile_network: bool = False

    def __post_init__(self) -> None:
        if self.patch_voxel_budget is not None and self.patch_voxel_budget < MIN_PATCH_VOXELS:
            raise ValueError(f"profile {self.name}: patch_voxel_budget must be >= {MIN_PATCH_VOXELS} voxels "
                             f"(e.g. 16x16x16), got {self.patch_voxel_budget}")
        if self.patch_size is not None and (len(self.patch_size) not in (2, 3) or min(self.patch_size) < 1):
            raise ValueError(f"profile {self.name}: patch_size must have 2 or 3 positive axes, got {self.patch_size}")
        if self.min_patch_coverage is not None and not 0.0 < self.min_patch_coverage <= 1.0:
            raise ValueError(f"profile {self.name}: min_patch_coverage must be in (0, 1], got {self.min_patch_coverage}")
        if self.val_iterations_per_epoch < 1:
            raise ValueError(f"profile {self.name}: val_iterations_per_epoch must be >= 1, "
                             f"got {self.val_iterations_per_epoch}")

    @property
    def is_default_plan(self) -> bool:
        """True when the profile trains on nnU-Net's unmodified default plan."""
        return self.plans_name == "nnUNetPlans"


QUICK = Profile(
    name="quick",
    plans_name="nnUNetPlans_fmquick",
    configuration="3d_fullres",
    trainer="nnUNetTrainerFMQuick",
    base_features=8,
    max_features=64,
    inplane_spacing_factor=2.0,
    min_patch_coverage=0.6,
    gpu_memory_target_gb=8,
    batch_size=2,
    patch_voxel_budget=16 * 48 * 64,
    oversample_foreground=0.5,
    num_epochs=40,
    iterations_per_epoch=10,
    val_iterations_per_epoch=1,
    initial_lr=3e-3,
    optimizer="adamw",
    save_every=5,
    light_augmentation=True,
    mirroring=False,
    tile_step_size=0.5,
)

PAPER = Profile(
    name="paper",
    plans_name="nnUNetPlans",
    configuration="3d_fullres",
    trainer="nnUNetTrainerFMPaper",
    num_epochs=1000,
    iterations_per_epoch=250,
    val_iterations_per_epoch=50,
    save_every=10,
    mirroring=True,
    compile_network=True,
)

TEST = Profile(
    name="test",
    plans_name="nnUNetPlans_fmtest",
    configuration="3d_fullres",
    trainer="nnUNetTrainerFMQuick",
    base_features=4,
    max_features=16,
    inplane_spacing_factor=1.0,
    gpu_memory_target_gb=8,
    batch_size=2,
    num_epochs=2,
    iterations_per_epoch=3,
    val_iterations_per_epoch=1,
    save_every=1,
    light_augmentation=True,
    mirroring=False,
)

PROFILES = {p.name: p for p in (QUICK, PAPER, TEST)}

#: Trainers that change nnU-Net's schedule, not its network: their
#: ``build_network_architecture`` is ``nnUNetTrainer``'s (``get_network_from_plans``), so
#: prediction builds their network without importing nnU-Net's training code (1.4 s of
#: start-up). ``tests/core/test_nnunet_pipeline.py`` checks every class named here.
DEFAULT_NETWORK_TRAINERS = frozenset({"nnUNetTrainer", *(p.trainer for p in PROFILES.values())})


def get_profile(name: str | Profile) -> Profile:
    """Look a profile up by name (a :class:`Profile` is returned unchanged).

    Raises:
        ValueError: Unknown name.
    """
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown nnU-Net profile {name!r}; choose one of {sorted(PROFILES)}") from None


def resolve_profile(config: NnunetConfig, profile: str | Profile | None = None) -> Profile:
    """The profile named by ``config`` (or ``profile``) with the config's overrides applied.

    A config field left ``None`` keeps the profile's value (e.g. ``mirroring``: the paper
    profile mirrors at test time unless the config says ``false``).
    """
    chosen = get_profile(profile if profile is not None else config.profile)
    changes: dict = {}
    if config.mirroring is not None:
        changes["mirroring"] = config.mirroring
    if config.num_epochs is not None:
        changes["num_epochs"] = config.num_epochs
    if config.iterations_per_epoch is not None:
        changes["iterations_per_epoch"] = config.iterations_per_epoch
    if config.val_iterations_per_epoch is not None:
        changes["val_iterations_per_epoch"] = config.val_iterations_per_epoch
    if config.patch_voxel_budget is not None:
        if chosen.is_default_plan:
            raise ValueError(f"nnunet.patch_voxel_budget ({config.patch_voxel_budget}) shapes a derived plan; the "
                             f"{chosen.name} profile trains nnU-Net's plan unchanged: leave it unset or use --profile quick")
        changes["patch_voxel_budget"] = config.patch_voxel_budget
    return replace(chosen, **changes) if changes else chosen
