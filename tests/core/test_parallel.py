"""The one pool helper: order, spawn workers, first failure named and the pool stopped."""

from __future__ import annotations

import logging
import multiprocessing
import os
from pathlib import Path

import pytest

from nnunet_fm.parallel import map_with_progress


def square(x: int) -> int:
    return x * x


def start_method(_: int) -> str:
    return multiprocessing.get_start_method()


def fail_on_three(task: tuple) -> str:
    case_id, marker_dir = task
    if case_id == "case3":
        raise ValueError("bad voxel spacing")
    Path(marker_dir, case_id).write_text("done")
    return case_id


def set_flag(value: str) -> None:
    os.environ["NNUNET_FM_TEST_INIT"] = value


def read_flag(_: int) -> str:
    return os.environ.get("NNUNET_FM_TEST_INIT", "")


@pytest.mark.parametrize("jobs", [1, 2])
def test_results_keep_task_order(jobs):
    assert map_with_progress(square, list(range(7)), jobs=jobs, progress=False) == [x * x for x in range(7)]


def test_workers_are_spawned_and_run_the_initializer():
    assert map_with_progress(start_method, [0, 1], jobs=2, progress=False) == ["spawn", "spawn"]
    assert map_with_progress(read_flag, [0, 1], jobs=2, progress=False, initializer=set_flag,
                             initargs=("on",)) == ["on", "on"]



def test_in_process_run_does_not_run_the_initializer_here(monkeypatch):
    monkeypatch.delenv("NNUNET_FM_TEST_INIT", raising=False)
    # jobs=1, and jobs=2 capped to one task, run in this process: a worker initializer would leak
    for jobs in (1, 2):
        assert map_with_progress(read_flag, [0], jobs=jobs, progress=False, initializer=set_flag,
                                 initargs=("on",)) == [""]
        assert "NNUNET_FM_TEST_INIT" not in os.environ


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failing_item_is_named_and_raised_unchanged(tmp_path, caplog, jobs):
    tasks = [(f"case{i}", str(tmp_path)) for i in range(6)]
    with caplog.at_level(logging.ERROR, logger="nnunet_fm"), pytest.raises(ValueError, match="bad voxel spacing") as info:
        map_with_progress(fail_on_three, tasks, jobs=jobs, desc="features", progress=False)
    assert "features: failed item case3" in info.value.__notes__
    assert "case3 failed: ValueError: bad voxel spacing" in caplog.text
    if jobs == 1:  # in process the items after the failure never start
        assert sorted(p.name for p in tmp_path.iterdir()) == ["case0", "case1", "case2"]


def test_jobs_below_one_is_refused():
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        map_with_progress(square, [1], jobs=0)


def slow_unless_first(x: int) -> int:
    import time

    if x != 0:
        time.sleep(2)
    return x


@pytest.mark.parametrize("jobs", [1, 2])
def test_stop_when_cancels_the_queue_and_returns_what_finished(jobs):
    results = map_with_progress(slow_unless_first if jobs == 2 else square, [0, 1, 2, 3, 4, 5], jobs=jobs,
                                progress=False, stop_when=lambda r: r == 0)
    assert results[0] == 0 and len(results) < 6
