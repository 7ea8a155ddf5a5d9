"""Pure helpers of the real-size feature benchmark (no timing, no real scans needed)."""

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.bench_features_real import blob_mask, compare_tables, main, two_seeds


def test_blob_mask_has_the_asked_volume_inside_the_region():
    region = np.zeros((10, 40, 60), bool)
    region[2:8, 5:35, 5:25] = True
    region[2:8, 5:35, 35:55] = True
    spacing = (3.3, 0.595, 0.595)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    assert len(two_seeds(region, spacing)) == 2
    for ml in (0.2, 2.0):
        blob = blob_mask(region, spacing, ml)
        assert not (blob & ~region).any()
        assert blob.sum() * voxel_ml == pytest.approx(ml, rel=0.05)
        assert blob[:, :, :30].any() and blob[:, :, 30:].any()  # one blob per side
    assert not blob_mask(np.zeros((3, 4, 5), bool), spacing, 1.0).any()


def test_compare_tables_reports_identity_and_the_largest_difference():
    a = pd.DataFrame({"case_id": ["x", "y"], "f": [1.0, math.nan], "note": ["", "n"], "n": pd.array([1, 2], "Int64")})
    assert compare_tables(a, a.copy())["identical"]
    b = a.copy()
    b.loc[0, "f"] = 1.0 + 1e-12
    result = compare_tables(a, b)
    assert not result["identical"] and result["differing_columns"] == ["f"] and result["differing_cells"] == 1
    assert result["max_relative_difference"] == pytest.approx(1e-12, rel=1e-3)
    c = a.copy()
    c.loc[1, "note"] = "other"
    assert compare_tables(a, c)["differing_columns"] == ["note"]
    assert not compare_tables(a, a.drop(columns="note"))["identical"]


def test_absent_sample_is_one_clear_error(tmp_path, caplog):
    out = tmp_path / "out.json"
    assert main(["--sample", str(tmp_path / "nope"), "--out", str(out)]) == 1
    assert not out.exists() and "absent" in caplog.text
