"""`nnunet-fm feature-stability`: per-feature ICC between two mask sources."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    from nnunet_fm.input_checks import existing_directory, existing_regular_file, output_dir_path, positive_int

    parser = subparsers.add_parser(
        "feature-stability",
        help="ICC of every feature between two mask sources",
        description="Extract features from the same images with two mask sets and write a per-feature "
        "ICC(A,1)/ICC(C,1) table sorted by ICC and a ranked plot with 0.75/0.9 lines.",
    )
    parser.add_argument("--masks-a", required=True, type=existing_directory, help="first mask folder (e.g. reader)")
    parser.add_argument("--masks-b", required=True, type=existing_directory, help="second mask folder (e.g. model)")
    parser.add_argument("--images", required=True, type=existing_directory, help="folder of T1 volumes")
    parser.add_argument(
        "--out", required=True, type=output_dir_path,
        help="output folder (feature_icc.csv, feature_icc.png, features_a/b.csv)"
    )
    parser.add_argument("--params", default=None, type=existing_regular_file,
                        help="pyradiomics parameter YAML (default: shipped one)")
    parser.add_argument("--jobs", type=positive_int, default=2, help="worker processes (default 2)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    import logging

    from classifiers.feature_stability import feature_stability

    summary = feature_stability(
        args.masks_a, args.masks_b, args.images, args.out, params_file=args.params, jobs=args.jobs
    )
    logging.getLogger("nnunet_fm.cli.feature_stability").info("wrote %s and %s", summary["icc_csv"], summary["plot"])
    return 0
