"""`nnunet-fm classify`: axSpA vs non-axSpA from FM feature tables.

Tunes and fits the XGBoost pipeline on training cases (train + validation, features from
out-of-fold masks), picks the Youden threshold on cross-validated training scores and
scores the test sets (features from fold-ensemble masks). Writes ``predictions.csv``,
``feature_importances.csv``, ``model/`` and ``classifier.json`` into ``--out``.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    from nnunet_fm.config import ClassifierConfig

    defaults = ClassifierConfig()
    parser = subparsers.add_parser(
        "classify", help="axSpA classifier (XGBoost) on FM features, with baselines",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--features", nargs="+", required=True, metavar="CSV",
                        help="feature tables (training: out-of-fold masks; test: ensemble masks)")
    parser.add_argument("--cases", required=True, metavar="CSV", help="cases.csv of the nnU-Net raw dataset")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help=f"random_state of search, folds and models (default {defaults.seed})")
    parser.add_argument("--inner-cv-folds", type=int, default=defaults.inner_cv_folds, metavar="K",
                        help=f"inner cross-validation folds (default {defaults.inner_cv_folds})")
    parser.add_argument("--n-iter", type=int, default=defaults.n_iter, metavar="N",
                        help=f"randomised-search candidates (default {defaults.n_iter})")
    parser.add_argument("--max-features", type=int, default=defaults.max_features, metavar="K",
                        help=f"features kept by the selector (default {defaults.max_features})")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="parallel fits in the search (default 1)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from classifiers.classification import run_classification
    from nnunet_fm.config import ClassifierConfig

    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    config = ClassifierConfig(seed=args.seed, inner_cv_folds=args.inner_cv_folds, n_iter=args.n_iter,
                              max_features=args.max_features)  # validates the ranges
    run_classification(args.features, args.cases, args.out, random_state=config.seed,
                       inner_cv_folds=config.inner_cv_folds, n_iter=config.n_iter,
                       max_features=config.max_features, n_jobs=args.jobs)
    return 0
