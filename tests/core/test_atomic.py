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
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_temp_file_keeps_the_volume_suffix(tmp_path):
    with atomic_path(tmp_path / "case.nii.gz") as tmp:
        assert tmp.name.endswith(".nii.gz")
        tmp.write_bytes(b"x")
    assert (tmp_path / "case.nii.gz").read_bytes() == b"x"


def test_json_writes_nan_as_null(tmp_path):
    write_json(tmp_path / "a.json", {"auc": math.nan, "ci": [0.1, float("inf")], "n": 3})
    assert json.loads((tmp_path / "a.json").read_text(encoding="utf-8")) == {"auc": None, "ci": [0.1, None], "n": 3}


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


def test_atomic_dir_gets_the_umask_mode_not_0700(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "ds") as tmp:
            (tmp / "a").write_text("1")
    finally:
        os.umask(old)
    assert oct((tmp_path / "ds").stat().st_mode & 0o777) == oct(0o755)


def test_owner_marker_guards_overwrite(tmp_path):
    from nnunet_fm.atomic import OWNER_MARKER, NotOwnedError

    users = tmp_path / "Dataset501_SIJFM"
    users.mkdir()
    (users / "thesis.docx").write_text("precious")
    with pytest.raises(NotOwnedError, match=r"Dataset501_SIJFM.*not created by nnunet-fm"):
        with atomic_dir(users, overwrite=True, owner_marker=True):
            pass
    assert (users / "thesis.docx").read_text(encoding="utf-8") == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Dataset501_SIJFM"]
    ours = tmp_path / "Dataset502_SIJFM"
    with atomic_dir(ours, owner_marker=True) as tmp:
        (tmp / "a").write_text("1")
    assert sorted(p.name for p in ours.iterdir()) == [OWNER_MARKER, "a"]
    with atomic_dir(ours, overwrite=True, owner_marker=True) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in ours.iterdir()) == [OWNER_MARKER, "b"]


def test_without_owner_marker_the_folder_holds_only_what_the_caller_wrote(tmp_path):
    with atomic_dir(tmp_path / "ds") as tmp:
        (tmp / "a").write_text("1")
    assert [p.name for p in (tmp_path / "ds").iterdir()] == ["a"]


def test_safe_rmtree_deletes_only_marked_folders(tmp_path):
    from nnunet_fm.atomic import NotOwnedError, mark_owned, safe_rmtree

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "keep.txt").write_text("x")
    with pytest.raises(NotOwnedError, match="theirs"):
        safe_rmtree(theirs)
    assert (theirs / "keep.txt").exists()
    link = tmp_path / "link"
    ours = tmp_path / "ours"
    ours.mkdir()
    mark_owned(ours)
    link.symlink_to(ours)
    with pytest.raises(NotOwnedError, match="link"):
        safe_rmtree(link)  # never follow a symlink into a folder
    assert safe_rmtree(ours) is True and not ours.exists()
    assert safe_rmtree(tmp_path / "absent") is False


def test_stale_partial_of_a_dead_process_is_removed_on_rerun(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    from nnunet_fm.atomic import PARTIAL_MARKER, _process_identity

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / ".ds.abc123.partial"
    stale.mkdir()
    (stale / PARTIAL_MARKER).write_text(f"{socket.gethostname()}:{dead.stdout.strip()}:1\n")
    (stale / "half.nii.gz").write_bytes(b"x")
    unmarked = tmp_path / ".ds.user.partial"  # same name pattern, not ours: kept
    unmarked.mkdir()
    alive = tmp_path / ".ds.live.partial"  # a run still in progress (this test process): kept
    alive.mkdir()
    (alive / PARTIAL_MARKER).write_text(_process_identity(os.getpid()) + "\n")
    with atomic_dir(tmp_path / "ds") as tmp:
        (tmp / "a").write_text("1")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ds.live.partial", ".ds.user.partial", "ds"]
