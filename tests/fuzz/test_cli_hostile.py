"""Hostile input through the command line (issue 14): ``nnunet_fm.cli.main`` on generated bad input.

Judged like tests/fuzz/harness.py: exit code 2 (usage) or 1 (refused input), one error line
naming the culprit, no traceback, and nothing written where the output would go.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path

import pytest

from nnunet_fm.cli import main
from tests.dataset_conversion.test_converter import make_cohort, read_sheet, write_sheet
from tests.fuzz.harness import snapshot


@pytest.fixture(scope="module")
def clean_cohort(tmp_path_factory):
    return make_cohort(tmp_path_factory.mktemp("hostile") / "cohort", n_center1=10, n_center2=2, formats=False)


@pytest.fixture
def cohort(clean_cohort, tmp_path):
    copy = tmp_path / "cohort"
    shutil.copytree(clean_cohort, copy)
    return copy


def run_cli(argv, capsys, caplog) -> tuple[int, str]:
    """(exit code, the error text: argparse's line or the logged ERROR records)."""
    caplog.clear()
    with caplog.at_level(logging.INFO):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    text = capsys.readouterr().err.strip() if code == 2 else "\n".join(errors)
    return code, text


def refused(argv, capsys, caplog, code: int, culprits, watch: Path | None = None) -> str:
    before = snapshot(watch) if watch is not None else None
    got, text = run_cli(argv, capsys, caplog)
    assert got == code, f"exit {got}, expected {code}: {text}"
    assert text and "Traceback" not in text
    assert len(text.strip().splitlines()) == 1, f"not one line: {text}"
    for culprit in culprits:
        assert str(culprit) in text, f"message does not name {culprit!r}: {text}"
    if watch is not None:
        assert snapshot(watch) == before, f"partial output: {sorted(snapshot(watch) - before)}"
    return text


@pytest.mark.parametrize(("argv", "culprit"), [
    (["convert", "--out", "{raw}", "--geometry-tolerance", "nan"], "--geometry-tolerance"),
    (["convert", "--out", "{raw}", "--geometry-tolerance", "0"], "--geometry-tolerance"),
    (["convert", "--out", "{raw}", "--jobs", "0"], "--jobs"),
    (["convert", "--out", "{raw}", "--dataset-id", "1000"], "--dataset-id"),
    (["convert", "--out", "{raw}", "--n-folds", "1"], "--n-folds"),
    (["convert", "--out", "{raw}", "--max-image-voxels", "-5"], "--max-image-voxels"),
    (["convert", "--out", "{file}"], "{file}"),
    (["synth", "--out", "{raw}", "--scale", "inf"], "--scale"),
    (["synth", "--out", "{file}"], "{file}"),
    (["benchmark", "--seed", "-1"], "--seed"),
    (["benchmark", "--scale", "nan"], "--scale"),
    (["train", "--raw", "{raw}", "--val-iterations-per-epoch", "0"], "--val-iterations-per-epoch"),
    (["train", "--raw", "{raw}", "--patch-voxel-budget", "10"], "--patch-voxel-budget"),
    (["reader-study", "--reference", "r", "--out", "{raw}", "--jobs", "0"], "--jobs"),
    (["feature-stability", "--masks-a", "{file}", "--masks-b", "b", "--images", "i", "--out", "o"], "{file}"),
])
def test_bad_options_are_usage_errors_naming_the_option(tmp_path, capsys, caplog, argv, culprit):
    names = {"raw": tmp_path / "raw", "file": tmp_path / "a_file"}
    names["file"].write_text("x")
    argv = [a.format(**names) for a in argv]
    refused(argv, capsys, caplog, 2, [culprit.format(**names)], watch=tmp_path)


@pytest.mark.parametrize(("text", "culprit"), [("", "is empty"), ("a: !!python/name:os.system\n", "not allowed"),
                                               ("name: [unclosed\n", "invalid YAML"), ("- 1\n", "mapping"),
                                               ("synth: {scael: 1}\n", "synth.scael")])
def test_bad_config_files_are_refused_naming_the_file(tmp_path, capsys, caplog, cohort, text, culprit):
    config = tmp_path / "config.yaml"
    config.write_text(text)
    raw = tmp_path / "raw"
    refused(["convert", "--input", cohort, "--out", raw, "--config", config], capsys, caplog, 1,
            [str(config), culprit], watch=tmp_path)


def _edit_sheet(cohort: Path, edit) -> None:
    rows = read_sheet(cohort)
    write_sheet(cohort, edit(rows))


@pytest.mark.parametrize(("edit", "culprits"), [
    (lambda rows: [{**rows[0], "patient_id": rows[1]["patient_id"].lower()}, *rows[1:]], ["patient_id", "case"]),
    (lambda rows: [{**rows[0], "age": "1e400"}, *rows[1:]], ["age '1e400'"]),
    (lambda rows: [{**rows[0], "center": "inf"}, *rows[1:]], ["center 'inf'"]),
    (lambda rows: [{**rows[0], "age": "nan"}, *rows[1:]], ["age 'nan'"]),
])
def test_bad_clinical_rows_are_refused_before_any_output(tmp_path, capsys, caplog, cohort, edit, culprits):
    _edit_sheet(cohort, edit)
    refused(["convert", "--input", cohort, "--out", tmp_path / "raw", "--jobs", 1], capsys, caplog, 1,
            culprits, watch=tmp_path)


def test_an_extra_csv_field_names_the_line(tmp_path, capsys, caplog, cohort):
    sheet = cohort / "clinical.csv"
    lines = sheet.read_text(encoding="utf-8").splitlines()
    lines[3] += ",surplus"
    sheet.write_text("\n".join(lines) + "\n")
    refused(["convert", "--input", cohort, "--out", tmp_path / "raw"], capsys, caplog, 1,
            ["clinical.csv", "line 4"], watch=tmp_path)


def test_a_symlink_leaving_the_cohort_is_refused(tmp_path, capsys, caplog, cohort):
    rows = read_sheet(cohort)
    outside = tmp_path / "outside.nii.gz"
    shutil.copy(cohort / rows[0]["image"], outside)
    (cohort / rows[0]["image"]).unlink()
    (cohort / rows[0]["image"]).symlink_to(outside)
    refused(["convert", "--input", cohort, "--out", tmp_path / "raw"], capsys, caplog, 1,
            ["image file", "outside the cohort"], watch=tmp_path)


def test_a_dataset_id_used_by_another_name_is_refused_before_work(tmp_path, capsys, caplog, cohort):
    raw = tmp_path / "raw"
    (raw / "Dataset501_Other").mkdir(parents=True)
    refused(["convert", "--input", cohort, "--out", raw], capsys, caplog, 1, ["Dataset501_Other"], watch=tmp_path)


def test_overwrite_never_deletes_a_folder_the_converter_did_not_write(tmp_path, capsys, caplog, cohort):
    user = tmp_path / "raw" / "Dataset501_SIJFM"
    user.mkdir(parents=True)
    (user / "thesis.docx").write_text("precious")
    refused(["convert", "--input", cohort, "--out", tmp_path / "raw", "--overwrite"], capsys, caplog, 1,
            [str(user), "marker"], watch=tmp_path)
    assert (user / "thesis.docx").read_text(encoding="utf-8") == "precious"


def test_a_volume_over_the_voxel_limit_is_refused_naming_the_file(tmp_path, capsys, caplog, cohort):
    first = read_sheet(cohort)[0]
    text = refused(["convert", "--input", cohort, "--out", tmp_path / "raw", "--max-image-voxels", 100, "--jobs", 1],
                   capsys, caplog, 1, [first["patient_id"]], watch=tmp_path)
    assert "voxel" in text


def test_valid_conversion_fills_the_run_folder_and_a_segmentation_only_cohort_warns_at_once(
        tmp_path, capsys, caplog, cohort):
    _edit_sheet(cohort, lambda rows: [{k: v for k, v in r.items() if k != "diagnosis"} for r in rows])
    raw, run = tmp_path / "raw", tmp_path / "run"
    code, text = run_cli(["convert", "--input", cohort, "--out", raw, "--run-dir", run, "--seed", 7, "--jobs", 1],
                         capsys, caplog)
    assert code == 0, text
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("segmentation-only" in w and "clinical.csv" in w for w in warnings)
    dataset = raw / "Dataset501_SIJFM"
    for name in ("cases.csv", "dataset_meta.json"):
        assert (run / "dataset" / name).read_bytes() == (dataset / name).read_bytes()
    assert json.loads((run / "dataset" / "dataset_meta.json").read_text(encoding="utf-8"))["study_mode"] == "segmentation_only"
    assert not (run / "dataset" / "ceiling.json").exists()  # user data: no synthetic ceiling
    with open(run / "dataset" / "cases.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 12
