"""`nnunet-fm roc`: AUCs with DeLong and bootstrap CIs, DeLong tests, Youden operating point.

Reads a predictions CSV (one row per case), writes ``DIR/roc_stats.json``,
``DIR/roc.png`` and ``DIR/roc.svg``. Statistics follow R's pROC with the direction fixed
(higher score = positive class). With ``--group`` (e.g. ``set``) every group is analysed
separately, the same score is compared between groups (unpaired DeLong), and the Youden
threshold is chosen on ``--train-group`` and applied unchanged to all groups; the
figure then has one panel per group (shared axes), the first score with its bootstrap
band and the other scores as baselines, AUCs in each panel's legend.

The first ``--score`` must be complete; another score column with empty cells (e.g. the
clinical scores of a cohort without age/sex) is left out of the analysis, named in
``roc_stats.json`` under ``scores_left_out`` and in a warning. Infinite scores and
repeated case ids are refused; a constant score is analysed with a visible warning
(``score_warnings``).
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
STUDY_SCORES = ("score_xgboost", "score_fm_volume", "score_clinical", "score_clinical_imaging")
#: Panel order and titles of the study's ROC figure (groups of the ``split`` column).
PANEL_TITLES = ("Training (out-of-fold)", "Internal test", "External test")


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
    parser.add_argument("--seed", type=int, default=None, help="bootstrap seed (default: the config's stats.seed, i.e. seeds.report)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    add_config_argument(parser, "stats")
    return parser


def study_stage(config, paths):
    """The study's ROC statistics on the classifier's predictions, grouped by split
    (``None`` for a segmentation-only cohort: there is no classifier)."""
    from benchmarks.engine.stage_runner import Stage
    from nnunet_fm.cli.classify import classification_applies

    if not classification_applies(config, paths):
        return None
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
        ``(y_true, scores, groups, positive, negative, left_out, warnings)``; ``left_out``
        maps a score column left out (empty cells, not the first score) to the reason;
        ``warnings`` are :func:`nnunet_fm.input_checks.check_roc_scores`'s (constant scores).

    Raises:
        ValueError: A missing column, empty cell or non-numeric score, naming the rows.
        FileNotFoundError: The CSV does not exist.
    """
    import numpy as np
    import pandas as pd

    from nnunet_fm.input_checks import check_roc_scores
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
    scores, left_out = {}, {}
    for index, col in enumerate(score_columns):
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna()
        not_numeric = bad & frame[col].notna()
        if not_numeric.any() or (bad.any() and index == 0):
            raise ValueError(f"{args.predictions}: score {col!r} is missing or not numeric for "
                             f"{_row_names(frame, bad, args.id_column)}")
        if bad.any():
            left_out[col] = (f"empty for {int(bad.sum())} of {len(frame)} cases "
                             f"({_row_names(frame, bad, args.id_column)}); left out of the ROC analysis")
            LOG.warning("%s: score %s %s", args.predictions, col, left_out[col])
            continue
        scores[col] = values.to_numpy(dtype=np.float64)
    ids = frame[args.id_column].astype(str).tolist() if args.id_column in frame.columns else None
    warnings = check_roc_scores(scores, ids, source=str(args.predictions), id_column=args.id_column)
    groups = frame[args.group].str.strip().to_numpy() if args.group else None
    return y_true, scores, groups, positive, negative, left_out, warnings


def _panels(summary: dict[str, Any], y_true, scores: dict[str, Any], groups) -> list:
    """One panel per group (study order first): the first score with its band, the others as baselines."""
    import numpy as np

    from nnunet_fm.contract import CEILING_SETS
    from nnunet_fm.roc_plot import SCORE_COLOURS, RocCurve

    study_panels = dict(zip(CEILING_SETS, PANEL_TITLES))

    names = {"score_xgboost": "XGBoost", "score_fm_volume": "FM volume", "score_clinical": "Clinical (age + sex)",
             "score_clinical_imaging": "Clinical + imaging"}
    order = ([g for g in study_panels if g in summary["groups"]]
             + [g for g in summary["groups"] if g not in study_panels])
    panels = []
    for group in order:
        entry, mask = summary["groups"][group], np.asarray(groups) == group
        curves = [RocCurve(names.get(score, score), np.asarray(y_true)[mask], np.asarray(scores[score])[mask],
                           ci=tuple(stats["ci_delong"]), colour=SCORE_COLOURS[i % len(SCORE_COLOURS)],
                           linestyle="-" if i == 0 else "--", band=i == 0)
                  for i, (score, stats) in enumerate(entry["scores"].items())]
        n_pos, n_neg = int(np.asarray(y_true)[mask].sum()), int((np.asarray(y_true)[mask] == 0).sum())
        panels.append((f"{study_panels.get(group, group)} ({n_pos} pos / {n_neg} neg)", curves))
    return panels


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    from nnunet_fm import __version__
    from nnunet_fm.atomic import write_json
    from nnunet_fm.provenance import portable_path
    from nnunet_fm.roc_plot import curves_from_summary, plot_roc, plot_roc_panels
    from nnunet_fm.roc_stats import roc_summary

    values = settings(args)
    n_boot, level, seed = values["stats.n_bootstrap"], values["stats.ci_level"], values["stats.seed"]
    y_true, scores, groups, positive, negative, left_out, warnings = read_predictions(args)
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
        "scores_left_out": left_out,
        "score_warnings": list(warnings),
        "nnunet_fm_version": __version__,
        **summary,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stats_path = write_json(args.out / "roc_stats.json", result)
    curves = curves_from_summary(summary, y_true, scores, groups)
    for curve, stats in zip(curves, (s for g in summary["groups"].values() for s in g["scores"].values())):
        LOG.info("%s: AUC %.3f (DeLong %.3f-%.3f, bootstrap %.3f-%.3f), %d positive / %d negative",
                 curve.name, stats["auc"], *stats["ci_delong"], *stats["ci_bootstrap"], stats["n_pos"], stats["n_neg"])
    if groups is None:
        plot_roc(curves, args.out / "roc.png", args.out / "roc.svg", n_boot=n_boot, level=level, random_state=seed)
    else:
        panels = _panels(summary, y_true, scores, groups)
        plot_roc_panels(panels, args.out / "roc.png", args.out / "roc.svg", n_boot=n_boot, level=level,
                        random_state=seed)
    LOG.info("wrote %s, roc.png and roc.svg", stats_path)
    return 0
