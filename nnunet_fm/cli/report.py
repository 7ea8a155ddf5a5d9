"""``nnunet-fm report RUN_DIR``: rebuild a run's report from its CSV/JSON files alone."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    p = subparsers.add_parser("report", help="rebuild report.md, summary.json, tripod_ai.md and plots of a run from its files")
    p.add_argument("run_dir", help="results/<run-name> folder of a benchmark run")
    return p


#: Config fields this verb uses (none: it reads the run folder's own config.yaml).
CONSUMES: tuple[str, ...] = ()


def study_stage(config, paths):
    """The study's last stage: report.md, summary.json and tripod_ai.md from the run's files."""
    from benchmarks.engine.stage_runner import Stage

    return Stage("report", (("report", str(paths.run_dir)),),
                 (paths.run_dir / "report.md", paths.run_dir / "summary.json", paths.run_dir / "tripod_ai.md"))


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    import logging

    from benchmarks.engine.report import build_report

    path = build_report(args.run_dir)
    logging.getLogger("nnunet_fm").info("report written: %s", path)
    return 0
