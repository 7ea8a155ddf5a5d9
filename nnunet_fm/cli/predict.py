"""`nnunet-fm predict`: out-of-fold and fold-ensemble FM masks with trained nnU-Net folds."""

from __future__ import annotations

import argparse
import logging

from nnunet_fm.cli.settings import cluster_fields, cluster_keyword, consumed_fields, resolve_config
from nnunet_fm.contract import PREDICTION_SETS as PREDICTION_SET_NAMES

LOG = logging.getLogger(__name__)

#: Flag -> config field it overrides (``--mirroring`` / ``--no-mirroring`` -> nnunet.mirroring).
CONFIG_FLAGS = {
    "dataset_id": "conversion.dataset_id", "profile": "nnunet.profile", "folds": "nnunet.folds",
    "device": "nnunet.device", "mirroring": "nnunet.mirroring", "scheduler": "cluster.scheduler",
}
#: Config fields this verb uses.
CONSUMES = consumed_fields(CONFIG_FLAGS, "nnunet.num_processes", *cluster_fields())


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
    parser.add_argument("--sets", nargs="+", choices=tuple(PREDICTION_SET_NAMES), default=None, metavar="SET",
                        help=f"prediction sets to write (default: all of {', '.join(PREDICTION_SET_NAMES)})")
    parser.add_argument("--mirroring", action=argparse.BooleanOptionalAction, default=None,
                        help="test-time mirroring (default: the config's nnunet.mirroring; when that is "
                             "null, the profile's: quick off, paper on)")
    return parser


def study_stage(config, paths):
    """The study's prediction stage: one folder per prediction set."""
    from benchmarks.engine.stage_runner import Stage
    from nnunet_fm.cli.train import nnunet_stage_paths
    from nnunet_fm.cli.pipeline import study_prediction_sets
    from nnunet_fm.contract import PREDICTION_SETS

    sets = tuple(name for name in PREDICTION_SETS if name in study_prediction_sets(config))
    argv = ("predict", *nnunet_stage_paths(paths), "--out", str(paths.predictions), "--sets", *sets,
            "--config", str(paths.config_file))
    return Stage("predict", (argv,), tuple(paths.predictions / name for name in sets))


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from pathlib import Path

    from nnunet_fm.atomic import write_json
    from nnunet_fm.cli.train import workspace_from_args
    from nnunet_fm.nnunet.environment import nnunet_workspace
    from nnunet_fm.nnunet.profiles import resolve_profile

    config = resolve_config(args, CONFIG_FLAGS)
    nn = config.nnunet
    profile = resolve_profile(nn)  # mirroring: the config's, else the profile's
    workspace = workspace_from_args(args, config)
    with nnunet_workspace(nn, workspace.folders):
        from nnunet_fm.nnunet.prediction import predict_all

        report = predict_all(workspace.dataset_id, profile, args.out, folds=nn.folds, device=nn.device,
                             mirroring=profile.mirroring, num_threads=nn.num_processes,
                             subsets=tuple(args.sets or PREDICTION_SET_NAMES), **cluster_keyword(predict_all, config))
    write_json(Path(args.out) / "prediction_timings.json",
               {"profile": profile.name, "mirroring": profile.mirroring, "folds": list(nn.folds),
                "summary": report.summary(), "seconds_per_case": report.seconds_per_case})
    LOG.info("masks written to %s (test-time mirroring %s)", args.out, "on" if profile.mirroring else "off")
    return 0
