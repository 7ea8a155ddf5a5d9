"""`nnunet-fm train`: plan, preprocess and train nnU-Net folds (quick CPU or paper GPU profile)."""

from __future__ import annotations

import argparse
import logging

LOG = logging.getLogger(__name__)


def add_common_nnunet_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``train`` and ``predict``."""
    parser.add_argument("--raw", required=True, help="nnU-Net raw root (holds DatasetXXX_NAME)")
    parser.add_argument("--dataset-id", type=int, required=True, help="nnU-Net dataset id, e.g. 501")
    parser.add_argument("--profile", choices=("quick", "paper"), default=None,
                        help="quick (light plan, short CPU schedule) or paper (nnU-Net defaults, GPU); "
                             "default: the config's nnunet.profile (quick)")
    parser.add_argument("--folds", type=int, nargs="+", default=None, help="folds (default: config, 0 1 2 3 4)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: config (cpu)")
    parser.add_argument("--preprocessed", default=None, help="default: <raw>/../nnUNet_preprocessed")
    parser.add_argument("--results", default=None, help="default: <raw>/../nnUNet_results")
    parser.add_argument("--config", default=None, help="run config YAML (its nnunet section is used)")


def nnunet_config_from_args(args: argparse.Namespace):
    """The run config's nnunet section with command-line flags applied."""
    from nnunet_fm.config import load_run_config

    overrides = {}
    for flag, key in (("profile", "profile"), ("folds", "folds"), ("device", "device")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[key] = value
    mirroring = getattr(args, "mirroring", None)
    if mirroring is not None:
        overrides["mirroring"] = mirroring
    return load_run_config(args.config, {"nnunet": overrides} if overrides else None).nnunet


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    parser = subparsers.add_parser(
        "train", help="plan, preprocess and train nnU-Net folds",
        description="Plan and preprocess with nnU-Net's API (default ExperimentPlanner; the quick profile "
                    "derives a lighter plan), copy the converter's patient-level splits_final.json, and train "
                    "the folds. Finished folds are skipped (unless --force); interrupted folds resume.")
    add_common_nnunet_arguments(parser)
    parser.add_argument("--force", action="store_true", help="re-plan, re-preprocess and retrain finished folds")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from pathlib import Path

    from nnunet_fm.nnunet.environment import NnunetFolders, configure
    from nnunet_fm.nnunet.profiles import resolve_profile

    config = nnunet_config_from_args(args)
    profile = resolve_profile(config)
    folders = NnunetFolders.from_raw(args.raw, args.preprocessed, args.results)
    if not Path(folders.raw).is_dir():
        raise FileNotFoundError(f"--raw {folders.raw} does not exist")
    configure(config, folders, compile_network=profile.compile_network and config.device == "cuda")

    from nnunet_fm.nnunet.planning import plan_and_preprocess
    from nnunet_fm.nnunet.training import model_folder, train_folds
    from nnunet_fm.provenance import write_provenance

    planning = plan_and_preprocess(args.dataset_id, profile, num_processes=config.num_processes, force=args.force)
    results = train_folds(args.dataset_id, profile, config.folds, config.device, args.force, config.seed,
                          config.num_processes)
    out = model_folder(args.dataset_id, profile)
    write_provenance(out, config, seeds={"nnunet": config.seed}, profile=profile.name,
                     plans=planning.plan_summary,
                     folds={r.fold: {"status": r.status, "seconds": round(r.seconds, 1)} for r in results})
    for r in results:
        LOG.info("fold %d: %s (%.0f s)", r.fold, r.status, r.seconds)
    LOG.info("models in %s", out)
    return 0
