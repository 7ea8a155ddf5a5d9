"""Provenance written next to every result: resolved config, versions, git commit, seeds."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from nnunet_fm import __version__

TRACKED_PACKAGES = (
    "nnunetv2", "torch", "SimpleITK", "numpy", "scipy", "pandas", "scikit-learn",
    "xgboost-cpu", "xgboost", "pyradiomics-bhklab", "batchgenerators", "matplotlib",
)


#: Config fields holding paths of the machine that ran (recorded by name when absolute).
PATH_FIELDS = ("data_dir", "out_dir", "work_dir", "features.params_file")


def portable_path(path: str | Path, base: str | Path) -> str:
    """``path`` as recorded in a result file: relative to ``base`` when inside it, else its name.

    Results must be portable and must not reveal a user's directory layout, so no
    absolute path is ever written into a run's JSON or Markdown.
    """
    path, base = Path(path).absolute(), Path(base).absolute()
    try:
        return path.relative_to(base).as_posix() or "."
    except ValueError:
        return path.name


def portable_config(config: Any) -> dict[str, Any]:
    """Nested dict of a config with absolute folders reduced to their names (see :func:`portable_path`)."""
    from nnunet_fm.config import to_dict

    record = to_dict(config)
    for dotted in PATH_FIELDS:
        *sections, key = dotted.split(".")
        holder = record
        for section in sections:
            holder = holder.get(section) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and isinstance(holder.get(key), str) and Path(holder[key]).is_absolute():
            holder[key] = Path(holder[key]).name
    return record


def git_commit(start: str | Path | None = None) -> str | None:
    """Commit hash of the git checkout holding this package (or ``start``), if any."""
    start = Path(start) if start is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=start, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=start,
                           capture_output=True, text=True, timeout=10)
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages results depend on."""
    versions = {"nnunet-fm": __version__, "python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def provenance(config: Any = None, seeds: dict[str, int] | None = None, **extra: Any) -> dict[str, Any]:
    """Provenance record for a result folder.

    Args:
        config: Resolved config dataclass (written as a nested dict).
        seeds: Named seeds used.
        **extra: Further entries (e.g. data source).
    """
    record: dict[str, Any] = {
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "package_version": __version__,
        "git_commit": git_commit(),
        "versions": package_versions(),
        "platform": platform.platform(),
        "seeds": dict(seeds or {}),
    }
    if config is not None:
        record["config"] = portable_config(config)
    record.update(extra)
    return record


def write_provenance(folder: str | Path, config: Any = None, seeds: dict[str, int] | None = None, **extra: Any) -> Path:
    """Atomically write ``provenance.json`` (and ``config.yaml`` if a config is given) into ``folder``."""
    from nnunet_fm.atomic import write_json, write_text
    from nnunet_fm.config import dump_yaml

    folder = Path(folder)
    if config is not None:
        write_text(folder / "config.yaml", dump_yaml(config))
    return write_json(folder / "provenance.json", provenance(config, seeds, **extra))
