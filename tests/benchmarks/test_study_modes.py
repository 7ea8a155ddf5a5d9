"""Segmentation-only cohorts: the study skips classification and ROC and says why in stages.json."""

from __future__ import annotations

import json

import pytest

from benchmarks.engine.stage_runner import Stage, run_stages
from benchmarks.engine.study import run_paths
from dataset_conversion.study_design import CLASSIFICATION, SEGMENTATION_ONLY, study_mode_of_cohort
from nnunet_fm.cli.pipeline import CLASSIFICATION_VERBS, build_stages
from nnunet_fm.config import dump_yaml, load_run_config

HEADER = "patient_id,center,image,mask"


def _cohort(tmp_path, header: str, rows: list[str]):
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    (cohort / "clinical.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return cohort


@pytest.mark.parametrize(("header", "rows", "mode"), [
    (HEADER, ["P1,1,a.nii.gz,m.nii.gz", "P2,1,b.nii.gz,n.nii.gz"], SEGMENTATION_ONLY),           # no column
    (HEADER + ",diagnosis", ["P1,1,a,m,", "P2,1,b,n,"], SEGMENTATION_ONLY),                        # empty column
    (HEADER + ",diagnosis", ["P1,1,a,m,axSpA", "P2,1,b,n,AXSPA"], SEGMENTATION_ONLY),              # one class
    (HEADER + ",diagnosis", ["P1,1,a,m,axSpA", "P2,1,b,n,non-axSpA"], CLASSIFICATION),
])
def test_study_mode_is_read_from_the_diagnosis_column(tmp_path, header, rows, mode):
    assert study_mode_of_cohort(_cohort(tmp_path, header, rows)) == mode


def test_synthetic_and_not_yet_written_cohorts_are_classification(tmp_path):
    assert study_mode_of_cohort(None) == CLASSIFICATION
    assert study_mode_of_cohort(tmp_path / "absent") == CLASSIFICATION


def _stages(tmp_path, data_dir):
    config = load_run_config(None, {"data_dir": str(data_dir)})
    paths = run_paths(config, tmp_path)
    paths.run_dir.mkdir(parents=True)
    paths.config_file.write_text(dump_yaml(config), encoding="utf-8")
    return build_stages(config, paths)


def test_a_segmentation_only_cohort_skips_classification_and_roc_with_the_reason(tmp_path):
    cohort = _cohort(tmp_path, HEADER, ["P1,1,a.nii.gz,m.nii.gz"])
    stages = {s.name: s for s in _stages(tmp_path, cohort)}
    for verb in CLASSIFICATION_VERBS:
        assert stages[verb].skip_reason.startswith("segmentation-only study: clinical.csv has no diagnosis column")
        assert not stages[verb].commands
    for name in ("convert", "train", "predict"):
        assert stages[name].skip_reason is None and stages[name].commands
    assert stages["synth"].skip_reason and stages["reader_study"].skip_reason  # user data


def test_a_classification_cohort_runs_classify_and_roc(tmp_path):
    cohort = _cohort(tmp_path, HEADER + ",diagnosis", ["P1,1,a,m,axSpA", "P2,1,b,n,non-axSpA"])
    stages = {s.name: s for s in _stages(tmp_path, cohort)}
    assert all(stages[v].skip_reason is None and stages[v].commands for v in CLASSIFICATION_VERBS)


def test_skipped_stages_are_recorded_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    stages = [Stage("classify", skip_reason="segmentation-only study: no diagnosis"),
              Stage("roc", commands=(("touch", str(marker)),), skip_reason="segmentation-only study: no diagnosis")]
    state = run_stages(stages, tmp_path / "stages.json", entry_point=_refuse)
    recorded = json.loads((tmp_path / "stages.json").read_text(encoding="utf-8"))["stages"]
    assert recorded["classify"] == {"done": True, "skipped": True, "reason": "segmentation-only study: no diagnosis"}
    assert state["stages"]["roc"]["skipped"] and not marker.exists()


def _refuse(argv):  # a skipped stage must never reach the entry point
    raise AssertionError(f"ran {argv}")
