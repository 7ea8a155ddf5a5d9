"""End-to-end tests of ``nnunet-fm convert`` on tiny cohorts built here."""

from __future__ import annotations

import csv
import gzip
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")

from dataset_conversion.clinical_sheet import CohortValidationError  # noqa: E402
from dataset_conversion.converter import convert_cohort, id_key_path  # noqa: E402
from nnunet_fm.cli import main  # noqa: E402

REAL_SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "real_sij_sample"

#: Identifying strings planted in the source (ids, names, dates, institution, file names).
PHI = ["PATDOE", "DOE^JOHN", "DOE_JOHN", "19700101", "20230102", "St Elsewhere", "ROE^JANE", "JaneRoe"]
SIZE = (20, 16, 6)  # x, y, z
SPACING = (0.7, 0.7, 3.3)


def oblique_direction(angle_deg: float = 35.0, tilt_deg: float = 7.0) -> tuple[float, ...]:
    """A proper rotation: semi-coronal tilt about x, then a small rotation about z."""
    a, t = math.radians(angle_deg), math.radians(tilt_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    rz = np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1]])
    return tuple((rz @ rx).ravel().tolist())


def make_pair(seed: int, dtype=np.float32, reference=None):
    """A noisy T1-like volume with a bright FM blob and its 0/1 mask (SimpleITK images)."""
    rng = np.random.default_rng(seed)
    shape = (SIZE[2], SIZE[1], SIZE[0])
    mask = np.zeros(shape, np.uint8)
    z, y, x = 2 + seed % 2, 4 + seed % 5, 5 + seed % 7
    mask[z:z + 2, y:y + 5, x:x + 6] = 1
    image = (rng.normal(300, 40, shape) + 600.0 * mask).astype(dtype)
    img = sitk.GetImageFromArray(image)
    if reference is None:
        img.SetSpacing(SPACING)
        img.SetOrigin((-40.5 + seed, 12.25, -80.125))
        img.SetDirection(oblique_direction(30 + seed))
    else:
        img.CopyInformation(reference)
    msk = sitk.GetImageFromArray(mask)
    msk.CopyInformation(img)
    return img, msk


def write_dicom_series(image, folder: Path, patient_id: str) -> None:
    """Write ``image`` (int16) as a DICOM series, slice by slice, with PHI tags; file names
    run against the slice order so the reader has to sort by position."""
    folder.mkdir(parents=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    d = image.GetDirection()
    series_uid = "1.2.826.0.1.3680043.2.1125.7.1"
    depth = image.GetDepth()
    for i in range(depth):
        sl = image[:, :, i]
        tags = {
            "0010|0010": "DOE^JOHN", "0010|0020": patient_id, "0010|0030": "19700101",
            "0008|0020": "20230102", "0008|0021": "20230102", "0008|0080": "St Elsewhere",
            "0008|0090": "ROE^JANE", "0008|0060": "MR", "0020|000d": "1.2.826.0.1.3680043.2.1125.7",
            "0020|000e": series_uid, "0020|0013": str(i + 1),
            "0020|0037": "\\".join(f"{v:.10f}" for v in (d[0], d[3], d[6], d[1], d[4], d[7])),
            "0020|0032": "\\".join(f"{v:.6f}" for v in image.TransformIndexToPhysicalPoint((0, 0, i))),
            "0018|0050": f"{image.GetSpacing()[2]:.4f}",
        }
        for key, value in tags.items():
            sl.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"IM{depth - i:04d}.dcm"))
        writer.Execute(sl)


def make_cohort(root: Path, n_center1: int = 10, n_center2: int = 2, formats: bool = True) -> Path:
    """Tiny two-center cohort: NIfTI cases with PHI in ``descrip``, plus (``formats``) one
    DICOM series, one NRRD and one MHA case with PHI in their metadata, and one mask whose
    origin is off by 3e-5 mm (below the default tolerance)."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    k = 0
    for center, n in ((1, n_center1), (2, n_center2)):
        n_axspa = int(round(0.7 * n))
        for i in range(n):
            k += 1
            pid = f"PATDOE{center}{i:03d}"
            folder = root / f"DOE_JOHN_{center}_{i}"
            folder.mkdir()
            image, mask = make_pair(k)
            kind = "nii"
            if formats and center == 1 and i in (0, 1, 2):
                kind = ("dicom", "nrrd", "mha")[i]
            if kind == "dicom":
                image = sitk.Cast(image, sitk.sitkInt16)
                write_dicom_series(image, folder / "series", pid)
                image_rel = f"{folder.name}/series"
                from nnunet_fm.image_io import read_image

                image = read_image(folder / "series")
                mask.CopyInformation(image)
                mask.SetOrigin(tuple(o + 3e-5 for o in image.GetOrigin()))
            else:
                image.SetMetaData("ITK_FileNotes", f"ROE^JANE 20230102 {pid}")
                image.SetMetaData("PatientName", "DOE^JOHN")
                image_rel = f"{folder.name}/t1.{ {'nii': 'nii.gz', 'nrrd': 'nrrd', 'mha': 'mha'}[kind]}"
                sitk.WriteImage(image, str(root / image_rel), useCompression=True)
            mask.SetMetaData("ITK_FileNotes", "19700101")
            mask_rel = f"{folder.name}/fm_mask.nii.gz"
            sitk.WriteImage(mask, str(root / mask_rel), useCompression=True)
            rows.append({"patient_id": pid, "center": center,
                         "diagnosis": "axSpA" if i < n_axspa else "non-axSpA",
                         "age": 20 + k, "sex": "FM"[k % 2], "image": image_rel, "mask": mask_rel})
    write_sheet(root, rows)
    return root


def write_sheet(root: Path, rows: list[dict]) -> None:
    with open(root / "clinical.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def read_sheet(root: Path) -> list[dict]:
    with open(root / "clinical.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def all_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data += gzip.decompress(data)
    return data


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """One good cohort converted through the CLI with a process pool."""
    base = tmp_path_factory.mktemp("good")
    cohort = make_cohort(base / "cohort")
    raw = base / "raw"
    code = main(["convert", "--input", str(cohort), "--out", str(raw), "--dataset-id", "501",
                 "--seed", "7", "--jobs", "2"])
    assert code == 0
    return cohort, raw, raw / "Dataset501_SIJFM"


def test_layout_and_manifest(converted):
    cohort, raw, ds = converted
    cases = read_csv(ds / "cases.csv")
    assert list(cases[0]) == ["case_id", "set", "center", "diagnosis", "label", "fold", "age", "sex"]
    assert len(cases) == 12
    counts = {s: sum(c["set"] == s for c in cases) for s in ("train", "validation", "internal_test", "external_test")}
    assert counts == {"train": 7, "validation": 1, "internal_test": 2, "external_test": 2}
    folder = {"train": ("imagesTr", "labelsTr"), "validation": ("imagesTr", "labelsTr"),
              "internal_test": ("imagesTs", "labelsTs"), "external_test": ("imagesExt", "labelsExt")}
    for c in cases:
        images, labels = folder[c["set"]]
        assert (ds / images / f"{c['case_id']}_0000.nii.gz").is_file()
        assert (ds / labels / f"{c['case_id']}.nii.gz").is_file()
        assert c["case_id"].startswith(f"SIJ_{c['center']}_")
        assert c["label"] == str(int(c["diagnosis"] == "axSpA"))
        assert (c["fold"] == "-1") == (c["set"] not in ("train", "validation"))
    assert len(list((ds / "imagesTr").iterdir())) == 8
    dataset_json = json.loads((ds / "dataset.json").read_text(encoding="utf-8"))
    assert dataset_json["channel_names"] == {"0": "T1"}
    assert dataset_json["labels"] == {"background": 0, "fm": 1}
    assert dataset_json["numTraining"] == 8
    assert dataset_json["file_ending"] == ".nii.gz"
    assert "clinical.csv" in dataset_json["description"]

    splits = json.loads((ds / "splits_final.json").read_text(encoding="utf-8"))
    assert len(splits) == 5
    tr_ids = sorted(c["case_id"] for c in cases if c["set"] in ("train", "validation"))
    assert sorted(sum((f["val"] for f in splits), [])) == tr_ids
    for k, f in enumerate(splits):
        assert sorted(f["train"] + f["val"]) == tr_ids
        for case in f["val"]:
            assert next(c for c in cases if c["case_id"] == case)["fold"] == str(k)


def test_id_key_outside_and_shuffled(converted):
    cohort, raw, ds = converted
    key = read_csv(id_key_path(raw, 501, "SIJFM"))
    assert not (ds / key_name(raw)).exists()
    assert sorted(r["patient_id"] for r in key) == sorted(r["patient_id"] for r in read_sheet(cohort))
    sheet_order = [r["patient_id"] for r in read_sheet(cohort) if r["center"] == "1"]
    by_case = [r["patient_id"] for r in sorted(key, key=lambda r: r["case_id"]) if r["case_id"].startswith("SIJ_1_")]
    assert by_case != sheet_order  # numbered in a shuffled order, not the source order
    assert sorted(by_case) == sorted(sheet_order)


def key_name(raw: Path) -> str:
    return id_key_path(raw, 501, "SIJFM").name


def test_geometry_and_values_kept(converted):
    cohort, raw, ds = converted
    from nnunet_fm.image_io import read_image

    key = {r["patient_id"]: r["case_id"] for r in read_csv(id_key_path(raw, 501, "SIJFM"))}
    cases = {c["case_id"]: c for c in read_csv(ds / "cases.csv")}
    folder = {"train": "Tr", "validation": "Tr", "internal_test": "Ts", "external_test": "Ext"}
    for row in read_sheet(cohort):
        case = key[row["patient_id"]]
        suffix = folder[cases[case]["set"]]
        source = read_image(cohort / row["image"])
        out = sitk.ReadImage(str(ds / f"images{suffix}" / f"{case}_0000.nii.gz"))
        lab = sitk.ReadImage(str(ds / f"labels{suffix}" / f"{case}.nii.gz"))
        assert out.GetSize() == source.GetSize()
        # NIfTI stores geometry as float32: spacing/origin come back to float32 precision,
        # direction cosines (stored as a quaternion) to ~1e-7.
        np.testing.assert_allclose(out.GetSpacing(), source.GetSpacing(), rtol=0, atol=1e-5)
        np.testing.assert_allclose(out.GetOrigin(), source.GetOrigin(), rtol=0, atol=1e-4)
        np.testing.assert_allclose(out.GetDirection(), source.GetDirection(), rtol=0, atol=1e-6)
        assert out.GetPixelID() == source.GetPixelID()
        np.testing.assert_array_equal(sitk.GetArrayFromImage(out), sitk.GetArrayFromImage(source))
        # The mask carries exactly the image's geometry (copied after the tolerance check).
        assert lab.GetPixelID() == sitk.sitkUInt8
        assert lab.GetSpacing() == out.GetSpacing() and lab.GetOrigin() == out.GetOrigin()
        assert lab.GetDirection() == out.GetDirection()
        src_mask = sitk.GetArrayFromImage(sitk.ReadImage(str(cohort / row["mask"])))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(lab), src_mask)


def test_no_phi_anywhere_in_dataset(converted):
    cohort, raw, ds = converted
    import nibabel as nib

    patient_ids = [r["patient_id"] for r in read_sheet(cohort)]
    files = [p for p in ds.rglob("*") if p.is_file()]
    assert len(files) == 12 * 2 + 5  # + dataset.json, splits_final.json, cases.csv, dataset_meta.json, owner marker
    for path in files:
        data = all_bytes(path).lower()
        for s in PHI + patient_ids:
            assert s.lower().encode() not in data, f"{s!r} leaked into {path}"
        if path.name.endswith(".nii.gz"):
            header = nib.load(str(path)).header
            for field in ("descrip", "aux_file", "intent_name", "db_name"):
                assert bytes(header[field].item()).strip(b"\x00 ") == b"", (path, field)
            assert len(header.extensions) == 0
    # The key (with source ids) sits beside the dataset, not in it.
    assert any(p in id_key_path(raw, 501, "SIJFM").read_text(encoding="utf-8") for p in patient_ids)


def test_nnunet_integrity_check_passes(converted):
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

    verify_dataset_integrity(str(converted[2]), num_processes=1)


def test_existing_dataset_needs_overwrite(converted):
    cohort, raw, ds = converted
    before = (ds / "cases.csv").read_text(encoding="utf-8")
    with pytest.raises(FileExistsError, match="already exists"):
        convert_cohort(cohort, raw, 501, seed=7, jobs=1)
    assert (ds / "cases.csv").read_text(encoding="utf-8") == before
    assert main(["convert", "--input", str(cohort), "--out", str(raw), "--dataset-id", "501", "--seed", "7"]) == 1


def test_overwrite_replaces_and_is_deterministic(converted):
    cohort, raw, ds = converted
    before = {name: (ds / name).read_bytes() for name in ("cases.csv", "splits_final.json", "dataset.json")}
    key_before = id_key_path(raw, 501, "SIJFM").read_bytes()
    (ds / "stray.txt").write_text("from an older run")
    assert convert_cohort(cohort, raw, 501, seed=7, jobs=1, overwrite=True) == ds
    assert not (ds / "stray.txt").exists()
    # Same seed -> byte-identical manifest, splits, dataset.json and key.
    for name, data in before.items():
        assert (ds / name).read_bytes() == data
    assert id_key_path(raw, 501, "SIJFM").read_bytes() == key_before
    assert not [p for p in raw.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------- bad input, one test each


@pytest.fixture
def cohort(tmp_path):
    return make_cohort(tmp_path / "cohort", formats=False)


def assert_nothing_left(raw: Path) -> None:
    leftovers = [p.name for p in raw.iterdir()] if raw.exists() else []
    assert [n for n in leftovers if not n.endswith(".conversion_errors.json")] == []


def convert_fails(cohort: Path, raw: Path, match: str, **kwargs) -> CohortValidationError:
    with pytest.raises(CohortValidationError, match=match) as info:
        convert_cohort(cohort, raw, 502, jobs=1, **kwargs)
    assert_nothing_left(raw)
    return info.value


def replace_mask(cohort: Path, index: int, mutate) -> str:
    row = read_sheet(cohort)[index]
    mask = sitk.ReadImage(str(cohort / row["mask"]))
    sitk.WriteImage(mutate(mask), str(cohort / row["mask"]))
    return row["patient_id"]


def replace_image(cohort: Path, index: int, image) -> str:
    row = read_sheet(cohort)[index]
    sitk.WriteImage(image, str(cohort / row["image"]))
    return row["patient_id"]


@pytest.mark.parametrize("shift_mm", [2e-3, 0.5])
def test_mask_geometry_beyond_tolerance(cohort, tmp_path, shift_mm):
    """Rejected above 1e-4 mm; below it is accepted (the good cohort's DICOM case has a
    mask origin off by 3e-5 mm, the real sample a direction off by 3.5e-5)."""
    def shifted(mask):
        mask.SetOrigin(tuple(o + shift_mm for o in mask.GetOrigin()))
        return mask

    pid = replace_mask(cohort, 4, shifted)
    err = convert_fails(cohort, tmp_path / "raw", f"patient {pid}: mask geometry does not match the image: origin")
    assert len(err.problems) == 1 and err.problems[0].patient_id == pid
    assert f"origin differs by {shift_mm:.3g} mm" in err.problems[0].fault
    assert "raise --geometry-tolerance" in err.problems[0].fault


def test_mask_direction_mismatch_is_given_in_degrees(cohort, tmp_path):
    def turned(mask):
        mask.SetDirection(oblique_direction(30 + 5 + 0.5))  # row 4 is pair k=5: image at 35 degrees
        return mask

    pid = replace_mask(cohort, 4, turned)
    err = convert_fails(cohort, tmp_path / "raw", f"patient {pid}: mask geometry does not match the image: "
                                                  "direction differs by 0.5 degrees")
    assert "cosines by" in str(err) and "raise --geometry-tolerance" in str(err)


def test_mask_spacing_mismatch_beyond_tolerance(cohort, tmp_path):
    def respaced(mask):
        mask.SetSpacing((0.7, 0.7, 3.0))
        return mask

    pid = replace_mask(cohort, 3, respaced)
    convert_fails(cohort, tmp_path / "raw", f"patient {pid}: mask geometry .*spacing differs by 0.3")


def test_label_two_in_mask(cohort, tmp_path):
    def label2(mask):
        arr = sitk.GetArrayFromImage(mask)
        arr[0, 0, 0] = 2
        out = sitk.GetImageFromArray(arr)
        out.CopyInformation(mask)
        return out

    pid = replace_mask(cohort, 5, label2)
    convert_fails(cohort, tmp_path / "raw", rf"patient {pid}: mask has label\(s\) 2 outside")


def test_nan_in_image(cohort, tmp_path):
    image, _ = make_pair(6)
    arr = sitk.GetArrayFromImage(image)
    arr[1, 2, 3] = np.nan
    bad = sitk.GetImageFromArray(arr)
    bad.CopyInformation(image)
    pid = replace_image(cohort, 5, bad)
    convert_fails(cohort, tmp_path / "raw", f"patient {pid}: image has 1 NaN voxel")


def test_two_d_image(cohort, tmp_path):
    flat = sitk.GetImageFromArray(np.random.default_rng(0).normal(size=(16, 20)).astype(np.float32))
    pid = replace_image(cohort, 2, flat)
    convert_fails(cohort, tmp_path / "raw", f"patient {pid}: image unreadable: .*2-D; expected 3-D")


def test_constant_image(cohort, tmp_path):
    image, _ = make_pair(3)
    blank = sitk.GetImageFromArray(np.zeros(sitk.GetArrayFromImage(image).shape, np.float32))
    blank.CopyInformation(image)
    pid = replace_image(cohort, 2, blank)
    convert_fails(cohort, tmp_path / "raw", f"patient {pid}: image is constant")


def test_unreadable_image(cohort, tmp_path):
    row = read_sheet(cohort)[1]
    (cohort / row["image"]).write_bytes(b"not a nifti file")
    convert_fails(cohort, tmp_path / "raw", f"patient {row['patient_id']}: image unreadable")


def test_duplicate_patient(cohort, tmp_path):
    rows = read_sheet(cohort)
    rows[3]["patient_id"] = rows[2]["patient_id"]
    write_sheet(cohort, rows)
    convert_fails(cohort, tmp_path / "raw", f"patient {rows[2]['patient_id']}: line 5: duplicate patient_id")


def test_missing_file(cohort, tmp_path):
    rows = read_sheet(cohort)
    (cohort / rows[6]["mask"]).unlink()
    convert_fails(cohort, tmp_path / "raw", f"patient {rows[6]['patient_id']}: mask file .* does not exist")


@pytest.mark.parametrize("column,value,message", [
    ("patient_id", "../../etc", "unsafe"),
    ("diagnosis", "psoriasis", "diagnosis 'psoriasis' is not one of"),
    ("center", "3", "center '3' is not one of"),
])
def test_bad_sheet_values(cohort, tmp_path, column, value, message):
    rows = read_sheet(cohort)
    rows[0][column] = value
    write_sheet(cohort, rows)
    convert_fails(cohort, tmp_path / "raw", message)


def test_collect_errors_reports_everything(cohort, tmp_path):
    rows = read_sheet(cohort)
    rows[0]["diagnosis"] = "maybe"
    rows[1]["center"] = "0"
    write_sheet(cohort, rows)
    (cohort / rows[2]["image"]).unlink()
    label2 = replace_mask(cohort, 4, lambda m: sitk.Cast(m * 2, sitk.sitkUInt8))
    image, _ = make_pair(8)
    arr = sitk.GetArrayFromImage(image)
    arr[0, 0, :] = np.inf
    bad = sitk.GetImageFromArray(arr)
    bad.CopyInformation(image)
    inf_pid = replace_image(cohort, 7, bad)
    raw = tmp_path / "raw"
    # Without --collect-errors: one problem, the first.
    with pytest.raises(CohortValidationError) as first:
        convert_cohort(cohort, raw, 503, jobs=1)
    assert len(first.value.problems) == 1
    assert not (raw / "Dataset503_SIJFM.conversion_errors.json").exists()
    # With it: all five, also as JSON outside the dataset; nothing else left.
    report = tmp_path / "reports" / "problems.json"
    code = main(["convert", "--input", str(cohort), "--out", str(raw), "--dataset-id", "503",
                 "--collect-errors", "--jobs", "2", "--error-report", str(report)])
    assert code == 1
    problems = json.loads(report.read_text(encoding="utf-8"))["problems"]
    found = {(p["patient_id"], p["fault"].split(" ")[0]) for p in problems}
    assert found == {(rows[0]["patient_id"], "diagnosis"), (rows[1]["patient_id"], "center"),
                     (rows[2]["patient_id"], "image"), (label2, "mask"), (inf_pid, "image")}
    assert_nothing_left(raw)
    with pytest.raises(CohortValidationError) as every:
        convert_cohort(cohort, raw, 503, jobs=1, collect_errors=True)
    assert len(every.value.problems) == 5
    assert (raw / "Dataset503_SIJFM.conversion_errors.json").is_file()
    assert_nothing_left(raw)


def test_too_few_patients_for_folds(tmp_path):
    cohort = make_cohort(tmp_path / "cohort", n_center1=3, n_center2=1, formats=False)
    convert_fails(cohort, tmp_path / "raw", "cannot make 5 CV folds")


# ---------------------------------------------------------------- real data


@pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason="../shared/real_sij_sample is absent")
def test_real_sample_geometry_and_values_preserved(tmp_path):
    cohort = tmp_path / "cohort"
    rows = []
    # 5 folds need 5 train/validation cases: the two real scans plus synthetic fillers.
    for i, scan in enumerate(("1013", "4386")):
        (cohort / f"real{scan}").mkdir(parents=True)
        (cohort / f"real{scan}" / "t1w.nii.gz").symlink_to(REAL_SAMPLE / scan / "t1w.nii.gz")
        (cohort / f"real{scan}" / "fm.nii.gz").symlink_to(REAL_SAMPLE / scan / "disease_region_t1w.nii.gz")
        rows.append({"patient_id": f"R{scan}", "center": 1, "diagnosis": "axSpA", "age": 40, "sex": "M",
                     "image": f"real{scan}/t1w.nii.gz", "mask": f"real{scan}/fm.nii.gz"})
    for i in range(6):
        image, mask = make_pair(20 + i)
        (cohort / f"syn{i}").mkdir()
        sitk.WriteImage(image, str(cohort / f"syn{i}" / "t1.nii.gz"))
        sitk.WriteImage(mask, str(cohort / f"syn{i}" / "fm.nii.gz"))
        rows.append({"patient_id": f"S{i}", "center": 1 + (i == 5), "diagnosis": ("axSpA", "non-axSpA")[i % 2],
                     "age": 30, "sex": "F", "image": f"syn{i}/t1.nii.gz", "mask": f"syn{i}/fm.nii.gz"})
    (cohort / "linked_roots.json").write_text(json.dumps([str(REAL_SAMPLE.resolve())]))  # links leave the cohort
    write_sheet(cohort, rows)
    raw = tmp_path / "raw"
    ds = convert_cohort(cohort, raw, 504, jobs=1)
    key = {r["patient_id"]: r["case_id"] for r in read_csv(id_key_path(raw, 504, "SIJFM"))}
    where = {c["case_id"]: c["set"] for c in read_csv(ds / "cases.csv")}
    for scan in ("1013", "4386"):
        case = key[f"R{scan}"]
        suffix = {"train": "Tr", "validation": "Tr", "internal_test": "Ts"}[where[case]]
        src = sitk.ReadImage(str(REAL_SAMPLE / scan / "t1w.nii.gz"))
        src_mask = sitk.ReadImage(str(REAL_SAMPLE / scan / "disease_region_t1w.nii.gz"))
        out = sitk.ReadImage(str(ds / f"images{suffix}" / f"{case}_0000.nii.gz"))
        lab = sitk.ReadImage(str(ds / f"labels{suffix}" / f"{case}.nii.gz"))
        assert out.GetSize() == src.GetSize() == (336, 336, 25)
        # Spacing and origin survive bit for bit; direction cosines go through NIfTI's
        # float32 quaternion and come back within ~3e-8.
        assert out.GetSpacing() == src.GetSpacing()
        assert out.GetOrigin() == src.GetOrigin()
        np.testing.assert_allclose(out.GetDirection(), src.GetDirection(), rtol=0, atol=1e-7)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(out), sitk.GetArrayFromImage(src))
        # The real mask's direction differs from its image by ~3.5e-5 (qform vs sform):
        # accepted under 1e-4, then it carries the image's geometry exactly.
        assert lab.GetDirection() == out.GetDirection() and lab.GetOrigin() == out.GetOrigin()
        np.testing.assert_array_equal(sitk.GetArrayFromImage(lab), sitk.GetArrayFromImage(src_mask))
        # The source header's descrip holds an acquisition time; it must not be copied.
        assert b"Time=" not in all_bytes(ds / f"images{suffix}" / f"{case}_0000.nii.gz")


# ---------------------------------------------------------------- integration with synth


def test_synthetic_cohort_converts(tmp_path):
    synthetic_cohort = pytest.importorskip("dataset_conversion.synthetic_cohort")
    if not hasattr(synthetic_cohort, "generate_cohort"):
        pytest.skip("synthetic_cohort.generate_cohort is not available")
    cohort = synthetic_cohort.generate_cohort(tmp_path / "synth", scale=0.01, seed=3, jobs=2)
    sheet = read_sheet(cohort)
    n1 = sum(r["center"] == "1" for r in sheet)
    n2 = sum(r["center"] == "2" for r in sheet)
    raw = tmp_path / "raw"
    ds = convert_cohort(cohort, raw, 505, seed=3, jobs=2)  # fails if nnU-Net's check fails
    cases = read_csv(ds / "cases.csv")
    counts = Counter(c["set"] for c in cases)
    from dataset_conversion.splits import set_sizes

    expected = set_sizes(n1)
    assert counts == Counter({**expected, "external_test": n2})
    assert len(list((ds / "imagesTr").glob("*.nii.gz"))) == expected["train"] + expected["validation"]
    assert len(list((ds / "imagesTs").glob("*.nii.gz"))) == expected["internal_test"]
    assert len(list((ds / "imagesExt").glob("*.nii.gz"))) == n2
    assert json.loads((ds / "dataset.json").read_text(encoding="utf-8"))["numTraining"] == expected["train"] + expected["validation"]
    # Diagnosis survives; source ids do not.
    key = {r["case_id"]: r["patient_id"] for r in read_csv(id_key_path(raw, 505, "SIJFM"))}
    dx = {r["patient_id"]: r["diagnosis"] for r in sheet}
    assert all(c["diagnosis"] == dx[key[c["case_id"]]] for c in cases)
    for path in ds.rglob("*"):
        if path.is_file():
            data = all_bytes(path)
            assert not any(pid.encode() in data for pid in dx), path


def test_integrity_failure_is_raised(tmp_path):
    from dataset_conversion.converter import DatasetIntegrityError, verify_with_nnunet

    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    (tmp_path / "dataset.json").write_text(json.dumps({
        "channel_names": {"0": "T1"}, "labels": {"background": 0, "fm": 1}, "numTraining": 3,
        "file_ending": ".nii.gz"}))
    with pytest.raises(DatasetIntegrityError, match="expected number of training cases"):
        verify_with_nnunet(tmp_path, 1)


def test_late_failure_leaves_nothing(cohort, tmp_path, monkeypatch):
    """A failure after every case was written (here: nnU-Net's check) leaves no dataset,
    no temporary folder and no id key."""
    import dataset_conversion.converter as converter

    def failing_check(folder, num_processes):
        assert (Path(folder) / "imagesTr").is_dir() and len(list((Path(folder) / "imagesTr").iterdir())) == 8
        raise converter.DatasetIntegrityError("nnU-Net verify_dataset_integrity failed: simulated")

    monkeypatch.setattr(converter, "verify_with_nnunet", failing_check)
    raw = tmp_path / "raw"
    with pytest.raises(converter.DatasetIntegrityError, match="simulated"):
        convert_cohort(cohort, raw, 506, jobs=2)
    assert not raw.exists()  # the raw root this conversion created is removed again: no debris


# ---------------------------------------------------------------- study modes, fixed splits, sequences


def rewrite_sheet(cohort: Path, change) -> list[dict]:
    rows = [change(dict(r)) for r in read_sheet(cohort)]
    write_sheet(cohort, rows)
    return rows


def test_segmentation_only_cohort_warns_at_once_and_says_so(cohort, tmp_path, caplog):
    rewrite_sheet(cohort, lambda r: {k: v for k, v in r.items() if k not in ("diagnosis", "age")})
    with caplog.at_level("WARNING", logger="dataset_conversion"):
        ds = convert_cohort(cohort, tmp_path / "raw", 510, jobs=1)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(w.endswith("clinical.csv: segmentation-only study (clinical.csv has no diagnosis column); "
                          "classification and ROC will be skipped") for w in warnings)
    meta = json.loads((ds / "dataset_meta.json").read_text(encoding="utf-8"))
    assert meta["study_mode"] == "segmentation_only" and meta["stratified_by"] is None
    assert meta["clinical_baseline_available"] is False
    assert meta["clinical_baseline_reason"] == "clinical.csv has no age column"
    cases = read_csv(ds / "cases.csv")
    assert {c["diagnosis"] for c in cases} == {""} and {c["label"] for c in cases} == {""}
    assert {c["age"] for c in cases} == {""} and {c["sex"] for c in cases} == {"F", "M"}


def test_one_class_cohort_is_segmentation_only(cohort, tmp_path, caplog):
    rewrite_sheet(cohort, lambda r: {**r, "diagnosis": "axSpA", "sex": "" if r["patient_id"].endswith("1") else r["sex"]})
    with caplog.at_level("WARNING", logger="dataset_conversion"):
        ds = convert_cohort(cohort, tmp_path / "raw", 511, jobs=1)
    meta = json.loads((ds / "dataset_meta.json").read_text(encoding="utf-8"))
    assert meta["study_mode"] == "segmentation_only"
    assert meta["study_mode_reason"] == "every patient in clinical.csv has the diagnosis 'axSpA' (one class)"
    assert meta["clinical_baseline_reason"] == "sex is empty for 2 of 12 patient(s)"
    assert sum("segmentation-only study" in r.getMessage() for r in caplog.records) == 1


def test_missing_age_in_a_classification_cohort_warns_about_the_baseline(cohort, tmp_path, caplog):
    rewrite_sheet(cohort, lambda r: {**r, "age": ""})
    with caplog.at_level("WARNING", logger="dataset_conversion"):
        ds = convert_cohort(cohort, tmp_path / "raw", 512, jobs=1)
    meta = json.loads((ds / "dataset_meta.json").read_text(encoding="utf-8"))
    assert meta["study_mode"] == "classification" and meta["clinical_baseline_available"] is False
    assert any("clinical.csv: no clinical baseline (age + sex) will be fitted: age is empty for 12 of 12"
               in r.getMessage() for r in caplog.records)


def test_fixed_set_column_sets_the_test_split(cohort, tmp_path):
    chosen = {"PATDOE1000": "internal_test", "PATDOE1001": "internal_test", "PATDOE2000": "train"}
    rewrite_sheet(cohort, lambda r: {**r, "set": chosen.get(r["patient_id"], "train")})
    raw = tmp_path / "raw"
    ds = convert_cohort(cohort, raw, 513, n_folds=3, jobs=1)
    key = {r["case_id"]: r["patient_id"] for r in read_csv(id_key_path(raw, 513, "SIJFM"))}
    cases = read_csv(ds / "cases.csv")
    where = {key[c["case_id"]]: c["set"] for c in cases}
    assert {p for p, s in where.items() if s == "internal_test"} == {"PATDOE1000", "PATDOE1001"}
    assert where["PATDOE2000"] == "train" and set(where.values()) == {"train", "internal_test"}
    assert all((c["fold"] == "-1") == (c["set"] == "internal_test") for c in cases)
    folds = json.loads((ds / "splits_final.json").read_text(encoding="utf-8"))
    assert sorted(sum((f["val"] for f in folds), [])) == sorted(c["case_id"] for c in cases if c["set"] == "train")
    assert json.loads((ds / "dataset_meta.json").read_text(encoding="utf-8"))["split_source"] == "clinical.csv set column"


def test_mixed_set_column_is_refused(cohort, tmp_path):
    rewrite_sheet(cohort, lambda r: {**r, "set": "train" if r["patient_id"] != "PATDOE1003" else ""})
    convert_fails(cohort, tmp_path / "raw", "column 'set' is empty on 1 of 12 rows")


def add_stir(cohort: Path, shift_mm: float = 0.0, index_shift: int = 0) -> None:
    """Give every patient a STIR channel (its T1 inverted); row 0's STIR grid is moved."""
    def with_stir(r):
        image = sitk.ReadImage(str(cohort / r["image"]))
        stir = sitk.Cast(sitk.InvertIntensity(image, 2000.0), sitk.sitkFloat32)
        if r["patient_id"] == "PATDOE1000":
            stir.SetOrigin(tuple(o + shift_mm for o in image.GetOrigin()))
            if index_shift:
                stir.SetOrigin(image.TransformIndexToPhysicalPoint((0, 0, index_shift)))
        target = str(Path(r["image"]).parent / "stir.nii.gz")
        sitk.WriteImage(stir, str(cohort / target))
        return {"patient_id": r["patient_id"], "center": r["center"], "diagnosis": r["diagnosis"],
                "age": r["age"], "sex": r["sex"], "image_t1": r["image"], "image_stir": target, "mask": r["mask"]}
    rewrite_sheet(cohort, with_stir)


def test_two_sequences_become_two_channels_and_resampling_is_recorded(cohort, tmp_path):
    add_stir(cohort, shift_mm=0.35)
    raw = tmp_path / "raw"
    ds = convert_cohort(cohort, raw, 514, jobs=1)
    dataset = json.loads((ds / "dataset.json").read_text(encoding="utf-8"))
    assert dataset["channel_names"] == {"0": "T1", "1": "STIR"}
    key = {r["patient_id"]: r["case_id"] for r in read_csv(id_key_path(raw, 514, "SIJFM"))}
    meta = json.loads((ds / "dataset_meta.json").read_text(encoding="utf-8"))
    assert meta["resampled_cases"] == {key["PATDOE1000"]: ["STIR"]}
    moved = next(ds.rglob(f"{key['PATDOE1000']}_0001.nii.gz"))
    first = sitk.ReadImage(str(next(ds.rglob(f"{key['PATDOE1000']}_0000.nii.gz"))))
    resampled = sitk.ReadImage(str(moved))
    assert resampled.GetOrigin() == first.GetOrigin() and resampled.GetSize() == first.GetSize()
    untouched = sitk.ReadImage(str(next(ds.rglob(f"{key['PATDOE1001']}_0001.nii.gz"))))
    t1 = sitk.ReadImage(str(next(ds.rglob(f"{key['PATDOE1001']}_0000.nii.gz"))))
    np.testing.assert_allclose(sitk.GetArrayFromImage(untouched), 2000.0 - sitk.GetArrayFromImage(t1), atol=1e-3)


def test_sequence_outside_the_first_field_of_view_is_refused(cohort, tmp_path):
    add_stir(cohort, index_shift=SIZE[2] - 1)  # moved by all but one slice: ~1/6 overlap
    convert_fails(cohort, tmp_path / "raw", "patient PATDOE1000: STIR image covers 17% of the T1 image's field")


def test_declared_channel_name_for_a_single_image_column(cohort, tmp_path):
    ds = convert_cohort(cohort, tmp_path / "raw", 515, jobs=1, channel_names=("STIR",))
    assert json.loads((ds / "dataset.json").read_text(encoding="utf-8"))["channel_names"] == {"0": "STIR"}


def test_a_dead_check_worker_is_one_line_and_leaves_nothing(cohort, tmp_path, monkeypatch, caplog):
    """nnU-Net's check losing a worker ends the conversion with one clear error, no debris."""
    from concurrent.futures.process import BrokenProcessPool

    import nnunet_fm.nnunet.integrity as integrity

    def dead_worker(folder, num_processes):
        raise BrokenProcessPool("A process in the process pool was terminated abruptly")

    monkeypatch.setattr(integrity, "verify_dataset", dead_worker)
    raw = tmp_path / "raw"
    with caplog.at_level("ERROR"):
        code = main(["convert", "--input", str(cohort), "--out", str(raw), "--dataset-id", "516", "--jobs", "1"])
    assert code == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors[-1].startswith("nnU-Net verify_dataset_integrity could not finish: a worker process died")
    assert "\n" not in errors[-1] and errors[-1].endswith("rerun with --jobs 1 or with more free memory")
    assert not raw.exists()
