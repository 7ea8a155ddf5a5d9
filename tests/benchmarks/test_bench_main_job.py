"""bench_main_job reads a finished run's stages.json; numbers checked against hand sums."""

from __future__ import annotations

import json

import pytest

from benchmarks.bench_main_job import RunFolderError, build_report, main, read_stages, summarize


def _write_run(folder, stages):
    folder.mkdir(parents=True)
    (folder / "stages.json").write_text(json.dumps({"stages": stages}))
    return folder


STAGES = {
    "convert": {"done": True, "time_s": 20.0, "cpu_s": 30.0, "peak_memory_mb": 400.0},
    "train": {"done": True, "time_s": 500.0, "cpu_s": 990.0, "peak_memory_mb": 1500.0},
    "predict": {"done": True, "time_s": 150.0, "cpu_s": 280.0, "peak_memory_mb": 700.0},
}


def test_totals_and_targets(tmp_path):
    report = build_report(_write_run(tmp_path / "run", STAGES))
    current = report["current"]
    assert current["total_wall_s"] == 670.0 and current["total_cpu_s"] == 1300.0
    assert current["peak_memory_mb"] == 1500.0
    assert current["meets_wall_target"] is True and current["meets_memory_target"] is True
    assert current["stages"]["train"] == {"done": True, "wall_s": 500.0, "cpu_s": 990.0, "peak_memory_mb": 1500.0}


def test_baseline_ratio_and_missing_cpu(tmp_path):
    old = {"convert": {"done": True, "time_s": 40.0, "peak_memory_mb": 300.0},
           "train": {"done": True, "time_s": 1000.0, "peak_memory_mb": 1400.0},
           "predict": {"done": True, "time_s": 300.0, "peak_memory_mb": 600.0}}
    report = build_report(_write_run(tmp_path / "new", STAGES), _write_run(tmp_path / "old", old))
    assert report["baseline"]["total_cpu_s"] is None  # old stage runner: no CPU times recorded
    assert report["baseline"]["meets_wall_target"] is False  # 22.3 min
    assert report["comparison"]["total_wall_ratio"] == pytest.approx(670 / 1340, abs=1e-3)
    assert report["comparison"]["wall_ratio_per_stage"]["train"] == 0.5


def test_unfinished_run_is_flagged(tmp_path):
    stages = dict(STAGES, features={"done": False, "error": "boom", "time_s": 3.0})
    current = summarize(stages)
    assert current["complete"] is False and current["unfinished_stages"] == ["features"]
    assert current["meets_wall_target"] is None and current["total_wall_s"] == 670.0


def test_missing_or_bad_stages_file(tmp_path):
    with pytest.raises(RunFolderError, match="stages.json is missing"):
        read_stages(tmp_path)
    (tmp_path / "stages.json").write_text("[1, 2]")
    with pytest.raises(RunFolderError, match="not a stages record"):
        read_stages(tmp_path)
    assert main(["--run", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.json")]) == 2
    assert not (tmp_path / "x.json").exists()
