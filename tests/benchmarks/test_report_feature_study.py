"""The report's "Radiomics feature study" section and summary, read from RUN/feature_study alone."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from benchmarks.engine.report_feature_study import feature_study_section, feature_study_summary
from classifiers import feature_study_stage as stage
from tests.classifiers.feature_study_run import EMPTY_CASE, write_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = write_run(tmp_path_factory.mktemp("report_fs") / "run", n_features=40, seed=11)
    stage.run_feature_study(run, run / "feature_study", stage.StudySettings())
    return run


def test_section_has_every_part_with_the_stage_numbers(run):
    text = "\n".join(feature_study_section(run))
    saved = json.loads((run / "feature_study" / "feature_study.json").read_text(encoding="utf-8"))
    pooled = saved["robustness"]["groups"]["pooled"]
    assert text.startswith("## Radiomics feature study")
    for heading in ("### Robustness to automatic segmentation", "### Univariate analysis (training cases only)",
                    "### Model explanation (SHAP)", "### Redundancy of the model's features",
                    "### Robust-feature classifier", "### Radiomics settings (IBSI)"):
        assert heading in text
    assert f"| pooled test sets | 40 | {pooled['n_icc_at_least_0_75']} | {pooled['n_icc_at_least_0_9']} |" in text
    assert EMPTY_CASE in text  # empty masks are named
    volume = saved["robustness"]["bland_altman"]
    assert f"bias {volume['bias_ml']:.2f}" in text and f"{volume['loa_high_ml']:.2f}" in text
    top = pd.read_csv(run / "feature_study" / "univariate.csv").iloc[0]
    assert f"| {top['feature']} | {top['auc']:.3f} ({top['auc_ci_low']:.3f}–{top['auc_ci_high']:.3f}) |" in text
    shap_top = pd.read_csv(run / "feature_study" / "mean_abs_shap.csv").iloc[0]
    assert f"| 1 | {shap_top['feature']} | {shap_top['mean_abs_shap_logit']:.3f} |" in text
    internal = saved["robust_classifier"]["by_set"]["internal_test"]
    row = f"| internal test | {internal['n_cases']} | {internal['auc_robust']:.3f} | {internal['auc_default']:.3f} |"
    assert row in text
    assert "| Discretisation | fixed bin size (FBS)" in text
    for png in ("bland_altman.png", "shap_bar.png", "shap_beeswarm.png", "spearman_heatmap.png"):
        assert f"](feature_study/{png})" in text and (run / "feature_study" / png).is_file()


def test_summary_keys_and_values(run):
    summary = feature_study_summary(run)
    saved = json.loads((run / "feature_study" / "feature_study.json").read_text(encoding="utf-8"))
    assert summary["available"] and summary["study_mode"] == "classification" and summary["icc_group"] == "pooled"
    assert summary["n_features"] == 40
    assert summary["n_icc_at_least_0_75"] == saved["robustness"]["groups"]["pooled"]["n_icc_at_least_0_75"]
    assert summary["n_empty_masks_pred"] == 1 and summary["n_failed_cases"] == 1
    assert summary["n_univariate_significant_fdr"] == saved["univariate"]["n_significant_fdr"]
    assert summary["top_shap_features"][0] == saved["shap"]["top_features"][0]["feature"]
    assert set(summary["robust_classifier"]) == {"tau", "n_robust_features", "n_candidate_features",
                                                  "internal_test", "external_test"}
    assert summary["robust_classifier"]["n_candidate_features"] == 40
    assert summary["bland_altman_volume_ml"]["n_cases"] == 59
    json.dumps(summary)  # summary.json-ready


def test_missing_feature_study_is_not_available_with_reason(tmp_path):
    lines = feature_study_section(tmp_path)
    assert lines[0] == "## Radiomics feature study"
    assert "Not available: feature_study/feature_study.json not found" in "\n".join(lines)
    assert feature_study_summary(tmp_path) == {
        "available": False,
        "reason": "feature_study/feature_study.json not found or unreadable (the feature_study stage did not run)"}


def test_missing_parts_and_files_degrade_gracefully(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run / "feature_study", copy / "feature_study")
    (copy / "feature_study" / "icc.csv").unlink()
    (copy / "feature_study" / "ibsi_settings.md").unlink()
    summary = json.loads((copy / "feature_study" / "feature_study.json").read_text(encoding="utf-8"))
    summary["robust_classifier"] = stage.unavailable("classifier_robust/predictions.csv not found")
    (copy / "feature_study" / "feature_study.json").write_text(json.dumps(summary))
    text = "\n".join(feature_study_section(copy))
    assert "Per-feature table not available: icc.csv missing." in text
    assert "### Robust-feature classifier\n\nNot available: classifier_robust/predictions.csv not found." in text
    assert "Not available: ibsi_settings.md missing." in text
    assert feature_study_summary(copy)["robust_classifier"] is None


def test_segmentation_only_section_has_no_classification_parts(run, tmp_path):
    copy = tmp_path / "seg"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("feature_study", "classifier*"))
    stage.run_feature_study(copy, copy / "feature_study", stage.StudySettings(), segmentation_only=True)
    text = "\n".join(feature_study_section(copy))
    assert "Study mode segmentation_only" in text and "### Robustness to automatic segmentation" in text
    for heading in ("### Univariate analysis", "### Model explanation", "### Robust-feature classifier"):
        assert heading not in text
    summary = feature_study_summary(copy)
    assert summary["n_univariate_significant_fdr"] is None and summary["robust_classifier"] is None
