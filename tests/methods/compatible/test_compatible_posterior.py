"""2l.smc's Gibbs loop samples the joint model's posterior: the same as NUTS on one PyMC model.

With one incomplete predictor and a complete outcome, the compatible method's visits form a
Gibbs sampler of the joint model p(y | x; analysis) p(x; covariate model) with the missing
x as unknowns. Written as a single PyMC model — the missing x as free variables, both
models on the method's standardised scales with the same priors — NUTS must give the same
posterior of the analysis model (fixed effects, random-slope covariance, residual variance),
of the covariate model and of the imputed values. Several minutes of NUTS: ``slow``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import pytest

import bayesimpute as bi
from bayesimpute.methods.core.standardise import Standardiser
from bayesimpute.methods.core.priors import inverse_wishart_cholesky_logp
from bayesimpute.methods.gaussian.linear_mixed import LinearMixedPriors

pytestmark = pytest.mark.slow


def small_slope_data():
    rng = np.random.default_rng(11)
    J, n = 12, 8
    g = np.repeat(np.arange(J), n)
    x = rng.normal(0, 0.6, J)[g] + rng.standard_normal(J * n)
    u = rng.multivariate_normal([0, 0], [[0.5, 0.1], [0.1, 0.3]], J)
    y = 1 + 0.5 * x + u[g, 0] + u[g, 1] * x + rng.normal(0, 0.8, J * n)
    missing = rng.random(J * n) < 0.5 / (1 + np.exp(-(y - y.mean())))
    return pd.DataFrame({"g": g, "x": np.where(missing, np.nan, x), "y": y}), g, J


def summaries_smc(imp, burn):
    post = imp.idata.posterior.isel(draw=slice(burn, None))
    psi = post["x_analysis_psi"].values.reshape(-1, 2, 2)
    beta = post["x_analysis_beta"].values.reshape(-1, 2)
    imputed = imp.idata.posterior_predictive["x"].isel(draw=slice(burn, None)).values
    return {
        "beta0": beta[:, 0], "beta1": beta[:, 1], "log psi00": np.log(psi[:, 0, 0]),
        "log psi11": np.log(psi[:, 1, 1]), "psi01": psi[:, 0, 1],
        "log sigma2": np.log(post["x_analysis_sigma2"].values.ravel()),
        "covariate intercept": post["x_beta"].values.ravel(),
        "mean imputed x": imputed.reshape(-1, imputed.shape[-1]).mean(axis=1),
    }


def covariance_prior(name: str, q: int):
    """Huang & Wand's prior of the Gaussian models (half-t(nu, A) sds) under new names:
    Psi | a ~ IW(nu + q - 1, 2 nu diag(1 / a)), a ~ InvGamma(1/2, 1 / A^2)."""
    prior = LinearMixedPriors().covariance
    hyper = pm.InverseGamma(f"{name}_hyper", 0.5, 1.0 / prior.scale**2, shape=q)
    packed = pm.Flat(f"{name}_chol", shape=q * (q + 1) // 2)
    logp, chol = inverse_wishart_cholesky_logp(packed, q, prior.wishart_df(q),
                                               prior.wishart_scale(hyper))
    pm.Potential(f"{name}_prior", logp)
    return chol


def joint_model(data, g, J, state):
    """Analysis and covariate model in one PyMC model, on the method's scales and priors."""
    missing = data["x"].isna().to_numpy()
    x_obs, y = data["x"].to_numpy(), data["y"].to_numpy()
    a_mean, a_sd = state["analysis.scale.x_mean"], state["analysis.scale.x_sd"]
    a_y = state["analysis.scale.y"]
    c_y = state["covariate.scale.y"]
    with pm.Model() as model:
        # covariate model: x_c = beta_c + v_j + e on its standardised scale
        beta_c = pm.Normal("beta_c", 0, 10)
        chol_c = covariance_prior("psi_c", 1)
        v = pm.Normal("v_raw", 0, 1, shape=J) * chol_c[0, 0]
        sigma2_c = pm.InverseGamma("sigma2_c", 0.01, 0.01)
        mean_c = beta_c + v[g]
        x_missing_c = pm.Normal("x_missing_c", mu=mean_c[missing], sigma=pt.sqrt(sigma2_c))
        pm.Normal("x_observed", mu=mean_c[~missing], sigma=pt.sqrt(sigma2_c),
                  observed=(x_obs[~missing] - c_y[0]) / c_y[1])
        x_missing = pm.Deterministic("x_missing", c_y[0] + c_y[1] * x_missing_c)
        x = pt.set_subtensor(pt.as_tensor(np.nan_to_num(x_obs))[np.flatnonzero(missing)],
                             x_missing)
        # analysis model on its standardised scale
        xs = (x - a_mean[1]) / a_sd[1]
        beta = pm.Normal("beta", 0, 10, shape=2)
        chol = covariance_prior("psi", 2)
        u = pt.dot(pm.Normal("u_raw", 0, 1, shape=(J, 2)), chol.T)
        sigma2 = pm.InverseGamma("sigma2", 0.01, 0.01)
        mean = beta[0] + beta[1] * xs + u[g, 0] + u[g, 1] * xs
        pm.Normal("y_obs", mu=mean, sigma=pt.sqrt(sigma2), observed=(y - a_y[0]) / a_y[1])
        pm.Deterministic("psi", pt.dot(chol, chol.T))
    return model


def summaries_nuts(idata, state):
    post = idata.posterior
    scale = Standardiser(np.ones((2, 2)), np.zeros(2), np.array([0, 1]), True)
    scale.set_state(state, "analysis.scale.")
    beta = post["beta"].values.reshape(-1, 2)
    data_scale = scale.to_data_scale(beta, np.zeros((len(beta), 1, 2)),
                                     post["psi"].values.reshape(-1, 2, 2), 1.0)
    c_y = state["covariate.scale.y"]
    return {
        "beta0": data_scale.beta[:, 0], "beta1": data_scale.beta[:, 1],
        "log psi00": np.log(data_scale.psi[:, 0, 0]), "log psi11": np.log(data_scale.psi[:, 1, 1]),
        "psi01": data_scale.psi[:, 0, 1],
        "log sigma2": np.log(post["sigma2"].values.ravel() * scale.y_sd**2),
        "covariate intercept": c_y[0] + c_y[1] * post["beta_c"].values.ravel(),
        "mean imputed x": post["x_missing"].values.reshape(len(beta), -1).mean(axis=1),
    }


def test_gibbs_loop_matches_nuts_on_the_joint_model():
    data, g, J = small_slope_data()
    pred = bi.make_predictor_matrix(data, cluster="g")
    pred.loc["x", "y"] = 0
    # one chain, so that one set of standardisation constants (fixed at its first visit)
    # defines the priors the NUTS model reproduces
    imp = bi.impute(data, method={"x": "2l.smc"}, predictor_matrix=pred, m=1, maxit=5000,
                    seed=3, analysis_model="y ~ x + (1 + x | g)")
    state = imp.run.chain_states[0]["methods"]["x"]
    gibbs = summaries_smc(imp, burn=500)
    with joint_model(data, g, J, state):
        idata = pm.sample(draws=800, tune=800, chains=2, cores=1, random_seed=5,
                          target_accept=0.95, progressbar=False, compute_convergence_checks=False)
    assert int(idata.sample_stats["diverging"].sum()) < 10
    nuts = summaries_nuts(idata, state)
    for name in gibbs:
        a, b = gibbs[name], nuts[name]
        # Monte-Carlo error of a difference of autocorrelated means: effective sizes of a
        # tenth (Gibbs) and a fifth (NUTS) of the draws, 5 standard errors
        se = np.sqrt(a.var() / (len(a) / 10) + b.var() / (len(b) / 5))
        assert abs(a.mean() - b.mean()) < 5 * se, name
        assert a.std() == pytest.approx(b.std(), rel=0.2), name
