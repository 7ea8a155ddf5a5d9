"""The synthetic cohort: plan, counts, generative model, written files, DICOM, determinism."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from nnunet_fm.contract import CLINICAL_COLUMNS
from dataset_conversion.synthetic_cohort import (
    MIN_PER_STRATUM, PAPER_COUNTS, generate_cohort, plan_cohort, stratum_counts, volume_auc,
)
from dataset_conversion.sij_phantom import tilt_from_coronal_deg
from nnunet_fm.cli import main
from nnunet_fm.image_io import Geometry, check_same_geometry, read_image

TINY = 0.004  # 3 patients per stratum -> 12 patients
CONTRACT_COLUMNS = list(CLINICAL_COLUMNS)


# --- plan (pure, no images) -------------------------------------------------------------

def test_counts_follow_the_paper_at_scale_one_and_keep_a_minimum():
    full = stratum_counts(1.0)
    assert full == PAPER_COUNTS
    assert sum(full.values()) == 706
    assert stratum_counts(0.25) == {(1, "axSpA"): 116, (1, "non-axSpA"): 47, (2, "axSpA"): 9, (2, "non-axSpA"): 5}
    assert set(stratum_counts(0.001).values()) == {MIN_PER_STRATUM}
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="scale"):
            stratum_counts(bad)


def test_plan_has_the_strata_and_is_deterministic():
    plan = plan_cohort(0.05, seed=5)
    counts = plan.groupby(["center", "diagnosis"]).size().to_dict()
    assert counts == stratum_counts(0.05)
    again = plan_cohort(0.05, seed=5)
    pd.testing.assert_frame_equal(plan.drop(columns="params"), again.drop(columns="params"))
    assert list(plan["params"]) == list(again["params"])
    other = plan_cohort(0.05, seed=6)
    assert not plan["patient_id"].equals(other["patient_id"])
    assert plan["patient_id"].is_unique
    assert all(re.fullmatch(r"MRN\d{7}", pid) for pid in plan["patient_id"])
    assert (plan["n_lesions"] >= 1).all()  # every patient has FM


def test_generative_model_is_informative_but_overlapping():
    plan = plan_cohort(0.5, seed=12)  # 353 patients, planned volumes only (development seed)
    auc = volume_auc(plan, "planned_fm_volume_ml")["all"]
    assert 0.65 <= auc <= 0.85
    ax, non = plan[plan["diagnosis"] == "axSpA"], plan[plan["diagnosis"] == "non-axSpA"]
    assert ax["age"].mean() < non["age"].mean()
    assert (ax["sex"] == "M").mean() > (non["sex"] == "M").mean()
    assert ax["bilateral"].mean() > non["bilateral"].mean()
    assert (ax["sacral_lesions"] > 0).mean() > (non["sacral_lesions"] > 0).mean()
    edge = lambda part: np.mean([np.mean([les.edge_mm for les in p.lesions]) for p in part["params"]])  # noqa: E731
    assert edge(ax) < edge(non)  # axSpA borders are sharper
    # overlap: plenty of non-axSpA patients have more FM than the median axSpA patient
    assert (non["planned_fm_volume_ml"] > ax["planned_fm_volume_ml"].median()).mean() > 0.1
    # ... and sharper, more homogeneous lesions than the median axSpA patient's
    het = lambda part: part["params"].map(lambda p: np.mean([les.heterogeneity for les in p.lesions]))  # noqa: E731
    assert (het(non) < het(ax).median()).mean() > 0.15
    # the true posterior separates the classes well but not perfectly on the cohort itself
    assert 0.82 <= volume_auc(plan, "bayes_llr_all")["all"] <= 0.96


def test_mimics_carry_no_diagnostic_signal_beyond_age():
    plan = plan_cohort(1.0, seed=13)
    degenerative = plan["params"].map(lambda p: sum(m.kind == "degenerative" for m in p.mimics))
    older = plan["age"] >= 40
    for group in (older, ~older):
        part = plan[group]
        ax = degenerative[group][part["diagnosis"] == "axSpA"].mean()
        non = degenerative[group][part["diagnosis"] == "non-axSpA"].mean()
        assert abs(ax - non) < 0.25


def test_centers_differ_in_protocol():
    plan = plan_cohort(0.02, seed=1)
    s1 = [p.scanner for p in plan.loc[plan["center"] == 1, "params"]]
    s2 = [p.scanner for p in plan.loc[plan["center"] == 2, "params"]]
    assert {(s.pixel_mm, s.slice_mm, s.nx, s.ny) for s in s1} == {(0.7, 4.0, 192, 160)}
    assert {(s.pixel_mm, s.slice_mm, s.nx, s.ny) for s in s2} == {(0.8, 3.5, 176, 144)}
    assert np.mean([s.noise_sigma for s in s2]) > np.mean([s.noise_sigma for s in s1])
    assert np.mean([s.fat / s.marrow for s in s2]) < np.mean([s.fat / s.marrow for s in s1])
    assert all(12 <= s.n_slices <= 20 for s in s1 + s2)


# --- written cohort ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    """The same tiny cohort written twice: in-process and through the CLI with 2 jobs."""
    root = tmp_path_factory.mktemp("synth")
    serial = generate_cohort(root / "serial", scale=TINY, seed=11, jobs=1)
    assert main(["-q", "synth", "--out", str(root / "parallel"), "--scale", str(TINY), "--seed", "11",
                 "--jobs", "2"]) == 0
    return serial, root / "parallel"


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "cohort.json"}


def test_same_seed_gives_identical_files_for_any_number_of_jobs(cohorts):
    serial, parallel = cohorts
    assert _digest(serial) == _digest(parallel)
    a = json.loads((serial / "cohort.json").read_text(encoding="utf-8"))
    b = json.loads((parallel / "cohort.json").read_text(encoding="utf-8"))
    a.pop("timing"), b.pop("timing")  # wall/CPU time and jobs differ by design
    assert a == b


def test_clinical_csv_follows_the_contract(cohorts):
    folder = cohorts[0]
    clinical = pd.read_csv(folder / "clinical.csv")
    assert list(clinical.columns[:7]) == CONTRACT_COLUMNS
    assert "fm_volume_ml_true" in clinical.columns
    assert len(clinical) == 12
    assert clinical.groupby(["center", "diagnosis"]).size().to_dict() == stratum_counts(TINY)
    assert set(clinical["sex"]) <= {"F", "M"} and clinical["age"].between(18, 75).all()
    for row in clinical.itertuples():
        assert (folder / row.image).exists() and (folder / row.mask).exists()
        assert row.patient_id in row.image  # folders are named by the (identifying) source id
        assert row.image.endswith(".nii.gz") if row.center == 1 else (folder / row.image).is_dir()


def test_masks_are_binary_nonempty_on_the_image_grid(cohorts):
    folder = cohorts[0]
    clinical = pd.read_csv(folder / "clinical.csv")
    spacings = {}
    for row in clinical.itertuples():
        image = read_image(folder / row.image)
        mask = read_image(folder / row.mask)
        check_same_geometry(image, mask, tolerance=1e-4)
        assert mask.GetPixelID() == sitk.sitkUInt8 and image.GetPixelID() == sitk.sitkInt16
        m = sitk.GetArrayViewFromImage(mask)
        assert set(np.unique(m)) == {0, 1}
        volume_ml = m.sum() * np.prod(mask.GetSpacing()) / 1000
        assert volume_ml == pytest.approx(row.fm_volume_ml_true, abs=1e-3)
        spacing = image.GetSpacing()
        assert spacing[2] > 3 * spacing[0]  # anisotropic
        assert 15 < tilt_from_coronal_deg(image.GetDirection()) < 55  # oblique
        a = sitk.GetArrayViewFromImage(image)
        assert a.min() >= 0 and 800 < np.percentile(a, 99) < 2500
        assert a[m > 0].mean() > np.median(a[a > 300])  # FM is bright
        spacings.setdefault(row.center, set()).add(tuple(round(s, 4) for s in spacing))
    assert spacings[1] == {(0.7, 0.7, 4.0)} and spacings[2] == {(0.8, 0.8, 3.5)}


def test_center2_dicom_series_is_oblique_shuffled_and_carries_phi(cohorts):
    folder = cohorts[0]
    clinical = pd.read_csv(folder / "clinical.csv")
    shuffled = 0
    for row in clinical[clinical["center"] == 2].itertuples():
        files = sorted((folder / row.image).iterdir())
        reader = sitk.ImageFileReader()
        positions = []
        for path in files:
            reader.SetFileName(str(path))
            reader.ReadImageInformation()
            positions.append([float(v) for v in reader.GetMetaData("0020|0032").split("\\")])
            assert reader.GetMetaData("0008|0060").strip() == "MR"
            assert reader.GetMetaData("0010|0020").strip() == row.patient_id
            assert "^" in reader.GetMetaData("0010|0010")
            assert re.fullmatch(r"\d{8}", reader.GetMetaData("0010|0030").strip())
            assert re.fullmatch(r"\d{8}", reader.GetMetaData("0008|0020").strip())
            assert reader.GetMetaData("0008|0080").strip()
            assert float(reader.GetMetaData("0018|0050")) == pytest.approx(3.5)
            iop = [float(v) for v in reader.GetMetaData("0020|0037").split("\\")]
            normal = np.cross(iop[:3], iop[3:])
            assert 15 < np.degrees(np.arccos(abs(normal[1]))) < 55
        image = read_image(folder / row.image)
        assert len(files) == image.GetSize()[2]
        along = np.asarray(positions) @ np.asarray(image.GetDirection()).reshape(3, 3)[:, 2]
        shuffled += not (np.all(np.diff(along) > 0) or np.all(np.diff(along) < 0))
        # read back in position order: the series geometry equals the mask's grid
        mask = read_image(folder / row.mask)
        assert not Geometry.of(image).differences(Geometry.of(mask), 1e-4)
    assert shuffled >= 2  # file-name order is not slice order


def test_cohort_json_documents_the_run(cohorts):
    info = json.loads((cohorts[0] / "cohort.json").read_text(encoding="utf-8"))
    assert info["seed"] == 11 and info["scale"] == TINY and info["n_patients"] == 12
    assert info["counts"] == {"center1_axSpA": 3, "center1_non-axSpA": 3, "center2_axSpA": 3, "center2_non-axSpA": 3}
    assert set(info["fm_volume_alone_auc"]) == {"all", "center1", "center2"}
    assert 0 <= info["fm_volume_alone_auc"]["all"] <= 1
    assert info["generator_version"]
    assert info["generator_version"].startswith("2.")
    assert "pattern_mean" in info["parameters"]["diagnosis_model"]
    ceiling = info["bayes_auc"]
    assert 0.85 <= ceiling["all"] <= 0.93 and 0.62 <= ceiling["clinical"] <= 0.78
    assert ceiling["clinical"] < ceiling["imaging"] < ceiling["all"]
    assert ceiling["mc_patients"] >= 200_000 and ceiling["mc_seed"] == 11 and ceiling["mc_spawn_key"] == [2]
    assert set(info["bayes_auc_cohort"]) == {"all", "imaging", "clinical"}
    assert set(info["bayes_auc_cohort"]["all"]) == {"all", "center1", "center2"}


def test_truth_csv_holds_the_latents_and_the_true_likelihood_ratio(cohorts):
    folder = cohorts[0]
    truth = pd.read_csv(folder / "truth.csv")
    clinical = pd.read_csv(folder / "clinical.csv")
    assert list(truth["patient_id"]) == list(clinical["patient_id"])
    np.testing.assert_allclose(truth["bayes_llr_all"], truth["bayes_llr_imaging"] + truth["bayes_llr_clinical"],
                               atol=1e-9)
    assert (truth["latent_age"].round().clip(18, 75) == clinical["age"]).all()
    assert (truth["n_lesions"] >= 1).all()
    assert not set(truth.columns) & (set(clinical.columns) - {"patient_id"})  # truth never enters clinical.csv


def test_existing_folder_needs_overwrite(cohorts, tmp_path):
    with pytest.raises(FileExistsError, match="overwrite"):
        generate_cohort(cohorts[0], scale=TINY, seed=11)
    assert main(["-q", "synth", "--out", str(cohorts[0]), "--scale", str(TINY)]) == 1
