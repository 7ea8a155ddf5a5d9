"""nnU-Net's ``verify_dataset_integrity`` run on a process pool that cannot hang.

nnunetv2 2.8 runs its per-file checks (``verify_labels``, ``check_cases``) on a
``multiprocessing.get_context("spawn").Pool``. A ``multiprocessing.Pool`` never notices
a worker that died (killed, out of memory, crashed while importing): ``starmap`` then
waits for ever. Here nnU-Net's own function runs unchanged, but its ``Pool`` is our
:func:`nnunet_fm.parallel.map_with_progress`: a dead worker is an error at once, workers
die with their parent, and one process means no pool at all (no interpreter start-ups).
"""

from __future__ import annotations

import contextlib
import threading
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Iterator

#: One conversion at a time may swap the module's pool (the swap is process-global).
_SWAP_LOCK = threading.Lock()


def _star_call(task: tuple[Callable[..., Any], tuple]) -> Any:
    """``func(*args)`` of one ``(func, args)`` task (top level: picklable for the pool)."""
    func, args = task
    return func(*args)


class StarmapPool:
    """The part of ``multiprocessing.Pool`` that nnU-Net's check uses: ``starmap`` in a ``with``.

    Args:
        processes: Worker processes (1 = in this process).
    """

    def __init__(self, processes: int | None = None) -> None:
        self.processes = max(1, int(processes or 1))

    def __enter__(self) -> "StarmapPool":
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def starmap(self, func: Callable[..., Any], iterable: Iterable[tuple]) -> list[Any]:
        """``[func(*args) for args in iterable]``, in order, on :func:`map_with_progress`."""
        from nnunet_fm.parallel import map_with_progress

        tasks = [(func, tuple(args)) for args in iterable]
        if not tasks:
            return []
        return map_with_progress(_star_call, tasks, self.processes, "nnU-Net integrity check", progress=False,
                                 task_id=lambda task, index: f"file {index + 1} of {len(tasks)}")


@contextlib.contextmanager
def pool_swapped(module: Any) -> Iterator[None]:
    """Let ``module`` (nnU-Net's verify module) see :class:`StarmapPool` as its spawn Pool.

    Raises:
        RuntimeError: ``module`` has no ``multiprocessing`` name (an nnunetv2 that no
            longer works this way: the pin in setup.cfg says which one does).
    """
    if not hasattr(module, "multiprocessing"):
        raise RuntimeError(f"{module.__name__} no longer uses multiprocessing; "
                           "nnunet_fm.nnunet.integrity needs updating for this nnunetv2")
    with _SWAP_LOCK:
        original = module.multiprocessing
        # nnU-Net looks up ``multiprocessing.get_context("spawn").Pool``.
        module.multiprocessing = SimpleNamespace(get_context=lambda method=None: SimpleNamespace(Pool=StarmapPool))
        try:
            yield
        finally:
            module.multiprocessing = original


def verify_dataset(folder: str, num_processes: int) -> None:
    """nnU-Net's ``verify_dataset_integrity(folder, num_processes)`` on a pool that cannot hang.

    Raises:
        Whatever nnU-Net's check raises (AssertionError, RuntimeError, ...), and
        ``concurrent.futures.process.BrokenProcessPool`` if a worker died.
    """
    from nnunetv2.experiment_planning import verify_dataset_integrity as nnunet_verify

    with pool_swapped(nnunet_verify):
        nnunet_verify.verify_dataset_integrity(folder, num_processes=max(1, int(num_processes)))
