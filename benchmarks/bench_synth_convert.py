"""Time ``nnunet-fm synth`` and ``nnunet-fm convert``, and compare convert with a plain
SimpleITK read + write of the same files.

For each scale: synth (cohort generation), convert (validation, pseudonymisation, writing
and nnU-Net's integrity check), the integrity check alone, and a baseline that only reads
every image and mask with ``nnunet_fm.image_io.read_image`` and writes it as ``.nii.gz``
with the same number of processes. ``convert_over_baseline`` = convert / baseline.

Stages run through ``nnunet_fm.cli.main`` (benchmarks import only ``nnunet_fm``).
Writes ``results/benchmarks/synth_convert.json`` atomically.

Usage: ``python -m benchmarks.bench_synth_convert [--scales 0.1 1] [--jobs 2]``
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

LOG = logging.getLogger(__name__)
DEFAULT_OUT = Path("results") / "benchmarks" / "synth_convert.json"


def _copy_case(image: str, mask: str, out_dir: str, index: int) -> None:
    """Baseline worker: read an image and its mask, write both as compressed NIfTI."""
    import SimpleITK as sitk

    from nnunet_fm.image_io import read_image

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    sitk.WriteImage(read_image(image), os.path.join(out_dir, f"{index:05d}_0000.nii.gz"), useCompression=True)
    sitk.WriteImage(read_image(mask), os.path.join(out_dir, f"{index:05d}.nii.gz"), useCompression=True)


def plain_read_write(cohort: Path, out_dir: Path, jobs: int) -> float:
    """Seconds to read + write every case of ``cohort`` with plain SimpleITK (same pool size)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with open(cohort / "clinical.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out_dir.mkdir(parents=True)
    tasks = [(str(cohort / r["image"]), str(cohort / r["mask"]), str(out_dir), i) for i, r in enumerate(rows)]
    start = time.perf_counter()
    if jobs <= 1:
        for task in tasks:
            _copy_case(*task)
    else:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_copy_case, *zip(*tasks)))
    return time.perf_counter() - start


def _cli(argv: list[str]) -> float:
    from benchmarks.cli_timing import timed_cli

    return timed_cli(argv)


def _nnunet_check(dataset: Path, jobs: int) -> float:
    import contextlib
    import io

    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        verify_dataset_integrity(str(dataset), num_processes=jobs)
    return time.perf_counter() - start


def bench_scale(scale: float, work: Path, jobs: int, seed: int) -> dict:
    """Time synth, convert, nnU-Net's check and the plain baseline at one scale."""
    cohort, raw = work / f"cohort_{scale:g}", work / f"raw_{scale:g}"
    LOG.info("scale %g: synth", scale)
    synth_s = _cli(["-q", "synth", "--out", str(cohort), "--scale", str(scale), "--seed", str(seed),
                    "--jobs", str(jobs)])
    n_cases = sum(1 for _ in open(cohort / "clinical.csv", encoding="utf-8")) - 1
    LOG.info("scale %g: convert %d cases", scale, n_cases)
    convert_s = _cli(["-q", "convert", "--input", str(cohort), "--out", str(raw), "--dataset-id", "990",
                      "--seed", str(seed), "--jobs", str(jobs)])
    dataset = raw / "Dataset990_SIJFM"
    with open(dataset / "cases.csv", newline="", encoding="utf-8") as handle:
        sets = [r["set"] for r in csv.DictReader(handle)]
    LOG.info("scale %g: nnU-Net integrity check alone", scale)
    check_s = _nnunet_check(dataset, jobs)
    LOG.info("scale %g: plain SimpleITK read + write", scale)
    baseline_s = plain_read_write(cohort, work / f"plain_{scale:g}", jobs)
    bytes_in = sum(p.stat().st_size for p in cohort.rglob("*") if p.is_file())
    bytes_out = sum(p.stat().st_size for p in dataset.rglob("*") if p.is_file())
    return {
        "scale": scale, "n_cases": n_cases,
        "counts": {s: sets.count(s) for s in ("train", "validation", "internal_test", "external_test")},
        "synth_s": round(synth_s, 2), "convert_s": round(convert_s, 2),
        "nnunet_integrity_check_s": round(check_s, 2),
        "convert_without_check_s_estimate": round(convert_s - check_s, 2),
        "plain_read_write_s": round(baseline_s, 2),
        "convert_over_baseline": round(convert_s / baseline_s, 2),
        "convert_without_check_over_baseline": round((convert_s - check_s) / baseline_s, 2),
        "convert_s_per_case": round(convert_s / n_cases, 3),
        "cohort_mb": round(bytes_in / 1e6, 1), "dataset_mb": round(bytes_out / 1e6, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.1, 1.0], help="cohort scales (default 0.1 1)")
    parser.add_argument("--jobs", type=int, default=2, help="processes for every stage (default 2)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"result JSON (default {DEFAULT_OUT})")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary folder, removed)")
    parser.add_argument("--note", default="", help="free text stored with the result (e.g. machine shared)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)

    from nnunet_fm.atomic import write_json
    from nnunet_fm.provenance import package_versions

    scratch = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench_synth_convert_"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        runs = []
        for scale in args.scales:
            runs.append(bench_scale(scale, scratch, args.jobs, args.seed))
            LOG.info("scale %g: %s", scale, json.dumps(runs[-1]))
    finally:
        if not args.work:
            shutil.rmtree(scratch, ignore_errors=True)
    result = {
        "benchmark": "synth_convert",
        "jobs": args.jobs, "seed": args.seed,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "note": args.note,
        "versions": package_versions(),
        "runs": runs,
    }
    write_json(args.out, result)
    LOG.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
