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
import math
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)

#: Label values taken as the positive class when ``--positive`` is not given, in order.
DEFAULT_POSITIVE_LABELS = ("1", "axSpA")


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
    parser.add_argument("--n-bootstrap", type=int, default=2000, metavar="N",
                        help="bootstrap resamples for CIs and bands (default 2000)")
    parser.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    return parser


def normalise_label(value: Any) -> str:
    """Label value as text, with integral numbers written without decimals (1.0 -> "1")."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number == int(number):
        return str(int(number))
    return text


def choose_positive(values: list[str], positive: str | None) -> str:
    """The positive label among the distinct ``values`` (already normalised).

    Raises:
        ValueError: Not exactly two classes, or no positive class found.
    """
    if len(values) != 2:
        raise ValueError(f"the label column must hold exactly two classes, found {len(values)}: {values[:10]}")
    if positive is not None:
        wanted = normalise_label(positive)
        if wanted not in values:
            raise ValueError(f"--positive {positive!r} is not a label value; values are {values}")
        return wanted
    for candidate in DEFAULT_POSITIVE_LABELS:
        if candidate in values:
            return candidate
    raise ValueError(f"cannot tell the positive class among {values}; pass --positive")


def _row_names(frame: Any, mask: Any, id_column: str) -> str:
    """Up to ten case ids (or CSV line numbers) of the rows in ``mask``."""
    rows = frame.index[mask]
    if id_column in frame.columns:
        names = [str(v) for v in frame.loc[rows, id_column].tolist()]
    else:
        names = [f"line {int(i) + 2}" for i in rows]
    more = f" and {len(names) - 10} more" if len(names) > 10 else ""
    return ", ".join(names[:10]) + more


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    import numpy as np
    import pandas as pd

    from nnunet_fm import __version__
    from nnunet_fm.atomic import write_json
    from nnunet_fm.roc_plot import RocCurve, plot_roc
    from nnunet_fm.roc_stats import roc_summary

    if args.n_bootstrap < 1:
        raise ValueError(f"--n-bootstrap must be >= 1, got {args.n_bootstrap}")
    if not 0.0 < args.level < 1.0:
        raise ValueError(f"--level must be in (0, 1), got {args.level}")
    if not args.predictions.is_file():
        raise FileNotFoundError(f"predictions CSV not found: {args.predictions}")
    score_columns = list(dict.fromkeys(args.score))
    text_columns = [args.label] + ([args.group] if args.group else [])
    frame = pd.read_csv(args.predictions, dtype={col: str for col in text_columns})
    needed = text_columns + score_columns
    missing = [col for col in needed if col not in frame.columns]
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

    summary = roc_summary(y_true, scores, groups=groups, train_group=args.train_group, n_boot=args.n_bootstrap,
                          level=args.level, random_state=args.seed)
    result = {
        "input": {
            "predictions": str(args.predictions),
            "label_column": args.label,
            "positive_label": positive,
            "negative_label": negative,
            "score_columns": score_columns,
            "group_column": args.group,
        },
        "nnunet_fm_version": __version__,
        **summary,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stats_path = write_json(args.out / "roc_stats.json", result)

    # one colour per score, one line style per group; confidence bands on the first score
    colours = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink")
    linestyles = ("-", "--", ":", "-.")
    curves = []
    for g_index, (group, entry) in enumerate(summary["groups"].items()):
        mask = np.ones(y_true.shape, dtype=bool) if groups is None else groups == group
        for s_index, (name, stats) in enumerate(entry["scores"].items()):
            curve_name = name if groups is None else f"{name} ({group})"
            curves.append(RocCurve(curve_name, y_true[mask], scores[name][mask], ci=tuple(stats["ci_delong"]),
                                   colour=colours[s_index % len(colours)],
                                   linestyle=linestyles[g_index % len(linestyles)],
                                   band=s_index == 0))  # bands for the first (primary) score only
            LOG.info("%s: AUC %.3f (DeLong %.3f-%.3f, bootstrap %.3f-%.3f), %d positive / %d negative",
                     curve_name, stats["auc"], *stats["ci_delong"], *stats["ci_bootstrap"],
                     stats["n_pos"], stats["n_neg"])
    plot_roc(curves, args.out / "roc.png", args.out / "roc.svg", n_boot=args.n_bootstrap, level=args.level,
             random_state=args.seed)
    LOG.info("wrote %s, roc.png and roc.svg", stats_path)
    return 0
