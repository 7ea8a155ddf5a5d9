from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from benchmarks.engine.stage_runner import Stage, StageFailedError, run_stages
from nnunet_fm.cli import main
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
    state = json.loads(state_file.read_text(encoding="utf-8"))
    assert state["stages"]["a"]["done"] is True and state["stages"]["b"]["done"] is False
    assert not (tmp_path / "c.out").exists()
    flag.write_text("")
    state = run_stages(stages, state_file)
    # a ran once, b twice (failed + resumed), c once
    assert (tmp_path / "log.txt").read_text(encoding="utf-8").split() == ["a", "b", "b", "c"]
    assert all(state["stages"][s]["done"] for s in "abc")
    assert state["stages"]["c"]["peak_memory_mb"] > 1.0 and state["stages"]["c"]["time_s"] >= 0
    assert state["stages"]["c"]["cpu_s"] > 0  # the child at least imported the package


def test_a_done_stage_whose_output_vanished_is_rerun(tmp_path):
    stages = [_stage("a", tmp_path), _stage("b", tmp_path)]
    state_file = tmp_path / "stages.json"
    run_stages(stages, state_file)
    (tmp_path / "b.out").unlink()
    run_stages(stages, state_file)
    assert (tmp_path / "log.txt").read_text(encoding="utf-8").split() == ["a", "b", "b"]


def test_failing_cli_command_fails_the_stage(tmp_path):
    stage = Stage("bad", commands=(("report", str(tmp_path / "not-a-run")),))
    with pytest.raises(StageFailedError, match="exited with 1"):
        run_stages([stage], tmp_path / "stages.json", entry_point=main)


def test_commands_without_an_entry_point_are_refused(tmp_path):
    with pytest.raises(ValueError, match="entry_point"):
        run_stages([Stage("a", commands=(("report", "x"),))], tmp_path / "stages.json")


def test_duplicate_stage_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="duplicate"):
        run_stages([Stage("a"), Stage("a")], tmp_path / "stages.json")


def test_kill_minus_9_mid_stage_then_rerun_resumes(tmp_path):
    """SIGKILL the runner and its stage child; the rerun skips the finished stage only."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    script = tmp_path / "pipeline.py"
    script.write_text(textwrap.dedent(f"""
        import functools, sys
        from benchmarks.engine.stage_runner import Stage, run_stages
        from tests.benchmarks import stage_steps as s
        T = {str(tmp_path)!r}
        def stages(sleep):
            return [
                Stage("a", outputs=(T + "/a.out",), python_steps=(
                    functools.partial(s.append_line, T + "/log.txt", "a"),
                    functools.partial(s.write_file, T + "/a.out", "a"))),
                Stage("b", outputs=(T + "/b.out",), python_steps=(
                    functools.partial(s.append_line, T + "/log.txt", "b"),
                    functools.partial(s.mark_then_sleep, T + "/b.started", sleep),
                    functools.partial(s.write_file, T + "/b.out", "b"))),
            ]
        if __name__ == "__main__":
            run_stages(stages(float(sys.argv[1])), __import__("pathlib").Path(T) / "stages.json")
    """))
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root}
    proc = subprocess.Popen([sys.executable, str(script), "60"], cwd=root, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (tmp_path / "b.started").exists():
        assert time.time() < deadline, "stage b never started"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # kill -9 the runner and the stage child together
    proc.wait(timeout=30)
    assert not (tmp_path / "b.out").exists()
    subprocess.run([sys.executable, str(script), "0"], cwd=root, env=env, check=True, timeout=120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert (tmp_path / "log.txt").read_text(encoding="utf-8").split() == ["a", "b", "b"]
    state = json.loads((tmp_path / "stages.json").read_text(encoding="utf-8"))
    assert state["stages"]["a"]["done"] and state["stages"]["b"]["done"]


def test_stages_after_a_rerun_stage_run_again(tmp_path):
    stages = [_stage("a", tmp_path), _stage("b", tmp_path), _stage("c", tmp_path)]
    state_file = tmp_path / "stages.json"
    run_stages(stages, state_file)
    (tmp_path / "a.out").unlink()
    run_stages(stages, state_file)
    assert (tmp_path / "log.txt").read_text(encoding="utf-8").split() == ["a", "b", "c", "a", "b", "c"]
