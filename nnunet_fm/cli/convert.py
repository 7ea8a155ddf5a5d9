"""`nnunet-fm convert`: cohort folder -> nnU-Net v2 raw dataset (pseudonymised, validated)."""

from __future__ import annotations

import argparse

from nnunet_fm.image_io import GEOMETRY_TOLERANCE


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    parser = subparsers.add_parser(
        "convert",
        help="convert a cohort folder (clinical.csv + volumes) into an nnU-Net raw dataset",
        description="Validate a cohort (clinical.csv, images, FM masks), pseudonymise it and write "
                    "NNUNET_RAW/DatasetXXX_NAME with dataset.json, splits_final.json and cases.csv. "
                    "The case-id key is written beside the dataset, never inside it.",
    )
    parser.add_argument("--input", required=True, metavar="DIR", help="cohort folder holding clinical.csv")
    parser.add_argument("--out", required=True, metavar="NNUNET_RAW", help="nnU-Net raw root folder")
    parser.add_argument("--dataset-id", required=True, type=int, metavar="ID", help="dataset id, 1..999")
    parser.add_argument("--dataset-name", default="SIJFM", help="dataset name (default: SIJFM)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of ids, sets and folds (default: 2024)")
    parser.add_argument("--folds", type=int, default=5, help="number of CV folds (default: 5)")
    parser.add_argument("--geometry-tolerance", type=float, default=GEOMETRY_TOLERANCE,
                        help="largest accepted mask-vs-image difference in spacing/origin (mm) and "
                             f"direction cosines (default: {GEOMETRY_TOLERANCE:g})")
    parser.add_argument("--collect-errors", action="store_true",
                        help="check every patient and report all problems (also as JSON) instead of "
                             "stopping at the first")
    parser.add_argument("--error-report", metavar="JSON", default=None,
                        help="path of the --collect-errors JSON report "
                             "(default: NNUNET_RAW/DatasetXXX_NAME.conversion_errors.json)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default: 2)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from dataset_conversion.converter import convert_cohort

    convert_cohort(
        args.input, args.out, args.dataset_id, dataset_name=args.dataset_name, seed=args.seed,
        n_folds=args.folds, geometry_tolerance=args.geometry_tolerance,
        collect_errors=args.collect_errors, overwrite=args.overwrite, jobs=args.jobs,
        error_report=args.error_report,
    )
    return 0
