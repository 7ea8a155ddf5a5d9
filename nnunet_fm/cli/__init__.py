"""Command line: ``nnunet-fm <verb> ...``.

Each verb lives in its own small module under ``nnunet_fm.cli`` with two functions,
``add_parser(subparsers)`` and ``run(args) -> int``. Verb modules import nothing heavy
at import time; ``run`` imports the stage package it needs. This is the only module
tree that reaches every package.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from nnunet_fm import __version__

#: Verb modules, in the order they appear in ``--help``.
VERB_MODULES = (
    "synth", "convert", "import_ucl_vhi", "train", "predict", "evaluate_seg", "features", "classify",
    "roc", "feature_study", "feature_stability", "reader_study", "benchmark", "report",
)

LOG = logging.getLogger("nnunet_fm")


class OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line naming the option (exit code 2).

    Subparsers inherit the class, so every verb's bad option reads
    ``nnunet-fm convert: error: argument --jobs: ...`` without the usage block.
    """

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every verb registered."""
    parser = OneLineErrorParser(
        prog="nnunet-fm",
        description="Fat-metaplasia segmentation on SIJ MRI with nnU-Net and axSpA classification.",
    )
    parser.add_argument("--version", action="version", version=f"nnunet-fm {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    subparsers.required = True
    for name in VERB_MODULES:
        module = importlib.import_module(f"nnunet_fm.cli.{name}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run)
    return parser


def configure_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Log to stderr; progress bars (tqdm) also write to stderr."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    root = logging.getLogger("nnunet_fm")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        root.addHandler(handler)
    root.setLevel(level)
    for name in ("dataset_conversion", "classifiers", "benchmarks"):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not logger.handlers:
            logger.handlers = root.handlers


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 ok, 1 failure, 2 usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    from nnunet_fm.process_hygiene import sigterm_raises_interrupt

    try:
        with sigterm_raises_interrupt():  # SIGTERM cleans up like Ctrl-C (partial folders, workers)
            return int(args._run(args) or 0)
    except KeyboardInterrupt:
        LOG.error("interrupted; rerun the same command to resume where supported")
        return 130
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError, OSError) as exc:  # OSError: last resort
        LOG.error("%s", exc)
        if args.verbose > 1:
            raise
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
