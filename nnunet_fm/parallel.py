"""Map a function over cases in processes, in order, with a progress bar."""

from __future__ import annotations

from typing import Any, Callable, Sequence


def map_with_progress(func: Callable[[Any], Any], tasks: Sequence[Any], jobs: int = 1, desc: str = "",
                      progress: bool = True) -> list[Any]:
    """``[func(t) for t in tasks]``, in a process pool when ``jobs > 1``; results keep task order.

    Args:
        func: A picklable top-level function of one task.
        tasks: The tasks.
        jobs: Worker processes (capped at the number of tasks; 1 = in this process).
        desc: Progress-bar label (stderr).
        progress: Show the bar.
    """
    from tqdm import tqdm

    jobs = max(1, min(int(jobs), len(tasks)))
    bar = dict(total=len(tasks), desc=desc, unit="case", disable=not progress)
    if jobs == 1:
        return [func(t) for t in tqdm(tasks, **bar)]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(tqdm(pool.map(func, tasks, chunksize=1), **bar))
