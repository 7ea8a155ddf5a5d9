"""Feature-study blocks against R psych / base R (stored reference), scipy and statsmodels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from classifiers import feature_study as fs

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "reference" / "feature_icc_reference.json")
                       .read_text(encoding="utf-8"))


def _tables(with_problem_cases: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predicted- and reference-mask tables: the R cases (plus one empty and one failed case)."""
    feats = REFERENCE["features"]
    n = len(feats["fm_volume_ml"]["pred"])
    ids = [f"case{i:02d}" for i in range(n)]
    pred = pd.DataFrame({"case_id": ids, **{k: v["pred"] for k, v in feats.items()}, "fm_t1_features_note": "",
                         "mask_empty": 0, "error": ""})
    ref = pd.DataFrame({"case_id": ids, **{k: v["ref"] for k, v in feats.items()}, "mask_empty": 0, "error": ""})
    if not with_problem_cases:
        return pred, ref
    empty = {"case_id": "case_empty", "original_firstorder_Energy": np.nan, "original_glcm_Correlation": np.nan,
             "fm_volume_ml": 0.0, "mask_empty": 1, "error": ""}
    failed = {"case_id": "case_failed", "original_firstorder_Energy": np.nan, "original_glcm_Correlation": np.nan,
              "fm_volume_ml": np.nan, "mask_empty": np.nan, "error": "case case_failed: unreadable"}
    pred = pd.concat([pred, pd.DataFrame([empty, failed])], ignore_index=True)
    ref_extra = {**empty, "case_id": "case_empty", "original_firstorder_Energy": 5e4,
                 "original_glcm_Correlation": 0.2, "fm_volume_ml": 1.5, "mask_empty": 0}
    ref = pd.concat([ref, pd.DataFrame([ref_extra, {**ref_extra, "case_id": "case_failed"}])], ignore_index=True)
    return pred, ref


def test_transform_and_icc_match_psych_on_the_transformed_values():
    pred, ref = _tables(with_problem_cases=False)
    table = fs.feature_icc_table(pred, ref).set_index("feature")
    assert sorted(table.index) == sorted(REFERENCE["features"])  # the text note is no feature
    for name, expected in REFERENCE["features"].items():
        row = table.loc[name]
        assert row["transform"] == expected["transform"], name
        assert row["skewness"] == pytest.approx(expected["skewness"], abs=1e-9), name
        for key in ("icc_a1", "icc_a1_ci_low", "icc_a1_ci_high"):
            assert row[key] == pytest.approx(expected["icc"][key], abs=1e-9), (name, key)


def test_empty_and_failed_cases_are_reported_not_dropped_silently():
    pred, ref = _tables()
    problems = fs.mask_problems(pred, ref)
    assert problems["empty_pred_ids"] == ["case_empty"] and problems["n_empty_pred"] == 1
    assert problems["failed_pred_ids"] == ["case_failed"] and problems["n_empty_ref"] == 0
    table = fs.feature_icc_table(pred, ref).set_index("feature")
    n = len(REFERENCE["features"]["fm_volume_ml"]["pred"])
    assert table.loc["original_glcm_Correlation", "n_cases"] == n  # empty mask: no radiomics value
    # radiomics ICCs are those of the R cases: the problem cases add nothing to them
    expected = REFERENCE["features"]["original_firstorder_Energy"]["icc"]["icc_a1"]
    assert table.loc["original_firstorder_Energy", "icc_a1"] == pytest.approx(expected, abs=1e-9)
    # the volume of an empty mask is 0 ml, a real disagreement, so it stays in (and the
    # zero forbids the log transform)
    assert table.loc["fm_volume_ml", "n_cases"] == n + 1


def test_skewness_is_the_bias_corrected_g1_of_psych_type_2():
    x = np.concatenate([REFERENCE["features"]["original_firstorder_Energy"]["pred"],
                        REFERENCE["features"]["original_firstorder_Energy"]["ref"]])
    expected = REFERENCE["features"]["original_firstorder_Energy"]["skewness"]
    assert fs.choose_transform(x) == ("log", pytest.approx(expected, abs=1e-9))
    assert fs.choose_transform(np.append(x, 0.0))[0] == "identity"  # not strictly positive
    assert fs.choose_transform([1.0, 1.0, 2.0])[0] == "identity"


def test_robust_features_threshold():
    table = pd.DataFrame({"feature": ["a", "b", "c", "d"], "icc_a1": [0.95, 0.75, 0.7499, np.nan]})
    assert fs.robust_features(table, 0.75) == ["a", "b"]
    assert fs.robust_features(table, 0.9) == ["a"]
    with pytest.raises(ValueError, match="tau"):
        fs.robust_features(table, 1.5)


def test_bland_altman_matches_r():
    vol = REFERENCE["features"]["fm_volume_ml"]
    result = fs.bland_altman(np.append(vol["pred"], np.nan), np.append(vol["ref"], 2.0))
    assert result["n_missing"] == 1
    for key, value in REFERENCE["bland_altman"].items():
        assert result[key] == pytest.approx(value, abs=1e-12), key


def test_univariate_table_auc_mannwhitney_and_bh():
    from scipy.stats import mannwhitneyu

    from nnunet_fm.roc_stats import auc

    rng = np.random.default_rng(7)
    n = 50
    y = rng.integers(0, 2, n)
    features = pd.DataFrame({"case_id": range(n), "strong": y * 1.5 + rng.normal(size=n),
                             "reversed": -y + rng.normal(size=n), "noise": rng.normal(size=n),
                             "mask_empty": 0, "error": ""})
    features.loc[3, "noise"] = np.nan
    table = fs.univariate_table(features, y)
    assert table["feature"].tolist()[0] == "strong"
    row = table.set_index("feature").loc["noise"]
    assert row["n_missing"] == 1 and row["n_pos"] + row["n_neg"] == n - 1
    keep = features["noise"].notna().to_numpy()
    x, yy = features["noise"].to_numpy()[keep], y[keep]
    assert row["auc"] == pytest.approx(auc(yy, x), abs=1e-15)
    expected = mannwhitneyu(x[yy == 1], x[yy == 0], alternative="two-sided")
    assert row["mannwhitney_p"] == pytest.approx(expected.pvalue, rel=1e-12)
    assert row["mannwhitney_u"] == pytest.approx(expected.statistic)
    np.testing.assert_allclose(table["q_bh"], multipletests(table["mannwhitney_p"], method="fdr_bh")[1], atol=1e-12)
    assert table.set_index("feature").loc["reversed", "auc"] < 0.5  # direction never flipped


def test_spearman_clusters_puts_correlated_features_together():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(2)
    base_1, base_2 = rng.normal(size=40), rng.normal(size=40)
    features = pd.DataFrame({"a1": base_1, "b1": base_2, "a2": np.exp(base_1) + rng.normal(0, 0.05, 40),
                             "b2": -base_2 + rng.normal(0, 0.1, 40), "const": 1.0})
    result = fs.spearman_clusters(features)
    assert result["dropped"] == ["const"]
    order = result["order"]
    assert abs(order.index("a1") - order.index("a2")) == 1 and abs(order.index("b1") - order.index("b2")) == 1
    expected = spearmanr(features["a1"], features["a2"])[0]
    assert result["correlation"].loc["a1", "a2"] == pytest.approx(expected, abs=1e-12)


def test_icc_counts_for_the_summary():
    table = pd.DataFrame({"feature": ["a", "b", "c", "d"], "icc_a1": [0.95, 0.8, 0.3, np.nan]})
    counts = fs.icc_counts(table)
    assert counts["n_features"] == 4 and counts["n_icc_undefined"] == 1
    assert counts["n_icc_at_least_0_75"] == 2 and counts["features_icc_at_least_0_9"] == ["a"]


def test_icc_of_a_feature_without_two_complete_cases_is_undefined_not_an_error():
    import pandas as pd

    from classifiers.feature_study import feature_icc_table

    pred = pd.DataFrame({"case_id": ["a", "b", "c"], "f_ok": [1.0, 2.0, 3.0], "f_nan": [float("nan")] * 3,
                         "mask_empty": 0, "error": ""})
    ref = pd.DataFrame({"case_id": ["a", "b", "c"], "f_ok": [1.1, 2.1, 2.9], "f_nan": [1.0, 2.0, float("nan")],
                        "mask_empty": 0, "error": ""})
    table = feature_icc_table(pred, ref).set_index("feature")
    assert table.loc["f_ok", "icc_a1"] > 0.9 and table.loc["f_ok", "n_cases"] == 3
    assert pd.isna(table.loc["f_nan", "icc_a1"]) and table.loc["f_nan", "n_cases"] == 0
    assert not table.loc["f_nan", "icc_at_least_0_75"]
