"""`nnunet-fm feature-study`: the radiomics feature study of a run, or reader vs reader.

With ``--run RUN`` (what the study stage runs) the verb reads the run's feature tables,
``dataset/cases.csv`` and classifier folders and writes ``RUN/feature_study/``:
robustness of every feature to automatic segmentation (ICC(A,1) of predicted- vs
reference-mask features on the test sets, Bland–Altman of FM volume), univariate
analysis on the training cases (AUC with DeLong CI, Mann–Whitney, Benjamini–Hochberg),
SHAP of the final XGBoost model on the internal test set, a Spearman heat-map of the
model's features, the robust-feature classifier beside the default one (paired DeLong)
and the pyradiomics settings in IBSI terms. A segmentation-only study computes the
robustness part only. No feature is re-extracted.

With ``--features-a/--features-b`` (two feature tables) or ``--masks-a/--masks-b
--images`` (features extracted here) it runs reader vs reader agreement only (e.g. two
readers' masks of a segmentation-only cohort) into ``--out``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from nnunet_fm.cli.settings import add_config_argument, consumed_fields, resolve_config
from nnunet_fm.input_checks import finite_float, int_in_range

LOG = logging.getLogger(__name__)

#: Flag -> config field it overrides.
CONFIG_FLAGS = {"icc_thresholds": "feature_study.icc_thresholds", "skew_threshold": "feature_study.skew_threshold",
                "top_n": "feature_study.top_n", "fdr_alpha": "feature_study.fdr_alpha",
                "params": "features.params_file", "level": "stats.ci_level", "seed": "stats.seed"}
#: Config fields this verb uses.
CONSUMES = consumed_fields(CONFIG_FLAGS)
#: Name of the study stage and of its output folder inside the run.
STAGE_NAME = "feature_study"


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    parser = subparsers.add_parser(
        "feature-study", help="radiomics feature study of a run (robustness, univariate, SHAP, IBSI)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_argument_group("input (one of)")
    source.add_argument("--run", type=Path, default=None, metavar="RUN", help="results folder of a study run")
    source.add_argument("--features-a", type=Path, default=None, metavar="CSV", help="feature table of mask source A")
    source.add_argument("--features-b", type=Path, default=None, metavar="CSV", help="feature table of mask source B")
    source.add_argument("--masks-a", type=Path, default=None, metavar="DIR", help="mask folder A (e.g. reader 1)")
    source.add_argument("--masks-b", type=Path, default=None, metavar="DIR", help="mask folder B (e.g. reader 2)")
    source.add_argument("--images", type=Path, default=None, metavar="DIR", help="images of --masks-a/--masks-b")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="output folder (default RUN/feature_study; required without --run)")
    parser.add_argument("--segmentation-only", action="store_true",
                        help="no diagnosis: compute the robustness part only (also taken from "
                             "RUN/dataset/dataset_meta.json)")
    parser.add_argument("--icc-thresholds", type=finite_float(0.0, 1.0), nargs="+", default=None, metavar="T",
                        help="ICC(A,1) levels counted (default: the config's feature_study.icc_thresholds)")
    parser.add_argument("--skew-threshold", type=finite_float(0.0, min_inclusive=False), default=None,
                        help="skewness above which a positive feature is logged before the ICC (default: config)")
    parser.add_argument("--top-n", type=int_in_range(1, 200), default=None,
                        help="rows of the top tables (default: config)")
    parser.add_argument("--fdr-alpha", type=finite_float(0.0, 1.0, min_inclusive=False, max_inclusive=False),
                        default=None, help="BH level counted as significant (default: config)")
    parser.add_argument("--params", default=None,
                        help="pyradiomics YAML the features were made with "
                             "(default: the config's features.params_file)")
    parser.add_argument("--level", type=finite_float(0.5, 1.0, min_inclusive=False, max_inclusive=False),
                        default=None, help="confidence level (default: the config's stats.ci_level)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the plot jitter (default: the config's stats.seed)")
    parser.add_argument("--label-a", default="A", help="name of source A in reader mode (default A)")
    parser.add_argument("--label-b", default="B", help="name of source B in reader mode (default B)")
    parser.add_argument("--jobs", type=int_in_range(1, 256), default=2, help="extraction workers with --masks-a/b")
    add_config_argument(parser, "feature_study")
    return parser


def _segmentation_only(config) -> bool:
    """Whether the cohort has no diagnosis to classify (decided from its clinical.csv, as convert does)."""
    if config.data_dir is None:
        return False  # synthetic cohorts always have both diagnoses
    from dataset_conversion.clinical_sheet import read_cohort_sheet
    from dataset_conversion.study_design import SEGMENTATION_ONLY, describe_study

    sheet = read_cohort_sheet(config.data_dir)
    if not sheet.columns:
        return False  # no readable sheet: the convert stage reports it
    return describe_study(sheet).study_mode == SEGMENTATION_ONLY


def study_stage(config, paths):
    """The study's feature study: after roc, on the run's feature tables and classifier folders."""
    from benchmarks.engine.stage_runner import Stage

    run = paths.run_dir
    argv = ["feature-study", "--run", str(run), "--config", str(paths.config_file)]
    if _segmentation_only(config):
        argv.append("--segmentation-only")
    return Stage(STAGE_NAME, (tuple(argv),), (run / STAGE_NAME / "feature_study.json",))


def _settings(args: argparse.Namespace):
    from classifiers.feature_study_stage import StudySettings

    config = resolve_config(args, CONFIG_FLAGS)
    section = config.feature_study
    return StudySettings(icc_thresholds=tuple(section.icc_thresholds), skew_threshold=section.skew_threshold,
                         top_n=section.top_n, fdr_alpha=section.fdr_alpha, level=config.stats.ci_level,
                         seed=config.stats.seed, params_file=config.features.params_file)


def _check_sources(args: argparse.Namespace) -> str:
    """``run``, ``tables`` or ``masks``; one clear line when the inputs do not form one mode."""
    tables = (args.features_a, args.features_b)
    masks = (args.masks_a, args.masks_b, args.images)
    modes = [name for name, given in (("run", args.run is not None), ("tables", any(tables)),
                                      ("masks", any(masks))) if given]
    if len(modes) != 1:
        raise ValueError("feature-study needs exactly one input: --run RUN, or --features-a/--features-b, "
                         f"or --masks-a/--masks-b/--images (got {', '.join(modes) or 'none'})")
    mode = modes[0]
    if mode == "tables" and not all(tables):
        raise ValueError("--features-a and --features-b go together")
    if mode == "masks" and not all(masks):
        raise ValueError("--masks-a, --masks-b and --images go together")
    if mode != "run" and args.out is None:
        raise ValueError("--out is required without --run")
    if mode == "run" and not args.run.is_dir():
        raise FileNotFoundError(f"--run {args.run}: no such run folder")
    return mode


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from classifiers import feature_study_stage as stage

    mode = _check_sources(args)
    settings = _settings(args)
    if mode == "run":
        out = args.out or args.run / STAGE_NAME
        summary = stage.run_feature_study(args.run, out, settings, segmentation_only=args.segmentation_only)
    else:
        out = args.out
        masks = mode == "masks"
        summary = stage.run_reader_agreement(args.masks_a if masks else args.features_a,
                                             args.masks_b if masks else args.features_b, out, settings,
                                             labels=(args.label_a, args.label_b),
                                             images=args.images if masks else None, jobs=args.jobs)
    LOG.info("feature study (%s) written to %s in %.1f s", summary["study_mode"], out,
             summary["elapsed_s"])
    return 0
