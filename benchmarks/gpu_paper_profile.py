"""GPU timing of the ``paper`` profile: one fold, a bounded number of epochs.

For a machine with a CUDA GPU (not run on the 2-core CPU machine). Generates and
converts a synthetic cohort, plans + preprocesses with nnU-Net's default plan
(``nnUNetPlans``, 3d_fullres), trains one fold of ``nnUNetTrainerFMPaper`` for
``--epochs`` epochs (250 iterations each, nnU-Net's default), then predicts the
internal-test cases with that fold (mirroring on, as nnU-Net's default) and records
epoch times and seconds per case.

Usage: ``python -m benchmarks.gpu_paper_profile OUT.json [--epochs 5] [--scale 0.25]``
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Sequence

from nnunet_fm.contract import dataset_folder_name

LOG = logging.getLogger(__name__)
DATASET_ID = 501


def _cli(argv: list[str]) -> float:
    from benchmarks.cli_timing import timed_cli

    return timed_cli(argv)


def _full_schedule_hours(epoch_s: float, iterations: int, val_iterations: int = 50) -> float:
    """Hours for nnU-Net's 1000 epochs of 250 + 50 iterations, from a bounded epoch's time."""
    return epoch_s * (250 + val_iterations) / (iterations + val_iterations) * 1000 / 3600


def main(argv: Sequence[str] | None = None) -> int:
    cpus = os.cpu_count() or 2
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_json", help="result JSON path")
    parser.add_argument("--work", default="work_runs/gpu_paper", help="working folder")
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--epochs", type=int, default=5, help="bounded number of epochs")
    parser.add_argument("--iterations", type=int, default=250, help="iterations per epoch (nnU-Net: 250)")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--num-processes", type=int, default=max(2, min(8, cpus // 2)))
    parser.add_argument("--da-processes", type=int, default=max(2, min(12, cpus - 2)))
    parser.add_argument("--no-compile", action="store_true", help="disable torch.compile")
    parser.add_argument("--max-cases", type=int, default=20, help="internal-test cases to time")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    work = Path(args.work).resolve()
    cohort, raw = work / "cohort", work / "nnUNet_raw"
    timings: dict = {}
    if not (cohort / "clinical.csv").is_file():
        timings["synth_s"] = _cli(["synth", "--out", str(cohort), "--scale", str(args.scale), "--seed",
                                   str(args.seed), "--jobs", str(args.num_processes)])
    if not (raw / dataset_folder_name(DATASET_ID, "SIJFM") / "splits_final.json").is_file():
        timings["convert_s"] = _cli(["convert", "--input", str(cohort), "--out", str(raw), "--dataset-id",
                                     str(DATASET_ID), "--jobs", str(args.num_processes)])

    from nnunet_fm.config import NnunetConfig
    from nnunet_fm.nnunet.environment import NnunetFolders, nnunet_workspace
    from nnunet_fm.nnunet.profiles import PAPER

    profile = dataclasses.replace(PAPER, num_epochs=args.epochs, iterations_per_epoch=args.iterations,
                                  compile_network=not args.no_compile, save_every=max(1, args.epochs))
    config = NnunetConfig(profile="paper", folds=(args.fold,), device="cuda", num_processes=args.num_processes,
                          num_processes_da=args.da_processes, mirroring=True)
    with nnunet_workspace(config, NnunetFolders.from_raw(raw), compile_network=profile.compile_network):

        import torch

        from nnunet_fm.atomic import write_json
        from nnunet_fm.nnunet.planning import dataset_name_for, plan_and_preprocess
        from nnunet_fm.nnunet.prediction import list_cases, load_predictor, predict_case
        from nnunet_fm.nnunet.training import model_folder, train_fold

        start = time.perf_counter()
        planning = plan_and_preprocess(DATASET_ID, profile, num_processes=args.num_processes)
        timings["plan_preprocess_s"] = time.perf_counter() - start
        result = train_fold(DATASET_ID, profile, args.fold, device="cuda", force=True, num_threads=None)
        timings["train_s"] = result.seconds
        timings["epoch_s"] = result.epoch_seconds
        later = result.epoch_seconds[1:] or result.epoch_seconds
        timings["epoch_median_s_excluding_first"] = statistics.median(later)

        dataset = raw / dataset_name_for(DATASET_ID)
        cases = dict(list(list_cases(dataset / "imagesTs").items())[: args.max_cases])
        start = time.perf_counter()
        predictor = load_predictor(model_folder(DATASET_ID, profile), [args.fold], "cuda", mirroring=True,
                                   tile_step_size=profile.tile_step_size)
        timings["model_load_s"] = time.perf_counter() - start
        per_case = {}
        out_dir = work / "predictions_paper_fold"
        for case, files in cases.items():
            t0 = time.perf_counter()
            predict_case(predictor, files, out_dir / f"{case}.nii.gz", num_threads=args.num_processes)
            per_case[case] = time.perf_counter() - t0
        timings["predict_s_per_case"] = per_case
        values = list(per_case.values())
        timings["predict_median_s_per_case_excluding_first"] = statistics.median(values[1:] or values)
        write_json(args.out_json, {
            "benchmark": "paper profile (nnU-Net defaults), one fold, bounded epochs, on GPU",
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "cpus": os.cpu_count(), "platform": platform.platform(),
            "profile": dataclasses.asdict(profile), "plan": planning.plan_summary,
            "fold": args.fold, "epochs": args.epochs, "iterations_per_epoch": args.iterations,
            "timings": timings,
            "note": "first epoch includes torch.compile warm-up and data-loader start; the 1000-epoch estimate "
                    "uses the median of the later epochs",
            # scale the bounded epoch to nnU-Net's 250 + 50 iterations before extrapolating to 1000 epochs
            "estimated_full_training_h": _full_schedule_hours(timings["epoch_median_s_excluding_first"],
                                                              args.iterations),
        })
        LOG.info("epoch median %.1f s (est. %.1f h for 1000 epochs); predict %.2f s/case -> %s",
                 timings["epoch_median_s_excluding_first"],
                 _full_schedule_hours(timings["epoch_median_s_excluding_first"], args.iterations),
                 timings["predict_median_s_per_case_excluding_first"], args.out_json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
