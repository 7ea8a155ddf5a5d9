"""A tiny whole-study run in the normal suite: every stage for real, on CPU.

Tiny means: synthetic cohort at scale 0.02 (19 patients), 2 CV folds, nnU-Net's quick
plan trained for 1 epoch of 2 iterations per fold, first-order radiomics only, 200
bootstrap resamples. The numbers
are meaningless; the test checks that every stage runs, writes what the next stage and
the report need, resumes, and that the report is rebuilt from files alone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nnunet_fm.cli import main

CONFIG = """
name: tiny
out_dir: {root}/results
work_dir: {root}/work
synth: {{scale: 0.02, seed: 7, jobs: 2}}
conversion: {{n_folds: 2, seed: 7}}
nnunet: {{profile: quick, folds: [0, 1], num_epochs: 1, iterations_per_epoch: 2, seed: 7}}
features: {{jobs: 2, params_file: {fast_params}}}
classifier: {{inner_cv_folds: 2, n_iter: 2, max_features: 5, seed: 7}}
stats: {{n_bootstrap: 200, seed: 7}}
reader_study: {{seed: 7}}
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    config = root / "tiny.yaml"
    # first-order radiomics only: an under-trained model's large masks make pyradiomics'
    # 3-D shape class take minutes per case
    fast_params = Path(__file__).resolve().parents[2] / "classifiers" / "radiomics_fm_t1_fast.yaml"
    config.write_text(CONFIG.format(root=root, fast_params=fast_params))
    assert main(["benchmark", "--config", str(config)]) == 0
    return root, config, root / "results" / "tiny"


def test_every_stage_ran_and_recorded_time_and_memory(tiny_run):
    _, _, run = tiny_run
    stages = json.loads((run / "stages.json").read_text(encoding="utf-8"))["stages"]
    assert list(stages) == ["synth", "convert", "train", "predict", "evaluate_segmentation", "features",
                            "classify", "roc", "feature_study", "reader_study", "report"]
    for name, record in stages.items():
        assert record["done"] is True, name
        assert record["time_s"] > 0 and record["peak_memory_mb"] > 10, name
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert list(summary["stages"]) == list(stages)[:-1]  # the report does not time itself
    for path in ("config.yaml", "provenance.json", "roc/roc.png", "roc/roc.svg", "dsc_distribution.png",
                 "segmentation/oof.csv", "classifier/predictions.csv", "reader_study/reader_study.json"):
        assert (run / path).is_file(), path


def test_summary_names_the_data_and_holds_the_headline_figures(tiny_run):
    _, _, run = tiny_run
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["synthetic"] is True
    assert summary["data_source"] == "synthetic two-center SIJ phantom cohort (scale 0.02, seed 7)"
    cv = summary["segmentation"]["oof"]["cross_validation"]
    assert cv["n_folds"] == 2 and cv["n_cases"] >= 10 and 0 <= cv["mean_dice"] <= 1
    for group in ("training", "internal_test", "external_test"):
        auc = summary["classification"][group]["score_xgboost"]["auc"]
        assert 0 <= auc <= 1, group
    assert summary["reader_study"]["simulated"] is True
    assert set(summary["reader_study"]["readers"]) == {"resident_unassisted", "resident_assisted",
                                                       "expert_unassisted", "expert_assisted"}
    provenance = json.loads((run / "provenance.json").read_text(encoding="utf-8"))
    assert provenance["seeds"]["nnunet"] == 7 and provenance["versions"]["nnunetv2"] == "2.8.1"
    assert provenance["seeds"]["report"] == 31415 and provenance["seeds"]["uses_report_seed"] is False
    assert json.loads((run / "reader_study" / "reader_study.json").read_text(encoding="utf-8"))["simulated"] is True


def test_the_run_folder_holds_the_dataset_tables_and_the_ceiling(tiny_run):
    root, _, run = tiny_run
    dataset = root / "work" / "tiny" / "nnUNet_raw" / "Dataset501_SIJFM"
    for name in ("cases.csv", "dataset_meta.json"):
        assert (run / "dataset" / name).read_bytes() == (dataset / name).read_bytes(), name
    ceiling = json.loads((run / "dataset" / "ceiling.json").read_text(encoding="utf-8"))
    assert set(ceiling["by_set"]) == {"training", "internal_test", "external_test"}
    assert 0.5 < ceiling["model"]["all"] < 1
    assert sum(entry["n"] for entry in ceiling["by_set"].values()) == len((dataset / "cases.csv").read_text(encoding="utf-8").splitlines()) - 1


def test_report_table_is_complete_and_labelled_synthetic(tiny_run):
    _, _, run = tiny_run
    report = (run / "report.md").read_text(encoding="utf-8")
    assert "**Synthetic data.**" in report and "simulated" in report
    assert "## Paper vs this run — data: synthetic two-center SIJ phantom cohort (scale 0.02, seed 7)" in report
    table = report.split("## Paper vs this run")[1].split("\n\n")[1]
    rows = [r for r in table.splitlines() if r.startswith("| ") and not r.startswith("| metric")]
    assert len(rows) == 7
    for row in rows:
        assert "not run" not in row and "nan" not in row.lower(), row
    assert "81.86% ± 1.55%" in report and "0.876 (95% CI 0.811–0.942)" in report


def test_rerun_resumes_after_an_interrupted_stage_with_identical_tables(tiny_run):
    _, config, run = tiny_run
    before = {p: (run / p).read_bytes() for p in ("classifier/predictions.csv", "roc/roc_stats.json",
                                                   "segmentation/oof.csv")}
    state_file = run / "stages.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    state["stages"]["classify"]["done"] = False  # as if interrupted during classify
    state_file.write_text(json.dumps(state))
    shutil.rmtree(run / "classifier")
    assert main(["benchmark", "--config", str(config)]) == 0
    after = json.loads(state_file.read_text(encoding="utf-8"))["stages"]
    assert after["train"] == state["stages"]["train"]  # not rerun
    assert after["classify"]["done"] is True
    for path, content in before.items():
        assert (run / path).read_bytes() == content, path


def test_report_is_rebuilt_from_the_result_files_alone(tiny_run, tmp_path):
    root, _, run = tiny_run
    copy = tmp_path / "tiny"
    shutil.copytree(run, copy)  # no work folder, no images: only the run's CSV/JSON files
    original = (copy / "report.md").read_text(encoding="utf-8")
    (copy / "report.md").unlink()
    (copy / "summary.json").unlink()
    assert main(["report", str(copy)]) == 0
    assert (copy / "report.md").read_text(encoding="utf-8") == original
    assert json.loads((copy / "summary.json").read_text(encoding="utf-8")) == json.loads((run / "summary.json").read_text(encoding="utf-8"))


def test_a_changed_config_is_refused_for_the_same_run_name(tiny_run):
    _, config, _ = tiny_run
    assert main(["benchmark", "--config", str(config), "--seed", "8"]) == 1


def test_run_outputs_record_no_absolute_path(tiny_run):
    """Results are portable: no JSON or Markdown of the run names a folder of this machine."""
    root, _, run = tiny_run

    def strings(value):
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return [value] if isinstance(value, str) else []

    files = sorted(run.rglob("*.json")) + sorted(run.rglob("*.md"))
    assert any(p.name == "summary.json" for p in files) and any(p.name == "roc_stats.json" for p in files)
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert str(root) not in text, f"{path.relative_to(run)} records the machine path {root}"
        if path.suffix == ".json":
            absolute = [s for s in strings(json.loads(text)) if s.startswith("/")]
            assert not absolute, f"{path.relative_to(run)} records absolute path(s) {absolute[:3]}"
