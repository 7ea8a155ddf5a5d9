"""Feature extraction on real-size scans: seconds per case, jobs 1 and 2, now vs before.

Writes ``results/benchmarks/features_real_size.json``. Usage (from the repository root)::

    python -m benchmarks.bench_features_real [--sample ../shared/real_sij_sample]
        [--baseline-ref 182b8b16f140f049eef847411e19a61e5507b911] [--no-baseline]
        [--out results/benchmarks/features_real_size.json]

The case set is built in a temporary folder from the real semi-coronal T1W scans of
``--sample`` (one folder per scan with ``t1w.nii.gz`` and ``disease_region_t1w.nii.gz``;
336 x 336 x 25 voxels at 0.595 x 0.595 x 3.3 mm): for every scan, lesion-like masks of
0.2, 2, 20 and 130 ml (the disease-region voxels nearest to two seeds, one per side,
i.e. two blobs clipped to the bone) and the whole disease region (~400 ml, the worst
case; its surface is over the 3-D shape guard, so that class is skipped as in
production). Nothing from the sample is copied: images are symbolic links.

Each measurement runs ``classifiers.feature_extraction.extract_features`` in a fresh
child process (imports, worker start-up and the column probe included, as for the
CLI), with ``jobs=1`` and ``jobs=2``. The previous implementation is the
``classifiers`` package of ``--baseline-ref`` (``git archive`` into a temporary folder,
imported first in its own child process); its tables are compared with the current
ones cell by cell. Per-case seconds are wall seconds / cases. The JSON records scan ids
and mask volumes, never file paths, and the load averages around every run: on a shared
2-core machine timings mean little without them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

LOG = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Commit whose ``classifiers`` package is "before" (the parent of the speed-up).
DEFAULT_BASELINE_REF = "182b8b16f140f049eef847411e19a61e5507b911"
DEFAULT_OUT = os.path.join("results", "benchmarks", "features_real_size.json")
#: Lesion-like mask volumes (ml) built per scan, besides the whole disease region.
TARGET_ML = (0.2, 2.0, 20.0, 130.0)
TARGET_SECONDS_PER_CASE_JOBS2 = 2.5


def default_sample_dir() -> Path:
    """``../shared/real_sij_sample`` beside the repository root."""
    return REPO_ROOT.parent / "shared" / "real_sij_sample"


def two_seeds(region: np.ndarray, spacing_zyx: Sequence[float]) -> list[tuple[int, int, int]]:
    """One seed voxel per side of ``region`` (split at its median x): the region voxel
    nearest to that side's centroid (in mm). A side without voxels gives no seed."""
    coords = np.argwhere(region)
    if coords.size == 0:
        return []
    scale = np.asarray(spacing_zyx, dtype=float)
    mid = float(np.median(coords[:, 2]))
    seeds = []
    for side in (coords[coords[:, 2] < mid], coords[coords[:, 2] >= mid]):
        if side.size == 0:
            continue
        centroid = side.mean(axis=0)
        nearest = side[int(np.argmin((((side - centroid) * scale) ** 2).sum(axis=1)))]
        seeds.append(tuple(int(v) for v in nearest))
    return seeds


def blob_mask(region: np.ndarray, spacing_zyx: Sequence[float], target_ml: float) -> np.ndarray:
    """The ``target_ml`` of ``region`` nearest (in mm) to its two seeds: lesion-like blobs
    inside the region (ties at the cut distance are all kept)."""
    region = np.asarray(region, dtype=bool)
    voxel_ml = float(np.prod(spacing_zyx)) / 1000.0
    seeds = two_seeds(region, spacing_zyx)
    if not seeds:
        return np.zeros_like(region)
    grid = np.indices(region.shape, dtype=float)
    distance = np.full(region.shape, np.inf)
    for seed in seeds:
        d2 = sum(((grid[a] - seed[a]) * float(spacing_zyx[a])) ** 2 for a in range(3))
        distance = np.minimum(distance, d2)
    n_wanted = int(min(max(round(target_ml / voxel_ml), 2), int(region.sum())))
    cut = np.sort(distance[region])[n_wanted - 1]
    return region & (distance <= cut)


def build_cases(sample: Path, folder: Path, targets_ml: Sequence[float] = TARGET_ML) -> list[dict]:
    """Write the case set (image links and masks on the image grid) into ``folder``.

    Returns:
        One record per case: ``case_id``, ``scan``, ``mask`` (kind), ``mask_ml``, ``voxels``.
    """
    import SimpleITK as sitk

    images, masks = folder / "images", folder / "masks"
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    cases = []
    for scan_dir in sorted(p for p in sample.iterdir() if (p / "t1w.nii.gz").is_file()):
        region_path = scan_dir / "disease_region_t1w.nii.gz"
        if not region_path.is_file():
            continue
        image = sitk.ReadImage(str(scan_dir / "t1w.nii.gz"))
        region = sitk.GetArrayFromImage(sitk.ReadImage(str(region_path))) > 0
        spacing_zyx = image.GetSpacing()[::-1]
        voxel_ml = float(np.prod(spacing_zyx)) / 1000.0
        wanted = [(f"blob{ml:g}ml".replace(".", "p"), blob_mask(region, spacing_zyx, ml)) for ml in targets_ml]
        wanted.append(("disease_region", region))
        for kind, mask in wanted:
            case = f"{scan_dir.name}_{kind}"
            (images / f"{case}_0000.nii.gz").symlink_to((scan_dir / "t1w.nii.gz").resolve())
            out = sitk.GetImageFromArray(mask.astype(np.uint8))
            out.CopyInformation(image)
            sitk.WriteImage(out, str(masks / f"{case}.nii.gz"))
            cases.append({"case_id": case, "scan": scan_dir.name, "mask": kind,
                          "mask_ml": round(float(mask.sum()) * voxel_ml, 3), "voxels": int(mask.sum())})
    return cases


def compare_tables(current, baseline) -> dict:
    """Cell-by-cell comparison of two feature tables.

    Returns:
        ``identical`` (same columns, same cells bit for bit, NaN == NaN),
        ``max_relative_difference`` over numeric cells, ``differing_cells`` and the
        ``differing_columns`` (up to 10).
    """
    import pandas as pd

    if list(current.columns) != list(baseline.columns) or list(current["case_id"]) != list(baseline["case_id"]):
        return {"identical": False, "reason": "columns or cases differ", "max_relative_difference": None,
                "differing_cells": None, "differing_columns": []}
    worst, cells, columns = 0.0, 0, []
    for name in current.columns:
        a, b = current[name], baseline[name]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            x = a.astype("float64").to_numpy()
            y = b.astype("float64").to_numpy()
            both_nan = np.isnan(x) & np.isnan(y)
            differ = ~both_nan & (x != y)
            if differ.any():
                with np.errstate(divide="ignore", invalid="ignore"):
                    rel = np.abs(x - y) / np.maximum(np.abs(x), np.abs(y))
                worst = max(worst, float(np.nanmax(np.where(differ, rel, 0.0))))
        else:
            differ = (a.astype(str) != b.astype(str)).to_numpy()
        if differ.any():
            cells += int(differ.sum())
            columns.append(str(name))
    return {"identical": cells == 0, "max_relative_difference": worst, "differing_cells": cells,
            "differing_columns": columns[:10]}


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished child processes."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _child(spec_path: str) -> int:
    """Child process: one timed ``extract_features`` run described by a JSON spec."""
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    logging.basicConfig(level=logging.WARNING)
    import classifiers.feature_extraction as fe

    fe.quiet_radiomics()
    logging.getLogger("classifiers").setLevel(logging.ERROR)  # the shape-guard note, once per run

    load_before = os.getloadavg()
    if spec.get("per_case"):
        return _child_per_case(fe, spec, load_before)
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    table = fe.extract_features(spec["images"], spec["masks"], jobs=int(spec["jobs"]))
    wall = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    with open(spec["table"], "wb") as handle:
        pickle.dump(table, handle)
    result = {"wall_seconds": wall, "cpu_seconds": cpu, "loadavg_before": list(load_before),
              "loadavg_after": list(os.getloadavg()), "module": str(Path(fe.__file__).resolve().parent.name),
              "failed_cases": int((table["error"] != "").sum())}
    Path(spec["result"]).write_text(json.dumps(result), encoding="utf-8")
    return 0


def _child_per_case(fe, spec: dict, load_before) -> int:
    """Child process: seconds of each case alone (``extract_case``, one thread, after a
    warm-up case), i.e. without process start-up."""
    tasks = fe.pair_cases(spec["images"], spec["masks"])
    seconds = {}
    with fe._SingleThreaded():
        fe.extract_case(tasks[0].image_path, tasks[0].mask_path)  # warm-up: imports, caches
        for task in tasks:
            started = time.perf_counter()
            fe.extract_case(task.image_path, task.mask_path)
            seconds[task.case_id] = round(time.perf_counter() - started, 3)
    result = {"case_seconds": seconds, "loadavg_before": list(load_before), "loadavg_after": list(os.getloadavg())}
    Path(spec["result"]).write_text(json.dumps(result), encoding="utf-8")
    return 0


def run_child(code_root: Path, images: Path, masks: Path, jobs: int, work: Path, tag: str,
              per_case: bool = False):
    """Time one ``extract_features`` run (or, ``per_case``, each case alone) in a child
    process importing ``classifiers`` from ``code_root`` first; returns (result, table or None)."""
    spec = {"images": str(images), "masks": str(masks), "jobs": jobs, "per_case": per_case,
            "table": str(work / f"{tag}.pkl"), "result": str(work / f"{tag}.json")}
    spec_path = work / f"{tag}.spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # cwd = code_root: with -m, the working directory is first on sys.path, so its
    # ``classifiers`` wins over the repository's (spawned workers inherit sys.path).
    subprocess.run([sys.executable, "-m", "benchmarks.bench_features_real", "--child", str(spec_path)],
                   cwd=code_root, env=env, check=True)
    result = json.loads(Path(spec["result"]).read_text(encoding="utf-8"))
    if per_case:
        return result, None
    with open(spec["table"], "rb") as handle:
        table = pickle.load(handle)  # noqa: S301 - our own file, just written
    return result, table


def export_baseline(ref: str, folder: Path) -> Path:
    """``classifiers/`` of git ``ref`` unpacked into ``folder``; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", ref, "classifiers"], cwd=REPO_ROOT, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def _git_head() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _summary(result: dict, n_cases: int) -> dict:
    return {
        "seconds": round(result["wall_seconds"], 3),
        "seconds_per_case": round(result["wall_seconds"] / n_cases, 3),
        "cpu_seconds_per_case": round(result["cpu_seconds"] / n_cases, 3),
        "failed_cases": result["failed_cases"],
        "loadavg_before": [round(v, 2) for v in result["loadavg_before"]],
        "loadavg_after": [round(v, 2) for v in result["loadavg_after"]],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write its JSON; returns an exit code (1: no sample)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default=None, help="folder of real scans (default ../shared/real_sij_sample)")
    parser.add_argument("--baseline-ref", default=DEFAULT_BASELINE_REF,
                        help="git commit whose classifiers/ is the previous implementation")
    parser.add_argument("--no-baseline", action="store_true", help="time the current implementation only")
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sample = Path(args.sample) if args.sample else default_sample_dir()
    if not sample.is_dir():
        LOG.error("real-scan sample %s is absent; nothing measured (give --sample DIR)", sample)
        return 1
    from nnunet_fm.atomic import write_json

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_features_real_") as tmp:
        work = Path(tmp)
        cases = build_cases(sample, work / "cases")
        if not cases:
            LOG.error("%s holds no scan folder with t1w.nii.gz and disease_region_t1w.nii.gz", sample)
            return 1
        n = len(cases)
        LOG.info("%d cases: %s", n, ", ".join(f"{c['case_id']} ({c['mask_ml']} ml)" for c in cases))
        images, masks = work / "cases" / "images", work / "cases" / "masks"
        roots = {"current": REPO_ROOT}
        if not args.no_baseline:
            roots["baseline"] = export_baseline(args.baseline_ref, work / "baseline")
        runs: dict[str, dict] = {name: {} for name in roots}
        tables: dict[tuple[str, int], Any] = {}
        # Interleaved: current and baseline see about the same load.
        for jobs in (1, 2):
            for name, root in roots.items():
                result, tables[name, jobs] = run_child(root, images, masks, jobs, work, f"{name}_j{jobs}")
                runs[name][f"jobs{jobs}"] = _summary(result, n)
                LOG.info("%s jobs=%d: %.2f s per case (load %s)", name, jobs, result["wall_seconds"] / n,
                         runs[name][f"jobs{jobs}"]["loadavg_after"])
        case_seconds = {}
        for name, root in roots.items():
            timed, _ = run_child(root, images, masks, 1, work, f"{name}_cases", per_case=True)
            case_seconds[name] = {"seconds": timed["case_seconds"],
                                  "loadavg_after": [round(v, 2) for v in timed["loadavg_after"]]}
        comparisons = {"current_jobs1_vs_jobs2": compare_tables(tables["current", 1], tables["current", 2])}
        if "baseline" in roots:
            for jobs in (1, 2):
                comparisons[f"current_vs_baseline_jobs{jobs}"] = compare_tables(tables["current", jobs],
                                                                                tables["baseline", jobs])
    per_case_j2 = runs["current"]["jobs2"]["seconds_per_case"]
    result = {
        "benchmark": "feature extraction on real-size scans (extract_features, radiomics_fm_t1.yaml + fm_)",
        "sample": sample.name,
        "scans": sorted({c["scan"] for c in cases}),
        "cases": [{k: c[k] for k in ("case_id", "scan", "mask", "mask_ml", "voxels")} for c in cases],
        "n_cases": n,
        "method": ("each run: extract_features in a fresh child process (imports, pool start-up and column "
                   "probe included); seconds_per_case = wall seconds / cases; cpu = that process and its "
                   "workers"),
        "baseline": None if args.no_baseline else {
            "ref": args.baseline_ref,
            "how": "classifiers/ of that commit (git archive) imported first in its own child process",
        },
        "current_commit": _git_head(),
        "runs": runs,
        "case_seconds_warm_one_thread": case_seconds,
        "tables": comparisons,
        "target_seconds_per_case_jobs2": TARGET_SECONDS_PER_CASE_JOBS2,
        "meets_target_jobs2": bool(per_case_j2 <= TARGET_SECONDS_PER_CASE_JOBS2),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(),
                    "loadavg_start": [round(v, 2) for v in load_start],
                    "loadavg_end": [round(v, 2) for v in os.getloadavg()],
                    "note": "shared machine: other processes may compete for the cores; see the load averages"},
    }
    write_json(args.out, result)
    LOG.info("current: %.2f s per case with jobs=2 (target %.1f); wrote %s", per_case_j2,
             TARGET_SECONDS_PER_CASE_JOBS2, args.out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
