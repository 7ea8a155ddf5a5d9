"""`nnunet-fm convert`: cohort folder -> nnU-Net v2 raw dataset (pseudonymised, validated)."""

from __future__ import annotations

import argparse
import logging

from nnunet_fm.cli.settings import add_config_argument, consumed_fields, resolve_config

LOG = logging.getLogger(__name__)

#: Flag -> config field it overrides (``--jobs`` is the run's worker count, nnunet.num_processes).
CONFIG_FLAGS = {
    "input": "data_dir", "dataset_id": "conversion.dataset_id", "dataset_name": "conversion.dataset_name",
    "seed": "conversion.seed", "n_folds": "conversion.n_folds",
    "geometry_tolerance": "conversion.geometry_tolerance", "jobs": "nnunet.num_processes",
    "channel_names": "conversion.channel_names", "max_image_voxels": "conversion.max_image_voxels",
}
#: Config fields this verb uses.
CONSUMES = consumed_fields(CONFIG_FLAGS)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    from nnunet_fm.input_checks import (finite_float, int_in_range, output_dir_path,
                                        output_file_path, positive_int)

    parser = subparsers.add_parser(
        "convert",
        help="convert a cohort folder (clinical.csv + volumes) into an nnU-Net raw dataset",
        description="Validate a cohort (clinical.csv, images, FM masks), pseudonymise it and write "
                    "NNUNET_RAW/DatasetXXX_NAME with dataset.json, splits_final.json and cases.csv. "
                    "The case-id key is written beside the dataset, never inside it.",
    )
    parser.add_argument("--input", default=None, metavar="DIR",
                        help="cohort folder holding clinical.csv (default: the config's data_dir)")
    parser.add_argument("--out", required=True, type=output_dir_path, metavar="NNUNET_RAW",
                        help="nnU-Net raw root folder")
    parser.add_argument("--dataset-id", type=int_in_range(1, 999), default=None, metavar="ID",
                        help="dataset id, 1..999 (default: the config's, 501)")
    parser.add_argument("--dataset-name", default=None, help="dataset name (default: the config's, SIJFM)")
    parser.add_argument("--seed", type=int_in_range(0, 2**32 - 1), default=None,
                        help="seed of ids, sets and folds (default: the config's, seeds.report)")
    parser.add_argument("--n-folds", "--folds", dest="n_folds", type=int_in_range(2, 10), default=None,
                        help="number of CV folds (default: the config's, 5); --folds is a deprecated alias")
    parser.add_argument("--geometry-tolerance", type=finite_float(0, 1, min_inclusive=False, max_inclusive=False),
                        default=None,
                        help="largest accepted mask-vs-image difference in spacing/origin (mm) and "
                             "direction cosines (default: the config's conversion.geometry_tolerance, 1e-4)")
    parser.add_argument("--collect-errors", action="store_true",
                        help="check every patient and report all problems (also as JSON) instead of "
                             "stopping at the first")
    parser.add_argument("--error-report", type=output_file_path, metavar="JSON", default=None,
                        help="path of the --collect-errors JSON report "
                             "(default: NNUNET_RAW/DatasetXXX_NAME.conversion_errors.json)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")
    parser.add_argument("--jobs", type=positive_int, default=None, help="worker processes (default: the config's "
                        "nnunet.num_processes, 2)")
    parser.add_argument("--channel-names", nargs="+", default=None, metavar="NAME",
                        help="nnU-Net channel names, one per image column, e.g. STIR, or T1 STIR for image_t1 + "
                             "image_stir (default: the config's conversion.channel_names; else T1 for an image "
                             "column, the column suffixes for image_<seq> columns)")
    parser.add_argument("--max-image-voxels", type=positive_int, default=None, metavar="N",
                        help="refuse an input volume whose header claims more voxels (checked before reading; "
                             "default: the config's conversion.max_image_voxels)")
    parser.add_argument("--run-dir", type=output_dir_path, default=None, metavar="RUN",
                        help="also copy cases.csv and dataset_meta.json into RUN/dataset/ and, for a synthetic "
                             "cohort (cohort.json + truth.csv), write RUN/dataset/ceiling.json")
    add_config_argument(parser, "conversion")
    return parser


def study_stage(config, paths):
    """The study's conversion stage (input: the synthetic cohort or the config's data_dir)."""
    from benchmarks.engine.stage_runner import Stage

    from nnunet_fm.contract import CASES_FILE, CEILING_FILE, DATASET_META_FILE, RUN_DATASET_DIR

    dataset, copies = paths.dataset(config), paths.run_dir / RUN_DATASET_DIR
    argv = ["convert", "--out", str(paths.raw_root), "--config", str(paths.config_file), "--overwrite",
            "--run-dir", str(paths.run_dir)]
    if config.is_synthetic:
        argv += ["--input", str(paths.cohort)]
    outputs = (dataset / "dataset.json", dataset / CASES_FILE, dataset / "splits_final.json",
               copies / CASES_FILE, copies / DATASET_META_FILE, *((copies / CEILING_FILE,) if config.is_synthetic else ()))
    return Stage("convert", (tuple(argv),), outputs)


def copy_to_run(dataset, input_dir, id_key_file, run_dir) -> None:
    """Copy the dataset's cases.csv and dataset_meta.json into ``RUN/dataset/``; add the ceiling if synthetic.

    A synthetic cohort is recognised by its ``cohort.json`` and ``truth.csv``; the ceiling
    is the AUC of the true log-likelihood ratios per study set (:mod:`dataset_conversion.ceiling`).
    """
    import shutil
    from pathlib import Path

    from nnunet_fm.atomic import atomic_path
    from nnunet_fm.contract import CASES_FILE, CEILING_FILE, DATASET_META_FILE, RUN_DATASET_DIR

    target = Path(run_dir) / RUN_DATASET_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name in (CASES_FILE, DATASET_META_FILE):
        with atomic_path(target / name) as tmp:
            shutil.copyfile(Path(dataset) / name, tmp)
    ceiling = target / CEILING_FILE
    if (Path(input_dir) / "cohort.json").is_file() and (Path(input_dir) / "truth.csv").is_file():
        from dataset_conversion.ceiling import write_ceiling

        content = write_ceiling(input_dir, dataset, id_key_file, ceiling)
        LOG.info("AUC ceiling (true likelihood ratio) per set: %s",
                 {k: v["all"] if v["all"] is None else round(v["all"], 3) for k, v in content["by_set"].items()})
    else:
        ceiling.unlink(missing_ok=True)  # a rerun on user data must not keep a stale synthetic ceiling


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from dataset_conversion.converter import convert_cohort

    config = resolve_config(args, CONFIG_FLAGS)  # validates the ranges
    if config.data_dir is None:
        raise ValueError("convert needs --input (or data_dir in --config)")
    c = config.conversion
    dataset = convert_cohort(
        config.data_dir, args.out, c.dataset_id, dataset_name=c.dataset_name, seed=c.seed,
        n_folds=c.n_folds, geometry_tolerance=c.geometry_tolerance,
        collect_errors=args.collect_errors, overwrite=args.overwrite, jobs=config.nnunet.num_processes,
        error_report=args.error_report, channel_names=c.channel_names, max_image_voxels=c.max_image_voxels,
    )
    if args.run_dir is not None:
        from dataset_conversion.converter import id_key_path

        copy_to_run(dataset, config.data_dir, id_key_path(args.out, c.dataset_id, c.dataset_name), args.run_dir)
    return 0
