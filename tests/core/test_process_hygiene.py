"""Workers die with their parent; SIGTERM cleans up like Ctrl-C (issue 14, group 8)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, sys, time
from pathlib import Path
from nnunet_fm.atomic import atomic_dir
from nnunet_fm.parallel import map_with_progress
from nnunet_fm.process_hygiene import Terminated, sigterm_raises_interrupt

def work(i):
    Path(sys.argv[1], f"worker_{os.getpid()}").touch()
    time.sleep(120)

if __name__ == "__main__":
    try:
        with sigterm_raises_interrupt(), atomic_dir(Path(sys.argv[2]) / "dataset"):
            map_with_progress(work, list(range(4)), jobs=2, progress=False)
    except Terminated:
        sys.exit(143)
"""


def wait_for(condition, seconds: float = 30.0) -> bool:
    """Poll ``condition`` until true or the deadline passes (not a timing assert)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # an unreaped zombie does no work


def start(tmp_path: Path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    pids, out = tmp_path / "pids", tmp_path / "out"
    pids.mkdir()
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    parent = subprocess.Popen([sys.executable, str(script), str(pids), str(out)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert wait_for(lambda: len(list(pids.iterdir())) == 2), parent.stderr.read() if parent.poll() else "no workers"
    workers = [int(p.name.split("_")[1]) for p in pids.iterdir()]
    assert all(running(w) for w in workers)
    return parent, workers, out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_workers_die_when_the_parent_is_killed(tmp_path):
    parent, workers, _ = start(tmp_path)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    try:
        assert wait_for(lambda: not any(running(w) for w in workers)), "orphaned workers kept running"
    finally:
        for w in workers:
            if running(w):
                os.kill(w, signal.SIGKILL)


def test_sigterm_stops_workers_and_removes_the_partial_folder(tmp_path):
    parent, workers, out = start(tmp_path)
    assert len(list(out.glob(".dataset.*.partial"))) == 1
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=60) == 143
    try:
        assert wait_for(lambda: not any(running(w) for w in workers))
    finally:
        for w in workers:
            if running(w):
                os.kill(w, signal.SIGKILL)
    assert list(out.iterdir()) == []


def test_sigterm_handler_is_restored():
    from nnunet_fm.process_hygiene import sigterm_raises_interrupt

    before = signal.getsignal(signal.SIGTERM)
    with sigterm_raises_interrupt():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
