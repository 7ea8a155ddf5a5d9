"""Save and load the fitted classifier without pickle.

A model folder holds two plain files:

- ``model.json``: the XGBoost booster in XGBoost's own JSON format
  (``Booster.save_model``), readable by any XGBoost version that reads JSON models.
- ``pipeline.json``: everything before the booster, as data: training column order,
  imputer fill values, columns kept by the variance filter, selected features (in the
  order the booster sees them), hyper-parameters, seed, the Youden threshold, the
  SHA-256 of ``model.json`` and the package versions that wrote it.

:func:`load_model` rebuilds a :class:`SavedClassifier` from those two files that gives
the same probabilities as the fitted pipeline (same float32 input to the same trees).
Nothing is unpickled, so loading a model folder cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from nnunet_fm import __version__ as NNUNET_FM_VERSION
from nnunet_fm.atomic import atomic_dir, write_json

LOG = logging.getLogger(__name__)

FORMAT_NAME = "nnunet-fm-classifier"
FORMAT_VERSION = 1
BOOSTER_FILE = "model.json"
PIPELINE_FILE = "pipeline.json"


def package_versions() -> dict[str, str]:
    """Versions of the packages that define the model's behaviour."""
    import pandas
    import sklearn
    import xgboost

    return {"python": platform.python_version(), "numpy": np.__version__, "pandas": pandas.__version__,
            "scikit-learn": sklearn.__version__, "xgboost": xgboost.__version__,
            "nnunet-fm": NNUNET_FM_VERSION}


def pipeline_description(pipeline: Any, feature_columns: Sequence[str], threshold: float,
                         random_state: int, hyper_parameters: Mapping[str, Any] | None = None,
                         extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON-able description of a fitted :func:`classifiers.pipeline.build_pipeline`.

    Args:
        pipeline: Fitted pipeline (steps ``impute``, ``variance``, ``select``, ``xgb``).
        feature_columns: Training feature columns, in the order the pipeline was fitted on.
        threshold: Operating threshold (positive if score >= threshold).
        random_state: Seed the pipeline was built and tuned with.
        hyper_parameters: Tuned parameters (``best_params_``).
        extra: More keys to store (e.g. training summary).
    """
    from classifiers.pipeline import jsonable_params, selected_feature_names

    steps = pipeline.named_steps
    feature_columns = [str(c) for c in feature_columns]
    imputer, variance, selector, xgb = steps["impute"], steps["variance"], steps["select"], steps["xgb"]
    if imputer.statistics_.shape[0] != len(feature_columns):
        raise ValueError(f"pipeline was fitted on {imputer.statistics_.shape[0]} columns, "
                         f"but {len(feature_columns)} feature columns were given")
    kept = [c for c, keep in zip(feature_columns, variance.get_support()) if keep]
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "feature_columns": feature_columns,
        "imputer": {"strategy": imputer.strategy,
                    "fill_values": [float(v) for v in imputer.statistics_]},
        "variance_threshold": {"threshold": float(variance.threshold), "kept_columns": kept},
        "selector": {"score_func": selector.score_func, "k": int(selector.k), "k_used": int(selector.k_),
                     "scores": {c: (None if np.isnan(s) else float(s)) for c, s in zip(kept, selector.scores_)}},
        "selected_features": selected_feature_names(pipeline, feature_columns),
        "xgboost_params": jsonable_params({k: v for k, v in xgb.get_params().items()
                                           if _is_json_scalar(v)}),
        "hyper_parameters": jsonable_params(dict(hyper_parameters or {})),
        "random_state": int(random_state),
        # JSON has no infinity: null stands for -inf (Youden found no cut better than
        # calling every case axSpA).
        "threshold": float(threshold) if np.isfinite(threshold) else None,
        "threshold_rule": "axSpA if score >= threshold (null threshold = -inf: every case axSpA)",
        "versions": package_versions(),
        **dict(extra or {}),
    }


def save_model(pipeline: Any, out_dir: str | os.PathLike, feature_columns: Sequence[str],
               threshold: float, random_state: int, hyper_parameters: Mapping[str, Any] | None = None,
               extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``model.json`` + ``pipeline.json`` into ``out_dir`` (replaced atomically).

    Returns:
        ``out_dir``.
    """
    description = pipeline_description(pipeline, feature_columns, threshold, random_state,
                                       hyper_parameters, extra)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir, overwrite=True) as tmp:
        booster_path = tmp / BOOSTER_FILE
        pipeline.named_steps["xgb"].get_booster().save_model(str(booster_path))
        description["booster_file"] = BOOSTER_FILE
        description["booster_sha256"] = _sha256(booster_path)
        write_json(tmp / PIPELINE_FILE, description)
    LOG.info("saved classifier (%d selected features) to %s", len(description["selected_features"]), out_dir)
    return out_dir


@dataclass(frozen=True)
class SavedClassifier:
    """A classifier rebuilt from a model folder: impute -> select columns -> booster.

    Attributes:
        feature_columns: Training columns, in training order.
        fill_values: Imputation value of each training column.
        selected_features: Columns fed to the booster, in booster order.
        threshold: Operating threshold (axSpA if score >= threshold).
        booster: The ``xgboost.Booster``.
        description: The full ``pipeline.json`` content.
    """

    feature_columns: tuple[str, ...]
    fill_values: np.ndarray
    selected_features: tuple[str, ...]
    threshold: float
    booster: Any
    description: Mapping[str, Any] = field(repr=False)

    def selected_matrix(self, X: Any) -> np.ndarray:
        if hasattr(X, "columns"):
            missing = [c for c in self.feature_columns if c not in X.columns]
            if missing:
                raise ValueError(f"feature table lacks {len(missing)} training column(s): {missing[:5]}")
            values = X.loc[:, list(self.feature_columns)].to_numpy(dtype=float)
        else:
            values = np.asarray(X, dtype=float)
            if values.ndim != 2 or values.shape[1] != len(self.feature_columns):
                raise ValueError(f"expected an array with {len(self.feature_columns)} columns in training "
                                 f"order, got shape {values.shape}")
        values = np.where(np.isnan(values), self.fill_values[None, :], values)
        index = {c: i for i, c in enumerate(self.feature_columns)}
        return values[:, [index[c] for c in self.selected_features]]

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, 2)`` probabilities of non-axSpA and axSpA, like ``XGBClassifier``."""
        selected = self.selected_matrix(X)
        # inplace_predict on float32 is the path XGBClassifier.predict_proba takes.
        positive = np.asarray(self.booster.inplace_predict(selected.astype(np.float32)), dtype=float)
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: Any) -> np.ndarray:
        """0/1 at the stored operating threshold."""
        return (self.predict_proba(X)[:, 1] >= self.threshold).astype(int)


def load_model(model_dir: str | os.PathLike) -> SavedClassifier:
    """Rebuild a :class:`SavedClassifier` from ``model.json`` + ``pipeline.json``.

    Raises:
        FileNotFoundError: If either file is missing.
        ValueError: If ``pipeline.json`` is not a model of this format or the booster
            file does not match its recorded checksum.
    """
    import xgboost

    model_dir = Path(model_dir)
    pipeline_path = model_dir / PIPELINE_FILE
    if not pipeline_path.is_file():
        raise FileNotFoundError(f"no {PIPELINE_FILE} in model folder {model_dir}")
    description = json.loads(pipeline_path.read_text(encoding="utf-8"))
    if description.get("format") != FORMAT_NAME:
        raise ValueError(f"{pipeline_path} is not a {FORMAT_NAME} model description")
    if int(description.get("format_version", -1)) > FORMAT_VERSION:
        raise ValueError(f"{pipeline_path} has format_version {description['format_version']}; "
                         f"this nnunet-fm reads up to {FORMAT_VERSION}")
    booster_path = model_dir / description.get("booster_file", BOOSTER_FILE)
    if not booster_path.is_file():
        raise FileNotFoundError(f"no booster file {booster_path.name} in model folder {model_dir}")
    expected = description.get("booster_sha256")
    if expected and _sha256(booster_path) != expected:
        raise ValueError(f"{booster_path} does not match the checksum recorded in {pipeline_path}")

    columns = tuple(description["feature_columns"])
    fill = np.array([np.nan if v is None else v for v in description["imputer"]["fill_values"]], dtype=float)
    selected = tuple(description["selected_features"])
    if fill.shape[0] != len(columns):
        raise ValueError(f"{pipeline_path}: {fill.shape[0]} fill values for {len(columns)} columns")
    unknown = [c for c in selected if c not in columns]
    if unknown:
        raise ValueError(f"{pipeline_path}: selected features not among the columns: {unknown}")
    booster = xgboost.Booster()
    booster.load_model(str(booster_path))
    if booster.num_features() != len(selected):
        raise ValueError(f"{booster_path} expects {booster.num_features()} features, "
                         f"{pipeline_path} selects {len(selected)}")
    threshold = description["threshold"]
    threshold = -np.inf if threshold is None else float(threshold)
    return SavedClassifier(columns, fill, selected, threshold, booster, description)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _is_json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, np.integer, np.floating))
