"""nnU-Net's environment variables, set from our config (never from the user's shell).

nnunetv2 2.8 reads ``nnUNet_raw``/``_preprocessed``/``_results`` lazily, but
``nnUNet_def_n_proc`` is copied into ``nnunetv2.configuration.default_num_processes``
when that module is first imported, and from there into every module that did
``from nnunetv2.configuration import default_num_processes``. If nnunetv2 was already
imported we patch those copies so the configured value still wins. Verbs apply all of
it only inside :func:`nnunet_workspace`, which restores the environment and the module
copies on exit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from nnunet_fm.config import NnunetConfig

LOG = logging.getLogger(__name__)

#: Variables that nnU-Net reads; all of them are set (or removed) by :func:`apply_environment`.
NNUNET_VARIABLES = (
    "nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results",
    "nnUNet_def_n_proc", "nnUNet_n_proc_DA", "nnUNet_compile",
)


@dataclass(frozen=True)
class NnunetFolders:
    """The three nnU-Net base folders (absolute paths)."""

    raw: Path
    preprocessed: Path
    results: Path

    @classmethod
    def from_raw(cls, raw: str | os.PathLike, preprocessed: str | os.PathLike | None = None,
                 results: str | os.PathLike | None = None) -> "NnunetFolders":
        """Folders with the defaults ``<raw>/../nnUNet_preprocessed`` and ``<raw>/../nnUNet_results``."""
        raw = Path(raw).resolve()
        pre = Path(preprocessed).resolve() if preprocessed else raw.parent / "nnUNet_preprocessed"
        res = Path(results).resolve() if results else raw.parent / "nnUNet_results"
        return cls(raw, pre, res)


def nnunet_environment(config: NnunetConfig, folders: NnunetFolders, compile_network: bool = False) -> dict[str, str]:
    """The nnU-Net environment for ``config`` as a plain mapping (nothing is set).

    Args:
        config: nnU-Net section of the run config.
        folders: Base folders.
        compile_network: Value of ``nnUNet_compile`` (torch.compile; only used on GPU).
    """
    return {
        "nnUNet_raw": str(folders.raw),
        "nnUNet_preprocessed": str(folders.preprocessed),
        "nnUNet_results": str(folders.results),
        "nnUNet_def_n_proc": str(config.num_processes),
        "nnUNet_n_proc_DA": str(config.num_processes_da),
        "nnUNet_compile": "true" if compile_network else "false",
    }


@dataclass(frozen=True)
class NnunetWorkspace:
    """Everything nnU-Net needs to find a dataset: its three folders and the dataset's id and name.

    Resolved once by the verb (from the command line and the run config) and passed down.
    """

    folders: NnunetFolders
    dataset_id: int
    dataset_name: str

    @property
    def dataset_folder(self) -> Path:
        """``<raw>/DatasetXXX_NAME``."""
        from nnunet_fm.contract import dataset_folder_name

        return self.folders.raw / dataset_folder_name(self.dataset_id, self.dataset_name)


def find_dataset_name(raw: str | os.PathLike, dataset_id: int) -> str:
    """``NAME`` of the one ``DatasetXXX_NAME`` folder with id ``dataset_id`` under ``raw``.

    Raises:
        FileNotFoundError: No such dataset folder, or more than one.
    """
    from nnunet_fm.contract import dataset_folder_prefix

    prefix = dataset_folder_prefix(dataset_id)
    found = sorted(p.name[len(prefix):] for p in Path(raw).glob(prefix + "*") if p.is_dir())
    if len(found) != 1:
        raise FileNotFoundError(f"expected one {prefix}NAME folder in {raw}, found {len(found)}: {found}")
    return found[0]


def _module_copies() -> dict[tuple[str, str], object]:
    """Import-time copies of nnU-Net settings in already-imported nnunetv2 modules."""
    return {(name, "default_num_processes"): module.default_num_processes
            for name, module in list(sys.modules.items())
            if name.startswith("nnunetv2") and module is not None and hasattr(module, "default_num_processes")}


def apply_environment(env: dict[str, str]) -> None:
    """Set nnU-Net's variables in ``os.environ`` and in already-imported nnunetv2 modules.

    Whatever the user's shell had for these variables is overwritten. Prefer
    :func:`nnunet_workspace`, which restores everything on exit.
    """
    for key in NNUNET_VARIABLES:
        if key in env:
            os.environ[key] = env[key]
    for key in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        if key in env:
            Path(env[key]).mkdir(parents=True, exist_ok=True)
    if "nnUNet_def_n_proc" in env:
        n_proc = int(env["nnUNet_def_n_proc"])
        # Patch every copy of default_num_processes made by "from ... import" at import time.
        for name, attribute in _module_copies():
            setattr(sys.modules[name], attribute, n_proc)
    LOG.debug("nnU-Net environment: %s", {k: env[k] for k in NNUNET_VARIABLES if k in env})


def current_environment() -> dict[str, str]:
    """nnU-Net's variables as set in this process now (inside :func:`nnunet_workspace`).

    A stage that runs nnU-Net work in other processes (Dask workers) sends this mapping
    along and applies it there with :func:`applied_environment`.
    """
    return {key: os.environ[key] for key in NNUNET_VARIABLES if key in os.environ}


@contextlib.contextmanager
def applied_environment(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """Apply an nnU-Net environment mapping for the ``with`` block only; yields it.

    ``os.environ``'s nnU-Net variables and the nnunetv2 module copies patched by
    :func:`apply_environment` are restored on exit, also after an exception, so nothing
    leaks into the caller (or into the next task of a worker). Nesting is fine: each
    level restores what it found.
    """
    saved_env = {key: os.environ.get(key) for key in NNUNET_VARIABLES}
    saved_copies = _module_copies()
    try:
        apply_environment(env)
        yield env
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        # modules imported inside the block read our value at import: reset them to nnU-Net's own
        restore = {**{k: _import_default() for k in _module_copies()}, **saved_copies}
        for (name, attribute), value in restore.items():
            if name in sys.modules:
                setattr(sys.modules[name], attribute, value)


@contextlib.contextmanager
def nnunet_workspace(config: NnunetConfig, folders: NnunetFolders,
                     compile_network: bool = False) -> Iterator[dict[str, str]]:
    """Apply nnU-Net's environment for the ``with`` block only; yields it (for subprocesses).

    See :func:`applied_environment` for what is restored on exit.
    """
    with applied_environment(nnunet_environment(config, folders, compile_network)) as env:
        yield env


def _import_default() -> int:
    """nnU-Net's ``default_num_processes`` when ``nnUNet_def_n_proc`` is unset (its own default, 8)."""
    value = os.environ.get("nnUNet_def_n_proc")
    return int(value) if value is not None else 8


def configure(config: NnunetConfig, folders: NnunetFolders, compile_network: bool = False) -> dict[str, str]:
    """Build and apply the environment without restoring it (one-shot scripts only).

    Library code and verbs use :func:`nnunet_workspace` instead.
    """
    env = nnunet_environment(config, folders, compile_network)
    apply_environment(env)
    return env
