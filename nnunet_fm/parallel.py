"""The one process-pool helper: map a function over items, in order, with a progress bar.

Every pool in the project goes through :func:`map_with_progress`, so they share one
policy:

- **spawn** start method: workers start from a fresh interpreter, never from a forked
  copy of a parent that may hold threads (torch, tqdm, logging) or open files.
- **workers die with the parent** (``prctl(PR_SET_PDEATHSIG)`` through
  :func:`nnunet_fm.process_hygiene.die_with_parent`): ``kill -9`` of a run leaves no
  orphan still writing files.
- **first failure stops the pool**: queued items are cancelled, running workers are
  killed, and the item's exception is re-raised unchanged (its type and message) with
  the item's id logged and attached as a note.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Optional, Sequence

LOG = logging.getLogger(__name__)


def item_id(task: Any, index: int) -> str:
    """Default id of an item: its first element when that is a string (a case id), else its index."""
    if isinstance(task, tuple) and task and isinstance(task[0], str):
        return task[0]
    return f"item {index}"


def _worker_init(parent_pid: int, initializer: Optional[Callable[..., None]], initargs: tuple) -> None:
    """Runs first in every worker: die with the parent, then the caller's initializer."""
    from nnunet_fm.process_hygiene import die_with_parent

    die_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


def _stop(pool: Any) -> None:
    """Cancel queued items and kill the workers (they may be mid-write)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(timeout=5)


def _report(exc: BaseException, desc: str, ident: str) -> None:
    """Name the failing item: in the log (unless the message already does) and as a note."""
    if ident not in str(exc):
        LOG.error("%s: %s failed: %s: %s", desc or "pool", ident, type(exc).__name__, exc)
    exc.add_note(f"{desc or 'pool'}: failed item {ident}")


def map_with_progress(func: Callable[[Any], Any], tasks: Sequence[Any], jobs: int = 1, desc: str = "",
                      progress: bool = True, task_id: Callable[[Any, int], str] = item_id,
                      initializer: Optional[Callable[..., None]] = None, initargs: tuple = (),
                      stop_when: Optional[Callable[[Any], bool]] = None) -> list[Any]:
    """``[func(t) for t in tasks]``, in a spawn process pool when ``jobs > 1``; results keep task order.

    Args:
        func: A picklable top-level function of one task.
        tasks: The tasks (picklable).
        jobs: Worker processes (capped at the number of tasks; 1 = in this process).
        desc: Progress-bar label (stderr) and name in error reports.
        progress: Show the bar.
        task_id: ``(task, index) -> id`` naming a failing item (default: :func:`item_id`).
        initializer: Optional picklable top-level function run once in each worker; not
            run when ``jobs`` is 1, so the settings it makes for a worker (thread counts,
            signals) never leak into the calling process.
        initargs: Its arguments.
        stop_when: Optional ``result -> bool``: once a result satisfies it (e.g. a case
            reported as faulty), queued items are cancelled and the results finished so
            far are returned, in task order (the rest are left out).

    Raises:
        ValueError: ``jobs`` < 1.
        Exception: The first failing item's exception, unchanged, after the pool stopped.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm import tqdm

    if int(jobs) < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    jobs = max(1, min(int(jobs), len(tasks)))
    bar = dict(total=len(tasks), desc=desc, unit="case", disable=not progress)
    if jobs == 1:
        results = []
        for index, task in enumerate(tqdm(tasks, **bar)):
            try:
                results.append(func(task))
            except Exception as exc:
                _report(exc, desc, task_id(task, index))
                raise
            if stop_when is not None and stop_when(results[-1]):
                break
        return results
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init, initargs=(os.getpid(), initializer, tuple(initargs)))
    done: dict[int, Any] = {}
    try:
        futures = {pool.submit(func, task): index for index, task in enumerate(tasks)}
        for future in tqdm(as_completed(futures), **bar):
            index = futures[future]
            try:
                done[index] = future.result()
            except Exception as exc:
                _report(exc, desc, task_id(tasks[index], index))
                raise
            if stop_when is not None and stop_when(done[index]):
                _stop(pool)
                return [done[i] for i in sorted(done)]
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)
    return [done[i] for i in range(len(tasks))]
