from __future__ import annotations

import functools
import json

import pytest

from benchmarks.stage_runner import Stage, StageFailedError, run_stages
from tests.benchmarks import stage_steps


def _stage(name, tmp_path, fail_flag=None):
    out = tmp_path / f"{name}.out"
    steps = [functools.partial(stage_steps.append_line, str(tmp_path / "log.txt"), name)]
    if fail_flag is not None:
        steps.append(functools.partial(stage_steps.fail_if_missing, str(fail_flag)))
    steps.append(functools.partial(stage_steps.write_file, str(out), name))
    return Stage(name, outputs=(out,), python_steps=tuple(steps))


def test_resume_after_a_failed_stage_runs_only_unfinished_stages(tmp_path):
    flag = tmp_path / "fixed"
    stages = [_stage("a", tmp_path), _stage("b", tmp_path, fail_flag=flag), _stage("c", tmp_path)]
    state_file = tmp_path / "stages.json"
    with pytest.raises(StageFailedError, match="stage b failed: RuntimeError: simulated crash"):
        run_stages(stages, state_file)
    state = json.loads(state_file.read_text())
    assert state["stages"]["a"]["done"] is True and state["stages"]["b"]["done"] is False
    assert not (tmp_path / "c.out").exists()
    flag.write_text("")
    state = run_stages(stages, state_file)
    # a ran once, b twice (failed + resumed), c once
    assert (tmp_path / "log.txt").read_text().split() == ["a", "b", "b", "c"]
    assert all(state["stages"][s]["done"] for s in "abc")
    assert state["stages"]["c"]["peak_memory_mb"] > 1.0 and state["stages"]["c"]["time_s"] >= 0


def test_a_done_stage_whose_output_vanished_is_rerun(tmp_path):
    stages = [_stage("a", tmp_path), _stage("b", tmp_path)]
    state_file = tmp_path / "stages.json"
    run_stages(stages, state_file)
    (tmp_path / "b.out").unlink()
    run_stages(stages, state_file)
    assert (tmp_path / "log.txt").read_text().split() == ["a", "b", "b"]


def test_failing_cli_command_fails_the_stage(tmp_path):
    stage = Stage("bad", commands=(("report", str(tmp_path / "not-a-run")),))
    with pytest.raises(StageFailedError, match="exited with 1"):
        run_stages([stage], tmp_path / "stages.json")


def test_duplicate_stage_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="duplicate"):
        run_stages([Stage("a"), Stage("a")], tmp_path / "stages.json")
