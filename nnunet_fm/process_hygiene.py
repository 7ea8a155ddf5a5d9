"""Worker processes that die with their parent, and SIGTERM handled like Ctrl-C.

After ``kill -9`` of a run, pool workers would otherwise keep running (and writing) as
orphans; after a plain SIGTERM, Python would exit without running ``finally`` blocks, so
``atomic_dir`` could not remove its ``.partial`` folder.

Typical use (``nnunet_fm.parallel``)::

    from nnunet_fm.process_hygiene import worker_pool
    with worker_pool(jobs) as pool:
        results = list(pool.map(func, tasks, chunksize=1))

and in the CLI entry point::

    with sigterm_raises_interrupt():
        return run(args)
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Iterator

#: Linux prctl option: signal sent to this process when its parent thread exits.
_PR_SET_PDEATHSIG = 1


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM (handled like Ctrl-C)."""


def die_with_parent(parent_pid: int | None = None) -> None:
    """Pool ``initializer``: make this worker get SIGKILL when its parent process dies.

    Uses ``prctl(PR_SET_PDEATHSIG)`` on Linux (elsewhere it only does the race check).
    Pass the parent's pid (``initargs=(os.getpid(),)``) to also exit at once if the
    parent died before this call.

    Args:
        parent_pid: Pid of the process that created the pool.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)  # the parent is already gone: do no work as an orphan


@contextlib.contextmanager
def worker_pool(jobs: int, mp_context=None) -> Iterator:
    """A ``ProcessPoolExecutor`` whose workers die with this process and stop on errors.

    On any exception in the block (including Ctrl-C and ``Terminated``), pending tasks
    are cancelled and the workers are killed instead of finishing their queue.

    Args:
        jobs: Number of worker processes.
        mp_context: Optional ``multiprocessing`` context.

    Yields:
        The executor.
    """
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp_context, initializer=die_with_parent,
                               initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        _kill_workers(pool)
        raise
    else:
        pool.shutdown(wait=True)


def _kill_workers(pool) -> None:
    """Cancel queued tasks and kill the pool's processes (they may be mid-write)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(timeout=5)


@contextlib.contextmanager
def sigterm_raises_interrupt() -> Iterator[None]:
    """Turn SIGTERM into a ``Terminated`` exception in the main thread for the block.

    Cleanup code (``finally``, ``atomic_dir``, ``worker_pool``) then runs as for Ctrl-C.
    Outside the main thread this does nothing (signals can only be handled there).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(f"terminated by signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
