"""The UCL VHI recipe on the repository's own layout, built from the real sample scans."""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

import pytest

from dataset_conversion.clinical_sheet import read_cohort_sheet
from dataset_conversion.ucl_vhi import UclLayoutError, collect_scans, import_ucl_vhi

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
REAL_SAMPLE = SHARED / "real_sij_sample"
UCL_SUBSET = SHARED / "ucl_vhi_subset"
needs_sample = pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason="../shared/real_sij_sample is absent")
needs_subset = pytest.mark.skipif(not UCL_SUBSET.is_dir(), reason="../shared/ucl_vhi_subset is absent")


def link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source)


@pytest.fixture
def ucl_root(tmp_path):
    """The two sample scans in the repository layout: 1013 a Pre scan for training, 4386 a
    Post scan in Test_data; STIR and the R11/R12 inflammation masks of both."""
    root = tmp_path / "vhi"
    data = root / "data"
    for scan, timing in (("1013", "Pre_Scans"), ("4386", "Post_Scans")):
        link(REAL_SAMPLE / scan / "t1w.nii.gz", data / "images_study/T1W" / timing / f"{scan}_T1W.nii.gz")
        link(REAL_SAMPLE / scan / "stir.nii.gz", data / "images_study/STIR" / timing / f"{scan}_STIR.nii.gz")
        for reader in ("R11", "R12"):
            link(REAL_SAMPLE / scan / f"inflammation_stir_{reader}.nii.gz",
                 data / "segmentations/Inflammation_manual_segmentation" / reader
                 / f"{scan}_inflammation_{reader}.nii.gz")
    disease = data / "segmentations/Disease_region_manual_segmentation"
    link(REAL_SAMPLE / "1013/disease_region_t1w.nii.gz", disease / "1013_disease_region.nii.gz")
    link(REAL_SAMPLE / "4386/disease_region_t1w.nii.gz", disease / "Test_data/4386_disease_region.nii.gz")
    (disease / "notes.txt").write_text("not a mask")
    return root


def read_rows(cohort: Path) -> list[dict]:
    with open(cohort / "clinical.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@needs_sample
def test_disease_region_cohort_holds_out_test_data(ucl_root, tmp_path):
    cohort = import_ucl_vhi(ucl_root, tmp_path / "cohort", task="disease-region")
    rows = read_rows(cohort)
    assert [(r["patient_id"], r["set"], r["image_t1"]) for r in rows] == [
        ("1013", "train", "images/1013_T1W.nii.gz"), ("4386", "internal_test", "images/4386_T1W.nii.gz")]
    assert set(rows[0]) == {"patient_id", "center", "set", "image_t1", "mask"}  # no diagnosis, age, sex
    assert (cohort / "images/1013_T1W.nii.gz").resolve() == (REAL_SAMPLE / "1013/t1w.nii.gz").resolve()
    assert (cohort / "masks/4386_mask.nii.gz").is_symlink()
    sheet = read_cohort_sheet(cohort)
    assert sheet.problems == [] and sheet.channel_names == ("T1",)
    recipe = json.loads((cohort / "ucl_vhi_import.json").read_text(encoding="utf-8"))
    assert recipe["counts"] == {"train": 1, "internal_test": 1} and recipe["geometry_tolerance"] == 1e-4
    # The recipe's run config loads as a run of this cohort with the recipe's schedule.
    from dataset_conversion.ucl_vhi import RECOMMENDED_QUICK_EPOCHS
    from nnunet_fm.config import load_run_config

    config = load_run_config(cohort / recipe["run_config"])
    assert config.name == "ucl-disease-region" and config.data_dir == str(cohort.resolve())
    assert config.nnunet.profile == "quick" and config.nnunet.num_epochs == RECOMMENDED_QUICK_EPOCHS


@needs_sample
def test_inflammation_cohort_converts_to_a_segmentation_only_stir_dataset(ucl_root, tmp_path):
    from dataset_conversion.converter import convert_cohort

    cohort = import_ucl_vhi(ucl_root, tmp_path / "cohort", task="inflammation", reader="R12", copy=True)
    rows = read_rows(cohort)
    assert [(r["patient_id"], r["set"]) for r in rows] == [("1013", "train"), ("4386", "train")]
    assert not (cohort / "masks/1013_mask.nii.gz").is_symlink()
    assert (cohort / "masks/1013_mask.nii.gz").read_bytes() == (
        REAL_SAMPLE / "1013/inflammation_stir_R12.nii.gz").read_bytes()
    ds = convert_cohort(cohort, tmp_path / "raw", 530, n_folds=2, jobs=1)
    assert json.loads((ds / "dataset.json").read_text(encoding="utf-8"))["channel_names"] == {"0": "STIR"}
    meta = json.loads((ds / "dataset_meta.json").read_text(encoding="utf-8"))
    assert meta["study_mode"] == "segmentation_only" and meta["clinical_baseline_available"] is False


@needs_sample
def test_inflammation_with_t1_gives_two_channels_resampled_where_grids_differ(ucl_root, tmp_path):
    import SimpleITK as sitk

    from dataset_conversion.converter import convert_cohort

    # 4386's T1W moved by 0.0036 mm, as the full data's 1012 T1W is against its STIR.
    t1w = ucl_root / "data/images_study/T1W/Post_Scans/4386_T1W.nii.gz"
    image = sitk.ReadImage(str(REAL_SAMPLE / "4386/t1w.nii.gz"))
    image.SetOrigin(tuple(o + 0.0036 for o in image.GetOrigin()))
    t1w.unlink()
    sitk.WriteImage(image, str(t1w))
    cohort = import_ucl_vhi(ucl_root, tmp_path / "cohort", task="inflammation", with_t1=True)
    assert list(read_rows(cohort)[0])[3:5] == ["image_stir", "image_t1"]
    raw = tmp_path / "raw"
    ds = convert_cohort(cohort, raw, 532, n_folds=2, jobs=1)
    assert json.loads((ds / "dataset.json").read_text(encoding="utf-8"))["channel_names"] == {"0": "STIR", "1": "T1"}
    key = {r["patient_id"]: r["case_id"]
           for r in csv.DictReader((raw / "Dataset532_SIJFM.id_key.csv").read_text(encoding="utf-8").splitlines())}
    assert json.loads((ds / "dataset_meta.json").read_text(encoding="utf-8"))["resampled_cases"] == {key["4386"]: ["T1"]}
    with pytest.raises(ValueError, match="--with-t1 adds T1W to the inflammation task"):
        collect_scans(ucl_root, "disease-region", with_t1=True)


@needs_sample
def test_pre_and_post_scans_of_one_id_are_matched_by_grid(ucl_root, tmp_path):
    t1w = ucl_root / "data/images_study/T1W"
    # 1013 also has a Post scan, on 4386's grid: the 1013 mask belongs to the Pre scan.
    link(REAL_SAMPLE / "4386/t1w.nii.gz", t1w / "Post_Scans/1013_T1W.nii.gz")
    scans, channel = collect_scans(ucl_root, "disease-region")
    assert channel == ("T1",) and scans[0].image == t1w / "Pre_Scans/1013_T1W.nii.gz"
    # A second copy on the same grid cannot be told apart: refused, naming both.
    (t1w / "Post_Scans/1013_T1W.nii.gz").unlink()
    link(REAL_SAMPLE / "1013/t1w.nii.gz", t1w / "Additional_scans/Post_Scans/1013_T1W.nii.gz")
    with pytest.raises(UclLayoutError, match=r"patient 1013: the mask 1013_disease_region.nii.gz matches the grid "
                                             r"of 2 of the images .*Pre_Scans.*Additional_scans"):
        collect_scans(ucl_root, "disease-region")


@needs_sample
def test_layout_faults_are_named(ucl_root, tmp_path):
    disease = ucl_root / "data/segmentations/Disease_region_manual_segmentation"
    shutil.copy(disease / "1013_disease_region.nii.gz", disease / "Test_data/1013_disease_region.nii.gz")
    with pytest.raises(UclLayoutError, match="patient 1013 has masks in two places"):
        collect_scans(ucl_root, "disease-region")
    (ucl_root / "data/images_study/STIR/Post_Scans/4386_STIR.nii.gz").unlink()
    with pytest.raises(UclLayoutError, match="patient 4386: no image 4386_STIR.nii.gz"):
        collect_scans(ucl_root, "inflammation")
    with pytest.raises(UclLayoutError, match="--root must be the UCL VHI repository"):
        collect_scans(tmp_path / "nowhere", "disease-region")
    with pytest.raises(ValueError, match="--reader 'R31' is not one of"):
        collect_scans(ucl_root, "inflammation", reader="R31")


@needs_sample
def test_cli_verb_builds_the_cohort(ucl_root, tmp_path):
    from nnunet_fm.cli import import_ucl_vhi as verb

    parser = argparse.ArgumentParser()
    verb.add_parser(parser.add_subparsers())
    args = parser.parse_args(["import-ucl-vhi", "--root", str(ucl_root), "--out", str(tmp_path / "c"),
                              "--task", "disease-region"])
    assert verb.run(args) == 0
    assert len(read_rows(tmp_path / "c")) == 2
    with pytest.raises(FileExistsError):
        verb.run(args)


@needs_subset
def test_ucl_subset_converts_to_a_segmentation_only_t1_dataset(tmp_path, caplog):
    """The 8 real disease-region scans as laid out in the public repository."""
    from dataset_conversion.converter import convert_cohort

    cohort = import_ucl_vhi(UCL_SUBSET, tmp_path / "cohort", task="disease-region")
    assert [r["patient_id"] for r in read_rows(cohort)] == ["1007", "1012", "1013", "1016", "1234", "2015",
                                                            "3002", "4386"]
    with caplog.at_level("WARNING", logger="dataset_conversion"):
        ds = convert_cohort(cohort, tmp_path / "raw", 531, jobs=2)  # qform-only masks accepted at 1e-4
    assert json.loads((ds / "dataset.json").read_text(encoding="utf-8"))["channel_names"] == {"0": "T1"}
    meta = json.loads((ds / "dataset_meta.json").read_text(encoding="utf-8"))
    assert (meta["study_mode"], meta["split_source"]) == ("segmentation_only", "clinical.csv set column")
    assert len(list((ds / "imagesTr").iterdir())) == 8 and not any((ds / "imagesTs").iterdir())
    folds = json.loads((ds / "splits_final.json").read_text(encoding="utf-8"))
    assert len(folds) == 5 and sorted(len(f["val"]) for f in folds) == [1, 1, 2, 2, 2]
    assert any("segmentation-only study" in r.getMessage() for r in caplog.records)
