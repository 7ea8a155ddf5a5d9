"""`nnunet-fm evaluate-seg`: segmentation metrics of predicted masks against references."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from nnunet_fm.cli.settings import (add_config_argument, add_scheduler_argument, cluster_fields, consumed_fields,
                                    resolve_config)

LOG = logging.getLogger(__name__)

#: Flag -> config field it overrides (``--jobs`` is the run's worker count, nnunet.num_processes).
CONFIG_FLAGS = {"jobs": "nnunet.num_processes", "scheduler": "cluster.scheduler", "seed": "stats.seed"}
#: Config fields this verb uses.
CONSUMES = consumed_fields(CONFIG_FLAGS, *cluster_fields())


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    from nnunet_fm.input_checks import finite_float, int_in_range, output_file_path, positive_int
    from nnunet_fm.seg_evaluation import MISSING_POLICIES
    from nnunet_fm.seg_metrics import DEFAULT_LESION_OVERLAP_FRACTION, DEFAULT_NSD_TOLERANCE_MM

    parser = subparsers.add_parser(
        "evaluate-seg",
        help="per-case DSC, HD95, ASSD, NSD, volumes and lesion counts of predicted masks",
        description="Match masks of two folders by file name, write the per-case metrics CSV "
                    "and a summary JSON (mean ± SD, bootstrap 95% CI; with --cases the "
                    "cross-validation figure: mean over folds of per-fold mean DSC ± SD over folds).",
    )
    parser.add_argument("--pred", required=True, type=Path, help="folder of predicted masks")
    parser.add_argument("--ref", required=True, type=Path, help="folder of reference masks")
    parser.add_argument("--out", required=True, type=output_file_path, help="per-case metrics CSV to write")
    parser.add_argument("--nsd-tolerance-mm", type=finite_float(0.0, min_inclusive=False), default=None,
                        help=f"normalised surface Dice tolerance in mm (default {DEFAULT_NSD_TOLERANCE_MM}); "
                             "nsd_slice is always added at the case's largest spacing")
    parser.add_argument("--lesion-overlap-fraction", type=finite_float(0.0, 1.0, min_inclusive=False),
                        default=DEFAULT_LESION_OVERLAP_FRACTION,
                        help="a reference lesion counts as detected when at least this fraction of its voxels "
                             f"is predicted (default {DEFAULT_LESION_OVERLAP_FRACTION})")
    parser.add_argument("--lesions", type=output_file_path, default=None,
                        help="per-lesion CSV (default: <out stem>_lesions.csv beside the CSV)")
    parser.add_argument("--missing", choices=MISSING_POLICIES, default="error",
                        help="a reference without a prediction: error (default) or skip (listed in the summary)")
    parser.add_argument("--cases", type=Path, default=None,
                        help="cases.csv (case_id, fold, set): adds the CV figure to the summary")
    parser.add_argument("--jobs", type=positive_int, default=None,
                        help="worker processes (default: the config's nnunet.num_processes, else 1)")
    parser.add_argument("--summary", type=output_file_path, default=None,
                        help="summary JSON (default: <out stem>_summary.json beside the CSV)")
    parser.add_argument("--n-boot", type=positive_int, default=2000,
                        help="bootstrap resamples for the CI (default 2000)")
    parser.add_argument("--seed", type=int_in_range(0, 2 ** 32 - 1), default=None,
                        help="bootstrap seed (default: the config's stats.seed, i.e. seeds.report)")
    add_scheduler_argument(parser)
    add_config_argument(parser, "nnunet")
    return parser


def study_stage(config, paths):
    """The study's segmentation evaluation: one command per prediction set."""
    from benchmarks.engine.stage_runner import Stage
    from nnunet_fm.cli.pipeline import study_prediction_sets
    from nnunet_fm.contract import LESIONS_SUFFIX, PREDICTION_SETS

    sets = study_prediction_sets(config)
    dataset, run = paths.dataset(config), paths.run_dir
    commands = tuple(
        ("evaluate-seg", "--pred", str(paths.predictions / name), "--ref", str(dataset / labels),
         "--out", str(run / "segmentation" / f"{name}.csv"), "--cases", str(dataset / "cases.csv"),
         "--config", str(paths.config_file))
        for name, (_, labels) in PREDICTION_SETS.items() if name in sets)
    outputs = tuple(run / "segmentation" / f"{n}{suffix}.csv" for n in sets for suffix in ("", LESIONS_SUFFIX))
    return Stage("evaluate_segmentation", commands, outputs)


def _jobs(args: argparse.Namespace, config) -> int:
    """``--jobs``, else the config's worker count, else 1 (no config: one process)."""
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1; got {args.jobs}")
    if args.jobs is not None or args.config is not None:
        return config.nnunet.num_processes
    return 1


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from nnunet_fm.atomic import write_json
    from nnunet_fm.contract import LESIONS_SUFFIX
    from nnunet_fm.provenance import portable_path
    from nnunet_fm.seg_evaluation import evaluate_folders, pair_case_files, read_folds, summarise
    from nnunet_fm.seg_metrics import DEFAULT_NSD_TOLERANCE_MM

    tolerance = DEFAULT_NSD_TOLERANCE_MM if args.nsd_tolerance_mm is None else args.nsd_tolerance_mm
    config = resolve_config(args, CONFIG_FLAGS)
    jobs = _jobs(args, config)
    folds = read_folds(args.cases) if args.cases is not None else None
    if folds is not None:  # fail before the slow part
        pairs, _ = pair_case_files(args.pred, args.ref, args.missing)
        unknown = [case_id for case_id, _, _ in pairs if case_id not in folds]
        if unknown:
            raise ValueError(f"{len(unknown)} case(s) are not in {args.cases}: {', '.join(unknown[:20])}")
    lesions_csv = args.lesions or args.out.with_name(f"{args.out.stem}{LESIONS_SUFFIX}.csv")
    per_case = evaluate_folders(args.pred, args.ref, args.out, tolerance, jobs, missing=args.missing,
                                lesion_overlap_fraction=args.lesion_overlap_fraction, lesions_csv=lesions_csv,
                                cluster=config.cluster)
    summary = summarise(per_case, folds, args.n_boot, config.stats.seed, tolerance)
    target = args.summary or args.out.with_name(f"{args.out.stem}_summary.json")
    # record where the inputs came from without the machine's directory layout
    summary["pred"], summary["ref"], summary["per_case_csv"], summary["lesions_csv"] = (
        portable_path(p, target.parent) for p in (args.pred, args.ref, args.out, lesions_csv))
    write_json(target, summary)
    overall = summary["all_cases"]
    line = (f"mean DSC {overall['mean_dice']:.4f} ± {overall['sd_dice']:.4f} over {len(per_case)} cases "
            f"({summary['n_skipped']} skipped without a prediction)")
    if "cross_validation" in summary:
        cv = summary["cross_validation"]
        line += f"; CV {cv['mean_dice']:.4f} ± {cv['sd_dice']:.4f} over {cv['n_folds']} folds"
    LOG.info("%s; wrote %s, %s and %s", line, args.out, lesions_csv, target)
    return 0
