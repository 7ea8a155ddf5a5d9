"""ROC statistics against R pROC reference values (tests/reference/proc_reference.json).

The reference file is produced by ``Rscript tests/reference/make_proc_reference.R``; it
stores pROC's results on pROC's ``aSAH`` data set (stored in the JSON) and on the
synthetic ``tests/reference/roc_data.csv``.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from nnunet_fm import roc_stats

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"


def _number(value) -> float:
    """JSON value from R (numbers, "Inf", "-Inf", "NA") as float."""
    if isinstance(value, str):
        return {"Inf": math.inf, "-Inf": -math.inf, "NA": math.nan, "NaN": math.nan}[value]
    return float(value)


def _numbers(values) -> np.ndarray:
    return np.array([_number(v) for v in np.atleast_1d(np.array(values, dtype=object))], dtype=float)


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((REFERENCE_DIR / "proc_reference.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def own_data() -> dict:
    """roc_data.csv as {set: {column: array}}."""
    with open(REFERENCE_DIR / "roc_data.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out: dict = {}
    for set_name in sorted({row["set"] for row in rows}):
        chosen = [row for row in rows if row["set"] == set_name]
        out[set_name] = {
            "label": np.array([int(row["label"]) for row in chosen]),
            **{col: np.array([float(row[col]) for row in chosen]) for col in ("score1", "score2", "score3")},
        }
    return out


def _curve_data(entry: dict, reference: dict, own_data: dict) -> tuple[np.ndarray, np.ndarray]:
    source = entry["source"]
    if source["data"] == "explicit":
        return np.array(entry["y"]), np.array(entry["s"], dtype=float)
    if source["data"] == "aSAH":
        return np.array(reference["aSAH"]["outcome_poor"]), np.array(reference["aSAH"][source["score"]], dtype=float)
    subset = own_data[source["set"]]
    return subset["label"], subset[source["score"]]


def _case(reference: dict, name: str) -> dict:
    return next(entry for entry in reference["cases"] if entry["name"] == name)


CASE_NAMES = [
    "aSAH_s100b", "aSAH_wfns", "aSAH_ndka", "own_A_score1", "own_A_score2", "own_A_score3", "own_B_score1",
    "constant_score", "perfect_separation", "reversed_score", "small_ties", "single_positive",
]


def test_reference_file_is_complete(reference):
    assert reference["pROC_version"].count(".") >= 1
    assert sorted(entry["name"] for entry in reference["cases"]) == sorted(CASE_NAMES)
    assert len(reference["aSAH"]["outcome_poor"]) == 113
    assert sum(reference["aSAH"]["outcome_poor"]) == 41


@pytest.mark.parametrize("name", CASE_NAMES)
def test_auc_matches_proc(reference, own_data, name):
    entry = _case(reference, name)
    y, s = _curve_data(entry, reference, own_data)
    assert roc_stats.auc(y, s) == pytest.approx(entry["auc"], abs=1e-9)
    assert int(np.sum(y == 1)) == entry["n_pos"] and int(np.sum(y == 0)) == entry["n_neg"]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_ci_delong_matches_proc(reference, own_data, name):
    entry = _case(reference, name)
    y, s = _curve_data(entry, reference, own_data)
    for level, key in ((0.95, "ci_delong"), (0.90, "ci_delong_90")):
        expected = _numbers(entry[key])[[0, 2]]
        got = np.array(roc_stats.ci_delong(y, s, level=level))
        if np.isnan(expected).all():  # pROC: NA with a single positive case
            assert np.isnan(got).all()
        else:
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in CASE_NAMES if n != "single_positive"])
def test_ci_bootstrap_matches_proc(reference, own_data, name):
    entry = _case(reference, name)
    y, s = _curve_data(entry, reference, own_data)
    got = np.array(roc_stats.ci_bootstrap(y, s, n_boot=2000, level=0.95, random_state=20261126))
    expected = _numbers(entry["ci_bootstrap"])[[0, 2]]
    np.testing.assert_allclose(got, expected, rtol=0, atol=0.01)


def test_ci_bootstrap_is_reproducible_and_seed_dependent(reference):
    y = np.array(reference["aSAH"]["outcome_poor"])
    s = np.array(reference["aSAH"]["s100b"])
    first = roc_stats.ci_bootstrap(y, s, n_boot=500, random_state=7)
    assert roc_stats.ci_bootstrap(y, s, n_boot=500, random_state=7) == first
    assert roc_stats.ci_bootstrap(y, s, n_boot=500, random_state=8) != first
    aucs = roc_stats.bootstrap_aucs(y, s, n_boot=3000, random_state=1)
    assert aucs.shape == (3000,)
    # the bootstrap distribution is centred on the AUC (0.7314) and has about the DeLong SE
    assert aucs.mean() == pytest.approx(0.7314, abs=0.005)
    assert aucs.std(ddof=1) == pytest.approx((0.832618915609651 - 0.630118211761623) / (2 * 1.959964), abs=0.005)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_roc_points_match_proc_coords(reference, own_data, name):
    entry = _case(reference, name)
    y, s = _curve_data(entry, reference, own_data)
    points = roc_stats.roc_points(y, s)
    np.testing.assert_allclose(points["threshold"], _numbers(entry["coords"]["threshold"]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(points["sensitivity"], _numbers(entry["coords"]["sensitivity"]), atol=1e-12)
    np.testing.assert_allclose(points["specificity"], _numbers(entry["coords"]["specificity"]), atol=1e-12)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_sensitivity_at_specificity_matches_proc_coords(reference, own_data, name):
    entry = _case(reference, name)
    y, s = _curve_data(entry, reference, own_data)
    specificities = _numbers(entry["se_at_sp"]["specificity"])
    got = roc_stats.sensitivity_at_specificity(y, s, specificities)
    np.testing.assert_allclose(got, _numbers(entry["se_at_sp"]["sensitivity"]), rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_youden_threshold_is_procs_first_best(reference, own_data, name):
    entry = _case(reference, name)
    y, s = _curve_data(entry, reference, own_data)
    best = _numbers(entry["youden"]["threshold"])
    got = roc_stats.youden_threshold(y, s)
    assert got == pytest.approx(float(np.min(best)), rel=1e-12, abs=1e-12)
    # the rule "score >= threshold" reproduces pROC's sensitivity/specificity there
    metrics = roc_stats.classification_metrics(y, s, got)
    first = int(np.argmin(best))
    assert metrics["sensitivity"]["value"] == pytest.approx(_numbers(entry["youden"]["sensitivity"])[first], abs=1e-12)
    assert metrics["specificity"]["value"] == pytest.approx(_numbers(entry["youden"]["specificity"])[first], abs=1e-12)


def _paired_data(entry, reference, own_data):
    source = entry["source"]
    if source["data"] == "explicit":
        return np.array(entry["y"]), np.array(entry["s1"], dtype=float), np.array(entry["s2"], dtype=float)
    if source["data"] == "aSAH":
        data = reference["aSAH"]
        return np.array(data["outcome_poor"]), np.array(data[source["score1"]]), np.array(data[source["score2"]])
    subset = own_data[source["set"]]
    return subset["label"], subset[source["score1"]], subset[source["score2"]]


def test_paired_delong_matches_proc(reference, own_data):
    assert len(reference["paired"]) == 7
    for entry in reference["paired"]:
        y, s1, s2 = _paired_data(entry, reference, own_data)
        z, p = roc_stats.delong_test_paired(y, s1, s2)
        assert z == pytest.approx(entry["z"], abs=1e-6), entry["name"]
        assert p == pytest.approx(entry["p"], abs=1e-6, rel=1e-6), entry["name"]


def test_paired_delong_two_perfect_scores_gives_z0_p1(reference):
    entry = next(e for e in reference["paired"] if e["name"] == "perfect_vs_perfect")
    result = roc_stats.delong_test_paired(entry["y"], entry["s1"], entry["s2"])
    assert (result.statistic, result.p_value) == (0.0, 1.0)
    assert result.auc_1 == result.auc_2 == 1.0


def test_unpaired_delong_matches_proc(reference, own_data):
    data = reference["aSAH"]
    female = np.array(data["gender_female"]) == 1
    outcome = np.array(data["outcome_poor"])
    s100b = np.array(data["s100b"])
    for entry in reference["unpaired"]:
        source = entry["source"]
        if source["data"] == "own":
            a, b = own_data[source["set1"]], own_data[source["set2"]]
            result = roc_stats.delong_test_unpaired(a["label"], a[source["score"]], b["label"], b[source["score"]])
        else:
            result = roc_stats.delong_test_unpaired(outcome[~female], s100b[~female], outcome[female], s100b[female])
        d, p = result
        assert d == pytest.approx(entry["statistic"], abs=1e-6), entry["name"]
        assert result.df == pytest.approx(entry["df"], abs=1e-6), entry["name"]
        assert p == pytest.approx(entry["p"], abs=1e-6), entry["name"]
        assert result.auc_1 == pytest.approx(entry["auc1"], abs=1e-9)
        assert result.auc_2 == pytest.approx(entry["auc2"], abs=1e-9)


def test_sensitivity_band_matches_proc_ci_se(reference, own_data):
    for entry in reference["ci_se"]:
        y, s = _curve_data(entry, reference, own_data)
        band = roc_stats.bootstrap_sensitivity_band(y, s, entry["specificities"], n_boot=4000, level=0.95,
                                                    random_state=20261126)
        for key in ("lower", "median", "upper"):
            diff = np.abs(band[key] - _numbers(entry[key]))
            # sensitivities take values k / n_pos, so single quantiles can jump by a step;
            # on average the bands agree within Monte Carlo error
            assert diff.max() < 0.04, (entry["name"], key, diff)
            assert diff.mean() < 0.006, (entry["name"], key, diff)
        np.testing.assert_array_equal(band["specificity"], entry["specificities"])
        assert np.all(band["lower"] <= band["median"]) and np.all(band["median"] <= band["upper"])


def test_classification_metrics_match_proc_coords(reference, own_data):
    for entry in reference["thresholds"]:
        y, s = _curve_data(entry, reference, own_data)
        metrics = roc_stats.classification_metrics(y, s, entry["threshold"])
        for key in ("tp", "fp", "tn", "fn"):
            assert metrics[key] == int(entry[key]), (entry["name"], key)
        for key in ("sensitivity", "specificity", "accuracy", "ppv", "npv"):
            assert metrics[key]["value"] == pytest.approx(entry[key], abs=1e-9), (entry["name"], key)
            lower, upper = metrics[key]["ci_wilson"]
            assert lower <= metrics[key]["value"] <= upper
        assert metrics["rule"] == roc_stats.THRESHOLD_RULE


def test_wilson_ci_matches_r_prop_test(reference):
    for entry in reference["wilson"]:
        got = roc_stats.wilson_ci(entry["k"], entry["n"], entry["level"])
        np.testing.assert_allclose(got, [entry["lower"], entry["upper"]], rtol=0, atol=1e-9)
    assert all(math.isnan(v) for v in roc_stats.wilson_ci(0, 0))
    with pytest.raises(ValueError, match="0 <= k <= n"):
        roc_stats.wilson_ci(5, 3)


def test_classification_metrics_without_predicted_positives_gives_nan_ppv():
    metrics = roc_stats.classification_metrics([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], threshold=math.inf)
    assert (metrics["tp"], metrics["fp"], metrics["tn"], metrics["fn"]) == (0, 0, 2, 2)
    assert math.isnan(metrics["ppv"]["value"])
    assert metrics["npv"]["value"] == 0.5
    assert metrics["specificity"]["value"] == 1.0


def test_constant_score_gives_half_and_collapsed_intervals(reference):
    entry = _case(reference, "constant_score")
    assert entry["auc"] == 0.5 and _numbers(entry["ci_delong"]).tolist() == [0.5, 0.5, 0.5]
    y = np.array(entry["y"])
    s = np.full(y.shape, 3.0)
    assert roc_stats.auc(y, s) == 0.5
    assert roc_stats.ci_delong(y, s) == (0.5, 0.5)
    assert roc_stats.ci_bootstrap(y, s, n_boot=200, random_state=0) == (0.5, 0.5)
    assert roc_stats.youden_threshold(y, s) == -math.inf  # pROC: -Inf and Inf tie; first is -Inf


def test_perfect_separation_gives_one_and_collapsed_intervals(reference):
    entry = _case(reference, "perfect_separation")
    assert _numbers(entry["ci_delong"]).tolist() == [1.0, 1.0, 1.0]
    assert _numbers(entry["ci_bootstrap"]).tolist() == [1.0, 1.0, 1.0]
    y, s = np.array(entry["y"]), np.array(entry["s"])
    assert roc_stats.auc(y, s) == 1.0
    assert roc_stats.ci_delong(y, s) == (1.0, 1.0)
    assert roc_stats.ci_bootstrap(y, s, n_boot=200, random_state=0) == (1.0, 1.0)


def test_direction_is_never_flipped(reference):
    entry = _case(reference, "reversed_score")
    y, s = np.array(entry["y"]), np.array(entry["s"])
    assert roc_stats.auc(y, s) == pytest.approx(0.217632850241546, abs=1e-9)
    assert roc_stats.auc(y, -s) == pytest.approx(1 - 0.217632850241546, abs=1e-9)


def test_ties_count_one_half():
    # positives 0.5, 0.5, 0.9; negatives 0.5, 0.1, 0.5, 0.2 -> (2*(2+2*0.5) + 4) / 12
    y = [1, 1, 1, 0, 0, 0, 0]
    s = [0.5, 0.5, 0.9, 0.5, 0.1, 0.5, 0.2]
    assert roc_stats.auc(y, s) == pytest.approx(10 / 12, abs=1e-12)
    assert roc_stats.auc(np.array(y, dtype=bool), s) == pytest.approx(10 / 12, abs=1e-12)


def test_delong_covariance_of_several_scores(reference):
    data = reference["aSAH"]
    y = np.array(data["outcome_poor"])
    scores = np.vstack([data["s100b"], data["wfns"], data["ndka"]])
    aucs, cov = roc_stats.delong_covariance(y, scores)
    np.testing.assert_allclose(aucs, [0.731368563685637, 0.823678861788618, 0.611957994579946], atol=1e-9)
    assert cov.shape == (3, 3)
    np.testing.assert_allclose(cov, cov.T, atol=1e-15)
    # diagonal: the DeLong variance behind pROC's 95% CI of s100b (half-width / 1.96)^2
    half_width = (0.832618915609651 - 0.630118211761623) / 2
    assert math.sqrt(cov[0, 0]) * 1.959963984540054 == pytest.approx(half_width, abs=1e-9)


@pytest.mark.parametrize(
    ("y", "s", "message"),
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], "all 3 cases are positive"),
        ([0, 0], [0.1, 0.2], "all 2 cases are negative"),
        ([0, 1, 1], [0.1, 0.2], "length mismatch"),
        ([0, 1, 1], [0.1, float("nan"), 0.3], "NaN score"),
        ([0, 2, 1], [0.1, 0.2, 0.3], "labels must be 0/1"),
        (["a", "b", "a"], [0.1, 0.2, 0.3], "labels must be 0/1"),
        ([0, 1, 1], ["x", "0.2", "0.3"], "must be numeric"),
    ],
)
def test_bad_input_raises_value_error(y, s, message):
    for func in (roc_stats.auc, roc_stats.ci_delong, roc_stats.ci_bootstrap, roc_stats.youden_threshold):
        with pytest.raises(ValueError, match=message):
            func(y, s)


def test_bad_level_and_n_boot_raise():
    with pytest.raises(ValueError, match="level"):
        roc_stats.ci_delong([0, 1, 0, 1], [1, 2, 3, 4], level=95)
    with pytest.raises(ValueError, match="n_boot"):
        roc_stats.ci_bootstrap([0, 1, 0, 1], [1, 2, 3, 4], n_boot=0)


def test_roc_summary_matches_proc_and_applies_train_threshold(reference, own_data):
    a, b = own_data["A"], own_data["B"]
    y = np.concatenate([a["label"], b["label"]])
    scores = {name: np.concatenate([a[name], b[name]]) for name in ("score1", "score2")}
    groups = np.array(["A"] * a["label"].size + ["B"] * b["label"].size)
    summary = roc_stats.roc_summary(y, scores, groups=groups, train_group="A", n_boot=2000, random_state=0)

    assert list(summary["groups"]) == ["A", "B"]
    group_a = summary["groups"]["A"]
    assert (group_a["n_pos"], group_a["n_neg"]) == (60, 69)
    for group, score in (("A", "score1"), ("A", "score2"), ("B", "score1")):
        entry = _case(reference, f"own_{group}_{score}")
        stats = summary["groups"][group]["scores"][score]
        assert stats["auc"] == pytest.approx(entry["auc"], abs=1e-9)
        np.testing.assert_allclose(stats["ci_delong"], _numbers(entry["ci_delong"])[[0, 2]], atol=1e-6)
        np.testing.assert_allclose(stats["ci_bootstrap"], _numbers(entry["ci_bootstrap"])[[0, 2]], atol=0.01)
    paired = group_a["paired_delong"]
    assert len(paired) == 1 and (paired[0]["score_1"], paired[0]["score_2"]) == ("score1", "score2")
    expected_paired = next(e for e in reference["paired"] if e["name"] == "own_A_score1_vs_score2")
    assert paired[0]["z"] == pytest.approx(expected_paired["z"], abs=1e-6)
    assert paired[0]["p"] == pytest.approx(expected_paired["p"], abs=1e-6)
    unpaired = {(e["score"], e["group_1"], e["group_2"]): e for e in summary["unpaired_delong"]}
    expected_unpaired = next(e for e in reference["unpaired"] if e["name"] == "own_score1_A_vs_B")
    assert unpaired[("score1", "A", "B")]["z"] == pytest.approx(expected_unpaired["statistic"], abs=1e-6)
    assert unpaired[("score1", "A", "B")]["p"] == pytest.approx(expected_unpaired["p"], abs=1e-6)
    assert unpaired[("score1", "A", "B")]["df"] == pytest.approx(expected_unpaired["df"], abs=1e-6)

    operating = summary["operating_point"]
    assert operating["train_group"] == "A" and operating["rule"] == roc_stats.THRESHOLD_RULE
    threshold = operating["scores"]["score1"]["threshold"]
    assert threshold == pytest.approx(_case(reference, "own_A_score1")["youden"]["threshold"], abs=1e-12)
    applied = next(e for e in reference["thresholds"] if e["name"] == "own_B_score1_at_A_youden")
    assert applied["threshold"] == pytest.approx(threshold, abs=1e-12)
    metrics_b = operating["scores"]["score1"]["groups"]["B"]
    assert [metrics_b[k] for k in ("tp", "fp", "tn", "fn")] == [int(applied[k]) for k in ("tp", "fp", "tn", "fn")]
    assert metrics_b["sensitivity"]["value"] == pytest.approx(applied["sensitivity"], abs=1e-9)
    assert metrics_b["specificity"]["value"] == pytest.approx(applied["specificity"], abs=1e-9)


def test_roc_summary_errors_name_the_group():
    y = np.array([0, 1, 0, 1, 1, 1])
    s = np.array([0.1, 0.8, 0.3, 0.6, 0.7, 0.9])
    groups = np.array(["train", "train", "train", "train", "test", "test"])
    with pytest.raises(ValueError, match="group 'test'.*all 2 cases are positive"):
        roc_stats.roc_summary(y, {"s": s}, groups=groups, n_boot=10)
    with pytest.raises(ValueError, match="training group 'nope'"):
        roc_stats.roc_summary(y, {"s": s}, groups=groups, train_group="nope", n_boot=10)
    with pytest.raises(ValueError, match="train_group"):
        roc_stats.roc_summary(y, {"s": s}, groups=np.array(["a", "a", "a", "b", "b", "b"]), n_boot=10)


def test_roc_summary_without_groups_is_apparent():
    y = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.3, 0.9, 0.2, 0.7])
    summary = roc_stats.roc_summary(y, {"s": s}, n_boot=100, random_state=1)
    assert list(summary["groups"]) == ["all"]
    assert summary["groups"]["all"]["scores"]["s"]["auc"] == pytest.approx(14 / 16)
    assert summary["operating_point"]["apparent"] is True
    assert summary["operating_point"]["scores"]["s"]["threshold"] == pytest.approx(0.55)  # between 0.4 and 0.7
    assert summary["unpaired_delong"] == [] and summary["groups"]["all"]["paired_delong"] == []
