"""classify: clinical + imaging model, missing age/sex, operating point, robust-feature model, study stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.classifiers.test_classification import cli, make_cohort

SEED, FOLDS = 5, 3


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_cohort(tmp_path_factory.mktemp("cohort_models"), seed=3)


@pytest.fixture(scope="module")
def run_out(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("classify_models") / "out"
    assert cli(cohort, out) == 0
    return out


def _clinical_inputs(pred: pd.DataFrame, cases_csv: Path) -> pd.DataFrame:
    cases = pd.read_csv(cases_csv, dtype={"case_id": str}).set_index("case_id")
    p = np.clip(pred["score_xgboost"].to_numpy(), 1e-6, 1 - 1e-6)
    return pd.DataFrame({"age": cases.loc[pred["case_id"], "age"].to_numpy(dtype=float),
                         "sex_male": (cases.loc[pred["case_id"], "sex"] == "M").to_numpy(dtype=float),
                         "logit_xgboost": np.log(p / (1 - p))})


def _logreg():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED))


def test_clinical_imaging_is_out_of_fold_on_training_and_fitted_once_for_test(run_out, cohort):
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    pred = pd.read_csv(run_out / "predictions.csv", dtype={"case_id": str})
    training = pred[pred["split"] == "training"].reset_index(drop=True)
    test = pred[pred["split"] != "training"].reset_index(drop=True)
    X_train, y = _clinical_inputs(training, cohort["cases"]), training["label"].to_numpy()
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    expected_oof = cross_val_predict(_logreg(), X_train, y, cv=folds, method="predict_proba")[:, 1]
    np.testing.assert_allclose(training["score_clinical_imaging"], expected_oof, rtol=1e-9, atol=1e-12)
    fitted = _logreg().fit(X_train, y)
    expected_test = fitted.predict_proba(_clinical_inputs(test, cohort["cases"]))[:, 1]
    np.testing.assert_allclose(test["score_clinical_imaging"], expected_test, rtol=1e-9, atol=1e-12)
    # age + sex only, same folds
    expected_clin = cross_val_predict(_logreg(), X_train[["age", "sex_male"]], y, cv=folds,
                                      method="predict_proba")[:, 1]
    np.testing.assert_allclose(training["score_clinical"], expected_clin, rtol=1e-9, atol=1e-12)
    summary = json.loads((run_out / "classifier.json").read_text(encoding="utf-8"))
    assert summary["auc_descriptive"]["internal_test"]["score_clinical_imaging"] > 0.9
    assert "logit(score_xgboost)" in summary["clinical_models"]["score_clinical_imaging"]


def test_operating_point_uses_oof_scores_of_the_final_hyper_parameters(run_out, cohort):
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from classifiers.classification import _training_and_test_rows
    from classifiers.pipeline import build_pipeline
    from nnunet_fm.roc_stats import youden_threshold

    summary = json.loads((run_out / "classifier.json").read_text(encoding="utf-8"))
    assert "final hyper-parameters" in summary["operating_point_source"]
    _, train, _, columns, _ = _training_and_test_rows(
        [cohort["train"], cohort["internal"], cohort["external"]], cohort["cases"])
    model = build_pipeline(SEED, 5).set_params(**summary["best_params"])
    y = train["label"].to_numpy(dtype=int)
    oof = cross_val_predict(model, train[columns], y, method="predict_proba",
                            cv=StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED))[:, 1]
    pred = pd.read_csv(run_out / "predictions.csv", dtype={"case_id": str})
    training = pred[pred["split"] == "training"]
    np.testing.assert_allclose(training["score_xgboost"], oof, rtol=1e-6)
    assert summary["threshold"] == pytest.approx(youden_threshold(y, oof))


def test_no_clinical_baseline_leaves_scores_empty_with_a_note(cohort, tmp_path):
    meta = tmp_path / "dataset_meta.json"
    meta.write_text(json.dumps({"clinical_baseline_available": False,
                                "clinical_baseline_reason": "clinical.csv has no age column"}))
    out = tmp_path / "out"
    assert cli(cohort, out, "--dataset-meta", str(meta)) == 0
    pred = pd.read_csv(out / "predictions.csv")
    assert pred["score_clinical"].isna().all() and pred["score_clinical_imaging"].isna().all()
    assert pred["score_xgboost"].notna().all()
    note = json.loads((out / "classifier.json").read_text(encoding="utf-8"))["clinical_models"]["note"]
    assert "no age column" in note and "left empty" in note


def test_blank_age_gives_no_score_for_that_row_only(cohort, tmp_path):
    cases = pd.read_csv(cohort["cases"], dtype={"case_id": str})
    blank = ["SIJ_1_0001", "SIJ_1_0130"]  # one training, one internal test case
    cases.loc[cases["case_id"].isin(blank), "age"] = np.nan
    paths = dict(cohort, cases=tmp_path / "cases.csv")
    cases.to_csv(paths["cases"], index=False)
    assert cli(paths, tmp_path / "out") == 0
    pred = pd.read_csv(tmp_path / "out" / "predictions.csv", dtype={"case_id": str}).set_index("case_id")
    assert pred.loc[blank, "score_clinical"].isna().all() and pred.loc[blank, "score_clinical_imaging"].isna().all()
    others = pred.drop(index=blank)
    assert others["score_clinical"].notna().all() and others["score_clinical_imaging"].notna().all()
    notes = json.loads((tmp_path / "out" / "classifier.json").read_text(encoding="utf-8"))["clinical_models"]
    assert notes["n_rows_without_age_or_sex"] == {"training": 1, "test": 1}


def test_robust_feature_classifier_keeps_only_agreeing_features(cohort, tmp_path):
    from classifiers.classification import load_features
    from classifiers.feature_study import feature_icc_table

    train = pd.read_csv(cohort["train"], dtype={"case_id": str})
    reference = train.copy()
    rng = np.random.default_rng(0)
    ok = reference["error"].fillna("") == ""
    # Mean agrees almost perfectly; Contrast is replaced by noise (ICC ~ 0)
    reference.loc[ok, "original_firstorder_Mean"] += rng.normal(0, 0.01, ok.sum())
    reference.loc[ok, "original_glcm_Contrast"] = rng.normal(size=ok.sum())
    ref_csv = tmp_path / "reference_oof.csv"
    reference.to_csv(ref_csv, index=False)
    out = tmp_path / "robust"
    assert cli(cohort, out, "--robust-reference", str(ref_csv), "--robust-icc-tau", "0.8",
               "--analysis", "robust_features") == 0
    record = json.loads((out / "robust_features.json").read_text(encoding="utf-8"))
    _, model_columns = load_features([cohort["train"]])
    icc = feature_icc_table(train, reference)
    expected = [f for f, v in zip(icc["feature"], icc["icc_a1"]) if np.isfinite(v) and v >= 0.8 and f in model_columns]
    assert record["tau"] == 0.8 and record["features"] == expected
    assert "original_glcm_Contrast" not in expected and "original_firstorder_Mean" in expected
    assert record["n_kept"] == len(record["features"])
    summary = json.loads((out / "classifier.json").read_text(encoding="utf-8"))
    assert summary["analysis"] == "robust_features" and summary["n_feature_columns"] == record["n_kept"]
    assert set(summary["selected_features"]) <= set(record["features"])


def test_study_stage_commands_and_segmentation_only(tmp_path, monkeypatch):
    from dataclasses import replace

    from benchmarks.engine.study import RunPaths
    from dataset_conversion import study_design
    from nnunet_fm.cli import classify
    from nnunet_fm.config import RunConfig

    mode = {"value": study_design.CLASSIFICATION}
    seen = []
    monkeypatch.setattr(study_design, "study_mode_of_cohort", lambda cohort: seen.append(cohort) or mode["value"],
                        raising=False)
    config, paths = RunConfig(data_dir=str(tmp_path / "cohort")), RunPaths(tmp_path / "run", tmp_path / "work")
    stage = classify.study_stage(config, paths)
    outs = [c[c.index("--out") + 1] for c in stage.commands]
    assert [Path(o).name for o in outs] == ["classifier", "classifier_reference", "classifier_robust"]
    assert all(Path(c[c.index("--features") + 1]).name == "reference_oof.csv" for c in stage.commands[1:2])
    assert Path(stage.commands[2][stage.commands[2].index("--robust-reference") + 1]).name == "reference_oof.csv"
    no_tau = replace(config, classifier=replace(config.classifier, robust_icc_tau=None))
    assert len(classify.study_stage(no_tau, paths).commands) == 2
    assert seen and seen[0] == tmp_path / "cohort"
    n_calls = len(seen)  # synthetic cohorts: classification without asking clinical.csv
    assert classify.study_stage(RunConfig(), paths) is not None and len(seen) == n_calls
    mode["value"] = study_design.SEGMENTATION_ONLY
    assert classify.study_stage(config, paths) is None


def test_robust_classifier_with_no_agreeing_feature_writes_only_the_record(cohort, tmp_path):
    train = pd.read_csv(cohort["train"], dtype={"case_id": str})
    reference = train.copy()
    rng = np.random.default_rng(1)
    for column in [c for c in train.columns if c not in ("case_id", "error")]:
        reference[column] = rng.normal(size=len(reference))  # nothing agrees
    reference.to_csv(tmp_path / "ref.csv", index=False)
    out = tmp_path / "robust"
    assert cli(cohort, out, "--robust-reference", str(tmp_path / "ref.csv"), "--robust-icc-tau", "0.9") == 0
    record = json.loads((out / "robust_features.json").read_text(encoding="utf-8"))
    assert record["n_kept"] == 0 and record["features"] == [] and "no feature" in record["note"]
    assert not (out / "predictions.csv").exists()
    assert (out / "robust_icc.csv").is_file()


def test_robust_reference_needs_a_tau(cohort, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("classifier:\n  robust_icc_tau: null\n")
    assert cli(cohort, tmp_path / "out", "--robust-reference", str(cohort["train"]), "--config", str(config)) == 1
