"""Run an ``nnunet-fm`` verb in-process and time it (shared by the benchmark scripts)."""

from __future__ import annotations

import time


def timed_cli(argv: list[str]) -> float:
    """Run ``nnunet-fm ARGV`` through ``nnunet_fm.cli.main``; return its wall time in seconds.

    Raises:
        RuntimeError: The command exited non-zero.
    """
    from nnunet_fm.cli import main as cli_main

    start = time.perf_counter()
    code = cli_main(argv)
    if code != 0:
        raise RuntimeError(f"nnunet-fm {' '.join(argv)} exited with {code}")
    return time.perf_counter() - start
