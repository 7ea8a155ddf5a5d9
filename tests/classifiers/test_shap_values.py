"""SHAP from XGBoost's pred_contribs on a saved model: additivity and agreement with the model."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.model_io import load_model, save_model
from classifiers.pipeline import build_pipeline
from classifiers.shap_values import BIAS_COLUMN, MARGIN_COLUMN, mean_abs_shap, shap_contributions
from tests.classifiers.test_model_io import make_table


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X, y = make_table(120, seed=1)
    pipe = build_pipeline(random_state=4, max_features=5)
    pipe.set_params(xgb__n_estimators=50)
    pipe.fit(X, y)
    folder = save_model(pipe, tmp_path_factory.mktemp("m") / "model", list(X.columns), threshold=0.5, random_state=4)
    return load_model(folder), X


def test_contributions_sum_to_the_margin_and_match_the_probability(saved):
    model, X = saved
    X = X.assign(case_id=[f"c{i}" for i in range(len(X))])
    shap = shap_contributions(model, X)
    assert list(shap.columns[:-2]) == list(model.selected_features)
    assert shap.index[0] == "c0"
    total = shap.drop(columns=[MARGIN_COLUMN]).sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, shap[MARGIN_COLUMN].to_numpy(), rtol=0, atol=1e-5)
    probability = 1.0 / (1.0 + np.exp(-shap[MARGIN_COLUMN].to_numpy()))
    np.testing.assert_allclose(probability, model.predict_proba(X)[:, 1], rtol=0, atol=1e-6)
    assert np.ptp(shap[BIAS_COLUMN]) == 0.0  # one base value for every case


def test_mean_abs_shap_ranks_the_informative_features_first(saved):
    model, X = saved
    table = mean_abs_shap(shap_contributions(model, X))
    assert table["rank"].tolist() == list(range(1, len(model.selected_features) + 1))
    assert set(table["feature"].head(2)) == {"fm_volume_ml", "original_firstorder_Mean"}
    assert (np.diff(table["mean_abs_shap_logit"]) <= 0).all()


def test_missing_training_column_is_named(saved):
    model, X = saved
    with pytest.raises(ValueError, match="lacks"):
        shap_contributions(model, X.drop(columns=["fm_volume_ml"]))
