"""Seed-robustness gathering: figures from summary.json, mean ± SD over seeds."""

from __future__ import annotations

import statistics

import pytest

from benchmarks.bench_seed_robustness import aggregate, dig, headline, markdown


def _summary(cv, ext, auc):
    return {"segmentation": {"oof": {"cross_validation": {"mean_dice": cv, "sd_dice": 0.02}},
                             "external_test": {"mean_dice": ext}},
            "classification": {"internal_test": {"score_xgboost": {"auc": auc}}},
            "ceiling": {"rows": [{"set": "internal_test", "bayes_auc_all": 0.9}, {"set": "oof", "bayes_auc_all": 0.88}]}}


def test_dig_returns_none_for_missing_keys_and_non_numbers():
    assert dig({"a": {"b": 1}}, ("a", "b")) == 1.0
    assert dig({"a": {"b": 1}}, ("a", "c")) is None
    assert dig({"a": {"b": "x"}}, ("a", "b")) is None
    assert dig({"a": {"b": True}}, ("a", "b")) is None


def test_aggregate_gives_mean_and_sample_sd_over_seeds():
    per_seed = {"1": headline(_summary(0.80, 0.70, 0.81)), "2": headline(_summary(0.84, 0.76, 0.85)),
                "3": headline(_summary(0.82, 0.73, 0.83))}
    out = aggregate(per_seed)
    assert out["cv_dsc"]["mean"] == pytest.approx(0.82)
    assert out["cv_dsc"]["sd"] == pytest.approx(statistics.stdev([0.80, 0.84, 0.82]))
    assert out["external_test_dsc"]["n_seeds"] == 3
    assert out["internal_test_bayes_auc"]["mean"] == pytest.approx(0.9)
    assert out["training_oof_bayes_auc"]["mean"] == pytest.approx(0.88)
    assert out["external_test_auc_xgboost"] == {"n_seeds": 0, "mean": None, "sd": None}
    text = markdown(per_seed, out, 0.25, not_run=[9])
    assert "Seeds without a finished run (not included): 9." in text
    assert "| cv_dsc | 0.800 | 0.840 | 0.820 | 0.820 ± 0.020 |" in text


def test_the_code_each_run_came_from_is_named(tmp_path):
    import json

    from benchmarks.bench_seed_robustness import run_facts

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "provenance.json").write_text(json.dumps({"git_commit": "182b8b16f140f049"}))
    assert run_facts(tmp_path / "a") == {"git_commit": "182b8b16f140f049"}
    assert run_facts(tmp_path / "missing") == {"git_commit": None}
    per_seed = {"1": headline(_summary(0.80, 0.70, 0.81))}
    text = markdown(per_seed, aggregate(per_seed), 0.25, commits=["182b8b16f140f049", None])
    assert "commit(s) 182b8b1, unknown" in text
