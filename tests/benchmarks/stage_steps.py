"""Picklable stage steps for the stage-runner tests (spawned children import this)."""

from __future__ import annotations

from pathlib import Path


def append_line(path: str, text: str) -> None:
    """Append one line to a log file (counts how often a stage ran)."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text + "\n")


def write_file(path: str, text: str) -> None:
    """Write an output file."""
    Path(path).write_text(text, encoding="utf-8")


def fail_if_missing(flag: str) -> None:
    """Fail until ``flag`` exists: simulates a stage interrupted by a crash."""
    if not Path(flag).exists():
        raise RuntimeError("simulated crash")


def mark_then_sleep(marker: str, seconds: float) -> None:
    """Write ``marker`` and sleep: a long stage to be killed mid-way."""
    import time

    Path(marker).write_text("started", encoding="utf-8")
    time.sleep(seconds)
