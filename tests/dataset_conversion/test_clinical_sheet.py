"""Reading and validating clinical.csv (no images are read here)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from dataset_conversion.clinical_sheet import (
    CohortValidationError,
    Problem,
    image_columns_for,
    is_safe_id,
    normalise_diagnosis,
    read_clinical_sheet,
    read_cohort_sheet,
)

COLUMNS = ["patient_id", "center", "diagnosis", "age", "sex", "image", "mask"]


def make_sheet(root: Path, rows: list[dict], columns=COLUMNS, touch: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for row in rows:
        for column in ("image", "mask"):
            path = row.get(column, "")
            if touch and path and not path.startswith("/") and ".." not in path:
                (root / path).parent.mkdir(parents=True, exist_ok=True)
                (root / path).write_bytes(b"x")
    with open(root / "clinical.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return root


def row(pid: str, **changes) -> dict:
    base = {"patient_id": pid, "center": "1", "diagnosis": "axSpA", "age": "35", "sex": "F",
            "image": f"{pid}/t1.nii.gz", "mask": f"{pid}/mask.nii.gz"}
    base.update(changes)
    return base


def test_valid_sheet(tmp_path):
    root = make_sheet(tmp_path, [row("A1"), row("B2", center="2", diagnosis="non-axSpA", sex="M", age="")])
    rows, problems = read_clinical_sheet(root)
    assert problems == []
    assert [(r.patient_id, r.center, r.diagnosis, r.label, r.age, r.sex) for r in rows] == [
        ("A1", 1, "axSpA", 1, 35, "F"), ("B2", 2, "non-axSpA", 0, None, "M")]
    assert rows[0].image == (root / "A1/t1.nii.gz").resolve()


@pytest.mark.parametrize("text,expected", [
    ("axSpA", "axSpA"), ("AXSPA", "axSpA"), (" axspa ", "axSpA"), ("ax-SpA", "axSpA"),
    ("non-axSpA", "non-axSpA"), ("Non-AxSpA", "non-axSpA"), ("non_axspa", "non-axSpA"), ("non axSpA", "non-axSpA"),
    ("nonaxspa", "non-axSpA"),
    ("SpA", None), ("axSpA?", None), ("not axSpA", None), ("", None), ("healthy", None), ("1", None),
])
def test_diagnosis_variants(text, expected):
    assert normalise_diagnosis(text) == expected


@pytest.mark.parametrize("pid,ok", [
    ("P001", True), ("sij-12_a.3", True), ("../x", False), ("a/b", False), ("a b", False), (".hidden", False),
    ("x" * 65, False), ("Müller", False), ("", False), ("a;rm", False),
])
def test_safe_ids(pid, ok):
    assert is_safe_id(pid) is ok


def test_missing_columns(tmp_path):
    root = make_sheet(tmp_path, [row("A1")], columns=["patient_id", "image", "diagnosis"])
    rows, problems = read_clinical_sheet(root)
    assert rows == []
    assert "lacks required column(s) ['center', 'mask']" in problems[0].fault


def test_diagnosis_age_sex_are_optional(tmp_path):
    root = make_sheet(tmp_path, [row("A1"), row("A2")], columns=["patient_id", "center", "image", "mask"])
    rows, problems = read_clinical_sheet(root)
    assert problems == []
    assert [(r.diagnosis, r.label, r.age, r.sex, r.fixed_set) for r in rows] == [(None, None, None, None, None)] * 2


def test_missing_sheet(tmp_path):
    rows, problems = read_clinical_sheet(tmp_path)
    assert rows == [] and "clinical.csv does not exist" in problems[0].fault


def test_each_bad_value_named_with_patient(tmp_path):
    root = make_sheet(tmp_path, [
        row("A1", center="3"),
        row("A2", center="1.5"),
        row("A3", diagnosis="psoriasis"),
        row("A4", age="-2"),
        row("A5", sex="X"),
        row("A6", image="/abs/t1.nii.gz"),
        row("A7", mask="../outside.nii.gz"),
        row("../etc"),
        row("A9"),
        row("A9", image="A9b/t1.nii.gz", mask="A9b/mask.nii.gz"),
        row("A10", image="A1/t1.nii.gz"),
        row("OK1"),
    ])
    (root / "A4/mask.nii.gz").unlink()
    rows, problems = read_clinical_sheet(root)
    text = [str(p) for p in problems]
    assert "patient A1: center '3' is not one of [1, 2]" in text
    assert "patient A2: center '1.5' is not one of [1, 2]" in text
    assert "patient A3: diagnosis 'psoriasis' is not one of ['axSpA', 'non-axSpA']" in text
    assert "patient A4: age '-2' is not an integer number of years in 0..130" in text
    assert "patient A4: mask file 'A4/mask.nii.gz' does not exist" in text
    assert "patient A5: sex 'X' is not one of ['F', 'M']" in text
    assert any(t.startswith("patient A6: image path '/abs/t1.nii.gz' is absolute") for t in text)
    assert any(t.startswith("patient A7: mask path '../outside.nii.gz' leaves the cohort folder") for t in text)
    assert any(t.startswith("patient <row 9>: line 9: patient_id '../etc' is unsafe") for t in text)
    assert "patient A9: line 11: duplicate patient_id (first on line 10)" in text
    assert "patient A10: image file 'A1/t1.nii.gz' is also used by patient A1" in text
    # Only the clean row survives; both rows of the duplicated patient are dropped.
    assert [r.patient_id for r in rows] == ["OK1"]


def test_error_class_lists_problems():
    problems = [Problem("P1", "mask has label(s) 2 outside {0, 1}"), Problem("P2", "image is constant")]
    err = CohortValidationError(problems, Path("report.json"))
    assert err.problems == problems
    assert "2 problem(s)" in str(err) and "patient P1: mask has label(s) 2" in str(err)
    assert "report.json" in str(err)
    assert isinstance(err, ValueError)


def test_set_column_values_are_checked_with_line_and_value(tmp_path):
    columns = COLUMNS + ["set"]
    root = make_sheet(tmp_path, [row("A1", set="train"), row("A2", set="Internal_Test"),
                                 row("A3", set="validation"), row("A4", set="test")], columns=columns)
    rows, problems = read_clinical_sheet(root)
    assert [(r.patient_id, r.fixed_set) for r in rows] == [("A1", "train"), ("A2", "internal_test")]
    text = [str(p) for p in problems]
    assert any(t.startswith("patient A3: line 4: set 'validation' is not one of ['train', 'internal_test', "
                            "'external_test']") for t in text)
    assert any(t.startswith("patient A4: line 5: set 'test' is not one of") for t in text)


@pytest.mark.parametrize("column", ["set", "diagnosis"])
def test_column_filled_for_some_rows_only_is_refused(tmp_path, column):
    columns = COLUMNS + (["set"] if column == "set" else [])
    filled = {"set": "train", "diagnosis": "axSpA"}[column]
    root = make_sheet(tmp_path, [row("A1", **{column: filled}), row("A2", **{column: ""}),
                                 row("A3", **{column: filled})], columns=columns)
    _, problems = read_clinical_sheet(root)
    assert str(problems[0]).startswith(f"patient -: clinical.csv column '{column}' is empty on 1 of 3 rows "
                                       "(first on line 3); fill it for every patient")


def test_sequence_columns_become_channels(tmp_path):
    columns = ["patient_id", "center", "image_t1", "image_stir", "mask"]
    root = make_sheet(tmp_path, [], columns=columns)
    for pid in ("A1", "A2"):
        for name in ("t1", "stir", "mask"):
            (root / pid).mkdir(exist_ok=True)
            (root / pid / f"{name}.nii.gz").write_bytes(b"x")
    rows = [{"patient_id": p, "center": "1", "image_t1": f"{p}/t1.nii.gz", "image_stir": f"{p}/stir.nii.gz",
             "mask": f"{p}/mask.nii.gz"} for p in ("A1", "A2")]
    make_sheet(root, rows, columns=columns, touch=False)
    sheet = read_cohort_sheet(root)
    assert sheet.problems == [] and sheet.channel_names == ("T1", "STIR")
    assert sheet.rows[0].images == ((root / "A1/t1.nii.gz").resolve(), (root / "A1/stir.nii.gz").resolve())
    declared = read_cohort_sheet(root, channel_names=("STIR", "T1"))
    assert declared.image_columns == ("image_stir", "image_t1") and declared.rows[0].image.name == "stir.nii.gz"
    missing = read_cohort_sheet(root, channel_names=("T1", "T2"))
    assert missing.rows == [] and "lacks the image column(s) ['image_t2']" in missing.problems[0].fault


def test_image_column_layouts(tmp_path):
    assert image_columns_for(["patient_id", "image"]) == (("image",), ("T1",))
    assert image_columns_for(["image"], ("STIR",)) == (("image",), ("STIR",))
    with pytest.raises(ValueError, match="both 'image' and"):
        image_columns_for(["image", "image_stir"])
    with pytest.raises(ValueError, match="lacks an image column"):
        image_columns_for(["patient_id", "mask"])
    with pytest.raises(ValueError, match="non-empty and unique"):
        image_columns_for(["image_t1"], ("T1", "t1"))
