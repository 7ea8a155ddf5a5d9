"""`nnunet-fm reader-study`: readers' DSC vs a reference, paired Wilcoxon tests, agreement."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

LOG = logging.getLogger(__name__)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    parser = subparsers.add_parser(
        "reader-study",
        help="readers' per-case DSC vs a reference, paired Wilcoxon tests, inter-reader agreement",
        description="Writes OUT/reader_study.csv (per-case DSC, long format) and OUT/reader_study.json "
                    "(mean ± SD per reader, two-sided Wilcoxon signed-rank with rank-biserial effect size "
                    "for each --pairs, inter-reader DSC).",
    )
    parser.add_argument("--reference", required=True, type=Path, help="folder of reference masks")
    parser.add_argument("--reader", required=True, action="append", metavar="NAME=DIR",
                        help="a reader's mask folder (repeat for each reader)")
    parser.add_argument("--pairs", nargs="+", action="extend", default=[], metavar="NAME_A:NAME_B",
                        help="reader pairs to compare with the paired test (e.g. resident:resident_assisted)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from nnunet_fm.atomic import write_csv, write_json
    from nnunet_fm.reader_study import compute_dice_table, parse_pairs, parse_reader_specs, study_summary

    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1; got {args.jobs}")
    readers = parse_reader_specs(args.reader)
    pairs = parse_pairs(args.pairs, list(readers))
    table = compute_dice_table(args.reference, readers, args.jobs)
    summary = study_summary(table, pairs)
    summary["reference"] = str(args.reference)
    summary["reader_folders"] = {name: str(folder) for name, folder in readers.items()}
    write_csv(args.out / "reader_study.csv", table)
    write_json(args.out / "reader_study.json", summary)
    for name, entry in summary["readers"].items():
        LOG.info("%s: DSC %.4f ± %.4f (n=%d)", name, entry["mean_dice"], entry["sd_dice"], entry["n_cases"])
    for test in summary["paired_tests"]:
        LOG.info("%s vs %s: Wilcoxon p=%.4g, rank-biserial r=%.3f", test["reader_a"], test["reader_b"],
                 test["p_value"], test["rank_biserial"])
    LOG.info("wrote %s", args.out)
    return 0
