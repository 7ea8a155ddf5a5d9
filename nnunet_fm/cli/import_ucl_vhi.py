"""`nnunet-fm import-ucl-vhi`: a cohort folder from a local copy of the public UCL VHI data."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    parser = subparsers.add_parser(
        "import-ucl-vhi",
        help="build a cohort (clinical.csv + links or copies) from a local copy of the UCL VHI data",
        description="Lay out a local copy of the public UCL 'volume of hyperintense inflammation' repository "
                    "as a cohort folder for `nnunet-fm convert`: disease-region masks on T1W (Test_data "
                    "scans become internal_test) or one reader's inflammation masks on STIR. Never downloads. "
                    "The data have no diagnosis, age or sex: the study is segmentation-only.",
    )
    parser.add_argument("--root", required=True, metavar="DIR",
                        help="the repository folder (holding data/images_study and data/segmentations)")
    parser.add_argument("--out", required=True, metavar="COHORT", help="cohort folder to create")
    parser.add_argument("--task", required=True, choices=("disease-region", "inflammation"),
                        help="disease-region (T1W) or inflammation (STIR)")
    parser.add_argument("--reader", default="R11", choices=("R11", "R12", "R21", "R22"),
                        help="inflammation reader x, trial y (default R11)")
    parser.add_argument("--with-t1", action="store_true",
                        help="inflammation task: add the same session's T1W scan as a second channel")
    parser.add_argument("--copy", action="store_true", help="copy the files (default: symbolic links)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing cohort folder")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from dataset_conversion.ucl_vhi import import_ucl_vhi

    import_ucl_vhi(args.root, args.out, task=args.task, reader=args.reader, copy=args.copy,
                   overwrite=args.overwrite, with_t1=args.with_t1)
    return 0
