"""`nnunet-fm predict`: out-of-fold and fold-ensemble FM masks with trained nnU-Net folds."""

from __future__ import annotations

import argparse
import logging

LOG = logging.getLogger(__name__)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    from nnunet_fm.cli.train import add_common_nnunet_arguments

    parser = subparsers.add_parser(
        "predict", help="predict FM masks: OOF for imagesTr, fold ensemble for imagesTs / imagesExt",
        description="Writes OUT/oof/<case>.nii.gz (each imagesTr case by the fold model that did not train "
                    "on it), OUT/internal_test and OUT/external_test (ensemble of the folds), as uint8 masks "
                    "in the source image geometry, plus OUT/prediction_timings.json.")
    add_common_nnunet_arguments(parser)
    parser.add_argument("--out", required=True, help="output folder (WORK/predictions)")
    parser.add_argument("--mirroring", action=argparse.BooleanOptionalAction, default=None,
                        help="test-time mirroring (default: the profile's; quick: off, paper: on)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from pathlib import Path

    from nnunet_fm.atomic import write_json
    from nnunet_fm.cli.train import nnunet_config_from_args
    from nnunet_fm.nnunet.environment import NnunetFolders, configure
    from nnunet_fm.nnunet.profiles import resolve_profile

    config = nnunet_config_from_args(args)
    profile = resolve_profile(config)
    folders = NnunetFolders.from_raw(args.raw, args.preprocessed, args.results)
    configure(config, folders)

    from nnunet_fm.nnunet.prediction import predict_all

    mirroring = args.mirroring if args.mirroring is not None else profile.mirroring
    report = predict_all(args.dataset_id, profile, args.out, folds=config.folds, device=config.device,
                         mirroring=mirroring, num_threads=config.num_processes)
    write_json(Path(args.out) / "prediction_timings.json",
               {"profile": profile.name, "mirroring": mirroring, "folds": list(config.folds),
                "summary": report.summary(), "seconds_per_case": report.seconds_per_case})
    LOG.info("masks written to %s", args.out)
    return 0
