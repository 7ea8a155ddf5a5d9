"""Hostile options, CSV tables, YAML files, paths and ROC scores against ``nnunet_fm.input_checks``.

Issue 14, groups 3, 4, 7, 9, 10, 13, 14.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os

import numpy as np
import pytest

from nnunet_fm.input_checks import (
    ScoreError, TableError, YamlError, check_case_collisions, check_finite, check_inside, check_roc_scores,
    existing_directory, existing_regular_file, finite_float, load_yaml_checked, output_dir_path,
    output_file_path, positive_int, read_csv_checked,
)
from tests.fuzz.harness import judge, make_fifo


def parse(option: str, type_, value: str):
    """Parse one option like the CLI does; a refusal becomes ``ValueError(stderr)``."""
    parser = argparse.ArgumentParser(prog="nnunet-fm")
    parser.add_argument(option, type=type_)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return getattr(parser.parse_args([option, value]), option.lstrip("-").replace("-", "_"))
    except SystemExit as exc:
        assert exc.code == 2
        raise ValueError(err.getvalue().strip().splitlines()[-1]) from None


# ------------------------------------------------------------------------- options

TOLERANCE = finite_float(0, 1)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e400", "-1e-4", "2", "abc", "", "0x10"])
def test_bad_numbers_are_refused_naming_the_option(value):
    judge(lambda: parse("--geometry-tolerance", TOLERANCE, value), accept=False,
          culprits=["--geometry-tolerance"])


@pytest.mark.parametrize("value,expected", [("1e-4", 1e-4), ("0", 0.0), ("1", 1.0), (" 0.5 ", 0.5)])
def test_good_numbers_are_accepted(value, expected):
    assert judge(lambda: parse("--geometry-tolerance", TOLERANCE, value), accept=True) == expected


def test_exclusive_bounds():
    nsd = finite_float(0, min_inclusive=False)
    judge(lambda: parse("--nsd-tolerance-mm", nsd, "0"), accept=False, culprits=["--nsd-tolerance-mm", "> 0"])
    assert parse("--nsd-tolerance-mm", nsd, "2.5") == 2.5


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "1e3", "nan", "", "ten"])
def test_bad_counts_are_refused(value):
    judge(lambda: parse("--n-boot", positive_int, value), accept=False, culprits=["--n-boot"])


def test_check_finite_names_the_field():
    judge(lambda: check_finite(float("nan"), "conversion.geometry_tolerance"), accept=False,
          culprits=["conversion.geometry_tolerance", "nan"])
    judge(lambda: check_finite("1e400", "center"), accept=False, culprits=["center"])
    assert check_finite(3, "x", 0, 5) == 3.0


# ------------------------------------------------------------------------- paths


def test_input_and_output_paths(tmp_path):
    folder, file = tmp_path / "folder", tmp_path / "file.csv"
    folder.mkdir()
    file.write_text("a\n")
    unblock = make_fifo(tmp_path / "pipe.csv")
    judge(lambda: parse("--predictions", existing_regular_file, str(folder)), accept=False,
          culprits=["--predictions", "folder"])
    judge(lambda: parse("--predictions", existing_regular_file, str(tmp_path / "pipe.csv")), accept=False,
          culprits=["pipe.csv", "named pipe"], unblock=unblock)
    judge(lambda: parse("--predictions", existing_regular_file, str(tmp_path / "no.csv")), accept=False,
          culprits=["no.csv", "does not exist"])
    judge(lambda: parse("--input", existing_directory, str(file)), accept=False, culprits=["file.csv", "is a file"])
    judge(lambda: parse("--out", output_file_path, str(folder)), accept=False, culprits=["--out", "is a folder"])
    judge(lambda: parse("--out", output_dir_path, str(file)), accept=False, culprits=["--out", "is a file"])
    judge(lambda: parse("--out", output_file_path, str(file / "x.json")), accept=False, culprits=["file.csv"])
    assert parse("--out", output_file_path, str(tmp_path / "new" / "r.json")) == tmp_path / "new" / "r.json"
    assert parse("--input", existing_directory, str(folder)) == folder
    assert not (tmp_path / "new").exists()  # checking creates nothing


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_output_folder_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    judge(lambda: parse("--out", output_file_path, str(locked / "r.json")), accept=False,
          culprits=["locked", "not writable"])


def test_symlink_leaving_the_cohort_is_refused(tmp_path):
    cohort, outside = tmp_path / "cohort", tmp_path / "outside.nii.gz"
    cohort.mkdir()
    outside.write_text("x")
    (cohort / "img.nii.gz").symlink_to(outside)
    judge(lambda: check_inside(cohort / "img.nii.gz", cohort, "image"), accept=False,
          culprits=["img.nii.gz", "outside"])
    judge(lambda: check_inside(cohort / ".." / "outside.nii.gz", cohort), accept=False, culprits=["outside"])
    (cohort / "sub").mkdir()
    assert check_inside(cohort / "sub" / "a.nii.gz", cohort) == (cohort / "sub" / "a.nii.gz").resolve()


# ------------------------------------------------------------------------- CSV

SHEET = "patient_id,age,center\nP1,34,1\nP2,51,2\n"


def csv_case(tmp_path, content: bytes | str, **kwargs):
    path = tmp_path / "clinical.csv"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    kwargs.setdefault("required_columns", ["patient_id", "age"])
    kwargs.setdefault("numeric_columns", ["age", "center"])
    return path, (lambda: read_csv_checked(path, what="clinical sheet", dtype={"patient_id": str}, **kwargs))


@pytest.mark.parametrize("content,culprits", [
    ("patient_id,age,center\nP1,34,1,extra\n", ["line 2", "malformed"]),
    ("patient_id,age,center\nP1,34,1\nP2,5,6,7,8\n", ["line 3", "saw 5"]),
    ("patient_id,age,center\nP1,inf,1\n", ["'age'", "line 2", "'inf'"]),
    ("patient_id,age,center\nP1,34,1\nP2,1e400,2\n", ["'age'", "line 3"]),
    ("patient_id,age,center\nP1,34,-inf\n", ["'center'", "line 2"]),
    ("patient_id,age,center\nP1,thirty,1\n", ["'age'", "'thirty'"]),
    ("patient_id,age,age\nP1,3,4\n", ["more than once", "'age'"]),
    ("", ["empty"]),
    ("\n\n", ["empty"]),
    (b"patient_id,age,center\nP\xe9,34,1\n", ["not UTF-8", "0xe9"]),
    (b"\xff\xfep\x00a\x00", ["not UTF-8"]),
    ('patient_id,age,center\n"P1,34,1\n', ["malformed", "line 2"]),
    ("id,years\nP1,34\n", ["missing required column(s) patient_id, age"]),
])
def test_hostile_csv_is_refused_naming_file_and_place(tmp_path, content, culprits):
    path, call = csv_case(tmp_path, content)
    judge(call, accept=False, culprits=["clinical.csv", *culprits], watch=tmp_path)


def test_clean_csv_cases_are_accepted(tmp_path):
    for content in [SHEET, "\ufeff" + SHEET, SHEET.replace("P2,51,2", "P2,,2"),
                    "patient_id,age,center,note\nP1,34,1," + "x" * 200_000 + "\n"]:
        path, call = csv_case(tmp_path, content)
        frame = judge(call, accept=True)
        assert frame["patient_id"].iloc[0] == "P1" and frame["age"].iloc[0] == 34.0
    judge(csv_case(tmp_path, SHEET.replace("P2,51,2", "P2,,2"), allow_missing_numbers=False)[1], accept=False,
          culprits=["'age'", "line 3"])


def test_missing_column_message_does_not_echo_a_symlinked_target(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:TOPSECRET\nline2\n")
    (tmp_path / "clinical.csv").symlink_to(secret)
    error = judge(lambda: read_csv_checked(tmp_path / "clinical.csv", ["patient_id"]), accept=False,
                  culprits=["clinical.csv", "patient_id"])
    assert "TOPSECRET" not in str(error)


def test_csv_that_is_a_pipe_or_folder_is_refused(tmp_path):
    unblock = make_fifo(tmp_path / "pipe.csv")
    judge(lambda: read_csv_checked(tmp_path / "pipe.csv"), accept=False, culprits=["pipe.csv"], unblock=unblock)
    (tmp_path / "dir.csv").mkdir()
    judge(lambda: read_csv_checked(tmp_path / "dir.csv"), accept=False, culprits=["dir.csv", "folder"])


def test_ids_differing_only_in_case_are_refused(tmp_path):
    judge(lambda: check_case_collisions(["MRN6084934", "P2", "mrn6084934"], "patient_id", "clinical.csv"),
          accept=False, culprits=["clinical.csv", "MRN6084934", "mrn6084934", "patient_id"])
    judge(lambda: check_case_collisions(["P1", "P2", "P10"], "patient_id", "c.csv"), accept=True)


# ------------------------------------------------------------------------- YAML


@pytest.mark.parametrize("text,culprits", [
    ("", ["empty"]),
    ("# only a comment\n", ["empty"]),
    ("a: [1, 2\n", ["line", "invalid YAML"]),
    ("a: !!python/object/apply:os.system ['echo hi']\n", ["!!python/object/apply:os.system", "not allowed"]),
    ("!!python/name:builtins.print\n", ["!!python/name:builtins.print"]),
    ("- a\n- b\n", ["mapping"]),
    ("key: 1\n\tbad: 2\n", ["line 2"]),
])
def test_hostile_yaml_is_refused_in_one_line(tmp_path, text, culprits):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    judge(lambda: load_yaml_checked(path, "config"), accept=False, culprits=["config.yaml", *culprits],
          errors=(YamlError,))


def test_yaml_non_utf8_pipe_and_valid(tmp_path):
    (tmp_path / "latin.yaml").write_bytes(b"name: caf\xe9\n")
    judge(lambda: load_yaml_checked(tmp_path / "latin.yaml"), accept=False, culprits=["latin.yaml", "UTF-8"])
    unblock = make_fifo(tmp_path / "pipe.yaml")
    judge(lambda: load_yaml_checked(tmp_path / "pipe.yaml"), accept=False, culprits=["pipe.yaml"], unblock=unblock)
    (tmp_path / "ok.yaml").write_text("conversion:\n  geometry_tolerance: 1.0e-4\n")
    assert judge(lambda: load_yaml_checked(tmp_path / "ok.yaml"), accept=True) == {
        "conversion": {"geometry_tolerance": 1e-4}}


# ------------------------------------------------------------------------- ROC scores


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_scores_are_refused(bad):
    scores = {"fm_score": np.array([0.1, 0.7, bad, 0.4])}
    judge(lambda: check_roc_scores(scores, ["a", "b", "c", "d"], source="pred.csv"), accept=False,
          culprits=["pred.csv", "'fm_score'", "data row 3"], errors=(ScoreError,))


def test_duplicate_ids_are_refused_and_constant_scores_warned(caplog):
    judge(lambda: check_roc_scores({"s": [0.1, 0.2, 0.3]}, ["a", "b", "a"], source="pred.csv", id_column="case_id"),
          accept=False, culprits=["pred.csv", "case_id", "'a'"], errors=(ScoreError,))
    warnings = judge(lambda: check_roc_scores({"s": [0.5] * 4, "t": [0.1, 0.2, 0.3, 0.4]}, None), accept=True)
    assert len(warnings) == 1 and "'s' is constant" in warnings[0]
    assert "'s' is constant" in caplog.text
