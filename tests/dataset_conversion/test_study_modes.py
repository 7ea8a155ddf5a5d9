"""Prediction sets a cohort will have, read cheaply from its clinical.csv."""

from __future__ import annotations

import pytest

from dataset_conversion.study_design import prediction_sets_of_cohort


def _sheet(tmp_path, text):
    (tmp_path / "clinical.csv").write_text(text, encoding="utf-8")
    return tmp_path


def test_synthetic_and_unreadable_cohorts_have_every_set(tmp_path):
    assert prediction_sets_of_cohort(None) == ("oof", "internal_test", "external_test")
    assert prediction_sets_of_cohort(tmp_path / "missing") == ("oof", "internal_test", "external_test")


@pytest.mark.parametrize("text, expected", [
    ("patient_id,center,set,image,mask\n1,1,train,a,b\n2,1,train,a,b\n", ("oof",)),
    ("patient_id,center,set,image,mask\n1,1,train,a,b\n2,1,internal_test,a,b\n", ("oof", "internal_test")),
    ("patient_id,center,set,image,mask\n1,1,train,a,b\n2,2,external_test,a,b\n", ("oof", "external_test")),
    ("patient_id,center,image,mask\n1,1,a,b\n2,1,a,b\n", ("oof", "internal_test")),
    ("patient_id,center,image,mask\n1,1,a,b\n2,2,a,b\n", ("oof", "internal_test", "external_test")),
])
def test_sets_follow_the_set_column_or_the_centres(tmp_path, text, expected):
    assert prediction_sets_of_cohort(_sheet(tmp_path, text)) == expected


def test_study_stages_only_cover_the_sets_a_train_only_cohort_has(tmp_path):
    from benchmarks.engine.study import run_paths
    from nnunet_fm.cli.pipeline import build_stages
    from nnunet_fm.config import load_run_config

    cohort = _sheet(tmp_path / "cohort" if (tmp_path / "cohort").mkdir() is None else tmp_path,
                    "patient_id,center,set,image,mask\n1,1,train,a,b\n2,1,train,a,b\n")
    config = load_run_config(None, {"data_dir": str(cohort), "out_dir": str(tmp_path / "out"),
                                    "work_dir": str(tmp_path / "work")})
    stages = {s.name: s for s in build_stages(config, run_paths(config, tmp_path))}
    predict_argv = stages["predict"].commands[0]
    assert predict_argv[predict_argv.index("--sets") + 1:predict_argv.index("--config")] == ("oof",)
    assert [p.name for p in stages["predict"].outputs] == ["oof"]
    assert len(stages["evaluate_segmentation"].commands) == 1
    assert {p.name for p in stages["features"].outputs} == {"oof.csv", "reference_oof.csv"}
    assert "classify" not in stages or stages["classify"].skip_reason  # no diagnosis: segmentation-only
