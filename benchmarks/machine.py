"""What machine a benchmark ran on and how busy it was (one form for every benchmark JSON)."""

from __future__ import annotations

import os
import platform
from typing import Optional, Sequence


def machine_info(load_before: Optional[Sequence[float]] = None, load_after: Optional[Sequence[float]] = None,
                 note: Optional[str] = None) -> dict:
    """CPU count, platform, Python, and the 1/5/15-min load averages around the measurement.

    Timings on a shared 2-core machine mean little without the load beside them, so every
    benchmark records it in this one form.
    """
    info = {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    if load_before is not None:
        info["loadavg_before"] = [round(v, 2) for v in load_before]
    if load_after is not None:
        info["loadavg_after"] = [round(v, 2) for v in load_after]
    if note:
        info["note"] = note
    return info
