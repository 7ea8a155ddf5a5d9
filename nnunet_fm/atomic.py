"""Atomic file and folder writes: write to a temporary sibling, then rename.

A reader never sees a half-written file, and an interrupted run leaves either the old
file or the new one, never a truncated one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

LOG = logging.getLogger(__name__)


class OutputPathError(ValueError):
    """An output cannot be written there (a file in the way, a folder as file, no permission)."""


def _prepare_parent(target: Path, kind: str) -> None:
    """Create ``target``'s folder, or say in one line why it cannot be written.

    Args:
        target: The output file or folder.
        kind: ``"file"`` or ``"folder"`` (what ``target`` must be if it exists).
    """
    if kind == "file" and target.is_dir():
        raise OutputPathError(f"cannot write {target}: it is a folder; expected a file name")
    if kind == "folder" and os.path.lexists(target) and not target.is_dir():
        raise OutputPathError(f"cannot write {target}: it is a file; expected a folder")
    ancestor = target.parent
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputPathError(f"cannot write {target}: {ancestor} is a file, not a folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        raise OutputPathError(f"cannot write {target}: no permission to create folders in {ancestor}") from None
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write {target}: folder {target.parent} is not writable")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    Args:
        target: Final file path.
        suffix: Suffix for the temporary file (defaults to the target's full suffix, so
            libraries that choose a format by extension, e.g. ``.nii.gz``, still work).

    Yields:
        The temporary path to write to. It is removed if the block raises.

    Raises:
        OutputPathError: ``target`` is a folder, a file blocks its folder, or no permission.
    """
    target = Path(target)
    _prepare_parent(target, "file")
    if suffix is None:
        suffix = "".join(target.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            # mkstemp makes 0600 files; results should get the usual umask-based mode
            os.chmod(tmp_path, 0o666 & ~_current_umask())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _current_umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(target: str | os.PathLike, text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``target`` and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_json(target: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (NaN is written as ``null``)."""
    return write_text(target, json.dumps(_nan_to_none(obj), indent=2, sort_keys=False) + "\n")


def write_csv(target: str | os.PathLike, frame: Any, **kwargs: Any) -> Path:
    """Atomically write a pandas DataFrame to CSV (``index=False`` unless given)."""
    kwargs.setdefault("index", False)
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, **kwargs)
    return Path(target)


#: File written into every folder the tool creates with ``owner_marker=True``; only such
#: folders are ever deleted by ``--overwrite`` (``safe_rmtree``). Fixed content so reruns
#: stay byte-identical.
OWNER_MARKER = ".nnunet_fm_owned"
#: File inside a folder that is still being built (``<name>.<random>.partial``): host and pid
#: of the builder, so a later run can remove it once that process is gone.
PARTIAL_MARKER = ".nnunet_fm_partial"


class NotOwnedError(FileExistsError):
    """A folder would be deleted or replaced, but the tool did not create it."""


def mark_owned(folder: str | os.PathLike) -> Path:
    """Write the ownership marker into ``folder`` (which must exist) and return its path."""
    marker = Path(folder) / OWNER_MARKER
    marker.write_text("created by nnunet-fm; --overwrite may replace this folder\n", encoding="utf-8")
    return marker


def is_owned(folder: str | os.PathLike) -> bool:
    """True if ``folder`` is a real folder (not a symlink) holding the ownership marker."""
    folder = Path(folder)
    return folder.is_dir() and not folder.is_symlink() and (folder / OWNER_MARKER).is_file()


def safe_rmtree(folder: str | os.PathLike) -> bool:
    """Delete ``folder`` only if the tool created it (it holds ``OWNER_MARKER``).

    Returns:
        True if deleted, False if it did not exist.

    Raises:
        NotOwnedError: ``folder`` is a file, a symlink or a folder without the marker.
    """
    folder = Path(folder)
    if not os.path.lexists(folder):
        return False
    if not is_owned(folder):
        raise NotOwnedError(f"{folder} was not created by nnunet-fm (no {OWNER_MARKER} marker), so it is not "
                            "deleted; remove it yourself or choose another output")
    shutil.rmtree(folder)
    return True


def _process_identity(pid: int) -> str:
    """``host:pid:start-time`` of a process; the start time (Linux) tells a reused pid apart."""
    import socket

    try:
        stat_fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        started = stat_fields[19]  # field 22 of proc(5), counted after the command name
    except (OSError, IndexError):
        started = "?"
    return f"{socket.gethostname()}:{pid}:{started}"


def _builder_is_gone(partial: Path) -> bool:
    """True if the marker of a ``.partial`` folder names a process on this host that has ended."""
    import socket

    try:
        identity = (partial / PARTIAL_MARKER).read_text(encoding="utf-8").strip()
        host, pid, _ = identity.rsplit(":", 2)
        pid_number = int(pid)
    except (OSError, ValueError):
        return False  # no marker or not ours: never delete
    if host != socket.gethostname():
        return False  # cannot tell whether a process on another machine is alive
    try:
        os.kill(pid_number, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _process_identity(pid_number) != identity  # alive pid, but reused by another process


def remove_stale_partials(target: str | os.PathLike) -> list[Path]:
    """Delete ``.partial`` build folders of ``target`` left by killed runs.

    Only folders named like ``atomic_dir``'s (``.<name>.*.partial``) that hold
    ``PARTIAL_MARKER`` naming a finished process on this host are removed.

    Returns:
        The removed folders.
    """
    target = Path(target)
    removed = []
    if not target.parent.is_dir():
        return removed
    for candidate in sorted(target.parent.glob(f".{target.name}.*.partial")):
        if candidate.is_dir() and not candidate.is_symlink() and _builder_is_gone(candidate):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, overwrite: bool = False, owner_marker: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary name and rename it onto ``target`` at the end.

    Stale ``.partial`` folders of the same target from killed runs are removed first. The
    folder gets the usual umask-based mode (not ``mkdtemp``'s 0700).

    Args:
        target: Final folder path.
        overwrite: Replace an existing ``target``; otherwise an existing one is an error.
        owner_marker: Write ``OWNER_MARKER`` into the folder, and replace an existing
            ``target`` only if it holds the marker (``NotOwnedError`` otherwise).

    Yields:
        The temporary folder to fill. It is deleted if the block raises, so nothing
        partial is ever left at ``target``.

    Raises:
        FileExistsError: ``target`` exists and not ``overwrite``.
        NotOwnedError: ``owner_marker`` and an existing ``target`` lacks the marker.
        OutputPathError: A file blocks the parent folder, or no permission.
    """
    target = Path(target)
    if os.path.lexists(target) and not overwrite:
        raise FileExistsError(f"{target} already exists (pass overwrite to replace it)")
    if os.path.lexists(target) and owner_marker and not is_owned(target):
        raise NotOwnedError(f"{target} exists but was not created by nnunet-fm (no {OWNER_MARKER} marker); "
                            "refusing to replace it: remove it yourself or choose another name")
    _prepare_parent(target, "folder")
    for stale in remove_stale_partials(target):
        LOG.info("removed %s left by an interrupted run", stale)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        os.chmod(tmp, 0o777 & ~_current_umask())
        marker = tmp / PARTIAL_MARKER
        marker.write_text(_process_identity(os.getpid()) + "\n", encoding="utf-8")
        yield tmp
        marker.unlink()
        if owner_marker:
            mark_owned(tmp)
        if os.path.lexists(target):
            old = target.with_name(f".{target.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _nan_to_none(obj: Any) -> Any:
    """Replace float NaN/inf with None recursively so the JSON stays standard."""
    import math

    if isinstance(obj, float):
        return None if (math.isnan(obj) or math.isinf(obj)) else obj
    if isinstance(obj, dict):
        return {str(k): _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "shape", None) == ():
        return _nan_to_none(obj.item())
    return obj
