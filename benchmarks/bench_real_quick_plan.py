"""Tune the ``quick`` profile on real SIJ scans: variants of the derived plan, cross-validated.

Takes an nnU-Net raw root converted from a real cohort (for example the UCL
disease-region task: ``nnunet-fm import-ucl-vhi`` then ``nnunet-fm convert``), and for
each variant (the quick profile with some fields replaced) plans, preprocesses, trains
the chosen folds and predicts their validation cases out of fold. Per variant it
reports the derived plan, the OOF DSC per case and per fold, the predicted / manual
volume ratio and the training time, and writes ``results/benchmarks/real_quick_plan.json``
atomically (one file; rerunning resumes: finished folds are skipped).

This is how the quick profile is tuned on real data, not on the phantom. Every variant
gets its own plans name (``nnUNetPlans_fmquick_<variant>``), so variants never share
preprocessed data or models.

Usage::

    python -m benchmarks.bench_real_quick_plan --raw WORK/raw --folds 0 1 \\
        --variant quick: --variant ctx4:inplane_spacing_factor=4
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Sequence

from benchmarks.machine import machine_info

LOG = logging.getLogger(__name__)
DEFAULT_OUT = Path("results") / "benchmarks" / "real_quick_plan.json"


def parse_variant(text: str) -> tuple[str, dict]:
    """``NAME:key=value,key=value`` -> ``(NAME, typed quick-profile overrides)``."""
    from benchmarks.bench_quick_profile import parse_overrides

    name, sep, rest = text.partition(":")
    if not sep or not name.isidentifier():
        raise ValueError(f"--variant {text!r}: expected NAME:key=value,... (NAME a plain identifier)")
    return name, parse_overrides([item for item in rest.split(",") if item])


def volumes_and_dice(pred: Path, ref: Path) -> dict[str, float]:
    """DSC and volumes (ml) of one predicted mask against its manual mask."""
    import numpy as np
    import SimpleITK as sitk

    from nnunet_fm.seg_metrics import dice

    ref_image = sitk.ReadImage(str(ref))
    voxel_ml = float(np.prod(ref_image.GetSpacing())) / 1000.0
    ref_mask = sitk.GetArrayFromImage(ref_image) > 0
    pred_mask = sitk.GetArrayFromImage(sitk.ReadImage(str(pred))) > 0
    return {"dsc": float(dice(ref_mask, pred_mask)), "manual_ml": float(ref_mask.sum() * voxel_ml),
            "predicted_ml": float(pred_mask.sum() * voxel_ml)}


def run_variant(name: str, overrides: dict, raw: Path, dataset_id: int, folds: Sequence[int], seed: int,
                work: Path) -> dict:
    """Plan, train and predict out of fold one variant; its figures."""
    from nnunet_fm.config import NnunetConfig
    from nnunet_fm.contract import dataset_folder_name
    from nnunet_fm.nnunet.environment import NnunetFolders, find_dataset_name, nnunet_workspace
    from nnunet_fm.nnunet.profiles import QUICK

    profile = dataclasses.replace(QUICK, name=f"quick_{name}", plans_name=f"nnUNetPlans_fmquick_{name}", **overrides)
    config = NnunetConfig(profile="quick", folds=tuple(folds), num_processes=2, num_processes_da=0, seed=seed)
    dataset = raw / dataset_folder_name(dataset_id, find_dataset_name(raw, dataset_id))
    with nnunet_workspace(config, NnunetFolders.from_raw(raw)):
        from nnunet_fm.nnunet.planning import plan_and_preprocess
        from nnunet_fm.nnunet.prediction import oof_fold_of_cases, predict_all
        from nnunet_fm.nnunet.training import train_folds

        start = time.perf_counter()
        planning = plan_and_preprocess(dataset_id, profile, num_processes=2)
        plan_s = time.perf_counter() - start
        trained = train_folds(dataset_id, profile, folds, "cpu", False, seed, 2)
        pred_dir = work / f"predictions_{name}"
        report = predict_all(dataset_id, profile, pred_dir, folds=folds, subsets=("oof",))
    splits = json.loads((dataset / "splits_final.json").read_text(encoding="utf-8"))
    owner = {case: fold for case, fold in oof_fold_of_cases(splits).items() if fold in folds}
    per_case = {case: {"fold": owner[case], **volumes_and_dice(pred_dir / "oof" / f"{case}.nii.gz",
                                                              dataset / "labelsTr" / f"{case}.nii.gz")}
                for case in sorted(owner)}
    fold_means = [statistics.mean(v["dsc"] for v in per_case.values() if v["fold"] == f) for f in folds]
    ratios = [v["predicted_ml"] / v["manual_ml"] for v in per_case.values() if v["manual_ml"] > 0]
    return {
        "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
        "plan": planning.plan_summary,
        "plan_preprocess_s": round(plan_s, 1),
        "train_s_per_fold": {r.fold: round(r.seconds, 1) for r in trained},
        "train_status": {r.fold: r.status for r in trained},
        "predict_s_per_case": report.summary()["all"]["mean_s_per_case"],
        "oof_dsc_mean_over_folds": statistics.mean(fold_means),
        "oof_dsc_sd_over_folds": statistics.stdev(fold_means) if len(fold_means) > 1 else None,
        "oof_dsc_per_fold": dict(zip(map(str, folds), fold_means)),
        "median_predicted_over_manual_volume": statistics.median(ratios) if ratios else None,
        "per_case": per_case,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True, help="nnU-Net raw root of a converted real cohort")
    parser.add_argument("--dataset-id", type=int, default=501)
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--seed", type=int, default=2024, help="training seed (a development seed)")
    parser.add_argument("--variant", action="append", required=True,
                        help="NAME:key=value,... quick-profile fields to replace; 'quick:' = unchanged")
    parser.add_argument("--data-label", default="real SIJ MRI (see --raw)", help="what the data is, for the JSON")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        variants = [parse_variant(v) for v in args.variant]
    except ValueError as exc:
        parser.error(str(exc))
    raw = Path(args.raw).resolve()
    if not raw.is_dir():
        parser.error(f"--raw {args.raw} is not a folder")
    out = Path(args.out)
    result = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    result.update({
        "benchmark": "quick-profile variants, out-of-fold DSC on real scans",
        "data": args.data_label,
        "folds": args.folds,
        "seed": args.seed,
        "machine": machine_info(),
    })
    result.setdefault("variants", {})
    from nnunet_fm.atomic import write_json

    for name, overrides in variants:
        LOG.info("variant %s: %s", name, overrides or "quick profile unchanged")
        figures = run_variant(name, overrides, raw, args.dataset_id, args.folds, args.seed, raw.parent)
        figures["load_average_after"] = os.getloadavg()
        result["variants"][name] = figures
        write_json(out, result)
        LOG.info("variant %s: OOF DSC %.3f (folds %s), predicted/manual volume %.2f",
                 name, figures["oof_dsc_mean_over_folds"], args.folds, figures["median_predicted_over_manual_volume"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
