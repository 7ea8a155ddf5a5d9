"""IBSI description of the shipped pyradiomics parameter files."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.ibsi_settings import ibsi_settings, ibsi_settings_markdown, load_params

PARAMS = Path(__file__).resolve().parents[2] / "classifiers" / "radiomics_fm_t1.yaml"


def test_study_params_in_ibsi_terms():
    rows = {r["item"]: r["setting"] for r in ibsi_settings(load_params(PARAMS))}
    assert rows["Image type / filter (response map)"] == "none (original image)"
    assert rows["Interpolation grid (voxel spacing)"].startswith("0.7 x 0.7 x native mm")
    assert rows["Image interpolator"] == "cubic B-spline (sitkBSpline)"
    assert rows["ROI mask interpolation"].startswith("nearest neighbour")
    assert rows["Discretisation"] == "fixed bin size (FBS), bin width 5 normalised units"
    assert rows["Intensity normalisation"].startswith("z-score over the whole image, multiplied by 100")
    assert "+300 shift" in rows["Intensity normalisation"]
    assert rows["Texture aggregation (2-D / 3-D)"].startswith("2.5-D (force2D, slice axis = array axis 0)")


def test_markdown_table_has_one_row_per_item():
    text = ibsi_settings_markdown(PARAMS)
    assert text.count("\n| ") == 2 + 8  # header, rule, 8 items
    assert "`radiomics_fm_t1.yaml`" in text


def test_pyradiomics_defaults_fill_what_the_file_does_not_set():
    rows = {r["item"]: r["setting"] for r in ibsi_settings({"setting": {"label": 1}})}
    assert rows["Interpolation grid (voxel spacing)"] == "none (native voxel grid)"
    assert rows["Discretisation"] == "fixed bin size (FBS), bin width 25 image intensity units"
    assert rows["Intensity normalisation"] == "none (raw intensities)"
    assert rows["Texture aggregation (2-D / 3-D)"].startswith("3-D")


def test_missing_or_bad_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_params(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("- a list\n", encoding="utf-8")
    with pytest.raises(ValueError, match="mapping"):
        load_params(tmp_path / "bad.yaml")
