"""`nnunet-fm roc`: AUCs with DeLong and bootstrap CIs, DeLong tests, Youden operating point.

Reads a predictions CSV (one row per case), writes ``DIR/roc_stats.json``,
``DIR/roc.png`` and ``DIR/roc.svg``. Statistics follow R's pROC with the direction fixed
(higher score = positive class). With ``--group`` (e.g. ``set``) every group is analysed
separately, the same score is compared between groups (unpaired DeLong), and the Youden
threshold is chosen on ``--train-group`` and applied unchanged to all groups.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from nnunet_fm.cli.settings import add_config_argument

LOG = logging.getLogger(__name__)

#: Flag -> config field it overrides (the flags are checked by this verb, not by StatsConfig:
#: a stand-alone ``roc`` may use few resamples).
CONFIG_FLAGS = {"n_bootstrap": "stats.n_bootstrap", "level": "stats.ci_level", "seed": "stats.seed"}
#: Config fields this verb uses.
CONSUMES = tuple(CONFIG_FLAGS.values())
#: Score columns of the classifier's predictions.csv, main score first.
STUDY_SCORES = ("score_xgboost", "score_fm_volume", "score_clinical")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    parser = subparsers.add_parser(
        "roc", help="ROC statistics (pROC conventions) and ROC figure from a predictions CSV",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--predictions", required=True, type=Path, metavar="CSV", help="predictions CSV")
    parser.add_argument("--label", required=True, metavar="COL", help="column with the true class")
    parser.add_argument("--score", required=True, action="append", metavar="COL",
                        help="score column, higher = positive (repeat for several scores)")
    parser.add_argument("--positive", default=None, metavar="VALUE",
                        help="label value of the positive class (default: 1, else axSpA)")
    parser.add_argument("--group", default=None, metavar="COL",
                        help="column splitting the cases into groups, e.g. set")
    parser.add_argument("--train-group", default=None, metavar="VALUE",
                        help="group on which the Youden threshold is chosen (default: train)")
    parser.add_argument("--id-column", default="case_id", metavar="COL",
                        help="case id column used in error messages (default case_id)")
    parser.add_argument("--n-bootstrap", type=int, default=None, metavar="N",
                        help="bootstrap resamples for CIs and bands (default: the config's stats.n_bootstrap, 2000)")
    parser.add_argument("--level", type=float, default=None,
                        help="confidence level (default: the config's stats.ci_level, 0.95)")
    parser.add_argument("--seed", type=int, default=None, help="bootstrap seed (default: the config's stats.seed, 2024)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    add_config_argument(parser, "stats")
    return parser


def study_stage(config, paths):
    """The study's ROC statistics on the classifier's predictions, grouped by split."""
    from benchmarks.engine.stage_runner import Stage

    run = paths.run_dir
    argv = ["roc", "--predictions", str(run / "classifier" / "predictions.csv"), "--label", "label"]
    for score in STUDY_SCORES:
        argv += ["--score", score]
    argv += ["--positive", "1", "--group", "split", "--train-group", "training", "--out", str(run / "roc"),
             "--config", str(paths.config_file)]
    return Stage("roc", (tuple(argv),), (run / "roc" / "roc_stats.json", run / "roc" / "roc.png"))


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The statistics settings: each flag, else the config's value (dotted field -> value).

    Raises:
        ValueError: A setting out of range (named by its flag).
    """
    from nnunet_fm.config import load_run_config

    stats = load_run_config(args.config).stats
    values = {dotted: getattr(args, dest) if getattr(args, dest) is not None else getattr(stats, dotted.split(".")[1])
              for dest, dotted in CONFIG_FLAGS.items()}
    if values["stats.n_bootstrap"] < 1:
        raise ValueError(f"--n-bootstrap must be >= 1, got {values['stats.n_bootstrap']}")
    if not 0.0 < values["stats.ci_level"] < 1.0:
        raise ValueError(f"--level must be in (0, 1), got {values['stats.ci_level']}")
    return values


def _row_names(frame: Any, mask: Any, id_column: str) -> str:
    """Up to ten case ids (or CSV line numbers) of the rows in ``mask``."""
    rows = frame.index[mask]
    if id_column in frame.columns:
        names = [str(v) for v in frame.loc[rows, id_column].tolist()]
    else:
        names = [f"line {int(i) + 2}" for i in rows]
    more = f" and {len(names) - 10} more" if len(names) > 10 else ""
    return ", ".join(names[:10]) + more


def read_predictions(args: argparse.Namespace):
    """Labels (0/1), scores and groups of the predictions CSV, checked.

    Returns:
        ``(y_true, scores, groups, positive, negative)``.

    Raises:
        ValueError: A missing column, empty cell or non-numeric score, naming the rows.
        FileNotFoundError: The CSV does not exist.
    """
    import numpy as np
    import pandas as pd

    from nnunet_fm.roc_stats import choose_positive, normalise_label

    if not args.predictions.is_file():
        raise FileNotFoundError(f"predictions CSV not found: {args.predictions}")
    score_columns = list(dict.fromkeys(args.score))
    text_columns = [args.label] + ([args.group] if args.group else [])
    frame = pd.read_csv(args.predictions, dtype={col: str for col in text_columns})
    missing = [col for col in text_columns + score_columns if col not in frame.columns]
    if missing:
        raise ValueError(f"{args.predictions}: missing column(s) {missing}; columns are {list(frame.columns)}")
    if frame.empty:
        raise ValueError(f"{args.predictions} has no rows")
    for col in text_columns:
        empty = frame[col].isna() | (frame[col].astype(str).str.strip() == "")
        if empty.any():
            raise ValueError(f"{args.predictions}: column {col!r} is empty for {_row_names(frame, empty, args.id_column)}")
    labels = frame[args.label].map(normalise_label)
    classes = sorted(labels.unique().tolist())
    positive = choose_positive(classes, args.positive)
    negative = next(v for v in classes if v != positive)
    y_true = (labels == positive).to_numpy(dtype=np.int8)
    scores = {}
    for col in score_columns:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna()
        if bad.any():
            raise ValueError(f"{args.predictions}: score {col!r} is missing or not numeric for "
                             f"{_row_names(frame, bad, args.id_column)}")
        scores[col] = values.to_numpy(dtype=np.float64)
    groups = frame[args.group].str.strip().to_numpy() if args.group else None
    return y_true, scores, groups, positive, negative


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from nnunet_fm import __version__
    from nnunet_fm.atomic import write_json
    from nnunet_fm.provenance import portable_path
    from nnunet_fm.roc_plot import curves_from_summary, plot_roc
    from nnunet_fm.roc_stats import roc_summary

    values = settings(args)
    n_boot, level, seed = values["stats.n_bootstrap"], values["stats.ci_level"], values["stats.seed"]
    y_true, scores, groups, positive, negative = read_predictions(args)
    summary = roc_summary(y_true, scores, groups=groups, train_group=args.train_group, n_boot=n_boot,
                          level=level, random_state=seed)
    result = {
        "input": {
            "predictions": portable_path(args.predictions, args.out),
            "label_column": args.label,
            "positive_label": positive,
            "negative_label": negative,
            "score_columns": list(scores),
            "group_column": args.group,
        },
        "nnunet_fm_version": __version__,
        **summary,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stats_path = write_json(args.out / "roc_stats.json", result)
    curves = curves_from_summary(summary, y_true, scores, groups)
    for curve, stats in zip(curves, (s for g in summary["groups"].values() for s in g["scores"].values())):
        LOG.info("%s: AUC %.3f (DeLong %.3f-%.3f, bootstrap %.3f-%.3f), %d positive / %d negative",
                 curve.name, stats["auc"], *stats["ci_delong"], *stats["ci_bootstrap"], stats["n_pos"], stats["n_neg"])
    plot_roc(curves, args.out / "roc.png", args.out / "roc.svg", n_boot=n_boot, level=level, random_state=seed)
    LOG.info("wrote %s, roc.png and roc.svg", stats_path)
    return 0
