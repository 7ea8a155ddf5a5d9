"""Judge one hostile input by the five criteria of issue 14.

1. right decision (accept or refuse), 2. no traceback (a domain exception, one line),
3. no hang (a watchdog thread), 4. no partial output (the watched folder is unchanged),
5. the message names the culprit (file, option, column).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

#: Seconds one call may take before it counts as a hang (generous: 2 shared cores).
HANG_SECONDS = 20.0

#: Exceptions the CLI turns into one clean line (nnunet_fm.cli.main).
CLEAN_ERRORS = (ValueError, FileNotFoundError, FileExistsError)


def snapshot(folder: Path) -> set[str]:
    """Every path under ``folder`` (relative), to detect partial output."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


def call_with_watchdog(func: Callable[[], Any],
                       unblock: Callable[[], None] | None = None) -> tuple[Any, BaseException | None]:
    """Run ``func`` in a thread; fail the test if it does not return in ``HANG_SECONDS``.

    ``unblock`` frees a hung call (e.g. opens the other end of a named pipe) so the
    test process itself can finish.
    """
    box: dict[str, Any] = {}

    def target():
        try:
            box["value"] = func()
        except BaseException as exc:  # judged by the caller
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_SECONDS)
    if thread.is_alive():
        if unblock is not None:
            unblock()
        raise AssertionError(f"hang: no answer within {HANG_SECONDS} s")
    return box.get("value"), box.get("error")


def judge(func: Callable[[], Any], accept: bool, culprits: Iterable[str] = (), watch: Path | None = None,
          unblock: Callable[[], None] | None = None, errors: tuple[type, ...] = CLEAN_ERRORS) -> Any:
    """Assert the five criteria; return the value (accepted) or the exception (refused)."""
    before = snapshot(watch) if watch is not None else None
    value, error = call_with_watchdog(func, unblock)
    if watch is not None:
        assert snapshot(watch) == before, f"partial output left: {sorted(snapshot(watch) - before)}"
    if accept:
        assert error is None, f"valid input refused: {type(error).__name__}: {error}"
        return value
    assert error is not None, "hostile input accepted"
    assert isinstance(error, errors), f"traceback: {type(error).__name__}: {error}"
    message = str(error)
    assert message and "\n" not in message.strip(), f"not one line: {message!r}"
    assert "Traceback" not in message
    for culprit in culprits:
        assert str(culprit) in message, f"message does not name {culprit!r}: {message}"
    return error


def make_fifo(path: Path) -> Callable[[], None]:
    """Create a named pipe; return a function that unblocks a reader stuck on it."""
    os.mkfifo(path)

    def unblock():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass

    return unblock
