"""nnU-Net's environment variables, set from our config (never from the user's shell).

nnunetv2 2.8 reads ``nnUNet_raw``/``_preprocessed``/``_results`` lazily, but
``nnUNet_def_n_proc`` is copied into ``nnunetv2.configuration.default_num_processes``
when that module is first imported, and from there into every module that did
``from nnunetv2.configuration import default_num_processes``. If nnunetv2 was already
imported we patch those copies so the configured value still wins.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

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


def apply_environment(env: dict[str, str]) -> None:
    """Set nnU-Net's variables in ``os.environ`` and in already-imported nnunetv2 modules.

    Whatever the user's shell had for these variables is overwritten.
    """
    for key in NNUNET_VARIABLES:
        if key in env:
            os.environ[key] = env[key]
    folders = {key: env[key] for key in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results") if key in env}
    for path in folders.values():
        Path(path).mkdir(parents=True, exist_ok=True)
    if "nnUNet_def_n_proc" in env:
        n_proc = int(env["nnUNet_def_n_proc"])
        # Patch every copy of default_num_processes made by "from ... import" at import time.
        for name, module in list(sys.modules.items()):
            if name.startswith("nnunetv2") and module is not None and hasattr(module, "default_num_processes"):
                setattr(module, "default_num_processes", n_proc)
    if "nnunetv2.paths" in sys.modules:
        _refresh_paths(sys.modules["nnunetv2.paths"], folders)
    LOG.debug("nnU-Net environment: %s", {k: env[k] for k in NNUNET_VARIABLES if k in env})


def _refresh_paths(paths_module, folders: dict[str, str]) -> None:
    """nnunetv2 <= 2.7 stored the folders as strings at import; replace those strings."""
    for key, value in folders.items():
        current = getattr(paths_module, key, None)
        if current is None or isinstance(current, str):
            setattr(paths_module, key, value)


def configure(config: NnunetConfig, folders: NnunetFolders, compile_network: bool = False) -> dict[str, str]:
    """Build and apply the environment; returns it (for subprocesses)."""
    env = nnunet_environment(config, folders, compile_network)
    apply_environment(env)
    return env
