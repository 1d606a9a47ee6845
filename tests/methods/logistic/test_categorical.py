"""polyreg / 2l.polyreg (Pólya–Gamma Gibbs, checked against NUTS) and polr / 2l.polr."""

import arviz as az
import numpy as np
import pymc as pm
import pytest

from bayesimpute.design.coding import VariableKind
from bayesimpute.methods.core.linalg import unpack_cholesky
from bayesimpute.methods.logistic.polya_gamma import (
    LogisticMixedGibbs,
    build_pymc_model,
    category_probabilities,
    draw_categories,
)
from bayesimpute.methods.base import MethodData
from bayesimpute.methods.logistic.categorical import PolyReg, TwoLevelPolyReg
from bayesimpute.methods.ordinal.cumulative_logit import TwoLevelPolr, cumulative_probabilities


def simulate(n_clusters=8, per_cluster=25, seed=3, tau=0.7):
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_clusters), per_cluster)
    x = rng.normal(size=len(cluster))
    eta = np.column_stack([
        0.2 + 0.8 * x + rng.normal(0, tau, n_clusters)[cluster],
        -0.3 - 0.6 * x + rng.normal(0, tau, n_clusters)[cluster],
    ])
    y = draw_categories(category_probabilities(eta), rng).astype(int)
    return np.column_stack([np.ones_like(x), x]), y, cluster, n_clusters


def method_data(X, y, cluster, n_clusters, observed, kind=VariableKind.CATEGORICAL, random=(0,)):
    return MethodData(
        target="f", kind=kind, y=np.where(observed, y, 0).astype(float), observed=observed,
        impute=~observed, X=X, x_names=["Intercept", "x"], random=np.array(random),
        cluster=cluster, n_clusters=n_clusters, cluster_labels=np.arange(n_clusters),
        n_categories=3,
    )


def _ess(draws: np.ndarray) -> np.ndarray:
    """ArviZ's effective sample size of each column of (chain, draw, column) draws."""
    return az.ess(az.convert_to_dataset({"x": draws}))["x"].values


@pytest.mark.slow  # CI: tests/methods/test_calibration.py (simulation-based calibration)
def test_multinomial_gibbs_matches_nuts():
    X, y, cluster, n_clusters = simulate()
    model = build_pymc_model(X, y, cluster, n_clusters, np.array([0]), 3,
                             x_names=["Intercept", "x"])
    step = LogisticMixedGibbs(model=model, rng=1)
    point, draws = step.initial_point(), []
    for i in range(2200):
        point, _ = step.step(point)
        if i >= 300:
            s = step.point_to_state(point)
            draws.append(np.r_[s.beta.ravel(), np.log(s.psi[:, 0, 0])])
    gibbs = np.array(draws)
    with model:
        idata = pm.sample(draws=400, tune=300, chains=2, cores=1, random_seed=2,
                          progressbar=False, target_accept=0.9,
                          compute_convergence_checks=False)
    post = idata.posterior
    packed = post["psi_chol"].values.reshape(-1, 2)
    nuts = np.column_stack([
        post["beta"].values.reshape(-1, 4),
        np.log([[unpack_cholesky(p[k:k + 1], 1)[0, 0] for k in range(2)] for p in packed]),
    ])
    # Monte-Carlo errors from each chain's effective sample size: the log variance of
    # category 2 sits near zero variance, where both samplers mix slowly (its sd estimate
    # ranged 1.6-3.4 over Gibbs seeds), the coefficients mix fast
    ess_gibbs = _ess(gibbs[None])
    ess_nuts = _ess(nuts.reshape(2, -1, nuts.shape[1]))  # chain-major, as stacked above
    se = np.sqrt(gibbs.var(0) / ess_gibbs + nuts.var(0) / ess_nuts)
    assert np.all(np.abs(gibbs.mean(0) - nuts.mean(0)) < 5 * se), (gibbs.mean(0), nuts.mean(0))
    se_sd = np.sqrt(gibbs.var(0) / (2 * ess_gibbs) + nuts.var(0) / (2 * ess_nuts))
    assert np.all(np.abs(gibbs.std(0) - nuts.std(0)) < 5 * se_sd), (gibbs.std(0), nuts.std(0))


def test_two_level_polyreg_imputes_codes_with_right_frequencies():
    X, y, cluster, n_clusters = simulate(n_clusters=12, per_cluster=60, seed=8)
    rng = np.random.default_rng(0)
    observed = rng.random(len(y)) > 0.3
    observed[cluster == 0] = False  # systematically missing cluster
    data = method_data(X, y, cluster, n_clusters, observed)
    method = TwoLevelPolyReg("f")
    draws = [method.update(data, rng) for _ in range(60)]
    values = np.concatenate([d.values for d in draws[10:]])
    assert set(np.unique(values)) == {0.0, 1.0, 2.0}
    truth = np.bincount(y[~observed], minlength=3) / (~observed).sum()
    share = np.bincount(values.astype(int), minlength=3) / len(values)
    # imputed shares close to the shares of the (MCAR-deleted) true values
    se = np.sqrt(truth * (1 - truth) / (~observed).sum())
    assert np.all(np.abs(share - truth) < 4 * se + 0.03)
    dims = method.parameter_dims(data)
    for name, array in draws[-1].parameters.items():
        assert array.shape == tuple(len(c) for _, c in dims[name]), name


def test_polyreg_single_level_logs_never_observed_category():
    X, y, cluster, n_clusters = simulate(seed=4)
    y = np.where(y == 2, 1, y)  # category 2 never observed
    rng = np.random.default_rng(1)
    data = method_data(X, y, None, 0, rng.random(len(y)) > 0.2, random=())
    draw = PolyReg("f").update(data, rng)
    assert any("never observed" in e for e in draw.events)
    assert draw.parameters["beta"].shape == (2, 2)


def test_two_level_polr_recovers_cutpoints():
    rng = np.random.default_rng(5)
    n_clusters, per = 10, 60
    cluster = np.repeat(np.arange(n_clusters), per)
    x = rng.normal(size=len(cluster))
    eta = 1.0 * x + rng.normal(0, 0.5, n_clusters)[cluster]
    y = draw_categories(cumulative_probabilities(eta, np.array([-0.5, 1.0])), rng).astype(int)
    X = np.column_stack([np.ones_like(x), x])
    observed = rng.random(len(y)) > 0.2
    data = method_data(X, y, cluster, n_clusters, observed, kind=VariableKind.ORDERED)
    method = TwoLevelPolr("o", {"tune": 80, "n_steps": 2})
    draws = [method.update(data, rng) for _ in range(40)][5:]
    slope = np.array([d.parameters["beta"][0] for d in draws]) / x.std()
    assert abs(slope.mean() - 1.0) < 0.35
    assert set(np.unique(draws[-1].values)) <= {0.0, 1.0, 2.0}
    cutpoints = np.array([d.parameters["cutpoints"] for d in draws])
    assert cutpoints.shape == (35, 2)
    # the model's predictors are centred: its cutpoints are the true ones minus slope * mean(x)
    truth = np.array([-0.5, 1.0]) - 1.0 * x.mean()
    # each true cutpoint lies within 3 posterior sds of the posterior mean (the Monte Carlo
    # error of 35 NUTS draws, effective size >= 10, adds at most 5% to that sd); their gap,
    # free of the location the random intercepts share, is much tighter than the width 1.5
    sd = cutpoints.std(0) * np.sqrt(1 + 1 / 10)
    assert np.all(np.abs(cutpoints.mean(0) - truth) < 3 * sd), (cutpoints.mean(0), truth, sd)
    gap = cutpoints[:, 1] - cutpoints[:, 0]
    assert abs(gap.mean() - 1.5) < 3 * gap.std() * np.sqrt(1 + 1 / 10) and gap.std() < 0.3
