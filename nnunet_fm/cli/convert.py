"""`nnunet-fm convert` (not yet implemented)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    return subparsers.add_parser("convert", help="(not yet implemented)")


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    raise RuntimeError("nnunet-fm convert is not implemented yet")
