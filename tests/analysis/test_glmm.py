"""Laplace GLMMs (bayesimpute.analysis.glmm): properties beyond the lme4 agreement tests."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import bayesimpute as bi
import lme4_reference as ref
from bayesimpute.analysis import analyze, glmm
from bayesimpute.analysis.formula import build_design, parse_formula
from bayesimpute.analysis.glmm import LaplaceDeviance, _standardisation, fit_glmm


def _simulate(seed: int, intercept_sd: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(30), 40)
    x = rng.normal(size=len(g))
    eta = -0.5 + 0.7 * x + rng.normal(0, intercept_sd, 30)[g] if intercept_sd else -0.5 + 0.7 * x
    return pd.DataFrame({"y": rng.binomial(1, 1 / (1 + np.exp(-eta))), "x": x, "g": g})


def test_laplace_deviance_at_glmers_estimate_is_glmers():
    """The objective itself, free of the optimiser: at glmer's (theta, beta) it is glmer's."""
    for model in ("impact", "binomial_slope", "binomial_crossed", "poisson"):
        data, formula, family, _ = ref.spec(model)
        design = build_design(parse_formula(formula), data)
        deviance = LaplaceDeviance(design, family)
        beta = ref.fixed(model)["estimate"].reindex(design.fixed.columns).to_numpy()
        beta_std = np.linalg.solve(deviance.forward.T, beta)
        value = deviance(np.concatenate([ref.theta(model), beta_std]))
        assert -0.5 * value == pytest.approx(ref.fits().loc[model, "loglik"], abs=1e-5), model


def test_no_cluster_effect_gives_a_boundary_fit_equal_to_logistic_regression():
    # The seed below gives an ML variance of 0 for data simulated without a cluster effect
    # (about half of such data sets do).
    data = _simulate(seed=0, intercept_sd=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = analyze([data], "y ~ x + (1 | g)", family="binomial")[0]
    assert fit.is_singular and fit.variance_components["g: Intercept"] < 1e-8
    assert np.isnan(fit.variance_inference.loc["g: Intercept", "std_error"])
    glm = sm.GLM(data["y"], sm.add_constant(data[["x"]]), family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(fit.params, glm.params, atol=1e-5)
    np.testing.assert_allclose(fit.std_errors, glm.bse, rtol=1e-3)


def test_coefficients_follow_a_rescaled_predictor():
    data = _simulate(seed=1, intercept_sd=0.8)
    plain = analyze([data], "y ~ x + (1 | g)", family="binomial")[0]
    scaled = analyze([data.assign(x=data["x"] * 100.0 + 50.0)], "y ~ x + (1 | g)",
                     family="binomial")[0]
    assert scaled.params["x"] == pytest.approx(plain.params["x"] / 100.0, rel=1e-5)
    assert scaled.loglik == pytest.approx(plain.loglik, abs=1e-6)


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


def test_logistic_icc_uses_the_latent_residual_variance():
    data = _simulate(seed=2, intercept_sd=0.8)
    fit = analyze([data], "y ~ x + (1 | g)", family="binomial")[0]
    vc = fit.variance_components
    assert vc["residual"] == pytest.approx(np.pi**2 / 3)
    assert vc["icc"] == pytest.approx(vc["g: Intercept"] / (vc["g: Intercept"] + np.pi**2 / 3))
    assert fit.variance_inference.loc["residual", "scale"] == "fixed"


def test_a_degenerate_hessian_is_a_failed_fit_not_a_silent_pseudo_inverse(monkeypatch):
    """Issue 11 item 7: the old glmm fell back to pinv(H) without a word."""
    data = _simulate(seed=3, intercept_sd=0.8)
    design = build_design(parse_formula("y ~ x + (1 | g)"), data)

    def singular_hessian(dev, x, *args, **kwargs):
        h = np.eye(len(x))
        h[0, 0] = 0.0  # no curvature in theta
        return h

    monkeypatch.setattr(glmm, "_hessian", singular_hessian)
    fit = fit_glmm(design, "binomial")
    assert not fit.converged
    assert any("not positive definite" in m for m in fit.messages)
    assert np.all(np.isnan(fit.theta_cov))
    assert np.all(np.isfinite(fit.cov.to_numpy()))  # beta given theta still has its s.e.s
    with pytest.warns(RuntimeWarning, match="did not converge"):
        fits = analyze([data], "y ~ x + (1 | g)", family="binomial")
    with pytest.raises(ValueError, match="did not converge"):
        bi.pool([fits[0], fits[0]])


def test_poisson_without_random_effects_is_glm():
    data = ref.dataset("crossed")
    fit = analyze([data], "count ~ x", family="poisson")[0]
    glm = sm.GLM(data["count"], sm.add_constant(data[["x"]]), family=sm.families.Poisson()).fit()
    np.testing.assert_allclose(fit.params, glm.params, rtol=1e-8)
    assert fit.family == "poisson"


@pytest.mark.parametrize("model", ["binomial_slope", "poisson"])
def test_exact_beta_gradient_and_the_hessian_built_on_it(model):
    """The beta gradient (implicit differentiation of the modes) against central differences
    of the deviance, and the semi-analytic Hessian against the all-numerical one, away from
    the optimum (theta x 1.1, beta + 0.05)."""
    from bayesimpute.analysis import numdiff

    data, formula, family, _ = ref.spec(model)
    design = build_design(parse_formula(formula), data)
    deviance = LaplaceDeviance(design, family)
    k = deviance.layout.n_theta
    beta = ref.fixed(model)["estimate"].reindex(design.fixed.columns).to_numpy()
    x = np.concatenate([ref.theta(model) * 1.1,
                        np.linalg.solve(deviance.forward.T, beta) + 0.05])
    numerical = numdiff.jacobian(lambda b: np.array([deviance(np.concatenate([x[:k], b]))]),
                                 x[k:], step=1e-5)[0]
    np.testing.assert_allclose(deviance.beta_gradient(x), numerical,
                               atol=1e-6 * np.abs(numerical).max())
    full = numdiff.hessian(deviance, x, step=1e-3, relative=True)
    np.testing.assert_allclose(glmm._hessian(deviance, x), full, atol=1e-5 * np.abs(full).max())
