"""Worker processes that die with their parent, and SIGTERM handled like Ctrl-C.

After ``kill -9`` of a run, pool workers would otherwise keep running (and writing) as
orphans; after a plain SIGTERM, Python would exit without running ``finally`` blocks, so
``atomic_dir`` could not remove its ``.partial`` folder.

Pools (``nnunet_fm.parallel.map_with_progress``) pass ``die_with_parent`` as the worker
initializer with ``initargs=(os.getpid(),)``; the CLI entry point wraps a verb in::

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
