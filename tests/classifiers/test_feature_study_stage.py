"""The feature-study stage on fake run folders (classification, segmentation-only, reader vs reader)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from classifiers import feature_study_stage as stage
from tests.classifiers.feature_study_run import EMPTY_CASE, FAILED_CASE, write_run

SETTINGS = stage.StudySettings(seed=7)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A classification run (60 features, both classifiers) and its feature study."""
    run = write_run(tmp_path_factory.mktemp("fs") / "run", n_features=60, seed=2024)
    summary = stage.run_feature_study(run, run / "feature_study", SETTINGS)
    return run, summary


def _copy_without(run: Path, target: Path, *relative: str) -> Path:
    shutil.copytree(run, target, ignore=shutil.ignore_patterns("feature_study"))
    for rel in relative:
        path = target / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return target


def test_writes_every_table_and_plot(study):
    run, summary = study
    out = run / "feature_study"
    for name in stage.OUTPUT_FILES.values():
        assert (out / name).is_file(), name
    assert summary["study_mode"] == "classification"
    assert sorted(summary["files"]) == sorted(stage.OUTPUT_FILES.values())
    assert json.loads((out / "feature_study.json").read_text(encoding="utf-8"))["elapsed_s"] == summary["elapsed_s"]


def test_icc_counts_per_set_and_pooled_match_the_table(study):
    run, summary = study
    icc = pd.read_csv(run / "feature_study" / "icc.csv")
    groups = summary["robustness"]["groups"]
    assert set(icc["group"]) == set(groups) == {"internal_test", "external_test", "pooled"}
    for group, counts in groups.items():
        rows = icc[icc["group"] == group]
        assert counts["n_features"] == len(rows) == 60  # the two text note columns are no features
        assert counts["n_icc_at_least_0_75"] == int((rows["icc_a1"] >= 0.75).sum())
        assert counts["n_icc_at_least_0_9"] == int((rows["icc_a1"] >= 0.9).sum())
        assert counts["features_icc_at_least_0_9"] == rows.loc[rows["icc_a1"] >= 0.9, "feature"].tolist()
    assert 0 < groups["pooled"]["n_icc_at_least_0_9"] < groups["pooled"]["n_icc_at_least_0_75"] < 60
    assert {"log", "identity"} <= set(icc["transform"])


def test_empty_and_failed_cases_are_reported_and_counted_right(study):
    run, summary = study
    problems = summary["robustness"]["groups"]["internal_test"]["mask_problems"]
    assert problems["empty_pred_ids"] == [EMPTY_CASE] and problems["failed_pred_ids"] == [FAILED_CASE]
    assert summary["robustness"]["groups"]["external_test"]["mask_problems"]["n_empty_pred"] == 0
    icc = pd.read_csv(run / "feature_study" / "icc.csv").set_index(["group", "feature"])
    # 30 internal-test cases: the failed one gives nothing, the empty one gives a volume (0 ml) only
    assert icc.loc[("internal_test", "fm_volume_ml"), "n_cases"] == 29
    radiomics = [f for g, f in icc.index if g == "internal_test" and f.startswith("original_")]
    assert (icc.loc[[("internal_test", f) for f in radiomics], "n_cases"] == 28).all()
    volume = summary["robustness"]["bland_altman"]
    assert volume["n_cases"] == 59 and volume["by_set"]["internal_test"]["n_cases"] == 29


def test_bland_altman_numbers_are_those_of_the_volume_columns(study):
    run, summary = study
    pred = pd.concat([pd.read_csv(run / "features" / f"{s}.csv") for s in ("internal_test", "external_test")])
    ref = pd.concat([pd.read_csv(run / "features" / f"reference_{s}.csv") for s in ("internal_test", "external_test")])
    both = pred.merge(ref, on="case_id", suffixes=("_p", "_r"))
    both = both[both["error_p"].isna()]
    difference = both["fm_volume_ml_p"] - both["fm_volume_ml_r"]
    saved = json.loads((run / "feature_study" / "bland_altman.json").read_text(encoding="utf-8"))
    assert saved["bias_ml"] == pytest.approx(difference.mean(), abs=1e-12)
    assert saved["loa_high_ml"] == pytest.approx(difference.mean() + 1.96 * difference.std(ddof=1), abs=1e-12)


def test_univariate_uses_training_cases_only(study):
    run, summary = study
    cases = pd.read_csv(run / "dataset" / "cases.csv")
    oof = pd.read_csv(run / "features" / "oof.csv").merge(cases[["case_id", "label"]], on="case_id")
    table = pd.read_csv(run / "feature_study" / "univariate.csv").set_index("feature")
    uni = summary["univariate"]
    assert uni["n_used"] == len(oof) == int(cases["set"].isin(["train", "validation"]).sum())
    for feature in ("fm_volume_ml", table.index[0], table.index[-1]):
        assert table.loc[feature, "auc"] == pytest.approx(roc_auc_score(oof["label"], oof[feature]), abs=1e-12)
    assert uni["n_significant_fdr"] == int((table["q_bh"] < 0.05).sum()) > 0
    assert [r["feature"] for r in uni["top_features"]] == table.index[:SETTINGS.top_n].tolist()


def test_shap_of_the_saved_model_adds_up_to_its_scores(study):
    run, summary = study
    shap = pd.read_csv(run / "feature_study" / "shap_values.csv")
    feature_cols = [c for c in shap.columns if c not in ("case_id", "shap_bias", "margin_logit")]
    model = json.loads((run / "classifier" / "model" / "pipeline.json").read_text(encoding="utf-8"))
    assert feature_cols == model["selected_features"]
    total = shap[feature_cols].sum(axis=1) + shap["shap_bias"]
    assert np.max(np.abs(total - shap["margin_logit"])) < 1e-4  # float32 trees
    predictions = pd.read_csv(run / "classifier" / "predictions.csv").set_index("case_id")
    scores = predictions.loc[shap["case_id"], "score_xgboost"].to_numpy()
    assert np.allclose(1.0 / (1.0 + np.exp(-total.to_numpy())), scores, atol=1e-5)
    assert FAILED_CASE not in set(shap["case_id"]) and EMPTY_CASE in set(shap["case_id"])
    assert summary["shap"]["n_cases"] == 29 and summary["shap"]["max_additivity_error_logit"] < 1e-4
    importance = pd.read_csv(run / "feature_study" / "mean_abs_shap.csv")
    assert importance["mean_abs_shap_logit"].iloc[0] == pytest.approx(shap[importance["feature"].iloc[0]].abs().mean())


def test_robust_classifier_beside_default_with_paired_delong(study):
    run, summary = study
    default = pd.read_csv(run / "classifier" / "predictions.csv")
    robust = pd.read_csv(run / "classifier_robust" / "predictions.csv")
    for name in ("internal_test", "external_test"):
        result = summary["robust_classifier"]["by_set"][name]
        d, r = default[default["set"] == name], robust[robust["set"] == name]
        assert result["auc_default"] == pytest.approx(roc_auc_score(d["label"], d["score_xgboost"]), abs=1e-12)
        assert result["auc_robust"] == pytest.approx(roc_auc_score(r["label"], r["score_xgboost"]), abs=1e-12)
        assert result["delta_auc"] == pytest.approx(result["auc_robust"] - result["auc_default"], abs=1e-12)
        assert 0.0 <= result["p_value"] <= 1.0
    assert summary["robust_classifier"]["tau"] == 0.75 and summary["robust_classifier"]["n_robust_features"] == 30
    assert summary["robust_classifier"]["n_candidate_features"] == 60


def test_robust_classifier_without_a_model_gives_the_classify_note(study, tmp_path):
    run = _copy_without(study[0], tmp_path / "no_robust_model", "classifier_robust/predictions.csv")
    note = "no feature reaches ICC(A,1) >= 0.99; no robust model trained"
    (run / "classifier_robust" / "robust_features.json").write_text(json.dumps({"tau": 0.99, "features": [],
                                                                                 "note": note}))
    summary = stage.run_feature_study(run, run / "feature_study", SETTINGS)
    assert summary["robust_classifier"] == {"available": False, "reason": note}


def test_redundancy_covers_the_model_features(study):
    run, summary = study
    model = json.loads((run / "classifier" / "model" / "pipeline.json").read_text(encoding="utf-8"))
    assert summary["redundancy"]["n_features"] + len(summary["redundancy"]["features_left_out"]) == \
        len(model["selected_features"])


def test_segmentation_only_run_computes_robustness_only(study, tmp_path):
    run = _copy_without(study[0], tmp_path / "seg", "classifier", "classifier_robust", "dataset/cases.csv")
    (run / "dataset" / "dataset_meta.json").write_text(json.dumps({"study_mode": "segmentation_only"}))
    summary = stage.run_feature_study(run, run / "feature_study", SETTINGS)
    assert summary["study_mode"] == "segmentation_only"
    assert summary["robustness"]["available"] and (run / "feature_study" / "icc.csv").is_file()
    for part in ("univariate", "shap", "redundancy", "robust_classifier"):
        assert summary[part] == {"available": False, "reason": "segmentation-only study: no diagnosis to analyse"}
    assert not (run / "feature_study" / "univariate.csv").exists()
    assert (run / "feature_study" / "ibsi_settings.md").read_text(encoding="utf-8").startswith("Radiomics settings in IBSI terms")


def test_missing_inputs_are_named_and_the_rest_still_runs(study, tmp_path):
    run = _copy_without(study[0], tmp_path / "partial", "features/reference_internal_test.csv", "classifier_robust")
    summary = stage.run_feature_study(run, run / "feature_study", SETTINGS)
    assert summary["robustness"]["sets"] == ["external_test"]
    assert summary["robustness"]["missing_tables"] == ["features/reference_internal_test.csv"]
    assert "classifier_robust/predictions.csv not found" in summary["robust_classifier"]["reason"]
    assert summary["univariate"]["available"] and summary["shap"]["available"]
    assert not (run / "feature_study" / "robust_classifier.json").exists()


def test_nothing_to_analyse_is_an_error(tmp_path):
    run = tmp_path / "empty_run"
    (run / "dataset").mkdir(parents=True)
    (run / "dataset" / "dataset_meta.json").write_text(json.dumps({"study_mode": "segmentation_only"}))
    with pytest.raises(ValueError, match="nothing to analyse.*reference_internal_test.csv"):
        stage.run_feature_study(run, run / "feature_study", SETTINGS)
    assert not (run / "feature_study").exists()  # nothing partial left


def test_feature_table_without_mask_empty_is_named(study, tmp_path):
    run = _copy_without(study[0], tmp_path / "bad", "classifier_robust")
    table = pd.read_csv(run / "features" / "reference_external_test.csv").drop(columns="mask_empty")
    table.to_csv(run / "features" / "reference_external_test.csv", index=False)
    with pytest.raises(ValueError, match="reference_external_test.csv.*mask_empty"):
        stage.run_feature_study(run, run / "feature_study", SETTINGS)


def test_rerun_replaces_the_folder(study, tmp_path):
    run = _copy_without(study[0], tmp_path / "rerun")
    stage.run_feature_study(run, run / "feature_study", SETTINGS)
    (run / "feature_study" / "stale.png").write_bytes(b"old")
    shutil.rmtree(run / "classifier_robust")
    stage.run_feature_study(run, run / "feature_study", SETTINGS)
    assert not (run / "feature_study" / "stale.png").exists()
    assert not (run / "feature_study" / "robust_classifier.json").exists()


def test_reader_vs_reader_from_two_tables(study, tmp_path):
    run = study[0]
    summary = stage.run_reader_agreement(run / "features" / "external_test.csv",
                                         run / "features" / "reference_external_test.csv", tmp_path / "readers",
                                         SETTINGS, labels=("reader 1", "reader 2"))
    assert summary["study_mode"] == "reader_vs_reader"
    assert summary["robustness"]["sources"] == {"a": "reader 1", "b": "reader 2"}
    icc = pd.read_csv(tmp_path / "readers" / "icc.csv")
    same = pd.read_csv(run / "feature_study" / "icc.csv")
    same = same[same["group"] == "external_test"].set_index("feature")
    assert set(icc["group"]) == {"cases"}
    assert np.allclose(icc.set_index("feature").loc[same.index, "icc_a1"], same["icc_a1"], atol=1e-12)
    assert summary["univariate"]["available"] is False


def test_text_and_diagnostics_columns_are_no_features(study):
    from classifiers.feature_study import feature_columns

    table = pd.read_csv(study[0] / "features" / "external_test.csv")
    table["diagnostics_Versions_PyRadiomics"] = "v3.1"
    table["some_new_note"] = "resampled"
    table["numeric_as_text"] = table["fm_volume_ml"].astype(str)
    names = feature_columns(table)
    assert "numeric_as_text" in names and "fm_volume_ml" in names and len(names) == 61
    for column in ("diagnostics_Versions_PyRadiomics", "some_new_note", "radiomics_shape_note",
                   "fm_t1_features_note", "mask_empty", "error", "case_id"):
        assert column not in names
