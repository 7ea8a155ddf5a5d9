from __future__ import annotations

import json
import math

import pytest

from nnunet_fm.atomic import atomic_dir, atomic_path, write_json, write_text


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_temp_file_keeps_the_volume_suffix(tmp_path):
    with atomic_path(tmp_path / "case.nii.gz") as tmp:
        assert tmp.name.endswith(".nii.gz")
        tmp.write_bytes(b"x")
    assert (tmp_path / "case.nii.gz").read_bytes() == b"x"


def test_json_writes_nan_as_null(tmp_path):
    write_json(tmp_path / "a.json", {"auc": math.nan, "ci": [0.1, float("inf")], "n": 3})
    assert json.loads((tmp_path / "a.json").read_text()) == {"auc": None, "ci": [0.1, None], "n": 3}


def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "dataset"
    with pytest.raises(ValueError):
        with atomic_dir(target) as tmp:
            (tmp / "file").write_text("partial")
            raise ValueError("bad case")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_refuses_then_replaces_existing(tmp_path):
    target = tmp_path / "dataset"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(FileExistsError):
        with atomic_dir(target):
            pass
    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]


def test_written_files_get_the_umask_mode_not_0600(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = write_text(tmp_path / "r.txt", "x")
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
