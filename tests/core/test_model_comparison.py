"""Paired ΔAUC against R pROC's roc.test (stored reference) and Holm within a family."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from nnunet_fm.model_comparison import compare_models, delta_auc_paired

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "reference" / "delta_auc_reference.json")
                       .read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(REFERENCE["datasets"]))
def test_delta_auc_matches_proc_roc_test(name):
    d = REFERENCE["datasets"][name]
    got = delta_auc_paired(d["y"], d["score_1"], d["score_2"])
    assert got["auc_1"] == pytest.approx(d["auc_1"], abs=1e-12)
    assert got["auc_2"] == pytest.approx(d["auc_2"], abs=1e-12)
    assert got["z"] == pytest.approx(d["z"], abs=1e-9)
    assert got["p_value"] == pytest.approx(d["p"], abs=1e-9)
    assert [got["delta_auc_ci_low"], got["delta_auc_ci_high"]] == pytest.approx(d["ci95"], abs=1e-9)
    got90 = delta_auc_paired(d["y"], d["score_1"], d["score_2"], level=0.90)
    assert [got90["delta_auc_ci_low"], got90["delta_auc_ci_high"]] == pytest.approx(d["ci90"], abs=1e-9)


def test_compare_models_holm_adjusts_within_the_family():
    d = REFERENCE["datasets"]["correlated_60"]
    rng = np.random.default_rng(0)
    n = len(d["y"])
    scores = {"clinical": d["score_2"], "xgboost": d["score_1"],
              "noise": rng.normal(size=n), "fm_volume": np.asarray(d["score_1"]) + rng.normal(0, 1, n)}
    table = compare_models(d["y"], scores, reference_model="clinical")
    assert table["model"].tolist() == ["xgboost", "noise", "fm_volume"]
    np.testing.assert_allclose(table["p_holm"], multipletests(table["p_value"], method="holm")[1], atol=1e-12)
    row = table.set_index("model").loc["xgboost"]
    assert row["delta_auc"] == pytest.approx(d["auc_1"] - d["auc_2"], abs=1e-12)
    assert row["p_value"] == pytest.approx(d["p"], abs=1e-9)


def test_unknown_reference_model_is_named():
    with pytest.raises(ValueError, match="'age'"):
        compare_models([0, 1, 0, 1], {"a": [1, 2, 3, 4], "b": [4, 3, 2, 1]}, reference_model="age")
