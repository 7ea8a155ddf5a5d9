"""ceiling.json: the AUC of truth.csv's true likelihood ratios per study set, via the id key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from dataset_conversion.ceiling import CeilingError, ceiling_by_set

MODEL = {"all": 0.9, "imaging": 0.85, "clinical": 0.7, "mc_patients": 200000, "mc_se": 0.001, "mc_seed": 7}


def _tables(seed: int = 7, n: int = 60):
    rng = np.random.default_rng(seed)
    patients = [f"P{k:03d}" for k in range(n)]
    cases = pd.DataFrame({
        "case_id": [f"SIJ_1_{k:04d}" for k in rng.permutation(n)],  # shuffled: mapping must follow the key
        "set": rng.choice(["train", "validation", "internal_test", "external_test"], n, p=[0.5, 0.1, 0.2, 0.2]),
        "diagnosis": rng.choice(["axSpA", "non-axSpA"], n),
    })
    key = pd.DataFrame({"case_id": cases["case_id"], "patient_id": patients})
    truth = pd.DataFrame({"patient_id": patients[::-1]})  # another row order than the key
    for part in ("all", "imaging", "clinical"):
        truth[f"bayes_llr_{part}"] = rng.normal(size=n)
    return cases, key, truth


def test_set_aucs_equal_sklearn_on_the_ratios_mapped_through_the_id_key():
    cases, key, truth = _tables()
    out = ceiling_by_set(cases, key, truth, MODEL)
    llr = truth.set_index("patient_id").loc[key.set_index("case_id").loc[cases["case_id"], "patient_id"]]
    y = (cases["diagnosis"] == "axSpA").to_numpy().astype(int)
    for name, members in {"training": ("train", "validation"), "internal_test": ("internal_test",),
                          "external_test": ("external_test",)}.items():
        rows = cases["set"].isin(members).to_numpy()
        assert out["by_set"][name]["n"] == int(rows.sum())
        for part in ("all", "imaging", "clinical"):
            expected = roc_auc_score(y[rows], llr[f"bayes_llr_{part}"].to_numpy()[rows])
            assert out["by_set"][name][part] == pytest.approx(expected, abs=1e-12)
    assert out["model"] == {k: MODEL[k] for k in ("all", "imaging", "clinical", "mc_patients", "mc_se")}
    assert out["source"] == "cohort.json + truth.csv"


def test_a_one_class_set_has_no_auc():
    cases, key, truth = _tables()
    cases.loc[cases["set"] == "external_test", "diagnosis"] = "axSpA"
    assert ceiling_by_set(cases, key, truth, MODEL)["by_set"]["external_test"]["all"] is None


def test_a_case_missing_from_the_key_or_the_truth_is_named():
    cases, key, truth = _tables()
    with pytest.raises(CeilingError, match="id key lacks"):
        ceiling_by_set(cases, key.iloc[1:], truth, MODEL)
    lost = key.set_index("case_id").loc[cases["case_id"].iloc[0], "patient_id"]
    with pytest.raises(CeilingError, match=cases["case_id"].iloc[0]):
        ceiling_by_set(cases, key, truth[truth["patient_id"] != lost], MODEL)
