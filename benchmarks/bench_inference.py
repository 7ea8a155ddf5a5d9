"""Our nnU-Net prediction path vs the ``nnUNetv2_predict`` command line, same model, same cases.

Uses the models trained by ``benchmarks/bench_quick_profile.py`` (same work folder; or
``--raw``/``--dataset-id`` for any trained quick-profile dataset) and the internal-test
images. Both run in this process's run, one after the other, with the same folds, the same
mirroring setting and 2 processes. Ours is the study's own path (``run_pipeline``: all
folds loaded once, each case preprocessed once, tiles run concurrently at one torch thread each, loading and export
overlapped with inference). Reported: wall seconds for all cases (ours: model load +
predict and write; CLI: the whole subprocess including its start-up), seconds per case,
``ratio = ours / cli`` (goal <= 0.5), the Dice between the two sets of masks (must be 1.0:
same network, same weights) and the machine load (1-minute load average) at start and end.

Writes ``results/benchmarks/inference.json`` atomically.

Usage: ``python -m benchmarks.bench_inference [--work work_runs/bench_quick] [--folds 0 1 2 3 4]
[--raw DIR --dataset-id N] [--mirroring]``
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Sequence

from nnunet_fm.contract import dataset_folder_prefix

LOG = logging.getLogger(__name__)
DEFAULT_OUT = Path("results") / "benchmarks" / "inference.json"
DATASET_ID = 501


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="work_runs/bench_quick", help="work folder of bench_quick_profile")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--max-cases", type=int, default=None, help="limit the number of cases")
    parser.add_argument("--raw", default=None, help="nnUNet_raw folder (default: WORK/nnUNet_raw)")
    parser.add_argument("--dataset-id", type=int, default=DATASET_ID)
    parser.add_argument("--mirroring", action="store_true", help="test-time mirroring on both paths")
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

        import numpy as np
        import SimpleITK as sitk

        from nnunet_fm.atomic import write_json
        from nnunet_fm.nnunet.prediction import (CaseTask, PredictionReport, list_cases, load_fold_models,
                                                 predict_with_nnunet_cli, run_pipeline)
        from nnunet_fm.nnunet.profiles import QUICK
        from nnunet_fm.nnunet.training import model_folder

        cases = list_cases(dataset / "imagesTs")
        if args.max_cases:
            cases = dict(list(cases.items())[: args.max_cases])
        bench = work / "inference_bench"
        if bench.exists():
            shutil.rmtree(bench)
        inputs = bench / "input"
        inputs.mkdir(parents=True)
        for files in cases.values():
            for f in files:
                os.symlink(f, inputs / f.name)

        ours_dir, cli_dir = bench / "ours", bench / "cli"
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        models = load_fold_models(model_folder(args.dataset_id, QUICK), args.folds, "cpu", mirroring=args.mirroring,
                                  tile_step_size=QUICK.tile_step_size)
        load_s = time.perf_counter() - start
        report = PredictionReport()
        tasks = [CaseTask("internal_test", case, tuple(args.folds), ours_dir / f"{case}.nii.gz", files)
                 for case, files in cases.items()]
        run_pipeline(models, tasks, report, num_threads=2)
        per_case = report.seconds_per_case.get("internal_test", {})
        ours_s = time.perf_counter() - start

        cli_s = predict_with_nnunet_cli(args.dataset_id, QUICK, inputs, cli_dir, args.folds, env,
                                        mirroring=args.mirroring, num_processes=2, work_dir=bench)
        load_after = os.getloadavg()[0]

        agreement = {}
        for case in cases:
            a = sitk.ReadImage(str(ours_dir / f"{case}.nii.gz"))
            b = sitk.ReadImage(str(cli_dir / f"{case}.nii.gz"))
            x, y = sitk.GetArrayFromImage(a) > 0, sitk.GetArrayFromImage(b) > 0
            total = x.sum() + y.sum()
            agreement[case] = {"dice": 1.0 if total == 0 else float(2 * np.count_nonzero(x & y) / total),
                               "same_geometry": a.GetSize() == b.GetSize()
                               and np.allclose(a.GetSpacing(), b.GetSpacing())
                               and np.allclose(a.GetOrigin(), b.GetOrigin())
                               and np.allclose(a.GetDirection(), b.GetDirection())}
        n = len(cases)
        result = {
            "benchmark": "nnunet_fm prediction vs nnUNetv2_predict (same model, same cases, same run)",
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "load_average_1min_start_end": [round(load_before, 2), round(load_after, 2)],
                        "note": "timings are only final when the load average stays below ~0.5 (quiet machine)"},
            "model": str(model_folder(args.dataset_id, QUICK).name),
            "folds": args.folds,
            "mirroring": args.mirroring,
            "n_cases": n,
            "ours": {"total_s": ours_s, "model_load_s": load_s, "s_per_case": sum(per_case.values()) / n,
                     "per_case_s": per_case},
            "nnUNetv2_predict": {"total_s": cli_s, "s_per_case_incl_startup": cli_s / n},
            "ratio_ours_over_cli": ours_s / cli_s,
            "goal": "ratio <= 0.5, masks identical (Dice 1.0)",
            "mask_agreement": agreement,
            "min_dice_between_paths": min(v["dice"] for v in agreement.values()),
        }
        write_json(args.out, result)
        LOG.info("ours %.1f s, nnUNetv2_predict %.1f s for %d cases: ratio %.2f; min Dice between paths %.4f -> %s",
                 ours_s, cli_s, n, result["ratio_ours_over_cli"], result["min_dice_between_paths"], args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
