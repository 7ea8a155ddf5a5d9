"""``nnunet-fm benchmark``: the whole study, resumable, with a report beside the paper."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    from nnunet_fm.input_checks import finite_float, int_in_range

    p = subparsers.add_parser(
        "benchmark",
        help="run the whole study (default: embedded synthetic cohort, quick CPU profile)",
        description="synth -> convert -> nnU-Net 5 folds -> predict -> evaluate -> features -> "
        "classifiers -> ROC -> feature study -> reader study -> report. Rerun the same command to resume after an interrupt.",
    )
    p.add_argument("--config", help="run config YAML (see nnunet_fm/config.py); flags below override it")
    p.add_argument("--profile", choices=("quick", "paper"), help="nnU-Net profile (default quick)")
    p.add_argument("--data", help="your cohort folder (clinical.csv + images + masks); default: synthetic cohort")
    p.add_argument("--out", help="results root (default results/runs, git-ignored)")
    p.add_argument("--work", help="root for large intermediate data (default work_runs)")
    p.add_argument("--name", help="run name (default quick-synthetic)")
    p.add_argument("--scale", type=finite_float(0, 4, min_inclusive=False),
                   help="synthetic cohort scale (1.0 = the paper's 706 patients)")
    p.add_argument("--seed", type=int_in_range(0, 2**32 - 1),
                   help="one seed for every stage (default: the config's seeds.report, 31415)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="training/inference device")
    p.add_argument("--folds", type=int_in_range(0, 9), nargs="+", help="folds to train (default 0 1 2 3 4)")
    p.add_argument("--scheduler", metavar="KIND",
                   help="where per-item tasks run: none, local, slurm or tcp://host:port (config cluster.scheduler)")
    p.add_argument("--restart", action="store_true", help="discard an existing run of this name and start over")
    return p


def overrides_from_args(args: argparse.Namespace) -> dict:
    """Nested config overrides from the command-line flags that were given."""
    from nnunet_fm.config import SEEDED_SECTIONS

    o: dict = {}
    if args.profile:
        o.setdefault("nnunet", {})["profile"] = args.profile
    if args.device:
        o.setdefault("nnunet", {})["device"] = args.device
    if args.folds:
        o.setdefault("nnunet", {})["folds"] = list(args.folds)
    if args.data:
        o["data_dir"] = args.data
    if args.out:
        o["out_dir"] = args.out
    if args.work:
        o["work_dir"] = args.work
    if args.name:
        o["name"] = args.name
    if args.scale is not None:
        o.setdefault("synth", {})["scale"] = args.scale
    if args.scheduler:
        o.setdefault("cluster", {})["scheduler"] = args.scheduler
    if args.seed is not None:
        for section in SEEDED_SECTIONS:
            o.setdefault(section, {})["seed"] = args.seed
    return o


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from benchmarks.engine.study import run_study
    from nnunet_fm.cli import main
    from nnunet_fm.cli.pipeline import build_stages
    from nnunet_fm.config import load_run_config

    config = load_run_config(args.config, overrides_from_args(args))  # resolved once, written to the run folder
    run_study(config, build_stages, entry_point=main, restart=args.restart, quiet=not args.verbose)
    return 0
