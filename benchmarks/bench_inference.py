"""Our nnU-Net prediction path vs the ``nnUNetv2_predict`` command line, same model, same cases.

Uses the models trained by ``benchmarks/bench_quick_profile.py`` (same work folder) and
the internal-test images. Both run in this process's run, one after the other, with
mirroring off, the same folds and 2 processes. Reported: wall seconds for all cases
(ours: model load + per-case predict and write; CLI: the whole subprocess including its
start-up), seconds per case, ``ratio = ours / cli`` (goal <= 1.0), and the Dice between
the two sets of masks (should be 1.0: same network, same weights).

Writes ``results/benchmarks/inference.json`` atomically.

Usage: ``python -m benchmarks.bench_inference [--work work_runs/bench_quick] [--folds 0 1 2 3 4]``
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

LOG = logging.getLogger(__name__)
DEFAULT_OUT = Path("results") / "benchmarks" / "inference.json"
DATASET_ID = 501


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="work_runs/bench_quick", help="work folder of bench_quick_profile")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--max-cases", type=int, default=None, help="limit the number of cases")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    work = Path(args.work).resolve()
    raw = work / "nnUNet_raw"
    dataset = raw / f"Dataset{DATASET_ID}_SIJFM"
    if not dataset.is_dir():
        raise SystemExit(f"{dataset} missing: run benchmarks/bench_quick_profile.py first")

    from nnunet_fm.config import NnunetConfig
    from nnunet_fm.nnunet.environment import NnunetFolders, configure

    config = NnunetConfig(profile="quick", folds=tuple(args.folds), num_processes=2, num_processes_da=0)
    env = configure(config, NnunetFolders.from_raw(raw))

    import numpy as np
    import SimpleITK as sitk

    from nnunet_fm.atomic import write_json
    from nnunet_fm.nnunet.prediction import list_cases, load_predictor, predict_case, predict_with_nnunet_cli
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
    start = time.perf_counter()
    predictor = load_predictor(model_folder(DATASET_ID, QUICK), args.folds, "cpu", mirroring=False,
                               tile_step_size=QUICK.tile_step_size)
    load_s = time.perf_counter() - start
    per_case = {}
    for case, files in cases.items():
        t0 = time.perf_counter()
        predict_case(predictor, files, ours_dir / f"{case}.nii.gz", num_threads=2)
        per_case[case] = time.perf_counter() - t0
    ours_s = time.perf_counter() - start

    cli_s = predict_with_nnunet_cli(DATASET_ID, QUICK, inputs, cli_dir, args.folds, env, mirroring=False,
                                    num_processes=2, work_dir=bench)

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
                    "note": "2-core machine shared with other jobs: absolute timings are pessimistic"},
        "model": str(model_folder(DATASET_ID, QUICK).name),
        "folds": args.folds,
        "mirroring": False,
        "n_cases": n,
        "ours": {"total_s": ours_s, "model_load_s": load_s, "s_per_case": sum(per_case.values()) / n,
                 "per_case_s": per_case},
        "nnUNetv2_predict": {"total_s": cli_s, "s_per_case_incl_startup": cli_s / n},
        "ratio_ours_over_cli": ours_s / cli_s,
        "goal": "ratio <= 1.0",
        "mask_agreement": agreement,
        "min_dice_between_paths": min(v["dice"] for v in agreement.values()),
    }
    write_json(args.out, result)
    LOG.info("ours %.1f s, nnUNetv2_predict %.1f s for %d cases: ratio %.2f; min Dice between paths %.4f -> %s",
             ours_s, cli_s, n, result["ratio_ours_over_cli"], result["min_dice_between_paths"], args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
