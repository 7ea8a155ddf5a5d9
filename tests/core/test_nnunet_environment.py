"""nnU-Net's environment is changed only inside ``nnunet_workspace`` and restored on exit."""

from __future__ import annotations

import os
import sys

import pytest

from nnunet_fm.config import NnunetConfig
from nnunet_fm.contract import ContractError
from nnunet_fm.nnunet.environment import (
    NNUNET_VARIABLES, NnunetFolders, NnunetWorkspace, find_dataset_name, nnunet_workspace,
)


def _snapshot() -> tuple[dict, dict]:
    env = {k: os.environ.get(k) for k in NNUNET_VARIABLES}
    copies = {name: m.default_num_processes for name, m in sys.modules.items()
              if name.startswith("nnunetv2") and m is not None and hasattr(m, "default_num_processes")}
    return env, copies


def test_environment_and_module_copies_are_restored_also_when_nested_and_after_errors(tmp_path, monkeypatch):
    import nnunetv2.configuration  # noqa: F401  (its import-time copy must be patched and restored)

    monkeypatch.setenv("nnUNet_raw", "/users/own/raw")  # the user's shell value comes back
    monkeypatch.delenv("nnUNet_results", raising=False)
    before = _snapshot()
    outer = NnunetFolders.from_raw(tmp_path / "a" / "raw")
    inner = NnunetFolders.from_raw(tmp_path / "b" / "raw")
    with nnunet_workspace(NnunetConfig(num_processes=3), outer) as env:
        assert os.environ["nnUNet_raw"] == str(outer.raw) == env["nnUNet_raw"]
        assert nnunetv2.configuration.default_num_processes == 3
        with pytest.raises(RuntimeError, match="boom"):
            with nnunet_workspace(NnunetConfig(num_processes=1), inner):
                assert os.environ["nnUNet_results"] == str(inner.results)
                assert nnunetv2.configuration.default_num_processes == 1
                raise RuntimeError("boom")
        assert os.environ["nnUNet_raw"] == str(outer.raw)  # the inner level restored the outer one
        assert nnunetv2.configuration.default_num_processes == 3
    assert _snapshot() == before


def test_workspace_names_its_dataset_folder(tmp_path):
    (tmp_path / "raw" / "Dataset012_KneeFM").mkdir(parents=True)
    folders = NnunetFolders.from_raw(tmp_path / "raw")
    name = find_dataset_name(folders.raw, 12)
    assert NnunetWorkspace(folders, 12, name).dataset_folder == folders.raw / "Dataset012_KneeFM"
    with pytest.raises(FileNotFoundError, match="Dataset013_"):
        find_dataset_name(folders.raw, 13)
    with pytest.raises(ContractError):
        NnunetWorkspace(folders, 12, "bad name").dataset_folder
