"""`nnunet-fm reader-study`: readers' DSC vs a reference, paired Wilcoxon tests, agreement."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from nnunet_fm.cli.settings import add_config_argument, consumed_fields, resolve_config

LOG = logging.getLogger(__name__)

#: Flag -> config field it overrides.
CONFIG_FLAGS = {"simulation_seed": "reader_study.seed"}
#: Config fields this verb uses.
CONSUMES = consumed_fields(CONFIG_FLAGS)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    from nnunet_fm.input_checks import output_dir_path, positive_int

    parser = subparsers.add_parser(
        "reader-study",
        help="readers' per-case DSC vs a reference, paired Wilcoxon tests, inter-reader agreement",
        description="Writes OUT/reader_study.csv (per-case DSC, long format) and OUT/reader_study.json "
                    "(mean ± SD per reader, two-sided Wilcoxon signed-rank with rank-biserial effect size "
                    "for each --pairs, inter-reader DSC).",
    )
    parser.add_argument("--reference", required=True, type=Path, help="folder of reference masks")
    parser.add_argument("--reader", action="append", default=[], metavar="NAME=DIR",
                        help="a reader's mask folder (repeat for each reader)")
    parser.add_argument("--pairs", nargs="+", action="extend", default=[], metavar="NAME_A:NAME_B",
                        help="reader pairs to compare with the paired test (e.g. resident:resident_assisted)")
    parser.add_argument("--out", required=True, type=output_dir_path, help="output folder")
    parser.add_argument("--jobs", type=positive_int, default=1, help="worker processes (default 1)")
    parser.add_argument("--simulate-from", type=Path, default=None, metavar="MODEL_DIR",
                        help="synthetic cohorts only: first write SIMULATED readers (resident/expert, without/with "
                             "the model's masks in MODEL_DIR) into --simulate-into and study those")
    parser.add_argument("--simulate-into", type=Path, default=None, metavar="DIR",
                        help="root folder of the simulated readers' masks (one sub-folder per reader)")
    parser.add_argument("--simulation-seed", type=int, default=None,
                        help="seed of the simulated readers (default: the config's reader_study.seed, 2024)")
    add_config_argument(parser, "reader_study")
    return parser


def study_stage(config, paths):
    """The study's reader study: simulated readers on the internal test set (synthetic runs only)."""
    from benchmarks.engine.stage_runner import Stage
    from nnunet_fm.contract import READER_PAIRS, SET_FOLDERS

    if not config.is_synthetic:
        return None
    labels = SET_FOLDERS["internal_test"][1]
    argv = ["reader-study", "--reference", str(paths.dataset(config) / labels), "--out", str(paths.run_dir / "reader_study"),
            "--simulate-from", str(paths.predictions / "internal_test"), "--simulate-into", str(paths.readers),
            "--config", str(paths.config_file)]
    for _, without, with_ in READER_PAIRS:
        argv += ["--pairs", f"{without}:{with_}"]
    return Stage("reader_study", (tuple(argv),), (paths.run_dir / "reader_study" / "reader_study.json",))


def _simulate_readers(args: argparse.Namespace) -> list[str]:
    """Write the simulated readers; return their ``NAME=DIR`` specs."""
    from benchmarks.engine.simulated_readers import write_simulated_readers

    if args.simulate_into is None:
        raise ValueError("--simulate-from needs --simulate-into")
    seed = resolve_config(args, CONFIG_FLAGS).reader_study.seed
    folders = write_simulated_readers(str(args.reference), str(args.simulate_from), str(args.simulate_into), seed)
    return [f"{name}={folder}" for name, folder in folders.items()]


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from nnunet_fm.atomic import write_csv, write_json
    from nnunet_fm.provenance import portable_path
    from nnunet_fm.reader_study import compute_dice_table, parse_pairs, parse_reader_specs, study_summary

    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1; got {args.jobs}")
    specs = list(args.reader) + (_simulate_readers(args) if args.simulate_from is not None else [])
    if not specs:
        raise ValueError("give at least one --reader NAME=DIR (or --simulate-from)")
    readers = parse_reader_specs(specs)
    pairs = parse_pairs(args.pairs, list(readers))
    table = compute_dice_table(args.reference, readers, args.jobs)
    summary = study_summary(table, pairs)
    # folder names only: results must not reveal the machine's directory layout
    summary["reference"] = portable_path(args.reference, args.out)
    summary["reader_folders"] = {name: portable_path(folder, args.out) for name, folder in readers.items()}
    # Simulated readers (perturbed reference/model masks) are no clinical readers: say so in the data itself.
    summary["simulated"] = args.simulate_from is not None
    write_csv(args.out / "reader_study.csv", table)
    write_json(args.out / "reader_study.json", summary)
    for name, entry in summary["readers"].items():
        LOG.info("%s: DSC %.4f ± %.4f (n=%d)", name, entry["mean_dice"], entry["sd_dice"], entry["n_cases"])
    for test in summary["paired_tests"]:
        LOG.info("%s vs %s: Wilcoxon p=%.4g, rank-biserial r=%.3f", test["reader_a"], test["reader_b"],
                 test["p_value"], test["rank_biserial"])
    LOG.info("wrote %s", args.out)
    return 0
