"""The XGBoost pipeline, its selector and the baselines, on synthetic feature tables."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.estimator_checks import check_estimator

from classifiers.pipeline import (
    TopKSelector, build_clinical_pipeline, build_pipeline, clinical_features, fm_volume_scores,
    gain_importances, out_of_fold_scores, selected_feature_names, tune_pipeline,
)

INFORMATIVE = ["fm_volume_ml", "original_firstorder_Mean", "fm_lesion_count"]


def make_table(n: int, seed: int, shift: float = 2.0, n_noise: int = 12) -> tuple[pd.DataFrame, np.ndarray]:
    """Informative + noise columns, 10% NaNs, one constant and one all-NaN column."""
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * (n // 2) + [1] * (n % 2))
    rng.shuffle(y)
    table = pd.DataFrame({
        "fm_volume_ml": np.exp(0.5 * rng.normal(size=n) + 0.8 * shift * y),
        "original_firstorder_Mean": rng.normal(size=n) + shift * y,
        "fm_lesion_count": rng.poisson(1 + 2 * y).astype(float),
    })
    for i in range(n_noise):
        table[f"original_glcm_Noise{i}"] = rng.normal(size=n)
    table["original_shape_Constant"] = 3.0
    table["original_firstorder_AllMissing"] = np.nan
    table["mask_empty"] = 0.0
    holes = rng.random(table.shape) < 0.1
    holes[:, table.columns.get_loc("original_shape_Constant")] = False
    table = table.mask(holes)
    return table, y


def test_build_pipeline_steps_and_parameters():
    pipe = build_pipeline(random_state=7, max_features=5)
    assert list(pipe.named_steps) == ["impute", "variance", "select", "xgb"]
    assert pipe.named_steps["impute"].strategy == "median"
    xgb = pipe.named_steps["xgb"].get_params()
    assert (xgb["tree_method"], xgb["eval_metric"], xgb["random_state"]) == ("hist", "logloss", 7)
    assert pipe.named_steps["select"].k == 5
    assert "scale" not in pipe.named_steps  # trees are invariant to monotone rescaling


def test_fit_returns_self_and_drops_constant_and_empty_columns():
    X, y = make_table(120, seed=0)
    pipe = build_pipeline(random_state=0, max_features=4)
    assert pipe.fit(X, y) is pipe
    selector = pipe.named_steps["select"]
    assert selector.fit(np.random.default_rng(0).normal(size=(20, 3)), np.r_[np.zeros(10), np.ones(10)]) is selector
    pipe.fit(X, y)
    kept = pipe.named_steps["variance"].get_support()
    names = dict(zip(X.columns, kept))
    assert not names["original_shape_Constant"] and not names["original_firstorder_AllMissing"]
    selected = selected_feature_names(pipe, list(X.columns))
    assert len(selected) == 4
    assert set(INFORMATIVE) <= set(selected)
    proba = pipe.predict_proba(X)
    assert proba.shape == (120, 2) and np.allclose(proba.sum(axis=1), 1.0)


def test_selector_caps_k_without_warning_and_ranks_nan_last():
    X = np.column_stack([np.r_[np.zeros(5), np.ones(5)], np.arange(10.0), np.ones(10)])
    y = np.r_[np.zeros(5), np.ones(5)].astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        selector = TopKSelector(k=50).fit(X, y)
    assert selector.k_ == 3 and selector.get_support().all()
    two = TopKSelector(k=2).fit(X, y)
    # Column 0 separates the classes perfectly (F = inf), column 2 is constant (F = NaN).
    assert two.get_support().tolist() == [True, True, False]
    with pytest.raises(ValueError, match="score_func"):
        TopKSelector(k=2, score_func="chi2").fit(X, y)
    with pytest.raises(ValueError, match="positive integer"):
        TopKSelector(k=0).fit(X, y)


def test_selector_mutual_info_is_seeded():
    X, y = make_table(80, seed=3)
    X = X.drop(columns=["original_firstorder_AllMissing"]).fillna(0.0)
    first = TopKSelector(k=3, score_func="mutual_info", random_state=5).fit(X, y)
    second = TopKSelector(k=3, score_func="mutual_info", random_state=5).fit(X, y)
    np.testing.assert_array_equal(first.scores_, second.scores_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_selector_passes_sklearn_estimator_checks():
    results = check_estimator(TopKSelector(k=2), on_fail=None)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert failed == []


def test_selection_is_fitted_on_training_rows_only():
    """A column that is informative only on test rows must not be chosen."""
    X_train, y_train = make_table(120, seed=1)
    X_test, y_test = make_table(60, seed=2)
    rng = np.random.default_rng(9)
    X_train["original_glrlm_TestOnlySignal"] = rng.normal(size=len(X_train))
    X_test["original_glrlm_TestOnlySignal"] = 10.0 * y_test
    pipe = build_pipeline(random_state=0, max_features=3).fit(X_train, y_train)
    assert "original_glrlm_TestOnlySignal" not in selected_feature_names(pipe, list(X_train.columns))
    # Fitting on the test rows would pick it first: the check above is not vacuous.
    peeking = build_pipeline(random_state=0, max_features=3).fit(X_test, y_test)
    assert "original_glrlm_TestOnlySignal" in selected_feature_names(peeking, list(X_test.columns))


def test_tune_pipeline_is_deterministic_and_uses_stratified_inner_cv():
    X, y = make_table(120, seed=4)
    first = tune_pipeline(X, y, cv_folds=3, n_iter=3, random_state=11, max_features=5)
    second = tune_pipeline(X, y, cv_folds=3, n_iter=3, random_state=11, max_features=5)
    assert first.best_params_ == second.best_params_
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert first.scoring == "roc_auc" and first.random_state == 11
    assert isinstance(first.cv, StratifiedKFold) and first.cv.random_state == 11 and first.cv.n_splits == 3
    assert first.best_score_ > 0.9  # easy problem
    assert len(first.cv_results_["params"]) == 3


def test_tune_pipeline_rejects_bad_labels():
    X, y = make_table(20, seed=5)
    with pytest.raises(ValueError, match="at least 3 cases of each class"):
        tune_pipeline(X.iloc[:8], np.r_[np.ones(6), np.zeros(2)].astype(int), cv_folds=3, n_iter=1,
                      random_state=0, max_features=3)
    with pytest.raises(ValueError, match="both classes"):
        tune_pipeline(X, np.ones(20, dtype=int), cv_folds=3, n_iter=1, random_state=0)
    with pytest.raises(ValueError, match="0/1"):
        tune_pipeline(X, np.full(20, 2), cv_folds=3, n_iter=1, random_state=0)


def test_out_of_fold_scores_are_cross_validated():
    X, y = make_table(120, seed=6)
    pipe = build_pipeline(random_state=0, max_features=5)
    oof = out_of_fold_scores(pipe, X, y, cv_folds=3, random_state=0)
    assert oof.shape == (120,) and ((oof >= 0) & (oof <= 1)).all()
    assert roc_auc_score(y, oof) > 0.85
    in_sample = pipe.fit(X, y).predict_proba(X)[:, 1]
    # Resubstitution scores are (near) perfect; out-of-fold ones are honest and differ.
    assert roc_auc_score(y, in_sample) > roc_auc_score(y, oof)
    assert np.array_equal(oof, out_of_fold_scores(pipe, X, y, cv_folds=3, random_state=0))


def test_gain_importances_sorted_with_informative_first():
    X, y = make_table(150, seed=7)
    pipe = build_pipeline(random_state=0, max_features=6).fit(X, y)
    imp = gain_importances(pipe, list(X.columns))
    assert list(imp.columns) == ["feature", "total_gain", "gain", "weight"]
    assert len(imp) == 6
    assert imp["total_gain"].is_monotonic_decreasing
    assert imp["feature"].iloc[0] in INFORMATIVE


def test_fm_volume_baseline_is_the_volume_itself():
    X, y = make_table(60, seed=8)
    scores = fm_volume_scores(X)
    np.testing.assert_array_equal(scores, X["fm_volume_ml"].to_numpy())
    with pytest.raises(ValueError, match="fm_volume_ml"):
        fm_volume_scores(X.drop(columns="fm_volume_ml"))


def test_clinical_baseline():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(60), np.ones(60)].astype(int)
    cases = pd.DataFrame({"case_id": [f"SIJ_1_{i:04d}" for i in range(120)],
                          "age": np.round(50 - 15 * y + rng.normal(0, 5, 120)),
                          "sex": rng.choice(["F", "M"], 120)})
    cases.loc[3, "age"] = np.nan
    clin = clinical_features(cases)
    assert list(clin.columns) == ["age", "sex_male"]
    assert set(clin["sex_male"].unique()) == {0.0, 1.0}
    model = build_clinical_pipeline(random_state=0)
    assert model.fit(clin, y) is model
    assert roc_auc_score(y, model.predict_proba(clin)[:, 1]) > 0.9  # younger = axSpA here
    assert model.named_steps["logreg"].coef_[0, 0] < 0
    bad = cases.assign(sex=["X"] + ["F"] * 119)
    with pytest.raises(ValueError, match="SIJ_1_0000"):
        clinical_features(bad)
