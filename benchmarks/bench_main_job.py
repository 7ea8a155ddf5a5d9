"""Per-stage wall time, CPU time and peak memory of a finished study run (the main job).

Reads a run folder's ``stages.json`` (written by ``benchmarks/engine/stage_runner.py``)
and, when given, a second run's (``--baseline``: e.g. the committed run of the previous
implementation) and writes ``results/benchmarks/main_job.json`` atomically. Nothing is
run here: run the study first (on a quiet machine), then::

    python -m benchmarks.bench_main_job --run results/quick-synthetic [--baseline OLD_RUN]
        [--out results/benchmarks/main_job.json]

Targets (issue 11): whole job <= 12 min wall on 2 CPU cores, peak memory <= 4 GB.
Stages without a recorded CPU time give ``cpu_s: null`` (older stage runners did not
record it). Peak memory is the largest of the stages' peaks (stages run one after another).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
from pathlib import Path
from typing import Any, Sequence

from nnunet_fm.provenance import portable_path

LOG = logging.getLogger(__name__)
DEFAULT_OUT = Path("results") / "benchmarks" / "main_job.json"
TARGET_WALL_S = 12 * 60
TARGET_PEAK_MEMORY_MB = 4 * 1024


class RunFolderError(FileNotFoundError):
    """A run folder has no (readable) ``stages.json``."""


def read_stages(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Stage name -> record from ``RUN/stages.json``, in run order.

    Raises:
        RunFolderError: ``stages.json`` is missing or not a stage record.
    """
    path = Path(run_dir) / "stages.json"
    if not path.is_file():
        raise RunFolderError(f"{path} is missing: run the study first (it writes stages.json)")
    try:
        stages = json.loads(path.read_text(encoding="utf-8"))["stages"]
    except (ValueError, KeyError, TypeError) as exc:
        raise RunFolderError(f"{path}: not a stages record ({exc})") from None
    if not isinstance(stages, dict):
        raise RunFolderError(f"{path}: 'stages' must be a mapping of stage name to record")
    return stages


def _number(record: dict, *keys: str) -> float | None:
    for key in keys:
        value = record.get(key)
        if isinstance(value, (int, float)):
            return float(value)
    return None


def summarize(stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-stage numbers and totals of one run (pure).

    Totals count only stages recorded ``done``; an unfinished run says so in
    ``complete`` and ``unfinished_stages``.
    """
    rows, wall, cpu, peaks, unfinished = {}, 0.0, 0.0, [], []
    cpu_complete = True
    for name, record in stages.items():
        stage_wall = _number(record, "time_s", "wall_s")
        stage_cpu = _number(record, "cpu_s", "cpu_time_s")
        peak = _number(record, "peak_memory_mb")
        rows[name] = {"done": bool(record.get("done")), "wall_s": stage_wall, "cpu_s": stage_cpu,
                      "peak_memory_mb": peak}
        if not record.get("done"):
            unfinished.append(name)
            continue
        wall += stage_wall or 0.0
        if stage_cpu is None:
            cpu_complete = False
        else:
            cpu += stage_cpu
        if peak is not None:
            peaks.append(peak)
    peak_mb = max(peaks) if peaks else None
    return {
        "stages": rows,
        "complete": not unfinished,
        "unfinished_stages": unfinished,
        "total_wall_s": round(wall, 2),
        "total_wall_min": round(wall / 60, 2),
        "total_cpu_s": round(cpu, 2) if cpu_complete else None,
        "peak_memory_mb": peak_mb,
        "meets_wall_target": wall <= TARGET_WALL_S if not unfinished else None,
        "meets_memory_target": peak_mb <= TARGET_PEAK_MEMORY_MB if peak_mb is not None else None,
    }


def compare(current: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """Per-stage and total wall-time ratios current / baseline (stages both runs have)."""
    ratios = {}
    for name, row in current["stages"].items():
        old = baseline["stages"].get(name)
        if old and row["wall_s"] and old["wall_s"]:
            ratios[name] = round(row["wall_s"] / old["wall_s"], 3)
    total = (round(current["total_wall_s"] / baseline["total_wall_s"], 3)
             if baseline["total_wall_s"] else None)
    return {"wall_ratio_per_stage": ratios, "total_wall_ratio": total}


def build_report(run_dir: Path, baseline_dir: Path | None = None) -> dict[str, Any]:
    """The ``main_job.json`` content for a run (and optionally its baseline)."""
    current = summarize(read_stages(run_dir))
    report: dict[str, Any] = {
        "benchmark": "main job (whole study), per-stage wall / CPU / peak memory from stages.json",
        "run": portable_path(run_dir, Path.cwd()),
        "platform_of_run": _run_platform(run_dir),
        "read_on": platform.platform(),
        "targets": {"total_wall_s": TARGET_WALL_S, "peak_memory_mb": TARGET_PEAK_MEMORY_MB},
        "current": current,
    }
    if baseline_dir is not None:
        baseline = summarize(read_stages(baseline_dir))
        report["baseline_run"] = portable_path(baseline_dir, Path.cwd())
        report["baseline"] = baseline
        report["comparison"] = compare(current, baseline)
    return report


def _run_platform(run_dir: Path) -> str | None:
    path = Path(run_dir) / "provenance.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("platform")
    except (OSError, ValueError):
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="finished run folder (holds stages.json)")
    parser.add_argument("--baseline", default=None, help="run folder of the previous implementation")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from nnunet_fm.atomic import write_json

    try:
        report = build_report(Path(args.run), Path(args.baseline) if args.baseline else None)
    except RunFolderError as exc:
        LOG.error("%s", exc)
        return 2
    write_json(args.out, report)
    current = report["current"]
    LOG.info("main job: %.1f min wall, CPU %s s, peak %s MB (complete: %s) -> %s", current["total_wall_min"],
             current["total_cpu_s"], current["peak_memory_mb"], current["complete"], args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
