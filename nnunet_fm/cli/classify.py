"""`nnunet-fm classify`: axSpA vs non-axSpA from FM feature tables.

Tunes and fits the XGBoost pipeline on training cases (train + validation, features from
out-of-fold masks), picks the Youden threshold on cross-validated training scores and
scores the test sets (features from fold-ensemble masks). Writes ``predictions.csv``,
``feature_importances.csv``, ``model/`` and ``classifier.json`` into ``--out``.
"""

from __future__ import annotations

import argparse

from nnunet_fm.cli.settings import add_config_argument, consumed_fields, resolve_config

#: Flag -> config field it overrides.
CONFIG_FLAGS = {"seed": "classifier.seed", "inner_cv_folds": "classifier.inner_cv_folds",
                "n_iter": "classifier.n_iter", "max_features": "classifier.max_features",
                "robust_icc_tau": "classifier.robust_icc_tau"}
#: Config fields this verb uses.
CONSUMES = consumed_fields(CONFIG_FLAGS)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    from nnunet_fm.config import ClassifierConfig
    from nnunet_fm.input_checks import finite_float

    defaults = ClassifierConfig()
    parser = subparsers.add_parser(
        "classify", help="axSpA classifier (XGBoost) on FM features, with baselines",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--features", nargs="+", required=True, metavar="CSV",
                        help="feature tables (training: out-of-fold masks; test: ensemble masks)")
    parser.add_argument("--cases", required=True, metavar="CSV", help="cases.csv of the nnU-Net raw dataset")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--seed", type=int, default=None,
                        help=f"random_state of search, folds and models (default: the config's, {defaults.seed})")
    parser.add_argument("--inner-cv-folds", type=int, default=None, metavar="K",
                        help=f"inner cross-validation folds (default: the config's, {defaults.inner_cv_folds})")
    parser.add_argument("--n-iter", type=int, default=None, metavar="N",
                        help=f"randomised-search candidates (default: the config's, {defaults.n_iter})")
    parser.add_argument("--max-features", type=int, default=None, metavar="K",
                        help=f"features kept by the selector (default: the config's, {defaults.max_features})")
    parser.add_argument("--robust-icc-tau", type=finite_float(0.0, 1.0), default=None, metavar="TAU",
                        help="ICC(A,1) threshold of the robust-feature classifier (default: the config's, "
                             f"{defaults.robust_icc_tau}; used with --reference-features)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="parallel fits in the search (default 1)")
    add_config_argument(parser, "classifier")
    return parser


def study_stage(config, paths):
    """The study's classifier: training rows from out-of-fold features, test rows from ensemble features."""
    from benchmarks.engine.stage_runner import Stage
    from nnunet_fm.contract import PREDICTION_SETS

    run = paths.run_dir
    argv = ("classify", "--features", *(str(run / "features" / f"{n}.csv") for n in PREDICTION_SETS),
            "--cases", str(paths.dataset(config) / "cases.csv"), "--out", str(run / "classifier"),
            "--config", str(paths.config_file))
    return Stage("classify", (argv,), (run / "classifier" / "predictions.csv",))


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from classifiers.classification import run_classification

    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    config = resolve_config(args, CONFIG_FLAGS).classifier  # validates the ranges
    run_classification(args.features, args.cases, args.out, random_state=config.seed,
                       inner_cv_folds=config.inner_cv_folds, n_iter=config.n_iter,
                       max_features=config.max_features, n_jobs=args.jobs)
    return 0
