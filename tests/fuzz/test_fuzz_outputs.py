"""Hostile output targets against ``nnunet_fm.atomic`` (issue 14, groups 7, 8, 12, 14)."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from nnunet_fm.atomic import (
    NotOwnedError, OutputPathError, atomic_dir, mark_owned, safe_rmtree, write_csv, write_json, write_text,
)
from tests.fuzz.harness import judge


def test_output_file_that_is_a_folder_is_refused(tmp_path):
    (tmp_path / "roc.json").mkdir()
    judge(lambda: write_json(tmp_path / "roc.json", {"auc": 0.8}), accept=False, culprits=["roc.json", "folder"],
          watch=tmp_path)


def test_output_under_a_file_is_refused(tmp_path):
    (tmp_path / "results").write_text("a file, not a folder")
    judge(lambda: write_csv(tmp_path / "results" / "sub" / "t.csv", pd.DataFrame({"a": [1]})), accept=False,
          culprits=["results", "is a file"], watch=tmp_path)


def test_output_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "ds").write_text("x")

    def build():
        with atomic_dir(tmp_path / "ds", overwrite=True) as tmp:
            (tmp / "a").write_text("1")

    judge(build, accept=False, culprits=["ds", "is a file"], watch=tmp_path)
    assert (tmp_path / "ds").read_text(encoding="utf-8") == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_output_folder_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    judge(lambda: write_text(locked / "a.txt", "x"), accept=False, culprits=["locked", "not writable"],
          errors=(OutputPathError,))


def test_overwrite_never_deletes_a_folder_we_did_not_create(tmp_path):
    users = tmp_path / "Dataset501_SIJFM"
    users.mkdir()
    (users / "notes.txt").write_text("mine")

    def replace():
        with atomic_dir(users, overwrite=True, owner_marker=True) as tmp:
            (tmp / "dataset.json").write_text("{}")

    judge(replace, accept=False, culprits=["Dataset501_SIJFM", "not created by nnunet-fm"], watch=tmp_path,
          errors=(NotOwnedError,))
    judge(lambda: safe_rmtree(users), accept=False, culprits=["Dataset501_SIJFM"], watch=tmp_path)
    mark_owned(users)
    judge(replace, accept=True)
    assert not (users / "notes.txt").exists()


def test_failure_inside_a_folder_build_leaves_nothing(tmp_path):
    def build():
        with atomic_dir(tmp_path / "features") as tmp:
            (tmp / "half.csv").write_text("a,b\n1,")
            raise ValueError("case P7: mask is empty")

    judge(build, accept=False, culprits=["P7"], watch=tmp_path)
