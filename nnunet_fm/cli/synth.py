"""`nnunet-fm synth`: write the synthetic two-center SIJ phantom cohort."""

from __future__ import annotations

import argparse
import logging

from nnunet_fm.cli.settings import add_config_argument, consumed_fields, resolve_config

LOG = logging.getLogger(__name__)

#: Flag -> config field it overrides.
CONFIG_FLAGS = {"scale": "synth.scale", "seed": "synth.seed", "jobs": "synth.jobs"}
#: Config fields this verb uses.
CONSUMES = consumed_fields(CONFIG_FLAGS)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    from nnunet_fm.input_checks import finite_float, int_in_range, output_dir_path, positive_int

    parser = subparsers.add_parser(
        "synth",
        help="write the synthetic two-center SIJ MRI phantom cohort (clinical.csv, images, FM masks)",
        description="Render the embedded synthetic cohort: center 1 as NIfTI, center 2 as DICOM "
                    "series, FM masks as NIfTI, plus clinical.csv and cohort.json.",
    )
    parser.add_argument("--out", required=True, type=output_dir_path, help="cohort folder to create")
    parser.add_argument("--scale", type=finite_float(0, 4, min_inclusive=False), default=None,
                        help="fraction of the paper's 706 patients (default: the config's synth.scale, 0.25; "
                             "at least 3 per stratum)")
    parser.add_argument("--seed", type=int_in_range(0, 2**32 - 1), default=None,
                        help="master seed (default: the config's synth.seed = seeds.report)")
    parser.add_argument("--jobs", type=positive_int, default=None, help="worker processes (default: the config's, 2)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing cohort folder")
    add_config_argument(parser, "synth")
    return parser


def study_stage(config, paths):
    """The study's cohort stage (synthetic runs only)."""
    from benchmarks.engine.stage_runner import Stage

    if not config.is_synthetic:
        return None
    argv = ("synth", "--out", str(paths.cohort), "--config", str(paths.config_file), "--overwrite")
    return Stage("synth", (argv,), (paths.cohort / "clinical.csv",))


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    import json

    from dataset_conversion.synthetic_cohort import generate_cohort

    synth = resolve_config(args, CONFIG_FLAGS).synth  # validates the ranges
    out = generate_cohort(args.out, scale=synth.scale, seed=synth.seed, jobs=synth.jobs, overwrite=args.overwrite)
    info = json.loads((out / "cohort.json").read_text(encoding="utf-8"))
    LOG.info("synthetic cohort written to %s: %d patients %s", out, info["n_patients"], info["counts"])
    LOG.info("FM volume alone AUC (true masks): %s", info["fm_volume_alone_auc"])
    LOG.info("Bayes-optimal AUC of the diagnosis model (ceiling): %s",
             {k: round(info["bayes_auc"][k], 3) for k in ("all", "imaging", "clinical")})
    return 0
