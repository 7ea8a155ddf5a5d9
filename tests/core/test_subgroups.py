"""Subgroup tables against R (pROC DeLong, prop.test Wilson, quantile type 7) and scipy."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nnunet_fm.subgroups import bootstrap_ci, detection_by_size_tertile, subgroup_table

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "reference" / "subgroup_reference.json")
                       .read_text(encoding="utf-8"))


def _cases() -> pd.DataFrame:
    c = REFERENCE["cases"]
    n = len(c["label"])
    rng = np.random.default_rng(1)
    ref_ml = rng.uniform(0.5, 5.0, n)
    ref_ml[3] = 0.0  # empty reference mask: ratio undefined, counted
    dice = rng.uniform(0.5, 0.95, n)
    dice[7] = np.nan
    return pd.DataFrame({"case_id": [f"c{i:03d}" for i in range(n)], "set": "external_test",
                         "label": c["label"], "center": c["center"], "sex": c["sex"], "score": c["score"],
                         "dice": dice, "ref_volume_ml": ref_ml, "pred_volume_ml": ref_ml * rng.uniform(0.6, 1.2, n)})


def test_auc_per_subgroup_matches_proc():
    table = subgroup_table(_cases(), by=("label", "center", "sex"), n_boot=200).set_index(["grouping", "subgroup"])
    for ref in REFERENCE["cases"]["aucs"]:
        row = table.loc[(ref["grouping"], ref["subgroup"])]
        assert row["auc"] == pytest.approx(ref["auc"], abs=1e-12)
        assert [row["auc_ci_low"], row["auc_ci_high"]] == pytest.approx(ref["ci"], abs=1e-9)


def test_one_class_subgroup_has_nan_auc_with_reason_and_missing_values_are_counted():
    cases = _cases()
    table = subgroup_table(cases, by=("label",), n_boot=200).set_index(["grouping", "subgroup"])
    axspa = table.loc[("label", "1")]
    assert math.isnan(axspa["auc"]) and "one class only" in axspa["auc_note"]
    everyone = table.loc[("all", "all")]
    assert everyone["n_cases"] == len(cases)
    assert everyone["n_dice_missing"] == 1 and everyone["n_volume_ratio_undefined"] == 1
    assert everyone["dice_mean"] == pytest.approx(np.nanmean(cases["dice"]), abs=1e-12)
    ok = cases["ref_volume_ml"] > 0
    ratio = (cases["pred_volume_ml"] / cases["ref_volume_ml"])[ok]
    assert everyone["volume_ratio_median"] == pytest.approx(ratio.median(), abs=1e-12)
    assert everyone["volume_ratio_ci_low"] < everyone["volume_ratio_median"] < everyone["volume_ratio_ci_high"]


def test_bootstrap_ci_is_scipy_percentile_and_seeded():
    from scipy.stats import bootstrap

    x = np.random.default_rng(3).gamma(2.0, 1.0, 40)
    estimate, low, high = bootstrap_ci(x, "median", n_boot=999, seed=5)
    ref = bootstrap((x,), np.median, n_resamples=999, method="percentile", rng=np.random.default_rng(5))
    assert estimate == np.median(x)
    assert (low, high) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high), abs=1e-12)
    assert bootstrap_ci(x, "median", n_boot=999, seed=5) == (estimate, low, high)
    assert bootstrap_ci([0.8, 0.8, 0.8]) == pytest.approx((0.8, 0.8, 0.8), abs=1e-15)
    assert math.isnan(bootstrap_ci([0.8])[1])
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_ci([0.1, np.nan])


def test_tertile_sensitivity_matches_r():
    les = REFERENCE["lesions"]
    lesions = pd.DataFrame({"case_id": "x", "lesion_volume_ml": les["volume_ml"],
                            "detected": np.array(les["detected"], bool)})
    table = detection_by_size_tertile(lesions).set_index("tertile")
    for name, ref in les["tertiles"].items():
        row = table.loc[name]
        assert row["n_lesions"] == ref["n_lesions"] and row["n_detected"] == ref["n_detected"]
        assert [row["sensitivity_ci_low"], row["sensitivity_ci_high"]] == pytest.approx(ref["ci"], abs=1e-9)
    assert table.loc["small", "lesion_volume_ml_max"] <= les["edges"][0] < table.loc["medium", "lesion_volume_ml_min"]


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="center"):
        subgroup_table(_cases().drop(columns="center"))
    with pytest.raises(ValueError, match="detected"):
        detection_by_size_tertile(pd.DataFrame({"case_id": [1], "lesion_volume_ml": [0.2]}))
