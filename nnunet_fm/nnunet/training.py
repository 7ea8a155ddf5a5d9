"""Train nnU-Net folds by instantiating the trainer class directly.

A fold with ``checkpoint_final.pth`` is finished and skipped unless ``force``; a fold
with ``checkpoint_latest.pth`` resumes from it (the trainer writes it every
``profile.save_every`` epochs). Run inside :func:`nnunet_fm.nnunet.environment.nnunet_workspace`.

With a cluster (:mod:`nnunet_fm.cluster`) each fold is one Dask task: folds train
concurrently on the workers (one GPU each on CUDA), and a fold whose worker died is
rescheduled and resumes from its ``checkpoint_latest.pth``.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from nnunet_fm.nnunet.planning import dataset_name_for, verify_splits_copy
from nnunet_fm.nnunet.profiles import Profile, get_profile

LOG = logging.getLogger(__name__)

FINAL_CHECKPOINT = "checkpoint_final.pth"
LATEST_CHECKPOINT = "checkpoint_latest.pth"


@dataclass
class FoldResult:
    """Outcome of one fold: ``trained``, ``resumed`` or ``skipped``."""

    fold: int
    status: str
    seconds: float
    epochs: int
    checkpoint: Path
    epoch_seconds: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0


def model_folder(dataset_id: int, profile: str | Profile) -> Path:
    """nnU-Net's model folder ``<results>/<dataset>/<trainer>__<plans>__<configuration>``."""
    from nnunetv2.paths import nnUNet_results

    profile = get_profile(profile)
    return (Path(str(nnUNet_results)) / dataset_name_for(dataset_id)
            / f"{profile.trainer}__{profile.plans_name}__{profile.configuration}")


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (nnU-Net's data loader draws from numpy's global RNG)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_fold(dataset_id: int, profile: str | Profile, fold: int, device: str = "cpu", force: bool = False,
               seed: int = 2024, num_threads: int | None = 2) -> FoldResult:
    """Train (or resume, or skip) one fold.

    Args:
        dataset_id: Dataset id (planned and preprocessed for ``profile``).
        profile: Profile name or object (its schedule overrides the trainer's defaults).
        fold: Fold index in ``splits_final.json``.
        device: ``cpu`` or ``cuda``.
        force: Retrain even a finished fold (its folder is emptied first).
        seed: Seed; the fold number is added so folds differ.
        num_threads: torch intra-op threads on CPU.
    """
    import torch

    from nnunetv2.paths import nnUNet_preprocessed, nnUNet_raw

    from nnunet_fm.nnunet.trainers import trainer_class

    profile = get_profile(profile)
    name = dataset_name_for(dataset_id)
    pre_dataset = Path(str(nnUNet_preprocessed)) / name
    verify_splits_copy(Path(str(nnUNet_raw)) / name, pre_dataset)
    splits = json.loads((pre_dataset / "splits_final.json").read_text(encoding="utf-8"))
    if not 0 <= fold < len(splits):
        raise ValueError(f"fold {fold} is not in {pre_dataset / 'splits_final.json'} ({len(splits)} folds)")

    out = model_folder(dataset_id, profile) / f"fold_{fold}"
    final, latest = out / FINAL_CHECKPOINT, out / LATEST_CHECKPOINT
    if final.is_file() and not force:
        LOG.info("fold %d: %s exists, skipping (use force to retrain)", fold, final)
        return FoldResult(fold, "skipped", 0.0, 0, final)
    if force and out.exists():
        shutil.rmtree(out)
    resume = latest.is_file()

    plans = json.loads((pre_dataset / f"{profile.plans_name}.json").read_text(encoding="utf-8"))
    dataset_json = json.loads((pre_dataset / "dataset.json").read_text(encoding="utf-8"))
    plans["continue_training"] = resume  # nnU-Net's __init__ pops this key (logger append mode)

    seed_everything(seed + fold)
    if device == "cpu" and num_threads:
        torch.set_num_threads(num_threads)
    cls = trainer_class(profile.trainer)
    start, cpu_start = time.perf_counter(), time.process_time()
    trainer = cls(plans, profile.configuration, fold, dataset_json, device=torch.device(device))
    trainer.num_epochs = profile.num_epochs
    trainer.num_iterations_per_epoch = profile.iterations_per_epoch
    trainer.num_val_iterations_per_epoch = profile.val_iterations_per_epoch
    trainer.initial_lr = profile.initial_lr
    if profile.optimizer != "sgd":
        if not hasattr(trainer, "optimizer_name"):
            raise ValueError(f"trainer {profile.trainer} supports only the sgd optimizer")
        trainer.optimizer_name = profile.optimizer
    trainer.save_every = profile.save_every
    trainer.light_augmentation = profile.light_augmentation
    trainer.oversample_foreground_percent = profile.oversample_foreground
    if resume:
        trainer.load_checkpoint(str(latest))
        LOG.info("fold %d: resuming from %s at epoch %d/%d", fold, latest, trainer.current_epoch,
                 trainer.num_epochs)
    else:
        LOG.info("fold %d: training %s (%d epochs x %d iterations, batch %d) on %s", fold, profile.trainer,
                 profile.num_epochs, profile.iterations_per_epoch,
                 plans["configurations"][profile.configuration]["batch_size"], device)
    first_epoch = trainer.current_epoch
    trainer.run_training()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    if not final.is_file():
        raise RuntimeError(f"fold {fold}: training ended without {final}")
    starts = trainer.logger.get_value("epoch_start_timestamps", step=None)
    ends = trainer.logger.get_value("epoch_end_timestamps", step=None)
    epoch_seconds = [float(e - s) for s, e in zip(starts, ends)]
    LOG.info("fold %d: done in %.1f s (%d epochs this run)", fold, seconds, trainer.num_epochs - first_epoch)
    del trainer
    return FoldResult(fold, "resumed" if resume else "trained", seconds, profile.num_epochs - first_epoch, final,
                      epoch_seconds[first_epoch:], cpu_seconds)


def train_folds(dataset_id: int, profile: str | Profile, folds: Sequence[int], device: str = "cpu",
                force: bool = False, seed: int = 2024, num_threads: int | None = 2,
                cluster: Any = None) -> list[FoldResult]:
    """Train several folds: in order here, or concurrently as one Dask task per fold.

    Args:
        dataset_id, profile, device, force, seed, num_threads: As in :func:`train_fold`.
        folds: Fold indices.
        cluster: ``None`` or a ``ClusterConfig`` with ``scheduler: none``: one fold after
            another in this process (progress bar over folds, stderr). A
            :class:`nnunet_fm.cluster.ClusterConfig` (a client is opened and closed
            here) or a ``distributed.Client``: one task per fold, asking for one GPU
            when ``device`` is ``cuda``; the workers must see the nnU-Net folders.
    """
    if uses_cluster(cluster):
        return _train_folds_on_cluster(dataset_id, get_profile(profile), folds, device, force, seed, num_threads,
                                       cluster)
    from tqdm import tqdm

    results = []
    for fold in tqdm(list(folds), desc="nnU-Net folds", unit="fold"):
        results.append(train_fold(dataset_id, profile, fold, device, force, seed, num_threads))
    return results


def uses_cluster(cluster: Any) -> bool:
    """True for a Dask client or a ``ClusterConfig`` whose scheduler is not ``none``."""
    if cluster is None:
        return False
    from nnunet_fm.cluster import ClusterConfig

    return not isinstance(cluster, ClusterConfig) or cluster.kind != "none"


def train_fold_task(fold: int, env: dict[str, str], dataset_id: int, profile: Profile, device: str, seed: int,
                    num_threads: int | None) -> FoldResult:
    """One fold in a Dask worker, inside the driver's nnU-Net environment.

    A finished fold is skipped and an interrupted one resumes from its latest
    checkpoint (:func:`train_fold`), so a rerun after a worker died continues the fold.
    """
    from nnunet_fm.nnunet.environment import applied_environment

    with applied_environment(env):
        return train_fold(dataset_id, profile, fold, device, False, seed, num_threads)


def _train_folds_on_cluster(dataset_id: int, profile: Profile, folds: Sequence[int], device: str, force: bool,
                            seed: int, num_threads: int | None, cluster: Any) -> list[FoldResult]:
    import contextlib

    from nnunet_fm.cluster import ClusterConfig, open_client, run_folds_on_cluster
    from nnunet_fm.nnunet.environment import current_environment

    if force:  # cleared here, not in the task: a rerun after a worker died must resume, not restart
        for fold in folds:
            shutil.rmtree(model_folder(dataset_id, profile) / f"fold_{int(fold)}", ignore_errors=True)
    task = functools.partial(train_fold_task, env=current_environment(), dataset_id=dataset_id, profile=profile,
                             device=device, seed=seed, num_threads=num_threads)
    gpu = device == "cuda"
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(open_client(cluster, gpu=gpu)) if isinstance(cluster, ClusterConfig) else cluster
        results = run_folds_on_cluster(client, task, list(folds), gpu=gpu)
    for result in results:
        LOG.info("fold %d: %s on the cluster (%.1f s)", result.fold, result.status, result.seconds)
    return results
