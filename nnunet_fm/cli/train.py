"""`nnunet-fm train`: plan, preprocess and train nnU-Net folds (quick CPU or paper GPU profile)."""

from __future__ import annotations

import argparse
import logging

from nnunet_fm.cli.settings import (add_config_argument, add_scheduler_argument, cluster_fields, cluster_keyword,
                                    consumed_fields, resolve_config)

LOG = logging.getLogger(__name__)

#: Flags shared by ``train`` and ``predict`` -> the config field each overrides.
NNUNET_FLAGS = {
    "dataset_id": "conversion.dataset_id",
    "profile": "nnunet.profile",
    "folds": "nnunet.folds",
    "device": "nnunet.device",
    "scheduler": "cluster.scheduler",
}
CONFIG_FLAGS = {**NNUNET_FLAGS, "patch_voxel_budget": "nnunet.patch_voxel_budget",
                "val_iterations_per_epoch": "nnunet.val_iterations_per_epoch"}
#: Config fields this verb uses.
CONSUMES = consumed_fields(CONFIG_FLAGS, "nnunet.num_processes", "nnunet.num_processes_da", "nnunet.num_epochs",
                           "nnunet.iterations_per_epoch", "nnunet.seed", *cluster_fields())


def add_common_nnunet_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``train`` and ``predict`` (each defaults to the config's value)."""
    from nnunet_fm.input_checks import int_in_range

    parser.add_argument("--raw", required=True, help="nnU-Net raw root (holds DatasetXXX_NAME)")
    parser.add_argument("--dataset-id", type=int_in_range(1, 999), default=None,
                        help="nnU-Net dataset id (default: the config's conversion.dataset_id, 501)")
    parser.add_argument("--profile", choices=("quick", "paper"), default=None,
                        help="quick (light plan, short CPU schedule) or paper (nnU-Net defaults, GPU); "
                             "default: the config's nnunet.profile (quick)")
    parser.add_argument("--folds", type=int_in_range(0, 9), nargs="+", default=None,
                        help="fold indices (default: the config's nnunet.folds, 0 1 2 3 4)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: the config's (cpu)")
    parser.add_argument("--preprocessed", default=None, help="default: <raw>/../nnUNet_preprocessed")
    parser.add_argument("--results", default=None, help="default: <raw>/../nnUNet_results")
    add_scheduler_argument(parser)
    add_config_argument(parser, "nnunet")


def training_profile(nn):
    """The profile of ``nn`` with every config override applied (one place: ``resolve_profile``)."""
    from nnunet_fm.nnunet.profiles import resolve_profile

    return resolve_profile(nn)


def workspace_from_args(args: argparse.Namespace, config):
    """The nnU-Net workspace of a verb: folders from the flags, dataset id from the config.

    Raises:
        FileNotFoundError: ``--raw`` or the dataset folder is missing.
    """
    from pathlib import Path

    from nnunet_fm.nnunet.environment import NnunetFolders, NnunetWorkspace, find_dataset_name

    folders = NnunetFolders.from_raw(args.raw, args.preprocessed, args.results)
    if not Path(folders.raw).is_dir():
        raise FileNotFoundError(f"--raw {folders.raw} does not exist")
    dataset_id = config.conversion.dataset_id
    return NnunetWorkspace(folders, dataset_id, find_dataset_name(folders.raw, dataset_id))


def nnunet_stage_paths(paths) -> tuple[str, ...]:
    """``--raw/--preprocessed/--results`` of a study run."""
    return ("--raw", str(paths.raw_root), "--preprocessed", str(paths.preprocessed), "--results", str(paths.results))


def study_stage(config, paths):
    """The study's training stage: the run's config.yaml carries every setting."""
    from benchmarks.engine.stage_runner import Stage

    return Stage("train", (("train", *nnunet_stage_paths(paths), "--config", str(paths.config_file)),))


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    from nnunet_fm.input_checks import int_in_range, positive_int

    parser = subparsers.add_parser(
        "train", help="plan, preprocess and train nnU-Net folds",
        description="Plan and preprocess with nnU-Net's API (default ExperimentPlanner; the quick profile "
                    "derives a lighter plan), copy the converter's patient-level splits_final.json, and train "
                    "the folds. Finished folds are skipped (unless --force); interrupted folds resume.")
    add_common_nnunet_arguments(parser)
    parser.add_argument("--force", action="store_true", help="re-plan, re-preprocess and retrain finished folds")
    parser.add_argument("--patch-voxel-budget", type=int_in_range(4096, None), default=None, metavar="VOXELS",
                        help="most voxels per 3-D patch of the derived plan (default: the config's "
                             "nnunet.patch_voxel_budget, else the profile's)")
    parser.add_argument("--val-iterations-per-epoch", type=positive_int, default=None, metavar="N",
                        help="validation iterations per epoch (default: the config's, else the profile's; "
                             "the paper profile's 50 dominate a CPU epoch)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from nnunet_fm.nnunet.environment import nnunet_workspace

    config = resolve_config(args, CONFIG_FLAGS)
    nn = config.nnunet
    profile = training_profile(nn)
    workspace = workspace_from_args(args, config)
    with nnunet_workspace(nn, workspace.folders, compile_network=profile.compile_network and nn.device == "cuda"):
        from nnunet_fm.nnunet.planning import plan_and_preprocess
        from nnunet_fm.nnunet.training import model_folder, train_folds
        from nnunet_fm.provenance import write_provenance

        planning = plan_and_preprocess(workspace.dataset_id, profile, num_processes=nn.num_processes, force=args.force)
        results = train_folds(workspace.dataset_id, profile, nn.folds, nn.device, args.force, nn.seed,
                              nn.num_processes, **cluster_keyword(train_folds, config))
        out = model_folder(workspace.dataset_id, profile)
    write_provenance(out, nn, seeds={"nnunet": nn.seed}, profile=profile.name, plans=planning.plan_summary,
                     folds={r.fold: {"status": r.status, "seconds": round(r.seconds, 1)} for r in results})
    for r in results:
        LOG.info("fold %d: %s (%.0f s)", r.fold, r.status, r.seconds)
    LOG.info("models in %s", out)
    return 0
