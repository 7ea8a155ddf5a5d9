"""Run pipeline stages in fresh processes, record completion, time and peak memory.

Each stage is a list of command lines executed by an entry point the caller passes in
(the ``nnunet-fm`` CLI's ``main``; this module never imports the CLI) in a spawned child
process, so stages meet only through files
(the design rule), a crash or ``kill -9`` of one stage never corrupts another, and the
child's peak resident memory is the stage's peak memory.

A stage is complete when ``stages.json`` records it as done *and* every output it
declares exists; rerunning resumes at the first stage that is not complete and runs
every stage after it again (their inputs may have changed).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

LOG = logging.getLogger(__name__)


class StageFailedError(RuntimeError):
    """A stage's command exited non-zero or raised."""


@dataclass(frozen=True)
class Stage:
    """One pipeline stage.

    Attributes:
        name: Stage name (unique within a run).
        commands: Argument lists for the entry point, run in order in one child process.
        outputs: Paths that must exist once the stage has finished.
        python_steps: Optional picklable callables taking no arguments, run in the child
            before the commands (file-to-file glue; bind arguments with ``functools.partial``).
        skip_reason: When set, the stage does not apply to this run (e.g. classification in
            a segmentation-only study): nothing runs and ``stages.json`` records it as
            skipped with this reason.
    """

    name: str
    commands: tuple[tuple[str, ...], ...] = ()
    outputs: tuple[Path, ...] = ()
    python_steps: tuple[Callable[[], None], ...] = field(default=())
    skip_reason: Optional[str] = None


def _peak_rss_mb() -> float:
    """Peak resident memory of this process and its waited-for children (MiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0  # ru_maxrss is KiB on Linux


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its waited-for children (s)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


#: An entry point: argument list -> exit code (0 = success), e.g. ``nnunet_fm.cli.main``.
EntryPoint = Callable[[Sequence[str]], int]


def _stage_child(stage: Stage, result_file: str, verbosity: Sequence[str], entry_point: Optional[EntryPoint]) -> None:
    """Body of the child process: run the stage, write its result record."""
    from nnunet_fm.atomic import write_json

    record = {"ok": False, "error": None}
    try:
        for step in stage.python_steps:
            step()
        for argv in stage.commands:
            code = entry_point([*verbosity, *argv])
            if code != 0:
                raise StageFailedError(f"`{' '.join(argv)}` exited with {code}")
        record["ok"] = True
    except BaseException as exc:  # the parent reports it; the child must not hang
        record["error"] = f"{type(exc).__name__}: {exc}"
    record["peak_memory_mb"] = _peak_rss_mb()
    record["cpu_s"] = _cpu_seconds()
    write_json(result_file, record)


def load_state(state_file: Path) -> dict:
    """Stage records of a run (empty if none yet)."""
    if not state_file.exists():
        return {"stages": {}}
    return json.loads(state_file.read_text(encoding="utf-8"))


def stage_is_complete(stage: Stage, state: dict) -> bool:
    """True if the stage was recorded done and all its outputs still exist."""
    record = state.get("stages", {}).get(stage.name, {})
    return bool(record.get("done")) and all(Path(p).exists() for p in stage.outputs)


def run_stages(
    stages: Sequence[Stage],
    state_file: Path,
    verbosity: Sequence[str] = (),
    on_stage_start: Optional[Callable[[Stage], None]] = None,
    entry_point: Optional[EntryPoint] = None,
) -> dict:
    """Run stages in order, skipping complete ones; return the updated state.

    Args:
        stages: The pipeline.
        state_file: ``stages.json`` recording per-stage completion, time and memory.
        verbosity: Leading CLI flags passed to every command (e.g. ``("-q",)``).
        on_stage_start: Optional callback (progress display).
        entry_point: Picklable top-level function that runs one command line in the
            stage child (required when a stage has commands).

    Raises:
        StageFailedError: The first stage that fails; earlier stages stay recorded.
    """
    from tqdm import tqdm

    from nnunet_fm.atomic import write_json

    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate stage names in {names}")
    if entry_point is None and any(s.commands for s in stages):
        raise ValueError("stages with commands need an entry_point (e.g. nnunet_fm.cli.main)")
    state = load_state(state_file)
    state.setdefault("stages", {})
    ctx = multiprocessing.get_context("spawn")
    bar = tqdm(stages, desc="study", unit="stage", position=0, leave=True)
    upstream_ran = False  # once a stage runs, every later stage must run on its new outputs
    for stage in bar:
        bar.set_postfix_str(stage.name)
        if stage.skip_reason is not None:  # recorded, never run; later stages do not depend on it
            state["stages"][stage.name] = {"done": True, "skipped": True, "reason": stage.skip_reason}
            write_json(state_file, state)
            LOG.info("stage %s: skipped (%s)", stage.name, stage.skip_reason)
            continue
        if not upstream_ran and stage_is_complete(stage, state):
            LOG.info("stage %s: already complete, skipped", stage.name)
            continue
        upstream_ran = True
        if on_stage_start is not None:
            on_stage_start(stage)
        LOG.info("stage %s: running", stage.name)
        result_file = state_file.with_name(f".{stage.name}.result.json")
        result_file.unlink(missing_ok=True)
        start = time.perf_counter()
        child = ctx.Process(target=_stage_child, args=(stage, str(result_file), tuple(verbosity), entry_point), name=f"stage-{stage.name}")
        child.start()
        child.join()
        elapsed = time.perf_counter() - start
        result = json.loads(result_file.read_text(encoding="utf-8")) if result_file.exists() else {}
        result_file.unlink(missing_ok=True)
        if not result.get("ok"):
            error = result.get("error") or f"stage process exited with code {child.exitcode}"
            state["stages"][stage.name] = {"done": False, "error": error, "time_s": round(elapsed, 2)}
            write_json(state_file, state)
            raise StageFailedError(f"stage {stage.name} failed: {error}")
        missing = [str(p) for p in stage.outputs if not Path(p).exists()]
        if missing:
            raise StageFailedError(f"stage {stage.name} finished but did not write: {', '.join(missing)}")
        state["stages"][stage.name] = {
            "done": True,
            "time_s": round(elapsed, 2),
            "peak_memory_mb": round(float(result.get("peak_memory_mb", float("nan"))), 1),
            "cpu_s": round(float(result.get("cpu_s", float("nan"))), 2),
        }
        write_json(state_file, state)
        LOG.info("stage %s: done in %.1f s", stage.name, elapsed)
    return state
