"""`nnunet-fm roc` (not yet implemented)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    return subparsers.add_parser("roc", help="(not yet implemented)")


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    raise RuntimeError("nnunet-fm roc is not implemented yet")
