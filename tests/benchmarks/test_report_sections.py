"""The report's Phase-B sections on fixture run folders: present/absent as the inputs allow,
numbers equal to the library functions' outputs, summary.json holding every figure shown."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from benchmarks.engine.report import CLASSIFICATION_KEYS, build_report, render_markdown
from benchmarks.engine.tripod_ai import TRIPOD_AI_ITEMS, report_headings
from nnunet_fm.paper_targets import load_paper_targets
from tests.benchmarks.report_fixture_runs import classification_run, segmentation_only_run

CLASSIFICATION_HEADINGS = ("AUC ceiling of the synthetic cohort", "Classification: all scores",
                           "Model comparison: does imaging add to age + sex?", "Operating point", "Calibration",
                           "Decision curves", "Sensitivity analysis: reference masks")
COMMON_HEADINGS = ("Study", "Patient flow and baseline characteristics", "Segmentation detail",
                   "Segmentation conventions", "Subgroups", "Lesion detection by lesion size",
                   "Interpretation and limitations", "Stages", "Files")
NEW_SUMMARY_KEYS = {"study", "patient_flow", "baseline_table", "segmentation_conventions", "subgroups",
                    "lesion_detection_by_size", "tripod_ai", *CLASSIFICATION_KEYS}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report_runs")
    runs = {"classification": classification_run(root), "segonly": segmentation_only_run(root)}
    for run in runs.values():
        build_report(run, reference_dir=root / "no-reference")
    return runs


def _summary(run):
    return json.loads((run / "summary.json").read_text(encoding="utf-8"))


def _text(run):
    return (run / "report.md").read_text(encoding="utf-8")


def _split(run, split, folder="classifier"):
    preds = pd.read_csv(run / folder / "predictions.csv")
    return preds[preds["split"] == split].reset_index(drop=True)


def test_classification_run_has_every_section_and_summary_key(built):
    headings = report_headings(_text(built["classification"]))
    for heading in CLASSIFICATION_HEADINGS + COMMON_HEADINGS:
        assert any(h == heading or h.startswith(heading + " ") for h in headings), heading
    assert NEW_SUMMARY_KEYS <= set(_summary(built["classification"]))
    assert "Not available" not in "\n".join(line for line in _text(built["classification"]).splitlines()
                                            if "feature" not in line.lower())


def test_first_lines_state_seed_mode_and_resampled_channels(built):
    first = "\n".join(_text(built["classification"]).splitlines()[:16])
    assert "**Seed:** 2024, the report seed. Nothing was tuned on it" in first
    assert "development seeds (7, 11)" in first
    assert "**Study mode:** classification" in first
    assert "SIJ_2_0080 (STIR)" in first


def test_model_comparison_equals_compare_models_with_holm(built):
    from nnunet_fm.model_comparison import compare_models

    run = built["classification"]
    preds = _split(run, "internal_test")
    scores = {c: preds[c].to_numpy(float) for c in ("score_xgboost", "score_fm_volume", "score_clinical",
                                                     "score_clinical_imaging")}
    expected = compare_models(preds["label"].to_numpy(int), scores, "score_clinical")
    got = pd.DataFrame(_summary(run)["model_comparison"]["sets"]["internal_test"]["comparisons"])
    np.testing.assert_allclose(got["delta_auc"], expected["delta_auc"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["p_holm"], expected["p_holm"], rtol=0, atol=1e-12)
    verdict = _summary(run)["model_comparison"]["sets"]["internal_test"]["imaging_adds"]
    row = expected[expected["model"] == "score_clinical_imaging"].iloc[0]
    assert verdict["adds"] == bool(row["delta_auc_ci_low"] > 0 and row["p_holm"] < 0.05)
    sentence = "internal test: imaging adds to age + sex" if verdict["adds"] else \
        "internal test: imaging is not shown to add to age + sex"
    assert sentence in _text(run)
    assert f"| clinical + imaging | {row['auc_model']:.3f}" in _text(run)


def test_calibration_and_decision_curve_equal_library_values_and_pngs_exist(built):
    from nnunet_fm.calibration import calibration_summary
    from nnunet_fm.decision_curve import net_benefit

    run = built["classification"]
    preds = _split(run, "external_test")
    y, p = preds["label"].to_numpy(int), preds["score_xgboost"].to_numpy(float)
    expected = calibration_summary(y, p)
    got = _summary(run)["calibration"]["sets"]["external_test"]["score_xgboost"]
    for key in ("calibration_intercept", "calibration_slope", "calibration_slope_ci_low", "brier_score"):
        assert got[key] == pytest.approx(expected[key], abs=1e-12)
    assert got["brier_score_ci_low"] < got["brier_score"] < got["brier_score_ci_high"]
    nb = net_benefit(y, p, [0.5])["net_benefit"][0]
    curve = _summary(run)["decision_curve"]["sets"]["external_test"]["XGBoost (features of predicted FM)"]
    assert curve["0.50"] == pytest.approx(nb, abs=1e-12)
    figures = (*_summary(run)["calibration"]["figures"].values(), *_summary(run)["decision_curve"]["figures"].values())
    for relative in figures:
        assert (run / relative).read_bytes()[:4] == b"\x89PNG"
        assert f"]({relative})" in _text(run)


def test_ceiling_fraction_recovered(built):
    from nnunet_fm.roc_stats import auc

    run = built["classification"]
    preds = _split(run, "external_test")
    achieved = auc(preds["label"].to_numpy(int), preds["score_xgboost"].to_numpy(float))
    row = next(r for r in _summary(run)["ceiling"]["rows"] if r["set"] == "external_test")
    assert row["bayes_auc_all"] == 0.88 and row["paper_auc"] == 0.799
    assert row["fraction_recovered"] == pytest.approx((achieved - 0.5) / (0.88 - 0.5), abs=1e-12)


def test_subgroups_and_lesion_tertiles_equal_library_tables(built):
    from nnunet_fm.subgroups import detection_by_size_tertile, subgroup_table

    run = built["classification"]
    seg = pd.read_csv(run / "segmentation" / "external_test.csv").assign(set="external_test")
    cases = pd.read_csv(run / "dataset" / "cases.csv").drop(columns=["set"])
    preds = pd.read_csv(run / "classifier" / "predictions.csv")[["case_id", "score_xgboost"]]
    table = seg.merge(cases, on="case_id").merge(preds.rename(columns={"score_xgboost": "score"}), on="case_id")
    expected = subgroup_table(table, by=("label", "center", "sex"), n_boot=200, seed=2024)
    got = pd.DataFrame([r for r in _summary(run)["subgroups"]["rows"] if r["set"] == "external_test"])
    np.testing.assert_allclose(got["dice_mean"], expected["dice_mean"], atol=1e-12)
    np.testing.assert_allclose(got["dice_ci_low"], expected["dice_ci_low"], atol=1e-12)
    np.testing.assert_allclose(got["auc"].astype(float), expected["auc"], atol=1e-12, equal_nan=True)
    lesions = pd.read_csv(run / "segmentation" / "external_test_lesions.csv")
    tertiles = pd.DataFrame(_summary(run)["lesion_detection_by_size"]["sets"]["external_test"])
    np.testing.assert_allclose(tertiles["sensitivity"], detection_by_size_tertile(lesions)["sensitivity"], atol=1e-12)


def test_sensitivity_analysis_is_paired_delta_auc(built):
    from nnunet_fm.model_comparison import delta_auc_paired

    run = built["classification"]
    main, ref = _split(run, "training"), _split(run, "training", "classifier_reference")
    expected = delta_auc_paired(main["label"], main["score_xgboost"], ref["score_xgboost"])
    got = _summary(run)["sensitivity_analysis"]["variants"]["classifier_reference"]["sets"]["oof"]
    assert got["delta_auc"] == pytest.approx(expected["delta_auc"], abs=1e-12)
    assert got["p_value"] == pytest.approx(expected["p_value"], abs=1e-12)
    assert got["n_cases"] == 50


def test_flow_baseline_and_conventions(built):
    run = built["classification"]
    summary = _summary(run)
    cases = pd.read_csv(run / "dataset" / "cases.csv")
    flow = {r["set"]: r for r in summary["patient_flow"]["rows"]}
    ext = cases[cases["set"] == "external_test"]
    assert flow["external_test"]["axSpA"] == int((ext["label"] == 1).sum())
    assert summary["patient_flow"]["exclusions"]["rows"][0]["reason"] == "mask grid differs from image"
    base = next(r for r in summary["baseline_table"]["rows"] if r["set"] == "external_test" and r["class"] == "all")
    assert base["age_mean"] == pytest.approx(ext["age"].mean())
    assert base["female_fraction"] == pytest.approx((ext["sex"] == "F").mean())
    ref_ml = pd.read_csv(run / "segmentation" / "external_test.csv")["ref_volume_ml"]
    assert base["fm_volume_ml_median"] == pytest.approx(ref_ml.median())
    conventions = summary["segmentation_conventions"]
    assert {r["center"]: r["slice_spacing_mm_median"] for r in conventions["slice_spacing_by_center"]} == \
        {"1": 3.3, "2": 4.0}
    assert conventions["sets"]["external_test"]["n_one_empty"] == 1
    assert conventions["sets"]["external_test"]["lesion_overlap_fraction"] == 0.1


def test_operating_point_and_reader_rows_say_simulated(built):
    text = _text(built["classification"])
    assert "source: out-of-fold training scores (fixture)" in text
    assert "optimistic" in text
    reader_rows = [line for line in text.splitlines() if "DSC without → with model" in line]
    assert len(reader_rows) == 2 and all("simulated" in row for row in reader_rows)


@pytest.mark.parametrize("kind", ["classification", "segonly"])
def test_reproduction_is_only_ever_denied(built, kind):
    for path in ("report.md", "tripod_ai.md"):
        for sentence in re.split(r"(?<=[.;])\s", (built[kind] / path).read_text(encoding="utf-8")):
            if "reproduc" in sentence.lower():
                assert re.search(r"\bnot\b|\bno\b|never", sentence), sentence


def test_segmentation_only_run_has_no_classification_section(built):
    run = built["segonly"]
    text = _text(run)
    assert "**Study mode: segmentation only** (clinical.csv has no diagnosis column)" in \
        "\n".join(text.splitlines()[:12])
    assert "**No clinical baseline:**" in text
    for heading in CLASSIFICATION_HEADINGS:
        assert f"## {heading}" not in text
    assert not set(CLASSIFICATION_KEYS) & set(_summary(run))
    assert "AUC" not in "\n".join(line for line in text.splitlines() if line.startswith("|"))
    assert "axSpA" not in text.split("## Patient flow")[1].split("## Segmentation detail")[0]


def test_report_is_a_function_of_summary_json(built):
    for run in built.values():
        text = render_markdown(_summary(run), load_paper_targets(), run)
        assert text == _text(run)


def test_tripod_items_are_mapped_or_explained(built):
    all_headings = set(CLASSIFICATION_HEADINGS + COMMON_HEADINGS) | {"nnunet-fm study report", "Paper vs this run",
                                                                     "Model explanation (SHAP)"}
    numbers = [item.number for item in TRIPOD_AI_ITEMS]
    assert len(numbers) == len(set(numbers)) >= 45
    for item in TRIPOD_AI_ITEMS:
        assert (item.heading in all_headings) if item.heading else item.reason.strip(), item
    tripod = (built["classification"] / "tripod_ai.md").read_text(encoding="utf-8")
    assert "| 17 | methods: ethics | ethical approval and consent | not answered by the run | synthetic cohort: " \
        in tripod
    assert "| 17 | methods: ethics | ethical approval and consent | not answered by the run | not produced by a " \
        "pipeline run" in (built["segonly"] / "tripod_ai.md").read_text(encoding="utf-8")
    # the fixture runs have no feature study: its SHAP sub-section is absent, everything else is answered
    assert _summary(built["classification"])["tripod_ai"]["absent_in_run"] == ["12g"]
    absent = set(_summary(built["segonly"])["tripod_ai"]["absent_in_run"])
    assert absent == {"12g"} | {i.number for i in TRIPOD_AI_ITEMS if i.heading in CLASSIFICATION_HEADINGS}
    assert "| 12e | methods: analysis | performance measures and their intervals | absent in this run |" in \
        (built["segonly"] / "tripod_ai.md").read_text(encoding="utf-8")


def test_a_section_saying_not_available_does_not_answer_its_items(tmp_path):
    from benchmarks.engine.tripod_ai import render_tripod_ai, tripod_summary

    text = "# nnunet-fm study report: x\n\n## Subgroups\n\nNot available: dataset/cases.csv is absent.\n"
    summary = tripod_summary(text)
    assert "23b" in summary["absent_in_run"] and "1" in summary["answered"]
    assert "section 'Subgroups': Not available: dataset/cases.csv is absent." in render_tripod_ai(text, True)


def test_a_malformed_input_file_leaves_its_section_not_available(tmp_path):
    run = classification_run(tmp_path)
    (run / "dataset" / "ceiling.json").write_text('{"by_set": {"training": {"all": "high"}}}')
    build_report(run, reference_dir=tmp_path / "none")
    assert "## AUC ceiling of the synthetic cohort\n\nNot available: could not be computed from the run's files " \
           "(ValueError" in _text(run)


def test_missing_inputs_give_one_not_available_line_each(tmp_path):
    run = classification_run(tmp_path)
    for name in ("dataset/ceiling.json", "classifier_reference"):
        target = run / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    preds = pd.read_csv(run / "classifier" / "predictions.csv")
    preds[["score_clinical", "score_clinical_imaging"]] = np.nan  # no age/sex: left empty by classify
    preds.to_csv(run / "classifier" / "predictions.csv", index=False)
    build_report(run, reference_dir=tmp_path / "none")
    text = _text(run)
    assert "## AUC ceiling of the synthetic cohort\n\nNot available: dataset/ceiling.json is absent" in text
    assert "## Sensitivity analysis: reference masks\n\nNot available: classifier_reference/predictions.csv" in text
    assert "No ΔAUC against the clinical model: classifier/predictions.csv has no clinical score." in text
    assert "calibration_clinical.png" not in text


def test_perfect_separation_gives_a_calibration_note_not_a_crash(tmp_path):
    run = classification_run(tmp_path)
    preds = pd.read_csv(run / "classifier" / "predictions.csv")
    external = preds["split"] == "external_test"
    preds.loc[external, "score_xgboost"] = 0.2 + 0.6 * preds.loc[external, "label"]
    preds.to_csv(run / "classifier" / "predictions.csv", index=False)
    build_report(run, reference_dir=tmp_path / "none")
    entry = _summary(run)["calibration"]["sets"]["external_test"]["score_xgboost"]
    assert "did not converge" in entry["note"]
    assert "| external test | XGBoost (features of predicted FM) | 18 | calibration: logistic recalibration did not " \
           "converge" in _text(run)


def test_cli_rebuilds_a_run_and_names_a_folder_that_is_not_a_run(tmp_path, caplog):
    from nnunet_fm.cli import main

    run = segmentation_only_run(tmp_path)
    assert main(["report", str(run)]) == 0
    assert (run / "report.md").is_file() and (run / "tripod_ai.md").is_file()
    assert main(["report", str(tmp_path / "nowhere")]) == 1
    assert "is not a benchmark run folder (no config.yaml)" in caplog.text


def test_a_stage_on_a_development_seed_is_never_called_held_out(tmp_path):
    import yaml

    run = segmentation_only_run(tmp_path)
    config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    config["nnunet"] = {"seed": 7}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    build_report(run, reference_dir=tmp_path / "none")
    text = _text(run)
    assert "but these stages ran on development seeds (nnunet 7): this run is not a held-out-seed result" in text
    assert "Nothing was tuned on it" not in text


def test_feature_study_section_is_embedded_when_the_module_exists_and_skipped_otherwise(tmp_path, monkeypatch):
    import benchmarks.engine.report as report

    run = segmentation_only_run(tmp_path)
    build_report(run, reference_dir=tmp_path / "none")
    assert "## Radiomics feature study" in _text(run) and "feature_study" in _summary(run)
    monkeypatch.setattr(report, "_feature_study_module", lambda: None)
    build_report(run, reference_dir=tmp_path / "none")
    assert "Radiomics feature study" not in _text(run) and "feature_study" not in _summary(run)
