"""`nnunet-fm features`: radiomics + FM feature table (ARCHITECTURE.md section 5)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    parser = subparsers.add_parser(
        "features",
        help="pyradiomics + FM shape features per case into one CSV",
        description="Extract pyradiomics features (original image, 7 classes) and FM burden/distribution "
        "features (fm_*) for every mask, matched to its image by case id.",
    )
    parser.add_argument("--images", required=True, help="folder of T1 volumes (CASE_0000.nii.gz or CASE.nii.gz)")
    parser.add_argument("--masks", required=True, help="folder of FM masks (CASE.nii.gz)")
    parser.add_argument("--out", required=True, help="output CSV (written atomically)")
    parser.add_argument(
        "--params", default=None, help="pyradiomics parameter YAML (default: shipped radiomics_fm_t1.yaml)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--dask-address", default=None, help="run cases on this Dask distributed scheduler instead")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the verb.

    Exit 0 when at least one case succeeded (failed cases are logged and kept in the
    ``error`` column so one bad file does not stop a study), 1 when every case failed.
    """
    import logging

    from classifiers.feature_extraction import extract_features

    table = extract_features(
        args.images, args.masks, params_file=args.params, jobs=args.jobs,
        dask_address=args.dask_address, out_csv=args.out,
    )
    failed = int((table["error"] != "").sum())
    log = logging.getLogger("nnunet_fm.cli.features")
    log.info("wrote %s (%d cases, %d columns)", args.out, len(table), table.shape[1])
    if failed:
        log.warning("%d of %d case(s) failed; see the error column of %s", failed, len(table), args.out)
    return 1 if failed == len(table) else 0
