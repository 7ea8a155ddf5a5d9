"""`nnunet-fm classify`: axSpA vs non-axSpA from FM feature tables.

Tunes and fits the XGBoost pipeline on training cases (train + validation, features from
out-of-fold masks), picks the Youden threshold on cross-validated training scores and
scores the test sets (features from fold-ensemble masks). Writes ``predictions.csv``,
``feature_importances.csv``, ``model/`` and ``classifier.json`` into ``--out``.

Baselines: FM volume, clinical (age + sex) and clinical + imaging (age, sex and the
logit of the XGBoost score); without age/sex (``--dataset-meta`` says
clinical_baseline_available false, or blanks) the clinical scores stay empty.
With ``--robust-reference`` only features whose training-case ICC(A,1) between the
out-of-fold predicted-mask table and this reference-mask table reaches
classifier.robust_icc_tau enter the model (``robust_features.json``).
"""

from __future__ import annotations

import argparse
import logging

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
    from pathlib import Path

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
                        help="random_state of search, folds and models (default: the config's, i.e. seeds.report)")
    parser.add_argument("--inner-cv-folds", type=int, default=None, metavar="K",
                        help=f"inner cross-validation folds (default: the config's, {defaults.inner_cv_folds})")
    parser.add_argument("--n-iter", type=int, default=None, metavar="N",
                        help=f"randomised-search candidates (default: the config's, {defaults.n_iter})")
    parser.add_argument("--max-features", type=int, default=None, metavar="K",
                        help=f"features kept by the selector (default: the config's, {defaults.max_features})")
    parser.add_argument("--robust-icc-tau", type=finite_float(0.0, 1.0), default=None, metavar="TAU",
                        help="ICC(A,1) threshold of the robust-feature classifier (default: the config's, "
                             f"{defaults.robust_icc_tau}; used with --robust-reference)")
    parser.add_argument("--dataset-meta", type=Path, default=None, metavar="JSON",
                        help="the converter's dataset_meta.json (clinical_baseline_available decides whether "
                             "the clinical baselines are fitted)")
    parser.add_argument("--robust-reference", type=Path, default=None, metavar="CSV",
                        help="reference-mask features of the training cases: train the robust-feature "
                             "classifier (ICC(A,1) against the first --features table >= robust_icc_tau)")
    parser.add_argument("--analysis", default="main", choices=("main", "reference_masks", "robust_features"),
                        help="what this model is, recorded in classifier.json (default main)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="parallel fits in the search (default 1)")
    add_config_argument(parser, "classifier")
    return parser


def classification_applies(config, paths) -> bool:
    """False for a segmentation-only cohort (decided from its clinical.csv's diagnosis column)."""
    from pathlib import Path

    from dataset_conversion import study_design

    if not config.data_dir:
        return True  # synthetic cohorts always carry both diagnoses
    return study_design.study_mode_of_cohort(Path(config.data_dir)) != study_design.SEGMENTATION_ONLY


def study_stage(config, paths):
    """The study's classifiers (``None`` for a segmentation-only cohort): the main model on
    predicted-mask features, the same pipeline on reference-mask features (sensitivity
    analysis) and, when classifier.robust_icc_tau is set, the robust-feature model."""
    from benchmarks.engine.stage_runner import Stage
    from dataset_conversion.study_design import DATASET_META_NAME
    from nnunet_fm.cli.pipeline import study_prediction_sets
    from nnunet_fm.contract import (CLASSIFIER_DIR, CLASSIFIER_REFERENCE_DIR, CLASSIFIER_ROBUST_DIR,
                                    PREDICTION_SETS, REFERENCE_FEATURES_PREFIX)

    if not classification_applies(config, paths):
        return None
    run, dataset = paths.run_dir, paths.dataset(config)
    common = ("--cases", str(dataset / "cases.csv"), "--dataset-meta", str(dataset / DATASET_META_NAME),
              "--config", str(paths.config_file))
    sets = [name for name in PREDICTION_SETS if name in study_prediction_sets(config)]
    predicted = tuple(str(run / "features" / f"{n}.csv") for n in sets)
    reference = tuple(str(run / "features" / f"{REFERENCE_FEATURES_PREFIX}{n}.csv") for n in sets)
    commands = [
        ("classify", "--features", *predicted, "--out", str(run / CLASSIFIER_DIR), *common),
        ("classify", "--features", *reference, "--out", str(run / CLASSIFIER_REFERENCE_DIR),
         "--analysis", "reference_masks", *common),
    ]
    outputs = [run / CLASSIFIER_DIR / "predictions.csv", run / CLASSIFIER_REFERENCE_DIR / "predictions.csv"]
    if config.classifier.robust_icc_tau is not None:
        commands.append(("classify", "--features", *predicted, "--robust-reference", reference[0],
                         "--out", str(run / CLASSIFIER_ROBUST_DIR), "--analysis", "robust_features", *common))
        outputs.append(run / CLASSIFIER_ROBUST_DIR / "robust_features.json")
    return Stage("classify", tuple(commands), tuple(outputs))


def _clinical_baseline(dataset_meta) -> tuple[bool, str]:
    """(available, reason) from dataset_meta.json; no file = decided from cases.csv's blanks alone."""
    if dataset_meta is None:
        return True, ""
    from nnunet_fm.input_checks import load_yaml_checked, require_regular_file

    require_regular_file(dataset_meta, "dataset_meta.json")
    meta = load_yaml_checked(dataset_meta, "dataset_meta.json")  # JSON is YAML; one clear line on bad syntax
    available = meta.get("clinical_baseline_available", True)
    if not isinstance(available, bool):
        raise ValueError(f"{dataset_meta}: clinical_baseline_available must be true or false, got {available!r}")
    return available, str(meta.get("clinical_baseline_reason", ""))


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from pathlib import Path

    from classifiers.classification import robust_feature_selection, run_classification
    from nnunet_fm.atomic import write_csv, write_json

    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    config = resolve_config(args, CONFIG_FLAGS).classifier  # validates the ranges
    available, reason = _clinical_baseline(args.dataset_meta)
    subset, extra = None, {"analysis": args.analysis}
    if args.robust_reference is not None:
        if config.robust_icc_tau is None:
            raise ValueError("--robust-reference needs classifier.robust_icc_tau (it is null)")
        record, icc = robust_feature_selection(args.features[0], args.robust_reference, args.cases,
                                               config.robust_icc_tau)
        out = Path(args.out)
        write_csv(out / "robust_icc.csv", icc)
        extra["robust_features"] = {k: record[k] for k in ("tau", "n_features", "n_kept")}
        if not record["features"]:
            record["note"] = f"no feature reaches ICC(A,1) >= {config.robust_icc_tau}; no robust model trained"
            write_json(out / "robust_features.json", record)
            logging.getLogger(__name__).warning("%s", record["note"])
            return 0
        subset = record["features"]
    run_classification(args.features, args.cases, args.out, random_state=config.seed,
                       inner_cv_folds=config.inner_cv_folds, n_iter=config.n_iter,
                       max_features=config.max_features, n_jobs=args.jobs, clinical_available=available,
                       clinical_reason=reason, feature_subset=subset, extra_summary=extra)
    if args.robust_reference is not None:
        write_json(Path(args.out) / "robust_features.json", record)
    return 0
