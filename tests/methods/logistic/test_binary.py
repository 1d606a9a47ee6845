"""logreg / 2l.bin: the Pólya–Gamma Gibbs step targets the NUTS posterior; imputations,
parameters, separation and clusters without observed values."""

import numpy as np
import pandas as pd
import pymc as pm
import pytest

import bayesimpute as bi
from bayesimpute.design.coding import VariableKind
from bayesimpute.methods.core.linalg import unpack_cholesky
from bayesimpute.methods.logistic.polya_gamma import (
    LogisticMixedGibbs,
    build_pymc_model,
    category_probabilities,
    draw_categories,
)
from bayesimpute.methods.base import MethodData
from bayesimpute.methods.logistic.binary import LogReg, TwoLevelBin


def simulate(n_clusters=8, per_cluster=20, seed=3, tau=0.7):
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_clusters), per_cluster)
    x = rng.normal(size=len(cluster))
    eta = -0.2 + 0.8 * x + rng.normal(0, tau, n_clusters)[cluster]
    y = draw_categories(category_probabilities(eta[:, None]), rng).astype(int)
    return np.column_stack([np.ones_like(x), x]), y, cluster, n_clusters


def method_data(X, y, cluster, n_clusters, observed, random=(0,), names=None):
    return MethodData(
        target="y", kind=VariableKind.BINARY, y=np.where(observed, y, 0).astype(float),
        observed=observed, impute=~observed, X=X,
        x_names=names or ["Intercept"] + [f"x{i}" for i in range(1, X.shape[1])],
        random=np.array(random), cluster=cluster, n_clusters=n_clusters,
        cluster_labels=np.arange(n_clusters),
    )


@pytest.mark.slow  # CI: tests/methods/test_calibration.py (simulation-based calibration)
def test_gibbs_matches_nuts_random_intercept():
    X, y, cluster, n_clusters = simulate()
    model = build_pymc_model(X, y, cluster, n_clusters, np.array([0]), 2,
                             x_names=["Intercept", "x"])
    step = LogisticMixedGibbs(model=model, rng=1)
    point, draws = step.initial_point(), []
    for i in range(4300):
        point, _ = step.step(point)
        if i >= 300:
            state = step.point_to_state(point)
            draws.append(np.r_[state.beta[0], np.log(state.psi[0, 0, 0])])
    gibbs = np.array(draws)
    with model:
        idata = pm.sample(draws=800, tune=600, chains=2, cores=1, random_seed=2,
                          progressbar=False, target_accept=0.95,
                          compute_convergence_checks=False)
    post = idata.posterior
    packed = post["psi_chol"].values.reshape(-1, 1)
    nuts = np.column_stack([
        post["beta"].values.reshape(-1, 2),
        [np.log(unpack_cholesky(p, 1)[0, 0]) for p in packed],
    ])
    # Monte Carlo error of a difference of two autocorrelated means: 5 s.e. with an
    # effective size of a fifth of the draws (conservative for both samplers)
    se = np.sqrt(gibbs.var(0) / (len(gibbs) / 5) + nuts.var(0) / (len(nuts) / 5))
    assert np.all(np.abs(gibbs.mean(0) - nuts.mean(0)) < 5 * se), (gibbs.mean(0), nuts.mean(0))
    assert np.allclose(gibbs.std(0), nuts.std(0), rtol=0.25), (gibbs.std(0), nuts.std(0))


def test_two_level_bin_imputes_binaries_and_records_parameters():
    X, y, cluster, n_clusters = simulate(n_clusters=10, per_cluster=40, seed=5)
    rng = np.random.default_rng(0)
    observed = rng.random(len(y)) > 0.3
    observed[cluster == 9] = False  # a cluster never observed: effects from N(0, Psi)
    data = method_data(X, y, cluster, n_clusters, observed)
    method = TwoLevelBin("y")
    draws = [method.update(data, rng) for _ in range(200)]
    values = draws[-1].values
    assert values.shape == ((~observed).sum(),) and set(np.unique(values)) <= {0.0, 1.0}
    dims = method.parameter_dims(data)
    for name, array in draws[-1].parameters.items():
        assert array.shape == tuple(len(c) for _, c in dims[name]), name
    u_unobserved = np.array([d.parameters["u"][9, 0] for d in draws[50:]])
    psi = np.array([d.parameters["psi"][0, 0] for d in draws[50:]])
    # the never-observed cluster's effect is a prior draw: variance = E[Psi]
    assert abs(np.var(u_unobserved) / np.mean(psi) - 1) < 0.5
    # the slope (true 0.8 per unit of x) back from the standardised scale: the truth lies
    # within 3 posterior sds of the posterior mean (Monte Carlo error of the mean of 150
    # autocorrelated draws, effective size >= 15, adds at most a quarter of a sd)
    slope = np.array([d.parameters["beta"][1] for d in draws[50:]]) / X[:, 1].std()
    assert abs(slope.mean() - 0.8) < 3 * slope.std() * np.sqrt(1 + 1 / 15)
    assert slope.std() < 0.4  # the posterior is informative: 267 observed rows


def test_separation_is_logged_and_bounded():
    rng = np.random.default_rng(1)
    n = 300
    dummy = (rng.random(n) < 0.2).astype(float)
    y = np.where(dummy == 1, 1, (rng.random(n) < 0.3).astype(int))  # dummy = 1 -> always 1
    X = np.column_stack([np.ones(n), dummy, rng.normal(size=n)])
    data = method_data(X, y, np.zeros(n, int), 1, rng.random(n) > 0.2, random=())
    method = LogReg("y")
    first = method.update(data, rng)
    assert any("separation" in e and "x1" in e for e in first.events)
    betas = np.array([method.update(data, rng).parameters["beta"] for _ in range(200)])
    # the ML estimate is infinite; the N(0, 2.5^2) prior keeps it within a few prior sds
    assert np.all(np.isfinite(betas)) and np.abs(betas[:, 1]).max() < 4 * 2.5


def test_logreg_recovers_coefficients():
    rng = np.random.default_rng(7)
    n = 2000
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.5 + 1.0 * x)))).astype(int)
    X = np.column_stack([np.ones(n), x])
    data = method_data(X, y, None, 0, np.ones(n, bool), random=())
    data.impute = rng.random(n) < 0.1
    method = LogReg("y")
    betas = np.array([method.update(data, rng).parameters["beta"] for _ in range(300)])[50:]
    # back to the raw scale: slope / sd(x), intercept - slope * mean(x) / sd(x)
    slope = betas[:, 1] / x.std()
    intercept = betas[:, 0] - slope * x.mean()
    assert abs(slope.mean() - 1.0) < 4 * slope.std()
    assert abs(intercept.mean() - 0.5) < 4 * intercept.std()


def test_random_slope_and_nuts_option_run():
    X, y, cluster, n_clusters = simulate(n_clusters=6, per_cluster=30, seed=11)
    rng = np.random.default_rng(2)
    observed = rng.random(len(y)) > 0.25
    data = method_data(X, y, cluster, n_clusters, observed, random=(0, 1))
    gibbs = TwoLevelBin("y")
    draw = [gibbs.update(data, rng) for _ in range(20)][-1]
    assert draw.parameters["psi"].shape == (2, 2) and draw.parameters["u"].shape == (6, 2)
    # NUTS on the random-intercept model (the same graph as above: the compile cache is warm)
    nuts = TwoLevelBin("y", {"sampler": "nuts", "tune": 50, "n_steps": 1})
    data.random = np.array([0])
    draw = [nuts.update(data, rng) for _ in range(3)][-1]
    assert "diverging" in draw.stats and set(np.unique(draw.values)) <= {0.0, 1.0}


def test_unknown_sampler_is_rejected():
    with pytest.raises(ValueError, match="sampler"):
        TwoLevelBin("y", {"sampler": "metropolis"})


def test_continued_run_is_identical_to_one_run():
    import pandas as pd

    import bayesimpute as bi

    rng = np.random.default_rng(3)
    n = 300
    g = np.repeat(np.arange(10), 30)
    x = rng.normal(size=n)
    b = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(float)
    f = pd.Categorical.from_codes(rng.integers(0, 3, n), categories=["a", "b", "c"])
    df = pd.DataFrame({"g": g, "x": x, "b": b, "f": f})
    df.loc[rng.random(n) < 0.2, "b"] = np.nan
    df.loc[rng.random(n) < 0.2, "f"] = np.nan
    options = dict(method={"b": "2l.bin", "f": "2l.polyreg"}, cluster="g", m=2, seed=4)
    short = bi.impute(df, maxit=2, **options).iterate(2)
    full = bi.impute(df, maxit=4, **options)
    for i in range(2):
        pd.testing.assert_frame_equal(short.complete(i), full.complete(i))


# --- start values: the first iteration is already a posterior draw ------------------------------
def _frame(seed, n_clusters, size, intercept, re_sd):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_clusters), size)
    x = rng.normal(size=g.size)
    eta = intercept + 0.5 * x + rng.normal(0, re_sd, n_clusters)[g]
    y = (rng.random(g.size) < 1 / (1 + np.exp(-eta))).astype(float)
    data = pd.DataFrame({"g": g, "x": x, "y": y})
    data.loc[rng.random(g.size) < 0.2, "y"] = np.nan
    return data


@pytest.mark.parametrize("case, frame, parameter", [
    # a rare outcome (2%): the Pólya–Gamma chain started at beta = 0 had moved the
    # intercept to -2.5 after two sweeps, against a posterior of -4.0 +/- 0.25
    ("rare outcome", dict(seed=2, n_clusters=50, size=20, intercept=-4.0, re_sd=0.7),
     "intercept"),
    # three rows per cluster, random-intercept variance 4: from Psi = 0.25 the chain
    # needed some 50 sweeps to reach the posterior
    ("small clusters", dict(seed=3, n_clusters=200, size=3, intercept=-1.0, re_sd=2.0),
     "psi"),
])
def test_first_iteration_draws_are_posterior_draws(case, frame, parameter,
                                                   assert_first_draws_in_the_bulk):
    data = _frame(**frame)
    arguments = dict(method={"y": "2l.bin"}, cluster="g", seed=7)
    first = bi.impute(data, m=12, maxit=1, **arguments).idata.posterior
    # four chains: the intercept of a rare outcome has a long tail (with Psi's), which one
    # chain of 500 draws need not reach
    long_run = bi.impute(data, m=4, maxit=600, **arguments).idata.posterior.isel(
        draw=slice(100, None))
    pick = {"intercept": lambda p: p["y_beta"].isel(y_x=0), "psi": lambda p: p["y_psi"]}[parameter]
    assert_first_draws_in_the_bulk(pick(first).values.ravel(), pick(long_run).values.ravel())
