"""Shared pieces of the report sections: the run's inputs, number formats, "not available".

Every section module (``report_*.py``) has ``collect_<section>(run) -> dict`` (the
JSON-ready figures, stored in ``summary.json``) and ``render_<section>(entry) -> list[str]``
(markdown lines built from that dict only), so the report shows nothing that
``summary.json`` does not hold. A section whose inputs are absent collects
:func:`unavailable` and renders one "not available: <reason>" line.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from nnunet_fm.contract import (CASES_FILE, CEILING_FILE, CEILING_SETS, CLASSIFIER_DIR, CLASSIFIER_REFERENCE_DIR,
                                CLASSIFIER_ROBUST_DIR, DATASET_META_FILE, LESIONS_SUFFIX, PREDICTION_SETS,
                                RUN_DATASET_DIR)

LOG = logging.getLogger(__name__)

#: Run-relative paths of the report's inputs (names from :mod:`nnunet_fm.contract`).
CASES_CSV = f"{RUN_DATASET_DIR}/{CASES_FILE}"
META_JSON = f"{RUN_DATASET_DIR}/{DATASET_META_FILE}"
CEILING_JSON = f"{RUN_DATASET_DIR}/{CEILING_FILE}"
PREDICTIONS_CSV = f"{CLASSIFIER_DIR}/predictions.csv"
CLASSIFIER_JSON = f"{CLASSIFIER_DIR}/classifier.json"
REFERENCE_PREDICTIONS_CSV = f"{CLASSIFIER_REFERENCE_DIR}/predictions.csv"
ROBUST_FEATURES_JSON = f"{CLASSIFIER_ROBUST_DIR}/robust_features.json"


def seg_csv(set_name: str) -> str:
    """``segmentation/<set>.csv``: per-case metrics."""
    return f"segmentation/{set_name}.csv"


def seg_summary_json(set_name: str) -> str:
    """``segmentation/<set>_summary.json``."""
    return f"segmentation/{set_name}_summary.json"


def lesions_csv(set_name: str) -> str:
    """``segmentation/<set>_lesions.csv``: one row per reference lesion."""
    return f"segmentation/{set_name}{LESIONS_SUFFIX}.csv"

#: Prediction/segmentation set -> name in the report; "oof" is the training pool's out-of-fold set.
SET_LABELS = dict(zip(PREDICTION_SETS, ("training (out-of-fold)", "internal test", "external test")))
#: Segmentation set name -> the ``split`` value of ``classifier/predictions.csv`` (= ``ceiling.json`` set).
SPLIT_OF_SET = dict(zip(PREDICTION_SETS, CEILING_SETS))
#: Score columns of ``predictions.csv`` -> model name in the report.
MODEL_LABELS = {"score_xgboost": "XGBoost (features of predicted FM)", "score_fm_volume": "FM volume alone",
                "score_clinical": "clinical (age + sex)", "score_clinical_imaging": "clinical + imaging"}
#: Scores that are probabilities (calibration and decision curves need one); FM volume is in ml.
PROBABILITY_SCORES = ("score_xgboost", "score_clinical", "score_clinical_imaging")
CLINICAL_SCORE = "score_clinical"
MAIN_SCORE = "score_xgboost"
#: Sub-folder of the run with the report's own figures.
FIGURE_DIR = "report_figures"


def unavailable(reason: str) -> dict[str, Any]:
    """The summary entry of a section that could not be built."""
    return {"available": False, "reason": reason}


def is_available(entry: Optional[dict]) -> bool:
    """True when a section entry holds figures."""
    return bool(entry) and entry.get("available", True) is not False


def not_available_line(entry: Optional[dict]) -> list[str]:
    """The one line a section shows when its inputs are absent."""
    reason = (entry or {}).get("reason", "not collected")
    return [f"Not available: {reason}.", ""]


def read_json(path: Path) -> Optional[dict]:
    """A JSON file's content, or None when the file is absent."""
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def read_csv(path: Path):
    """A CSV as a DataFrame, or None when the file is absent."""
    import pandas as pd

    if not path.is_file():
        return None
    return pd.read_csv(path)


@dataclass
class RunInputs:
    """What every section needs about a run, read once from its folder.

    Attributes:
        run_dir: The run folder.
        config: The parsed :class:`nnunet_fm.config.RunConfig`.
        raw_config: ``config.yaml`` as a mapping (keys a newer config may add, e.g. ``seeds``).
        meta: ``dataset/dataset_meta.json`` or None.
        level: Confidence level of every interval (``stats.ci_level``).
        n_boot: Bootstrap resamples (``stats.n_bootstrap``).
        seed: Bootstrap seed (``stats.seed``).
    """

    run_dir: Path
    config: Any
    raw_config: dict
    meta: Optional[dict]
    level: float
    n_boot: int
    seed: int
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def synthetic(self) -> bool:
        """True for the embedded synthetic cohort."""
        return bool(self.config.is_synthetic)

    @property
    def segmentation_only(self) -> bool:
        """True when the converter recorded a segmentation-only study."""
        return (self.meta or {}).get("study_mode") == "segmentation_only"

    def csv(self, relative: str):
        """``run_dir / relative`` as a DataFrame (cached), or None when absent."""
        if relative not in self._cache:
            self._cache[relative] = read_csv(self.run_dir / relative)
        return self._cache[relative]

    def json(self, relative: str) -> Optional[dict]:
        """``run_dir / relative`` parsed (cached), or None when absent."""
        key = "json:" + relative
        if key not in self._cache:
            self._cache[key] = read_json(self.run_dir / relative)
        return self._cache[key]


def load_run_inputs(run_dir: Path) -> RunInputs:
    """Read the config and dataset metadata of a run folder."""
    import yaml

    from nnunet_fm.config import load_run_config

    run_dir = Path(run_dir)
    config = load_run_config(run_dir / "config.yaml")
    raw = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    return RunInputs(run_dir=run_dir, config=config, raw_config=raw,
                     meta=read_json(run_dir / META_JSON),
                     level=float(config.stats.ci_level), n_boot=int(config.stats.n_bootstrap),
                     seed=int(config.stats.seed))


def num(value: Any) -> Optional[float]:
    """A finite float, or None (None, NaN and inf all mean "no value")."""
    if value is None:
        return None
    value = float(value)
    return None if (math.isnan(value) or math.isinf(value)) else value


def pct(value: Any, digits: int = 2) -> str:
    """A fraction as a percentage, ``n/a`` when absent."""
    value = num(value)
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def f3(value: Any) -> str:
    """Three decimals, ``n/a`` when absent."""
    value = num(value)
    return "n/a" if value is None else f"{value:.3f}"


def fmt_p(value: Any) -> str:
    """A p value (``< 0.001`` below that)."""
    value = num(value)
    if value is None:
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def ci(low: Any, high: Any, fmt=f3) -> str:
    """``low–high`` with the given number format."""
    return f"{fmt(low)}–{fmt(high)}"


def records(frame) -> list[dict[str, Any]]:
    """A DataFrame as JSON-ready row dicts (numpy scalars to Python)."""
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({str(k): (v.item() if hasattr(v, "item") else v) for k, v in row.items()})
    return out


def predictions_by_split(run: RunInputs, relative: str = PREDICTIONS_CSV) -> dict[str, Any]:
    """Rows of a predictions CSV per split (``training``, ``internal_test``, ``external_test``)."""
    frame = run.csv(relative)
    if frame is None or "split" not in frame.columns:
        return {}
    return {split: rows.reset_index(drop=True) for split, rows in frame.groupby("split", sort=False)}


def usable_scores(rows, candidates=tuple(MODEL_LABELS)) -> list[str]:
    """Score columns present with at least one finite value."""
    import numpy as np

    return [c for c in candidates if c in rows.columns and np.isfinite(rows[c].to_numpy(dtype=float)).any()]


def complete_rows(rows, scores: list[str]):
    """``(rows with every score finite, number of rows left out)``: a comparison uses the same cases."""
    import numpy as np

    finite = np.ones(len(rows), dtype=bool)
    for score in scores:
        finite &= np.isfinite(rows[score].to_numpy(dtype=float))
    return rows[finite].reset_index(drop=True), int((~finite).sum())
