"""roc in the study: score checks, left-out baselines, one panel per set, segmentation-only cohorts."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nnunet_fm.cli import main


def _predictions(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in (("training", 60), ("internal_test", 30), ("external_test", 24)):
        for i in range(n):
            label = int(i % 3 != 0)
            rows.append({"case_id": f"{split}_{i}", "split": split, "label": label,
                         "score_xgboost": 1 / (1 + np.exp(-(rng.normal() + 1.5 * label))),
                         "score_fm_volume": np.exp(rng.normal() + 0.5 * label),
                         "score_clinical": 1 / (1 + np.exp(-(rng.normal() * 0.5 + 0.3 * label))),
                         "score_clinical_imaging": 1 / (1 + np.exp(-(rng.normal() + 1.2 * label)))})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _roc(path: Path, out: Path, *scores: str) -> int:
    argv = ["-q", "roc", "--predictions", str(path), "--label", "label", "--group", "split", "--train-group",
            "training", "--positive", "1", "--n-bootstrap", "50", "--seed", "1", "--out", str(out)]
    for score in scores or ("score_xgboost", "score_fm_volume", "score_clinical", "score_clinical_imaging"):
        argv += ["--score", score]
    return main(argv)


def test_three_panels_with_every_baseline(tmp_path):
    import matplotlib.image

    path = _predictions(tmp_path / "p.csv")
    assert _roc(path, tmp_path / "roc") == 0
    stats = json.loads((tmp_path / "roc" / "roc_stats.json").read_text(encoding="utf-8"))
    assert list(stats["groups"]) and set(stats["groups"]) == {"training", "internal_test", "external_test"}
    assert list(stats["groups"]["external_test"]["scores"]) == [
        "score_xgboost", "score_fm_volume", "score_clinical", "score_clinical_imaging"]
    assert stats["scores_left_out"] == {} and stats["score_warnings"] == []
    height, width = matplotlib.image.imread(tmp_path / "roc" / "roc.png").shape[:2]
    assert width > 2.5 * height  # three panels side by side
    svg = (tmp_path / "roc" / "roc.svg").read_text(encoding="utf-8")
    for text in ("Training (out-of-fold)", "Internal test", "External test", "Clinical + imaging", "FM volume"):
        assert text in svg


def test_empty_baseline_is_left_out_and_named(tmp_path, caplog):
    frame = pd.read_csv(_predictions(tmp_path / "p.csv"))
    frame["score_clinical"] = np.nan
    frame.loc[3, "score_clinical_imaging"] = np.nan
    frame.to_csv(tmp_path / "p.csv", index=False)
    with caplog.at_level(logging.WARNING):
        assert _roc(tmp_path / "p.csv", tmp_path / "roc") == 0
    stats = json.loads((tmp_path / "roc" / "roc_stats.json").read_text(encoding="utf-8"))
    assert set(stats["scores_left_out"]) == {"score_clinical", "score_clinical_imaging"}
    assert "empty for 1 of 114 cases (training_3)" in stats["scores_left_out"]["score_clinical_imaging"]
    assert list(stats["groups"]["training"]["scores"]) == ["score_xgboost", "score_fm_volume"]
    assert "score_clinical" in caplog.text


@pytest.mark.parametrize("change, message", [
    (lambda f: f.__setitem__("score_fm_volume", f["score_fm_volume"].where(f.index != 5, np.inf)), "non-finite"),
    (lambda f: f.__setitem__("case_id", f["case_id"].where(f.index != 7, f.loc[6, "case_id"])), "more than once"),
])
def test_infinite_scores_and_repeated_ids_are_refused(tmp_path, caplog, change, message):
    frame = pd.read_csv(_predictions(tmp_path / "p.csv"))
    change(frame)
    frame.to_csv(tmp_path / "p.csv", index=False)
    with caplog.at_level(logging.ERROR):
        assert _roc(tmp_path / "p.csv", tmp_path / "roc") == 1
    assert message in caplog.text
    assert not (tmp_path / "roc" / "roc_stats.json").exists()


def test_constant_score_is_analysed_with_a_visible_warning(tmp_path, caplog):
    frame = pd.read_csv(_predictions(tmp_path / "p.csv"))
    frame["score_clinical"] = 0.5
    frame.to_csv(tmp_path / "p.csv", index=False)
    with caplog.at_level(logging.WARNING):
        assert _roc(tmp_path / "p.csv", tmp_path / "roc") == 0
    stats = json.loads((tmp_path / "roc" / "roc_stats.json").read_text(encoding="utf-8"))
    assert len(stats["score_warnings"]) == 1 and "constant" in stats["score_warnings"][0]
    assert "constant" in caplog.text
    assert stats["groups"]["internal_test"]["scores"]["score_clinical"]["auc"] == 0.5


def test_study_stage_scores_and_segmentation_only(tmp_path, monkeypatch):
    from benchmarks.engine.study import RunPaths
    from dataset_conversion import study_design
    from nnunet_fm.cli import roc
    from nnunet_fm.config import RunConfig

    mode = {"value": study_design.CLASSIFICATION}
    seen = []
    monkeypatch.setattr(study_design, "study_mode_of_cohort", lambda cohort: seen.append(cohort) or mode["value"],
                        raising=False)
    config, paths = RunConfig(data_dir=str(tmp_path / "cohort")), RunPaths(tmp_path / "run", tmp_path / "work")
    argv = roc.study_stage(config, paths).commands[0]
    scores = [argv[i + 1] for i, a in enumerate(argv) if a == "--score"]
    assert scores == ["score_xgboost", "score_fm_volume", "score_clinical", "score_clinical_imaging"]
    assert seen and seen[0] == tmp_path / "cohort"
    n_calls = len(seen)  # synthetic cohorts: classification without asking clinical.csv
    assert roc.study_stage(RunConfig(), paths) is not None and len(seen) == n_calls
    mode["value"] = study_design.SEGMENTATION_ONLY
    assert roc.study_stage(config, paths) is None
