"""Explicit diagnosis model of the synthetic cohort and its Bayes-optimal (ceiling) AUC.

The model is class-conditional: given the diagnosis ``y`` (1 = axSpA, 0 = non-axSpA)

* clinical latents: age ~ Normal(mu_y, sd_y) truncated to [18, 75]; male ~ Bernoulli(p_y);
* a patient-level imaging pattern ``u = (burden, log edge_mm, logit heterogeneity)``
  ~ Normal(m_y, Sigma), shared by all of that patient's lesions;
* lesion count ``n = 1 + min(K, n_max - 1)``, ``K ~ Poisson(exp(c0 + c_y y + c_b u_burden))``;
* lesion latents ``v_j = u + e_j``, ``e_j ~ Normal(0, Psi)`` (Psi diagonal), j = 1..n —
  each lesion's log size factor, log border width and logit heterogeneity;
* sacral involvement: a patient propensity ``pi ~ Beta(a_y, b_y)``, each lesion sacral
  with probability ``pi`` (else iliac);
* bilateral (patients with n > 1): Bernoulli(q_y).

Age/sex and the imaging latents are independent given ``y``, so the log-likelihood ratio
(LLR) of the diagnosis splits into a clinical and an imaging part. Because the lesion
deviations ``v_j - mean(v)`` do not depend on ``u`` or ``y``, the imaging LLR needs only
``n``, the lesion mean ``vbar``, the sacral count and bilaterality:
``p(n, vbar | y) = N(vbar; m_y, Sigma + Psi / n) * E[P(n | u_burden) | vbar, y]`` where the
expectation is over the Gaussian posterior of ``u`` (1-D Gauss-Hermite quadrature), and the
sacral count is Beta-binomial. The posterior P(axSpA | latents) is a monotone function of
the LLR, so the AUC of the LLR is the Bayes-optimal AUC, whatever the prevalence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

#: Order of the imaging latent components.
IMAGING_LATENTS = ("burden", "log_edge_mm", "logit_heterogeneity")

#: Default Monte Carlo size of the Bayes AUC (half per class).
BAYES_MC_PATIENTS = 200_000


@dataclass(frozen=True)
class DiagnosisModel:
    """Parameters of the class-conditional latent model (index 0 non-axSpA, 1 axSpA)."""

    age_mean: tuple[float, float] = (41.0, 34.0)
    age_sd: tuple[float, float] = (11.0, 9.0)
    age_range: tuple[float, float] = (18.0, 75.0)
    p_male: tuple[float, float] = (0.42, 0.64)
    pattern_mean: tuple[tuple[float, float, float], tuple[float, float, float]] = (
        (0.04, 0.11, -1.16), (0.32, -0.26, -1.70))
    pattern_sd: tuple[float, float, float] = (0.30, 0.35, 0.55)
    pattern_corr: tuple[float, float, float] = (-0.2, -0.1, 0.4)  # (b,k), (b,h), (k,h)
    lesion_sd: tuple[float, float, float] = (0.30, 0.35, 0.60)
    count_log_rate: float = 0.63
    count_axspa: float = 0.15
    count_burden: float = 1.2
    max_lesions: int = 9
    sacral_beta: tuple[tuple[float, float], tuple[float, float]] = ((1.2, 4.8), (2.0, 3.0))
    p_bilateral: tuple[float, float] = (0.45, 0.72)
    quadrature_nodes: int = field(default=40, compare=False)

    def pattern_cov(self) -> np.ndarray:
        """Patient-level covariance Sigma of the imaging pattern ``u``."""
        sd = np.asarray(self.pattern_sd)
        r = np.eye(3)
        r[0, 1] = r[1, 0] = self.pattern_corr[0]
        r[0, 2] = r[2, 0] = self.pattern_corr[1]
        r[1, 2] = r[2, 1] = self.pattern_corr[2]
        return r * np.outer(sd, sd)

    def as_dict(self) -> dict:
        """Parameters as plain JSON-able data."""
        out = asdict(self)
        out.pop("quadrature_nodes")
        return out


def _truncated_normal(rng: np.random.Generator, mean: np.ndarray, sd: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Normal draws restricted to [lo, hi] by inverse-CDF sampling (exact truncation)."""
    from scipy.stats import norm

    a, b = norm.cdf((lo - mean) / sd), norm.cdf((hi - mean) / sd)
    return mean + sd * norm.ppf(a + (b - a) * rng.random(mean.shape))


def sample_latents(model: DiagnosisModel, y: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw every latent of the model for patients with diagnoses ``y`` (vectorised).

    Args:
        model: Model parameters.
        y: 1 for axSpA, 0 for non-axSpA, one per patient.
        rng: Random generator.

    Returns:
        Arrays keyed ``y, age, male, pattern (N, 3), n_lesions, lesion (N, max, 3)`` (NaN
        beyond ``n_lesions``), ``sacral (N, max)`` bool, ``bilateral`` bool.
    """
    y = np.asarray(y, dtype=int)
    n = y.size
    age = _truncated_normal(rng, np.take(model.age_mean, y), np.take(model.age_sd, y), *model.age_range)
    male = rng.random(n) < np.take(model.p_male, y)
    chol = np.linalg.cholesky(model.pattern_cov())
    pattern = np.asarray(model.pattern_mean)[y] + rng.standard_normal((n, 3)) @ chol.T
    rate = np.exp(model.count_log_rate + model.count_axspa * y + model.count_burden * pattern[:, 0])
    n_les = 1 + np.minimum(rng.poisson(rate), model.max_lesions - 1)
    slots = np.arange(model.max_lesions)[None, :] < n_les[:, None]
    lesion = pattern[:, None, :] + rng.standard_normal((n, model.max_lesions, 3)) * np.asarray(model.lesion_sd)
    lesion[~slots] = np.nan
    ab = np.asarray(model.sacral_beta)[y]
    propensity = rng.beta(ab[:, 0], ab[:, 1])
    sacral = (rng.random((n, model.max_lesions)) < propensity[:, None]) & slots
    bilateral = (rng.random(n) < np.take(model.p_bilateral, y)) & (n_les > 1)
    return {"y": y, "age": age, "male": male, "pattern": pattern, "n_lesions": n_les, "lesion": lesion,
            "sacral": sacral, "bilateral": bilateral}


def _clinical_loglik(model: DiagnosisModel, lat: dict, cls: int) -> np.ndarray:
    from scipy.stats import norm

    mu, sd = model.age_mean[cls], model.age_sd[cls]
    lo, hi = model.age_range
    mass = norm.cdf((hi - mu) / sd) - norm.cdf((lo - mu) / sd)
    p = model.p_male[cls]
    return norm.logpdf(lat["age"], mu, sd) - np.log(mass) + np.where(lat["male"], np.log(p), np.log1p(-p))


def _count_logpmf(model: DiagnosisModel, n_les: np.ndarray, log_rate: np.ndarray) -> np.ndarray:
    """log P(n | rate) for n = 1 + min(Poisson, max - 1); ``log_rate`` may carry extra axes."""
    from scipy.stats import poisson

    k = (n_les - 1).reshape(n_les.shape + (1,) * (log_rate.ndim - 1))
    rate = np.exp(log_rate)
    top = model.max_lesions - 1
    return np.where(k >= top, poisson.logsf(top - 1, rate), poisson.logpmf(k, rate))


def _pattern_loglik(model: DiagnosisModel, lat: dict, cls: int) -> np.ndarray:
    """log p(n, vbar | y = cls): Gaussian marginal times the quadrature over the burden."""
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    sigma = model.pattern_cov()
    psi_inv = np.diag(1.0 / np.square(model.lesion_sd))
    m = np.asarray(model.pattern_mean[cls])
    vbar = np.nanmean(lat["lesion"], axis=1)
    n_les = lat["n_lesions"]
    nodes, weights = np.polynomial.hermite_e.hermegauss(model.quadrature_nodes)  # weight exp(-x^2/2)
    out = np.empty(n_les.shape)
    for n in np.unique(n_les):
        sel = n_les == n
        marginal = multivariate_normal(m, sigma + np.linalg.inv(n * psi_inv)).logpdf(vbar[sel])
        post_cov = np.linalg.inv(np.linalg.inv(sigma) + n * psi_inv)
        post_mean = (post_cov @ (np.linalg.solve(sigma, m)[:, None] + n * psi_inv @ vbar[sel].T)).T
        burden = post_mean[:, :1] + np.sqrt(post_cov[0, 0]) * nodes[None, :]
        log_rate = model.count_log_rate + model.count_axspa * cls + model.count_burden * burden
        count = logsumexp(_count_logpmf(model, n_les[sel], log_rate) + np.log(weights / weights.sum()), axis=1)
        out[sel] = np.atleast_1d(marginal) + count
    return out


def _location_loglik(model: DiagnosisModel, lat: dict, cls: int) -> np.ndarray:
    from scipy.stats import betabinom

    a, b = model.sacral_beta[cls]
    n_les = lat["n_lesions"]
    sac = betabinom.logpmf(lat["sacral"].sum(axis=1), n_les, a, b)
    q = model.p_bilateral[cls]
    bil = np.where(n_les > 1, np.where(lat["bilateral"], np.log(q), np.log1p(-q)), 0.0)
    return sac + bil


def log_likelihood_ratio(model: DiagnosisModel, lat: dict, which: str = "all") -> np.ndarray:
    """log p(latents | axSpA) - log p(latents | non-axSpA) for ``which`` in all/imaging/clinical."""
    if which not in ("all", "imaging", "clinical"):
        raise ValueError(f"which must be 'all', 'imaging' or 'clinical', got {which!r}")
    parts = {"clinical": (_clinical_loglik,), "imaging": (_pattern_loglik, _location_loglik)}
    terms = parts["clinical"] + parts["imaging"] if which == "all" else parts[which]
    return sum(term(model, lat, 1) - term(model, lat, 0) for term in terms)


def posterior_axspa(model: DiagnosisModel, lat: dict, prevalence: float, which: str = "all") -> np.ndarray:
    """P(axSpA | latents) at the given prevalence (logistic of LLR + prior log-odds)."""
    from scipy.special import expit

    if not 0.0 < prevalence < 1.0:
        raise ValueError(f"prevalence must be in (0, 1), got {prevalence!r}")
    return expit(log_likelihood_ratio(model, lat, which) + np.log(prevalence / (1.0 - prevalence)))


def bayes_auc(model: DiagnosisModel, n_patients: int = BAYES_MC_PATIENTS,
              seed: int | np.random.SeedSequence = 0) -> dict:
    """Monte Carlo Bayes-optimal AUC: the AUC of the true posterior on simulated patients.

    Half of ``n_patients`` are axSpA, half non-axSpA (the AUC does not depend on the
    prevalence). Returns ``{"all", "imaging", "clinical"}`` AUCs plus ``mc_patients`` and
    ``mc_se`` (the largest Hanley-McNeil standard error of the three).
    """
    from sklearn.metrics import roc_auc_score

    if n_patients < 2:
        raise ValueError(f"n_patients must be at least 2, got {n_patients}")
    rng = np.random.default_rng(seed)
    y = np.repeat([1, 0], [n_patients // 2, n_patients - n_patients // 2])
    lat = sample_latents(model, y, rng)
    out = {which: float(roc_auc_score(y, log_likelihood_ratio(model, lat, which)))
           for which in ("all", "imaging", "clinical")}
    n1, n0 = int(y.sum()), int((1 - y).sum())
    out["mc_patients"] = int(n_patients)
    out["mc_se"] = max(_hanley_mcneil_se(a, n1, n0) for a in (out["all"], out["imaging"], out["clinical"]))
    return out


def _hanley_mcneil_se(auc: float, n1: int, n0: int) -> float:
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    return float(np.sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc ** 2) + (n0 - 1) * (q2 - auc ** 2)) / (n1 * n0)))
