"""`nnunet-fm convert`: cohort folder -> nnU-Net v2 raw dataset (pseudonymised, validated)."""

from __future__ import annotations

import argparse

from nnunet_fm.cli.settings import add_config_argument, consumed_fields, resolve_config

#: Flag -> config field it overrides (``--jobs`` is the run's worker count, nnunet.num_processes).
CONFIG_FLAGS = {
    "input": "data_dir", "dataset_id": "conversion.dataset_id", "dataset_name": "conversion.dataset_name",
    "seed": "conversion.seed", "n_folds": "conversion.n_folds",
    "geometry_tolerance": "conversion.geometry_tolerance", "jobs": "nnunet.num_processes",
}
#: Config fields this verb uses.
CONSUMES = consumed_fields(CONFIG_FLAGS)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    parser = subparsers.add_parser(
        "convert",
        help="convert a cohort folder (clinical.csv + volumes) into an nnU-Net raw dataset",
        description="Validate a cohort (clinical.csv, images, FM masks), pseudonymise it and write "
                    "NNUNET_RAW/DatasetXXX_NAME with dataset.json, splits_final.json and cases.csv. "
                    "The case-id key is written beside the dataset, never inside it.",
    )
    parser.add_argument("--input", default=None, metavar="DIR",
                        help="cohort folder holding clinical.csv (default: the config's data_dir)")
    parser.add_argument("--out", required=True, metavar="NNUNET_RAW", help="nnU-Net raw root folder")
    parser.add_argument("--dataset-id", type=int, default=None, metavar="ID",
                        help="dataset id, 1..999 (default: the config's, 501)")
    parser.add_argument("--dataset-name", default=None, help="dataset name (default: the config's, SIJFM)")
    parser.add_argument("--seed", type=int, default=None, help="seed of ids, sets and folds (default: the config's, 2024)")
    parser.add_argument("--n-folds", "--folds", dest="n_folds", type=int, default=None,
                        help="number of CV folds (default: the config's, 5); --folds is a deprecated alias")
    parser.add_argument("--geometry-tolerance", type=float, default=None,
                        help="largest accepted mask-vs-image difference in spacing/origin (mm) and "
                             "direction cosines (default: the config's conversion.geometry_tolerance, 1e-4)")
    parser.add_argument("--collect-errors", action="store_true",
                        help="check every patient and report all problems (also as JSON) instead of "
                             "stopping at the first")
    parser.add_argument("--error-report", metavar="JSON", default=None,
                        help="path of the --collect-errors JSON report "
                             "(default: NNUNET_RAW/DatasetXXX_NAME.conversion_errors.json)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: the config's "
                        "nnunet.num_processes, 2)")
    add_config_argument(parser, "conversion")
    return parser


def study_stage(config, paths):
    """The study's conversion stage (input: the synthetic cohort or the config's data_dir)."""
    from benchmarks.engine.stage_runner import Stage

    dataset = paths.dataset(config)
    argv = ["convert", "--out", str(paths.raw_root), "--config", str(paths.config_file), "--overwrite"]
    if config.is_synthetic:
        argv += ["--input", str(paths.cohort)]
    return Stage("convert", (tuple(argv),),
                 (dataset / "dataset.json", dataset / "cases.csv", dataset / "splits_final.json"))


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from dataset_conversion.converter import convert_cohort

    config = resolve_config(args, CONFIG_FLAGS)  # validates the ranges
    if config.data_dir is None:
        raise ValueError("convert needs --input (or data_dir in --config)")
    c = config.conversion
    convert_cohort(
        config.data_dir, args.out, c.dataset_id, dataset_name=c.dataset_name, seed=c.seed,
        n_folds=c.n_folds, geometry_tolerance=c.geometry_tolerance,
        collect_errors=args.collect_errors, overwrite=args.overwrite, jobs=config.nnunet.num_processes,
        error_report=args.error_report,
    )
    return 0
