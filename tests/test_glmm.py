"""Laplace maximum-likelihood logistic mixed models (bayesimpute.glmm) against lme4::glmer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesimpute.glmm import _standardisation, fit_logistic_mixed


def _simulate(seed: int = 2024, slope_sd: float = 0.5, intercept_sd: float = 0.8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    clusters, size = 30, 40
    g = np.repeat(np.arange(clusters), size)
    x = rng.normal(size=clusters * size)
    w = rng.binomial(1, 0.4, clusters * size).astype(float)
    u0 = rng.normal(0, intercept_sd, clusters)
    u1 = rng.normal(0, slope_sd, clusters)
    eta = -0.5 + 0.7 * x + 0.4 * w + u0[g] + u1[g] * x
    y = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"y": y, "x": x, "w": w, "g": g})


def _fit(data: pd.DataFrame, slopes: bool = True):
    exog = pd.DataFrame({"Intercept": 1.0, "x": data["x"], "w": data["w"]})
    exog_re = pd.DataFrame({"Intercept": np.ones(len(data))})
    if slopes:
        exog_re["x"] = data["x"]
    return fit_logistic_mixed(data["y"], exog, exog_re, data["g"])


# R 4 / lme4: glmer(y ~ x + w + (1 | g) + (0 + x | g), family = binomial) on _simulate(),
# written to CSV: fixef, sqrt(diag(vcov)), the two variances and logLik.
GLMER = {"Intercept": (-0.67281630, 0.18468973), "x": (0.87036350, 0.14388480),
         "w": (0.56687117, 0.13982231)}
GLMER_VARIANCES = {"Intercept": 0.76917087, "x": 0.40570192}
GLMER_LOGLIK = -688.393314


def test_matches_glmer_with_a_random_intercept_and_slope():
    fit = _fit(_simulate())
    assert fit.converged and not fit.boundary
    for term, (estimate, std_error) in GLMER.items():
        assert fit.params[term] == pytest.approx(estimate, abs=0.003), term
        # glmer's vcov differentiates on its own parameter scale: agreement to about 1%
        assert np.sqrt(fit.cov.loc[term, term]) == pytest.approx(std_error, rel=0.02), term
    for name, variance in GLMER_VARIANCES.items():
        assert fit.variances[name] == pytest.approx(variance, rel=0.01), name
    assert fit.loglik == pytest.approx(GLMER_LOGLIK, abs=0.01)
    assert np.all(np.isfinite(fit.log_variance_se)) and np.all(fit.log_variance_se > 0)


def test_no_cluster_effect_gives_a_boundary_fit_equal_to_logistic_regression():
    import statsmodels.api as sm

    data = _simulate(seed=0, slope_sd=0.0, intercept_sd=0.0)  # this draw: ML variance 0
    fit = _fit(data, slopes=False)
    assert fit.boundary
    assert fit.variances["Intercept"] < 1e-5
    assert np.isnan(fit.log_variance_se["Intercept"])  # no curvature at the boundary
    exog = pd.DataFrame({"Intercept": 1.0, "x": data["x"], "w": data["w"]})
    glm = sm.GLM(data["y"], exog, family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(fit.params, glm.params, atol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov)), glm.bse, rtol=1e-3)


def test_coefficients_follow_a_rescaled_predictor():
    data = _simulate()
    base = _fit(data)
    scaled = _fit(data.assign(x=data["x"] * 100.0 + 50.0), slopes=False)
    plain = _fit(data, slopes=False)
    assert scaled.params["x"] == pytest.approx(plain.params["x"] / 100.0, rel=1e-4)
    assert scaled.params["w"] == pytest.approx(plain.params["w"], abs=1e-5)
    assert base.converged


def test_standardisation_maps_coefficients_back():
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(50), rng.normal(10, 3, 50), rng.binomial(1, 0.3, 50)])
    forward = _standardisation(X)
    X_std = X @ forward.T
    assert np.allclose(X_std[:, 0], 1.0)
    assert np.allclose(X_std[:, 1:].mean(axis=0), 0.0)
    assert np.allclose(X_std[:, 1:].std(axis=0), 1.0)
    beta_std = np.array([0.3, -1.2, 0.8])
    np.testing.assert_allclose(X_std @ beta_std, X @ (forward.T @ beta_std))


def test_a_zero_slope_variance_leaves_the_intercept_variance_its_standard_error():
    fit = _fit(_simulate(seed=0, slope_sd=0.0))  # this draw: ML slope variance 0
    assert fit.boundary
    assert fit.variances["x"] < 1e-5 and np.isnan(fit.log_variance_se["x"])
    # the intercept variance (true 0.64) keeps its curvature: s.e. of log variance for 30
    # clusters is about sqrt(2 / 29) = 0.26 plus the binomial noise
    assert 0.2 < fit.log_variance_se["Intercept"] < 0.5
    assert fit.variances["Intercept"] == pytest.approx(0.64, abs=0.4)
