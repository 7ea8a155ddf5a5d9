"""`nnunet-fm features`: radiomics + FM feature table (ARCHITECTURE.md section 5)."""

from __future__ import annotations

import argparse

from nnunet_fm.cli.settings import (add_config_argument, add_scheduler_argument, cluster_fields, consumed_fields,
                                    resolve_config)

#: Flag -> config field it overrides.
CONFIG_FLAGS = {"params": "features.params_file", "jobs": "features.jobs",
                "max_shape_surface_faces": "features.max_shape_surface_faces", "scheduler": "cluster.scheduler"}
#: Config fields this verb uses.
CONSUMES = consumed_fields(CONFIG_FLAGS, *cluster_fields())


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    from nnunet_fm.input_checks import int_in_range, output_file_path, positive_int

    parser = subparsers.add_parser(
        "features",
        help="pyradiomics + FM shape features per case into one CSV",
        description="Extract pyradiomics features (original image, 7 classes) and FM burden/distribution "
        "features (fm_*) for every mask, matched to its image by case id.",
    )
    parser.add_argument("--images", required=True, help="folder of T1 volumes (CASE_0000.nii.gz or CASE.nii.gz)")
    parser.add_argument("--masks", required=True, help="folder of FM masks (CASE.nii.gz)")
    parser.add_argument("--out", required=True, type=output_file_path, help="output CSV (written atomically)")
    parser.add_argument(
        "--params", default=None,
        help="pyradiomics parameter YAML (default: the config's features.params_file, else the shipped "
             "radiomics_fm_t1.yaml)"
    )
    parser.add_argument("--jobs", type=positive_int, default=None,
                        help="worker processes (default: the config's, 2)")
    parser.add_argument("--channel", type=int_in_range(0, 9999), default=0,
                        help="nnU-Net channel of the image to use (CASE_<cccc>; default 0)")
    parser.add_argument("--sequence", default=None,
                        help="MR sequence of that channel (default: dataset.json's channel name, else T1); "
                             "T1-only fm_ features are NaN with a note for other sequences")
    parser.add_argument("--max-shape-surface-faces", type=positive_int, default=None, metavar="FACES",
                        help="largest mask surface (exposed voxel faces) for pyradiomics' 3-D shape class; "
                             "above it the shape features are NaN with a reason in shape_note (default: the "
                             "config's features.max_shape_surface_faces, 100000)")
    add_scheduler_argument(parser)
    parser.add_argument("--dask-address", dest="scheduler", default=argparse.SUPPRESS, metavar="tcp://HOST:PORT",
                        help="deprecated spelling of --scheduler tcp://HOST:PORT")
    add_config_argument(parser, "features")
    return parser


def study_stage(config, paths):
    """The study's feature extraction, one table per prediction set on its predicted masks
    (``features/<set>.csv``) and the same extraction on its reference masks
    (``features/reference_<set>.csv``: sensitivity analysis and feature study)."""
    from benchmarks.engine.stage_runner import Stage
    from nnunet_fm.cli.pipeline import study_prediction_sets
    from nnunet_fm.contract import PREDICTION_SETS, REFERENCE_FEATURES_PREFIX

    sets = study_prediction_sets(config)
    dataset, run = paths.dataset(config), paths.run_dir
    predicted = tuple(
        ("features", "--images", str(dataset / images), "--masks", str(paths.predictions / name),
         "--out", str(run / "features" / f"{name}.csv"), "--config", str(paths.config_file))
        for name, (images, _) in PREDICTION_SETS.items() if name in sets)
    reference = tuple(
        ("features", "--images", str(dataset / images), "--masks", str(dataset / labels),
         "--out", str(run / "features" / f"{REFERENCE_FEATURES_PREFIX}{name}.csv"), "--config", str(paths.config_file))
        for name, (images, labels) in PREDICTION_SETS.items() if name in sets)
    outputs = tuple(run / "features" / f"{prefix}{n}.csv" for prefix in ("", REFERENCE_FEATURES_PREFIX)
                    for n in sets)
    return Stage("features", predicted + reference, outputs)


def run(args: argparse.Namespace) -> int:
    """Run the verb.

    Exit 0 when at least one case succeeded (failed cases are logged and kept in the
    ``error`` column so one bad file does not stop a study), 1 when every case failed.
    """
    import logging

    from classifiers.feature_extraction import extract_features

    config = resolve_config(args, CONFIG_FLAGS)  # validates the ranges
    settings = config.features
    table = extract_features(
        args.images, args.masks, params_file=settings.params_file, jobs=settings.jobs,
        max_shape_surface_faces=settings.max_shape_surface_faces, out_csv=args.out, channel=args.channel, sequence=args.sequence,
        cluster=config.cluster,
    )
    failed = int((table["error"] != "").sum())
    log = logging.getLogger("nnunet_fm.cli.features")
    log.info("wrote %s (%d cases, %d columns)", args.out, len(table), table.shape[1])
    if failed:
        log.warning("%d of %d case(s) failed; see the error column of %s", failed, len(table), args.out)
    return 1 if failed == len(table) else 0
