"""The explicit diagnosis model: sampling, exact likelihood ratio and the Bayes (ceiling) AUC.

Development seeds only (11, 12, 13); the report seeds are never used here.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import multivariate_normal, poisson
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from dataset_conversion.diagnosis_model import (
    DiagnosisModel, bayes_auc, log_likelihood_ratio, posterior_axspa, sample_latents,
)
from dataset_conversion.synthetic_cohort import DIAGNOSIS_MODEL, model_bayes_auc


@pytest.fixture(scope="module")
def stored():
    """The ceiling exactly as ``synth`` stores it in cohort.json (development seed 11)."""
    return model_bayes_auc(11)


def _features(lat: dict) -> np.ndarray:
    """Summaries of the raw latents a model can learn from (not the likelihood ratio)."""
    lesion_mean = np.nanmean(lat["lesion"], axis=1)
    return np.column_stack([lat["age"], lat["male"], lat["n_lesions"], lesion_mean, lat["sacral"].sum(axis=1),
                            lat["sacral"].sum(axis=1) / lat["n_lesions"], lat["bilateral"]])


def _balanced(n: int, seed: int) -> dict:
    return sample_latents(DIAGNOSIS_MODEL, np.repeat([1, 0], [n // 2, n - n // 2]), np.random.default_rng(seed))


def test_default_ceiling_is_high_but_not_perfect_and_clinical_alone_is_moderate(stored):
    assert 0.85 <= stored["all"] <= 0.93
    assert 0.62 <= stored["clinical"] <= 0.78
    assert stored["clinical"] < stored["imaging"] < stored["all"]
    assert stored["mc_patients"] >= 200_000 and 0 < stored["mc_se"] < 0.002
    assert stored["mc_seed"] == 11 and stored["mc_spawn_key"] == [2]


def test_a_model_fitted_on_the_latents_of_60000_patients_recovers_the_ceiling(stored):
    """Acceptance: an independent learner on fresh samples reaches the stored Bayes AUC within 0.01."""
    train, test = _balanced(60_000, 12), _balanced(60_000, 13)
    learner = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.1, random_state=0)
    learner.fit(_features(train), train["y"])
    achieved = roc_auc_score(test["y"], learner.predict_proba(_features(test))[:, 1])
    assert achieved == pytest.approx(stored["all"], abs=0.01)
    assert achieved <= stored["all"] + 0.005  # nothing beats the true posterior beyond MC error


def test_age_and_sex_alone_give_the_stored_clinical_auc(stored):
    train, test = _balanced(60_000, 12), _balanced(60_000, 13)

    def clinical(lat):
        return np.column_stack([lat["age"], lat["age"] ** 2 / 100, lat["male"]])

    model = LogisticRegression(max_iter=1000).fit(clinical(train), train["y"])
    achieved = roc_auc_score(test["y"], model.predict_proba(clinical(test))[:, 1])
    assert 0.62 <= achieved <= 0.78
    assert achieved == pytest.approx(stored["clinical"], abs=0.01)


def _brute_force_pattern_llr(model: DiagnosisModel, lat: dict, i: int) -> float:
    """log p(n, lesions | axSpA) / p(n, lesions | non) by integrating u on a 3-D grid."""
    n = int(lat["n_lesions"][i])
    lesions = lat["lesion"][i, :n]
    sigma = model.pattern_cov()
    centre = lesions.mean(axis=0)
    axes = [np.linspace(c - 6 * s, c + 6 * s, 61) for c, s in zip(centre, np.sqrt(np.diag(sigma)) + 0.3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    lesion_loglik = sum(multivariate_normal(les, np.diag(np.square(model.lesion_sd))).logpdf(grid) for les in lesions)
    log_evidence = []
    for cls in (1, 0):
        rate = np.exp(model.count_log_rate + model.count_axspa * cls + model.count_burden * grid[:, 0])
        count = poisson.sf(model.max_lesions - 2, rate) if n == model.max_lesions else poisson.pmf(n - 1, rate)
        log_terms = multivariate_normal(model.pattern_mean[cls], sigma).logpdf(grid) + lesion_loglik + np.log(count)
        log_evidence.append(np.logaddexp.reduce(log_terms))
    return float(log_evidence[0] - log_evidence[1])


def test_imaging_likelihood_ratio_matches_a_brute_force_integral():
    lat = _balanced(12, 11)
    location = replace(DIAGNOSIS_MODEL, sacral_beta=((1.0, 1.0), (1.0, 1.0)), p_bilateral=(0.5, 0.5))
    exact = log_likelihood_ratio(location, lat, "imaging")  # location terms cancel in this model
    brute = [_brute_force_pattern_llr(location, lat, i) for i in range(12)]
    np.testing.assert_allclose(exact, brute, atol=2e-3)
    assert np.ptp(exact) > 1.0  # the patients really differ


def test_llr_parts_add_up_and_posterior_follows_prevalence():
    lat = _balanced(400, 11)
    llr = {w: log_likelihood_ratio(DIAGNOSIS_MODEL, lat, w) for w in ("all", "imaging", "clinical")}
    np.testing.assert_allclose(llr["all"], llr["imaging"] + llr["clinical"], rtol=1e-12)
    p50, p90 = posterior_axspa(DIAGNOSIS_MODEL, lat, 0.5), posterior_axspa(DIAGNOSIS_MODEL, lat, 0.9)
    np.testing.assert_allclose(np.log(p50 / (1 - p50)), llr["all"], atol=1e-9)
    assert (p90 > p50).all()
    with pytest.raises(ValueError, match="which"):
        log_likelihood_ratio(DIAGNOSIS_MODEL, lat, "radiomics")
    with pytest.raises(ValueError, match="prevalence"):
        posterior_axspa(DIAGNOSIS_MODEL, lat, 1.0)


def test_latents_overlap_and_follow_the_literature():
    lat = _balanced(40_000, 11)
    ax, non = lat["y"] == 1, lat["y"] == 0
    assert 30 <= lat["age"][ax].mean() <= 38 and lat["age"][non].mean() > lat["age"][ax].mean() + 4
    assert lat["age"].min() >= 18 and lat["age"].max() <= 75
    assert lat["male"][ax].mean() > 0.6 > 0.45 > lat["male"][non].mean()
    n = lat["n_lesions"]
    assert n.min() >= 1 and n.max() <= DIAGNOSIS_MODEL.max_lesions
    assert np.isnan(lat["lesion"][n == 1][:, 1:]).all() and not np.isnan(lat["lesion"][:, 0]).any()
    # overlap: about a sixth of non-axSpA patients have a heavier burden than the median axSpA patient
    burden = lat["pattern"][:, 0]
    assert (burden[non] > np.median(burden[ax])).mean() > 0.12
    # lesions of one patient share a pattern: clearly correlated, far from identical
    two = n >= 2
    r = np.corrcoef(lat["lesion"][two, 0, 0], lat["lesion"][two, 1, 0])[0, 1]
    assert 0.2 < r < 0.8
    # bigger burden, more lesions
    assert np.corrcoef(burden, n)[0, 1] > 0.2


def test_bayes_auc_is_deterministic_and_checks_its_size():
    small = DiagnosisModel()
    a, b = bayes_auc(small, 4000, seed=12), bayes_auc(small, 4000, seed=12)
    assert a == b and a["mc_patients"] == 4000
    with pytest.raises(ValueError, match="n_patients"):
        bayes_auc(small, 1)
    no_signal = replace(small, pattern_mean=(small.pattern_mean[0],) * 2, sacral_beta=(small.sacral_beta[0],) * 2,
                        p_bilateral=(0.5, 0.5), count_axspa=0.0)
    assert bayes_auc(no_signal, 20_000, seed=12)["imaging"] == pytest.approx(0.5, abs=0.015)
