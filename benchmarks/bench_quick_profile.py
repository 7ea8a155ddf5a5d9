"""Benchmark the ``quick`` nnU-Net profile on the embedded synthetic cohort (2 CPU cores).

Generates the cohort (scale 0.25, seed 2024) and converts it (through the CLI, so this
script imports only ``nnunet_fm``), plans + preprocesses, trains all five folds with
``quick``, predicts out of fold and with the fold ensemble, and measures:

* internal CV DSC: mean over folds of the per-fold mean OOF DSC, ± SD over folds (ddof=1);
* internal test and external test DSC of the fold ensemble (mean over cases);
* timings: plan/preprocess, training per fold, prediction seconds per case.

Targets on 2 CPU cores: CV DSC >= 0.75, external DSC >= 0.70, five folds <= 12 min.
Writes ``results/benchmarks/quick_profile.json`` atomically.

Usage: ``python -m benchmarks.bench_quick_profile [--work work_runs/bench_quick] [--force]
[--set num_epochs=30 --set iterations_per_epoch=20 ...]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Sequence

from nnunet_fm.contract import dataset_folder_name

LOG = logging.getLogger(__name__)
DEFAULT_OUT = Path("results") / "benchmarks" / "quick_profile.json"
DATASET_ID = 501
TARGETS = {"cv_dice_min": 0.75, "external_dice_min": 0.70, "train_5_folds_max_s": 720.0}


def _cli(argv: list[str]) -> float:
    from benchmarks.cli_timing import timed_cli

    return timed_cli(argv)


def _dice_fn():
    try:
        from nnunet_fm.seg_metrics import dice
        return dice, "nnunet_fm.seg_metrics.dice"
    except ImportError:  # pragma: no cover - the metrics module is written in parallel
        import numpy as np

        def dice(ref, pred):
            ref, pred = np.asarray(ref, bool), np.asarray(pred, bool)
            total = ref.sum() + pred.sum()
            return 1.0 if total == 0 else 2.0 * np.count_nonzero(ref & pred) / total
        return dice, "plain Dice (both empty = 1)"


def dice_per_case(pred_dir: Path, ref_dir: Path, cases: Sequence[str]) -> dict[str, float]:
    """DSC of ``pred_dir/<case>.nii.gz`` against ``ref_dir/<case>.nii.gz``."""
    import SimpleITK as sitk

    dice, _ = _dice_fn()
    out = {}
    for case in cases:
        ref = sitk.GetArrayFromImage(sitk.ReadImage(str(ref_dir / f"{case}.nii.gz"))) > 0
        pred = sitk.GetArrayFromImage(sitk.ReadImage(str(pred_dir / f"{case}.nii.gz"))) > 0
        out[case] = float(dice(ref, pred))
    return out


def parse_overrides(items: Sequence[str]) -> dict:
    """``key=value`` strings -> typed profile field overrides."""
    from nnunet_fm.nnunet.profiles import Profile

    types = {f.name: f.type for f in dataclasses.fields(Profile)}
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in types:
            raise ValueError(f"--set {item}: unknown profile field {key!r}")
        kind = str(types[key])
        if value.lower() in ("none", "null"):
            out[key] = None
        elif "tuple" in kind:
            out[key] = tuple(int(v) for v in value.split("x"))
        elif "bool" in kind:
            out[key] = value.lower() in ("1", "true", "yes")
        elif "int" in kind:
            out[key] = int(value)
        elif "float" in kind:
            out[key] = float(value)
        else:
            out[key] = value
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="work_runs/bench_quick", help="working folder (cohort, raw, models)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="result JSON")
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="override a quick-profile field, e.g. num_epochs=30 (tuning)")
    parser.add_argument("--force", action="store_true", help="retrain finished folds")
    parser.add_argument("--mirroring", action="store_true", help="test-time mirroring")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    work = Path(args.work).resolve()
    cohort, raw = work / "cohort", work / "nnUNet_raw"
    timings: dict = {}
    if not (cohort / "clinical.csv").is_file():
        timings["synth_s"] = _cli(["synth", "--out", str(cohort), "--scale", str(args.scale),
                                   "--seed", str(args.seed), "--jobs", "2"])
    if not (raw / dataset_folder_name(DATASET_ID, "SIJFM") / "splits_final.json").is_file():
        timings["convert_s"] = _cli(["convert", "--input", str(cohort), "--out", str(raw),
                                     "--dataset-id", str(DATASET_ID), "--seed", str(args.seed), "--jobs", "2"])

    from nnunet_fm.config import NnunetConfig
    from nnunet_fm.nnunet.environment import NnunetFolders, nnunet_workspace
    from nnunet_fm.nnunet.profiles import QUICK

    profile = dataclasses.replace(QUICK, **parse_overrides(args.overrides))
    config = NnunetConfig(profile="quick", folds=tuple(args.folds), num_processes=2, num_processes_da=0)
    with nnunet_workspace(config, NnunetFolders.from_raw(raw)):

        from nnunet_fm.nnunet.planning import plan_and_preprocess
        from nnunet_fm.nnunet.prediction import oof_fold_of_cases, predict_all
        from nnunet_fm.nnunet.training import train_folds

        start = time.perf_counter()
        planning = plan_and_preprocess(DATASET_ID, profile, num_processes=2, force=args.force)
        timings["plan_preprocess_s"] = time.perf_counter() - start
        timings["plan_preprocess_steps_s"] = planning.seconds

        folds = train_folds(DATASET_ID, profile, args.folds, "cpu", args.force, config.seed, 2)
        timings["train_per_fold_s"] = {r.fold: round(r.seconds, 1) for r in folds}
        timings["train_fold_status"] = {r.fold: r.status for r in folds}
        timings["train_total_s"] = sum(r.seconds for r in folds)
        timings["train_cpu_s_per_fold"] = {r.fold: round(r.cpu_seconds, 1) for r in folds}
        timings["train_total_cpu_s"] = sum(r.cpu_seconds for r in folds)
        timings["load_average_after_training"] = os.getloadavg()
        epoch_times = [t for r in folds for t in r.epoch_seconds]
        timings["epoch_median_s"] = statistics.median(epoch_times) if epoch_times else None

        pred_dir = work / "predictions"
        start = time.perf_counter()
        report = predict_all(DATASET_ID, profile, pred_dir, folds=args.folds, mirroring=args.mirroring, num_threads=2)
        timings["predict_total_s"] = time.perf_counter() - start
        timings["predict"] = report.summary()

        dataset = raw / dataset_folder_name(DATASET_ID, "SIJFM")
        splits = json.loads((dataset / "splits_final.json").read_text(encoding="utf-8"))
        owner = {c: f for c, f in oof_fold_of_cases(splits).items() if f in args.folds}
        oof = dice_per_case(pred_dir / "oof", dataset / "labelsTr", sorted(owner))
        per_fold = {f: statistics.mean([d for c, d in oof.items() if owner[c] == f]) for f in args.folds}
        fold_means = list(per_fold.values())
        internal = dice_per_case(pred_dir / "internal_test", dataset / "labelsTs",
                                 sorted(p.name[:-7] for p in (dataset / "labelsTs").glob("*.nii.gz")))
        external = dice_per_case(pred_dir / "external_test", dataset / "labelsExt",
                                 sorted(p.name[:-7] for p in (dataset / "labelsExt").glob("*.nii.gz")))
        result = {
            "benchmark": "quick nnU-Net profile on the synthetic cohort",
            "data": f"synthetic two-center SIJ phantom cohort (scale {args.scale:g}, seed {args.seed})",
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "note": "2-core machine shared with other jobs during the run: timings are pessimistic"},
            "profile": dataclasses.asdict(profile),
            "plan": planning.plan_summary,
            "dice_definition": _dice_fn()[1],
            "cv_dice": {"definition": "mean over folds of the per-fold mean OOF DSC; SD over folds (ddof=1)",
                        "mean": statistics.mean(fold_means),
                        "sd": statistics.stdev(fold_means) if len(fold_means) > 1 else None,
                        "per_fold": per_fold, "n_cases": len(oof)},
            "internal_test_dice": {"mean": statistics.mean(internal.values()), "n_cases": len(internal)},
            "external_test_dice": {"mean": statistics.mean(external.values()),
                                   "sd": statistics.stdev(external.values()) if len(external) > 1 else None,
                                   "n_cases": len(external)},
            "mirroring": args.mirroring,
            "timings": timings,
            "targets": TARGETS,
            "per_case_dice": {"oof": oof, "internal_test": internal, "external_test": external},
        }
        result["targets_met"] = {
            "cv_dice": result["cv_dice"]["mean"] >= TARGETS["cv_dice_min"],
            "external_dice": result["external_test_dice"]["mean"] >= TARGETS["external_dice_min"],
            "train_5_folds_time": (len(args.folds) == 5 and timings["train_total_s"] <= TARGETS["train_5_folds_max_s"]),
        }
        from nnunet_fm.atomic import write_json

        write_json(args.out, result)
        LOG.info("CV DSC %.3f ± %.3f, internal test %.3f, external %.3f; training %.0f s; predict %.2f s/case -> %s",
                 result["cv_dice"]["mean"], result["cv_dice"]["sd"] or 0, result["internal_test_dice"]["mean"],
                 result["external_test_dice"]["mean"], timings["train_total_s"],
                 timings["predict"]["all"]["mean_s_per_case"], args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
