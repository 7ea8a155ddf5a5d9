"""`nnunet-fm classify` end to end on a synthetic cohort, and its leakage guards."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from classifiers.classification import load_cases, run_classification
from classifiers.model_io import load_model
from nnunet_fm.cli import main

SETS = {"train": 84, "validation": 20, "internal_test": 40, "external_test": 30}
FAILED_CASE = "SIJ_1_0005"        # training case whose feature extraction failed
FAILED_TEST_CASE = "SIJ_2_0003"   # external test case whose feature extraction failed
NO_FEATURES_CASE = "SIJ_1_0007"   # in cases.csv, absent from every feature table
LEAK = "original_glrlm_TestOnlySignal"


def make_cohort(folder: Path, seed: int = 0, test_seed: int | None = None) -> dict[str, Path]:
    """cases.csv + training (OOF) and test (ensemble) feature tables of an easy problem.

    ``LEAK`` is noise on training cases and equals the label on test cases: a model that
    looks at test rows while fitting would select it.
    """
    rng = np.random.default_rng(seed)
    rows, n = [], 0
    for set_name, count in SETS.items():
        center = 2 if set_name == "external_test" else 1
        for i in range(count):
            n += 1
            label = int(i % 3 != 0)  # about two thirds axSpA, as in the paper
            rows.append({"case_id": f"SIJ_{center}_{n if center == 1 else i + 1:04d}", "set": set_name,
                         "center": center, "diagnosis": "axSpA" if label else "non-axSpA", "label": label,
                         "fold": (i % 5) if set_name in ("train", "validation") else -1,
                         "age": int(np.clip(rng.normal(35 - 6 * label, 8), 18, 80)),
                         "sex": "M" if rng.random() < 0.4 + 0.3 * label else "F"})
    cases = pd.DataFrame(rows)
    folder.mkdir(parents=True, exist_ok=True)
    cases.to_csv(folder / "cases.csv", index=False)

    def features(frame: pd.DataFrame, generator: np.random.Generator, test: bool) -> pd.DataFrame:
        y = frame["label"].to_numpy()
        m = len(frame)
        table = pd.DataFrame({"case_id": frame["case_id"].to_numpy()})
        table["original_firstorder_Mean"] = generator.normal(size=m) + 2.5 * y
        table["original_glcm_Contrast"] = generator.normal(size=m) - 1.5 * y
        for i in range(8):
            table[f"original_glszm_Noise{i}"] = generator.normal(size=m)
        table["original_shape_Constant"] = 2.0
        table[LEAK] = 5.0 * y if test else generator.normal(size=m)
        table["fm_volume_ml"] = np.exp(generator.normal(size=m) + 1.0 * y)
        table["fm_lesion_count"] = generator.poisson(1 + y).astype(float)
        table["mask_empty"] = 0
        holes = generator.random((m, 2)) < 0.1
        table.loc[holes[:, 0], "original_glcm_Contrast"] = np.nan
        table.loc[holes[:, 1], "original_glszm_Noise0"] = np.nan
        table["error"] = ""
        return table

    is_train = cases["set"].isin(["train", "validation"])
    train = features(cases[is_train & (cases["case_id"] != NO_FEATURES_CASE)], rng, test=False)
    test_rng = rng if test_seed is None else np.random.default_rng(test_seed)
    test = features(cases[~is_train], test_rng, test=True)
    for table, case_id in ((train, FAILED_CASE), (test, FAILED_TEST_CASE)):
        where = table["case_id"] == case_id
        table.loc[where, [c for c in table.columns if c not in ("case_id", "error")]] = np.nan
        table.loc[where, "error"] = "ImageReadError: cannot read mask"
    paths = {"cases": folder / "cases.csv", "train": folder / "features_oof.csv",
             "internal": folder / "features_internal.csv", "external": folder / "features_external.csv"}
    train.to_csv(paths["train"], index=False)
    internal = test["case_id"].str.startswith("SIJ_1_")
    test[internal].to_csv(paths["internal"], index=False)
    test[~internal].to_csv(paths["external"], index=False)
    return paths


def cli(paths: dict[str, Path], out: Path, *extra: str) -> int:
    return main(["-q", "classify", "--features", str(paths["train"]), str(paths["internal"]), str(paths["external"]),
                 "--cases", str(paths["cases"]), "--out", str(out), "--seed", "5", "--n-iter", "3",
                 "--inner-cv-folds", "3", "--max-features", "5", *extra])


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_cohort(tmp_path_factory.mktemp("cohort"))


@pytest.fixture(scope="module")
def run_out(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("classify") / "out"
    assert cli(cohort, out) == 0
    return out


def test_cli_writes_predictions_with_real_values(run_out, cohort):
    pred = pd.read_csv(run_out / "predictions.csv", dtype={"case_id": str})
    assert list(pred.columns) == ["case_id", "set", "split", "label", "score_xgboost", "score_fm_volume",
                                  "score_clinical", "score_clinical_imaging", "pred_xgboost", "score_source"]
    n_expected = sum(SETS.values()) - 3  # two failed cases and one without features
    assert len(pred) == n_expected and pred["case_id"].is_unique
    assert {FAILED_CASE, FAILED_TEST_CASE, NO_FEATURES_CASE}.isdisjoint(pred["case_id"])
    training = pred["set"].isin(["train", "validation"])
    assert (pred.loc[training, "split"] == "training").all()
    assert (pred.loc[~training, "split"] == pred.loc[~training, "set"]).all()
    assert (pred.loc[training, "score_source"] == "oof-cv").all()
    assert (pred.loc[~training, "score_source"] == "test").all()
    assert pred[["score_xgboost", "score_fm_volume", "score_clinical", "score_clinical_imaging"]].notna().all().all()
    for set_name in ("internal_test", "external_test"):
        rows = pred[pred["set"] == set_name]
        assert roc_auc_score(rows["label"], rows["score_xgboost"]) > 0.9
    assert roc_auc_score(pred.loc[training, "label"], pred.loc[training, "score_xgboost"]) > 0.85
    # Baselines: the volume is the feature itself; the clinical model is a probability.
    feats = pd.concat([pd.read_csv(cohort[k], dtype={"case_id": str}) for k in ("train", "internal", "external")])
    volume = pred.merge(feats[["case_id", "fm_volume_ml"]], on="case_id")
    np.testing.assert_allclose(volume["score_fm_volume"], volume["fm_volume_ml"], rtol=1e-12)
    assert pred["score_clinical"].between(0, 1).all() and pred["score_clinical"].nunique() > 10
    test_rows = pred[~training]
    assert roc_auc_score(test_rows["label"], test_rows["score_clinical"]) > 0.6  # age/sex carry some signal
    assert roc_auc_score(test_rows["label"], test_rows["score_fm_volume"]) > 0.6


def test_threshold_is_youden_on_training_oof_scores(run_out):
    pred = pd.read_csv(run_out / "predictions.csv", dtype={"case_id": str})
    summary = json.loads((run_out / "classifier.json").read_text(encoding="utf-8"))
    training = pred[pred["set"].isin(["train", "validation"])]
    fpr, tpr, thresholds = roc_curve(training["label"], training["score_xgboost"], drop_intermediate=False)
    best_j = np.max(tpr - fpr)
    t = summary["threshold"]
    sens = (training.loc[training["label"] == 1, "score_xgboost"] >= t).mean()
    spec = (training.loc[training["label"] == 0, "score_xgboost"] < t).mean()
    assert sens + spec - 1 == pytest.approx(best_j, abs=1e-12)
    np.testing.assert_array_equal(pred["pred_xgboost"], (pred["score_xgboost"] >= t).astype(int))


def test_classifier_json_and_importances(run_out):
    summary = json.loads((run_out / "classifier.json").read_text(encoding="utf-8"))
    assert summary["random_state"] == 5 and summary["n_iter"] == 3 and summary["inner_cv_folds"] == 3
    assert summary["inner_cv_auc"] > 0.85
    assert set(summary["best_params"]) >= {"xgb__max_depth", "xgb__learning_rate", "xgb__n_estimators"}
    assert summary["n_per_set"]["train"]["n"] == SETS["train"] - 2
    assert summary["n_per_set"]["external_test"]["n"] == SETS["external_test"] - 1
    excluded = {e["case_id"]: e for e in summary["excluded_cases"]}
    assert set(excluded) == {FAILED_CASE, FAILED_TEST_CASE, NO_FEATURES_CASE}
    assert "cannot read mask" in excluded[FAILED_CASE]["reason"]
    assert excluded[NO_FEATURES_CASE]["reason"] == "no feature row"
    assert len(summary["selected_features"]) == 5
    assert LEAK not in summary["selected_features"]
    assert "original_shape_Constant" not in summary["selected_features"]
    assert {"original_firstorder_Mean", "original_glcm_Contrast"} <= set(summary["selected_features"])
    assert summary["model_roundtrip_max_abs_diff"] <= 1e-6
    imp = pd.read_csv(run_out / "feature_importances.csv")
    assert set(imp["feature"]) == set(summary["selected_features"])
    assert imp["total_gain"].is_monotonic_decreasing and imp["feature"].iloc[0] == "original_firstorder_Mean"


def test_saved_model_reproduces_test_scores(run_out, cohort):
    model = load_model(run_out / "model")
    pred = pd.read_csv(run_out / "predictions.csv", dtype={"case_id": str})
    test = pd.concat([pd.read_csv(cohort[k], dtype={"case_id": str}) for k in ("internal", "external")])
    test = test[test["error"].isna()]
    scores = pred.set_index("case_id").loc[test["case_id"], "score_xgboost"].to_numpy()
    np.testing.assert_allclose(model.predict_proba(test)[:, 1], scores, rtol=0, atol=1e-6)
    summary = json.loads((run_out / "classifier.json").read_text(encoding="utf-8"))
    assert model.threshold == summary["threshold"]


def test_same_seed_gives_identical_outputs(run_out, cohort, tmp_path):
    assert cli(cohort, tmp_path / "again") == 0
    for name in ("predictions.csv", "feature_importances.csv", "model/model.json"):
        assert (tmp_path / "again" / name).read_bytes() == (run_out / name).read_bytes(), name


def test_test_rows_do_not_influence_training(run_out, tmp_path):
    """Other test-set features: training scores, threshold, model and selection unchanged."""
    other = make_cohort(tmp_path / "cohort", seed=0, test_seed=99)
    assert cli(other, tmp_path / "out") == 0
    first = pd.read_csv(run_out / "predictions.csv", dtype={"case_id": str})
    second = pd.read_csv(tmp_path / "out" / "predictions.csv", dtype={"case_id": str})
    training = first["score_source"] == "oof-cv"
    pd.testing.assert_frame_equal(first[training], second[training])
    assert not np.allclose(first.loc[~training, "score_xgboost"], second.loc[~training, "score_xgboost"])
    a, b = (json.loads((d / "classifier.json").read_text(encoding="utf-8")) for d in (run_out, tmp_path / "out"))
    for key in ("threshold", "best_params", "inner_cv_auc", "selected_features"):
        assert a[key] == b[key], key
    assert (run_out / "model" / "model.json").read_bytes() == (tmp_path / "out" / "model" / "model.json").read_bytes()


def test_failed_and_missing_cases_are_logged(cohort, tmp_path, caplog):
    # Keep the fit tiny: only the logging around the join is under test here.
    with caplog.at_level(logging.WARNING, logger="classifiers"):
        run_classification([cohort["train"], cohort["internal"], cohort["external"]], cohort["cases"],
                           tmp_path / "out", random_state=0, inner_cv_folds=2, n_iter=1, max_features=2)
    text = caplog.text
    assert FAILED_CASE in text and "cannot read mask" in text
    assert FAILED_TEST_CASE in text
    assert NO_FEATURES_CASE in text and "no feature row" in text


def test_case_in_training_and_test_feature_tables_fails(cohort, tmp_path):
    train = pd.read_csv(cohort["train"], dtype={"case_id": str})
    internal = pd.read_csv(cohort["internal"], dtype={"case_id": str})
    leaked = pd.concat([internal, train.iloc[[0]]])  # a training case scored again as a test case
    leaked.to_csv(tmp_path / "internal.csv", index=False)
    with pytest.raises(ValueError, match=f"case {train['case_id'].iloc[0]} appears in both"):
        run_classification([cohort["train"], tmp_path / "internal.csv"], cohort["cases"], tmp_path / "out",
                           random_state=0)
    assert not (tmp_path / "out").exists()
    paths = dict(cohort, internal=tmp_path / "internal.csv")
    assert cli(paths, tmp_path / "out") == 1


def test_case_in_two_sets_of_cases_csv_fails(cohort, tmp_path):
    cases = pd.read_csv(cohort["cases"], dtype={"case_id": str})
    twice = pd.concat([cases, cases.iloc[[0]].assign(set="internal_test", fold=-1)])
    twice.to_csv(tmp_path / "cases.csv", index=False)
    with pytest.raises(ValueError, match=f"case {cases['case_id'].iloc[0]} is listed 2 times"):
        load_cases(tmp_path / "cases.csv")


def test_patient_in_training_and_test_fails(cohort, tmp_path):
    cases = pd.read_csv(cohort["cases"], dtype={"case_id": str})
    cases["patient_id"] = [f"P{i}" for i in range(len(cases))]
    test_row = cases.index[cases["set"] == "internal_test"][0]
    cases.loc[test_row, "patient_id"] = "P0"  # same patient as the first training case
    cases.to_csv(tmp_path / "cases.csv", index=False)
    with pytest.raises(ValueError, match="patient_id P0 is in both training and test"):
        run_classification([cohort["train"]], tmp_path / "cases.csv", tmp_path / "out", random_state=0)


def test_unknown_case_and_label_columns_fail(cohort, tmp_path):
    train = pd.read_csv(cohort["train"], dtype={"case_id": str})
    unknown = pd.concat([train, train.iloc[[1]].assign(case_id="SIJ_9_0001")])
    unknown.to_csv(tmp_path / "unknown.csv", index=False)
    with pytest.raises(ValueError, match="SIJ_9_0001"):
        run_classification([tmp_path / "unknown.csv"], cohort["cases"], tmp_path / "out", random_state=0)
    train.assign(label=1).to_csv(tmp_path / "labelled.csv", index=False)
    with pytest.raises(ValueError, match="label"):
        run_classification([tmp_path / "labelled.csv"], cohort["cases"], tmp_path / "out", random_state=0)
    train.drop(columns="original_glszm_Noise3").to_csv(tmp_path / "fewer.csv", index=False)
    with pytest.raises(ValueError, match="feature columns differ"):
        run_classification([tmp_path / "fewer.csv", cohort["internal"]], cohort["cases"], tmp_path / "out",
                           random_state=0)


def test_bad_cases_csv_values_fail(cohort, tmp_path):
    cases = pd.read_csv(cohort["cases"], dtype={"case_id": str})
    cases.assign(label=np.where(cases.index == 4, 2, cases["label"])).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(ValueError, match="SIJ_1_0005 has label"):
        load_cases(tmp_path / "a.csv")
    cases.assign(set=np.where(cases.index == 0, "test", cases["set"])).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(ValueError, match="SIJ_1_0001 has set 'test'"):
        load_cases(tmp_path / "b.csv")
    flipped = cases.copy()
    flipped.loc[0, "label"] = 1 - flipped.loc[0, "label"]
    flipped.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(ValueError, match="SIJ_1_0001 has diagnosis"):
        load_cases(tmp_path / "c.csv")


def test_cli_rejects_bad_options(cohort, tmp_path):
    assert cli(cohort, tmp_path / "out", "--inner-cv-folds", "1") == 1
    assert cli(cohort, tmp_path / "out", "--max-features", "0") == 1
    assert not (tmp_path / "out").exists()
