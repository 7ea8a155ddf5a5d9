"""Saving the classifier as XGBoost JSON + pipeline.json, and loading it back without pickle."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from classifiers.model_io import load_model, save_model
from classifiers.pipeline import build_pipeline, selected_feature_names


def make_table(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Two informative columns, noise, NaNs, a constant and an all-NaN column."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.r_[np.zeros(n // 2), np.ones(n - n // 2)]).astype(int)
    table = pd.DataFrame({
        "fm_volume_ml": np.exp(rng.normal(size=n) + 1.2 * y),
        "original_firstorder_Mean": rng.normal(size=n) + 1.5 * y,
    })
    for i in range(6):
        table[f"original_glszm_Noise{i}"] = rng.normal(size=n)
    table["original_shape_Constant"] = 1.0
    table["original_firstorder_AllMissing"] = np.nan
    holes = rng.random(table.shape) < 0.15
    holes[:, table.columns.get_loc("original_shape_Constant")] = False
    return table.mask(holes), y


@pytest.fixture(scope="module")
def fitted():
    X, y = make_table(120, seed=0)
    pipe = build_pipeline(random_state=3, max_features=5)
    pipe.set_params(xgb__n_estimators=60, xgb__subsample=0.7, xgb__colsample_bytree=0.7)
    return pipe.fit(X, y), X, y


def test_round_trip_reproduces_probabilities(fitted, tmp_path):
    pipe, X, _ = fitted
    X_new, _ = make_table(50, seed=1)  # unseen rows with their own NaNs
    save_model(pipe, tmp_path / "model", list(X.columns), threshold=0.42, random_state=3,
               hyper_parameters={"xgb__n_estimators": np.int64(60)})
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.json", "pipeline.json"]
    loaded = load_model(tmp_path / "model")
    for rows in (X, X_new):
        expected = pipe.predict_proba(rows)
        np.testing.assert_allclose(loaded.predict_proba(rows), expected, rtol=0, atol=1e-6)
    # Column order of the input does not matter for a DataFrame; an array must be in training order.
    shuffled = X_new[list(reversed(X_new.columns))]
    np.testing.assert_allclose(loaded.predict_proba(shuffled), pipe.predict_proba(X_new), atol=1e-6)
    np.testing.assert_allclose(loaded.predict_proba(X_new.to_numpy()), pipe.predict_proba(X_new), atol=1e-6)
    scores = pipe.predict_proba(X_new)[:, 1]
    np.testing.assert_array_equal(loaded.predict(X_new), (loaded.predict_proba(X_new)[:, 1] >= 0.42).astype(int))
    assert loaded.predict(X_new).sum() == (scores >= 0.42).sum()


def test_pipeline_json_content(fitted, tmp_path):
    pipe, X, _ = fitted
    save_model(pipe, tmp_path / "m", list(X.columns), threshold=0.5, random_state=3,
               hyper_parameters={"xgb__max_depth": np.int64(3), "xgb__learning_rate": np.float64(0.1)})
    text = (tmp_path / "m" / "pipeline.json").read_text(encoding="utf-8")
    assert "NaN" not in text  # standard JSON
    desc = json.loads(text)
    assert desc["format"] == "nnunet-fm-classifier"
    assert desc["feature_columns"] == list(X.columns)
    imputer = pipe.named_steps["impute"]
    np.testing.assert_allclose(desc["imputer"]["fill_values"], imputer.statistics_)
    kept = desc["variance_threshold"]["kept_columns"]
    assert "original_shape_Constant" not in kept and "original_firstorder_AllMissing" not in kept
    assert desc["selected_features"] == selected_feature_names(pipe, list(X.columns))
    assert len(desc["selected_features"]) == 5
    assert desc["hyper_parameters"] == {"xgb__max_depth": 3, "xgb__learning_rate": 0.1}
    assert desc["random_state"] == 3 and desc["threshold"] == 0.5
    assert desc["xgboost_params"]["tree_method"] == "hist"
    assert {"xgboost", "scikit-learn", "numpy", "nnunet-fm"} <= set(desc["versions"])
    booster = json.loads((tmp_path / "m" / "model.json").read_text(encoding="utf-8"))
    assert "learner" in booster  # XGBoost's own JSON model format


def test_load_rejects_tampering_and_missing_files(fitted, tmp_path):
    pipe, X, _ = fitted
    save_model(pipe, tmp_path / "m", list(X.columns), threshold=0.5, random_state=3)
    with pytest.raises(FileNotFoundError, match="pipeline.json"):
        load_model(tmp_path / "nowhere")
    booster = tmp_path / "m" / "model.json"
    booster.write_text(booster.read_text(encoding="utf-8").replace('"learner"', '"learner" ', 1))
    with pytest.raises(ValueError, match="checksum"):
        load_model(tmp_path / "m")
    booster.unlink()
    with pytest.raises(FileNotFoundError, match="model.json"):
        load_model(tmp_path / "m")


def test_load_rejects_missing_columns(fitted, tmp_path):
    pipe, X, _ = fitted
    save_model(pipe, tmp_path / "m", list(X.columns), threshold=0.5, random_state=3)
    loaded = load_model(tmp_path / "m")
    with pytest.raises(ValueError, match="fm_volume_ml"):
        loaded.predict_proba(X.drop(columns="fm_volume_ml"))
    with pytest.raises(ValueError, match="columns"):
        loaded.predict_proba(X.to_numpy()[:, :3])


def test_save_checks_column_count(fitted, tmp_path):
    pipe, X, _ = fitted
    with pytest.raises(ValueError, match="feature columns"):
        save_model(pipe, tmp_path / "m", list(X.columns)[:-1], threshold=0.5, random_state=3)
    assert not (tmp_path / "m").exists()


def test_save_replaces_existing_model(fitted, tmp_path):
    pipe, X, y = fitted
    save_model(pipe, tmp_path / "m", list(X.columns), threshold=0.5, random_state=3)
    other = build_pipeline(random_state=4, max_features=2).fit(X, y)
    save_model(other, tmp_path / "m", list(X.columns), threshold=0.3, random_state=4)
    loaded = load_model(tmp_path / "m")
    assert loaded.threshold == 0.3 and len(loaded.selected_features) == 2
    np.testing.assert_allclose(loaded.predict_proba(X), other.predict_proba(X), atol=1e-6)


def test_minus_infinity_threshold_round_trips(fitted, tmp_path):
    pipe, X, _ = fitted
    save_model(pipe, tmp_path / "m", list(X.columns), threshold=float("-inf"), random_state=3)
    assert json.loads((tmp_path / "m" / "pipeline.json").read_text(encoding="utf-8"))["threshold"] is None
    loaded = load_model(tmp_path / "m")
    assert loaded.threshold == float("-inf") and loaded.predict(X).all()
