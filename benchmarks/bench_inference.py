"""Our nnU-Net prediction path vs the ``nnUNetv2_predict`` command line, same model, same cases.

Uses the models trained by ``benchmarks/bench_quick_profile.py`` (same work folder; or
``--raw``/``--dataset-id`` for any trained quick-profile dataset) and the internal-test
images. Both paths run in this run, each in a fresh Python process (start-up, imports and
model loading included on both sides), with the same folds, the same mirroring setting and
2 processes. Ours is the study's own path (``run_pipeline``: all folds loaded once, each
case preprocessed once, tiles run concurrently at one torch thread each, loading and export
overlapped with inference). ``--repeats`` pairs run interleaved, alternating which path goes
first, so slow spells of a shared machine hit both; the reported ratio is the median of the
per-pair ratios ``ours / cli`` (goal <= 0.5). Every pair's masks are compared: Dice between
the paths must be 1.0 (same network, same weights), and our masks must not change between
repeats. The 1-minute load average is recorded around every run.

Writes ``results/benchmarks/inference.json`` atomically.

Usage: ``python -m benchmarks.bench_inference [--work work_runs/bench_quick] [--folds 0 1 2 3 4]
[--max-cases N] [--repeats 3] [--raw DIR --dataset-id N] [--mirroring]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from nnunet_fm.contract import dataset_folder_prefix
from nnunet_fm.input_checks import int_in_range, output_file_path, positive_int

LOG = logging.getLogger(__name__)
DEFAULT_OUT = Path("results") / "benchmarks" / "inference.json"
DATASET_ID = 501


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="work_runs/bench_quick", help="work folder of bench_quick_profile")
    parser.add_argument("--out", type=output_file_path, default=DEFAULT_OUT)
    parser.add_argument("--folds", type=int_in_range(0), nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--max-cases", type=positive_int, default=None, help="limit the number of cases")
    parser.add_argument("--raw", default=None, help="nnUNet_raw folder (default: WORK/nnUNet_raw)")
    parser.add_argument("--dataset-id", type=int, default=DATASET_ID)
    parser.add_argument("--mirroring", action="store_true", help="test-time mirroring on both paths")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="interleaved pairs of runs; the median ratio counts")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


    work = Path(args.work).resolve()
    raw = Path(args.raw).resolve() if args.raw else work / "nnUNet_raw"
    found = sorted(raw.glob(dataset_folder_prefix(args.dataset_id) + "*"))
    if not found:
        raise SystemExit(f"{raw}/{dataset_folder_prefix(args.dataset_id)}* missing: "
                         "run benchmarks/bench_quick_profile.py first")
    dataset = found[0]

    from nnunet_fm.config import NnunetConfig
    from nnunet_fm.nnunet.environment import NnunetFolders, nnunet_workspace

    config = NnunetConfig(profile="quick", folds=tuple(args.folds), num_processes=2, num_processes_da=0)
    with nnunet_workspace(config, NnunetFolders.from_raw(raw)) as env:
        from nnunet_fm.atomic import write_json
        from nnunet_fm.nnunet.prediction import list_cases, predict_with_nnunet_cli
        from nnunet_fm.nnunet.profiles import QUICK
        from nnunet_fm.nnunet.training import FINAL_CHECKPOINT, model_folder

        cases = list_cases(dataset / "imagesTs")
        if args.max_cases:
            cases = dict(list(cases.items())[: args.max_cases])
        if not cases:
            raise SystemExit(f"{dataset / 'imagesTs'} has no cases")
        model_dir = model_folder(args.dataset_id, QUICK)
        for fold in args.folds:
            if not (model_dir / f"fold_{fold}" / FINAL_CHECKPOINT).is_file():
                raise SystemExit(f"{model_dir / f'fold_{fold}' / FINAL_CHECKPOINT} is missing: train fold {fold} first")
        bench = work / "inference_bench"
        if bench.exists():
            shutil.rmtree(bench)
        inputs = bench / "input"
        inputs.mkdir(parents=True)
        for files in cases.values():
            for f in files:
                os.symlink(f, inputs / f.name)

        pairs = []
        for repeat in range(args.repeats):
            pair = {"first": "ours" if repeat % 2 == 0 else "nnUNetv2_predict"}
            for path in (("ours", "cli") if repeat % 2 == 0 else ("cli", "ours")):
                load = os.getloadavg()[0]
                if path == "ours":
                    seconds, detail = time_ours(model_dir, args.folds, cases, bench / f"ours_{repeat}",
                                                args.mirroring, env)
                    pair["ours"] = {"total_s": seconds, "load_average_1min_at_start": round(load, 2), **detail}
                else:
                    seconds = predict_with_nnunet_cli(args.dataset_id, QUICK, inputs, bench / f"cli_{repeat}",
                                                      args.folds, env, mirroring=args.mirroring, num_processes=2,
                                                      work_dir=bench)
                    pair["nnUNetv2_predict"] = {"total_s": seconds, "load_average_1min_at_start": round(load, 2)}
            pair["ratio_ours_over_cli"] = pair["ours"]["total_s"] / pair["nnUNetv2_predict"]["total_s"]
            pair["mask_dice_ours_vs_cli"] = compare_masks(bench / f"ours_{repeat}", bench / f"cli_{repeat}", cases)
            pair["ours_masks_equal_first_repeat"] = all(
                d["dice"] == 1.0 and d["same_geometry"]
                for d in compare_masks(bench / f"ours_{repeat}", bench / "ours_0", cases).values())
            LOG.info("pair %d: ours %.1f s, nnUNetv2_predict %.1f s, ratio %.3f", repeat,
                     pair["ours"]["total_s"], pair["nnUNetv2_predict"]["total_s"], pair["ratio_ours_over_cli"])
            pairs.append(pair)

        ratios = [p["ratio_ours_over_cli"] for p in pairs]
        every_dice = [d["dice"] for p in pairs for d in p["mask_dice_ours_vs_cli"].values()]
        same_geometry = all(d["same_geometry"] for p in pairs for d in p["mask_dice_ours_vs_cli"].values())
        result = {
            "benchmark": "nnunet_fm prediction vs nnUNetv2_predict (same model, same cases, same run)",
            "method": "each path in a fresh Python process, wall seconds of that process (start-up, imports and "
                      "model loading included); pairs interleaved, alternating which path runs first; "
                      "ratio = median over pairs of ours / cli",
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "note": "timings are only final when the load average stays below ~0.5 (quiet machine)"},
            "model": str(model_dir.name),
            "folds": args.folds,
            "mirroring": args.mirroring,
            "n_cases": len(cases),
            "repeats": args.repeats,
            "pairs": pairs,
            "ours_total_s_median": statistics.median(p["ours"]["total_s"] for p in pairs),
            "cli_total_s_median": statistics.median(p["nnUNetv2_predict"]["total_s"] for p in pairs),
            "ratio_ours_over_cli": statistics.median(ratios),
            "ratio_min_max": [min(ratios), max(ratios)],
            "goal": "ratio <= 0.5, masks identical (Dice 1.0)",
            "min_dice_between_paths": min(every_dice),
            "same_geometry_between_paths": same_geometry,
            "ours_deterministic_across_repeats": all(p["ours_masks_equal_first_repeat"] for p in pairs),
        }
        write_json(args.out, result)
        LOG.info("median over %d pair(s): ours %.1f s, nnUNetv2_predict %.1f s for %d cases: ratio %.3f "
                 "(range %.3f-%.3f); min Dice between paths %.4f -> %s", len(pairs), result["ours_total_s_median"],
                 result["cli_total_s_median"], len(cases), result["ratio_ours_over_cli"], *result["ratio_min_max"],
                 result["min_dice_between_paths"], args.out)
    return 0


def run_ours(spec_file: str) -> None:
    """Child process: our prediction path on the cases of ``spec_file`` (JSON); writes the
    model-loading and per-case seconds to the spec's ``report`` file."""
    started = time.perf_counter()
    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    from nnunet_fm.atomic import write_json
    from nnunet_fm.nnunet.prediction import CaseTask, PredictionReport, load_fold_models, run_pipeline
    from nnunet_fm.nnunet.profiles import QUICK

    models = load_fold_models(Path(spec["model_dir"]), spec["folds"], "cpu", mirroring=spec["mirroring"],
                              tile_step_size=QUICK.tile_step_size)
    loaded = time.perf_counter()
    report = PredictionReport()
    out = Path(spec["out"])
    tasks = [CaseTask("internal_test", case, tuple(spec["folds"]), out / f"{case}.nii.gz", [Path(f) for f in files])
             for case, files in spec["cases"].items()]
    run_pipeline(models, tasks, report, num_threads=2)
    write_json(spec["report"], {"imports_and_model_load_s": loaded - started,
                                "per_case_s": report.seconds_per_case.get("internal_test", {})})


def time_ours(model_dir: Path, folds: Sequence[int], cases: dict, out: Path, mirroring: bool,
              env: dict[str, str]) -> tuple[float, dict]:
    """Wall seconds of :func:`run_ours` in a fresh Python process, and its own breakdown."""
    spec = out.parent / f"{out.name}_spec.json"
    report = out.parent / f"{out.name}_report.json"
    spec.write_text(json.dumps({"model_dir": str(model_dir), "folds": list(folds), "mirroring": mirroring,
                                "out": str(out), "report": str(report),
                                "cases": {c: [str(f) for f in files] for c, files in cases.items()}}), encoding="utf-8")
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("nnUNet_")}
    child_env.update(env)
    command = [sys.executable, "-c", f"from benchmarks.bench_inference import run_ours; run_ours({str(spec)!r})"]
    started = time.perf_counter()
    result = subprocess.run(command, env=child_env, capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent.parent)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"our prediction path failed ({result.returncode}):\n{result.stderr[-3000:]}")
    detail = json.loads(report.read_text(encoding="utf-8"))
    per_case = detail["per_case_s"]
    return seconds, {"imports_and_model_load_s": detail["imports_and_model_load_s"],
                     "s_per_case": sum(per_case.values()) / len(per_case), "per_case_s": per_case}


def compare_masks(ours: Path, theirs: Path, cases: dict) -> dict[str, dict]:
    """Per case: Dice between two mask folders and whether their grids agree."""
    import numpy as np
    import SimpleITK as sitk

    from nnunet_fm.seg_metrics import dice

    agreement = {}
    for case in cases:
        a = sitk.ReadImage(str(ours / f"{case}.nii.gz"))
        b = sitk.ReadImage(str(theirs / f"{case}.nii.gz"))
        agreement[case] = {"dice": dice(sitk.GetArrayFromImage(a) > 0, sitk.GetArrayFromImage(b) > 0),
                           "same_geometry": a.GetSize() == b.GetSize()
                           and np.allclose(a.GetSpacing(), b.GetSpacing())
                           and np.allclose(a.GetOrigin(), b.GetOrigin())
                           and np.allclose(a.GetDirection(), b.GetDirection())}
    return agreement


if __name__ == "__main__":
    raise SystemExit(main())
