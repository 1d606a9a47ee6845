"""The exact Gibbs step targets the same posterior as NUTS on the same PyMC model."""

import numpy as np
import pymc as pm
import pytest

from bayesimpute.methods.linear_mixed import LinearMixedGibbs, build_pymc_model


def simulate(n_clusters=8, per_cluster=12, seed=3):
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_clusters), per_cluster)
    x = rng.normal(size=len(cluster))
    u = rng.multivariate_normal([0, 0], [[0.5, 0.1], [0.1, 0.2]], size=n_clusters)
    y = 0.3 + 0.8 * x + u[cluster, 0] + u[cluster, 1] * x + rng.normal(0, 0.7, len(x))
    X = np.column_stack([np.ones_like(x), x])
    return X, y, cluster, n_clusters


def gibbs_draws(model, n_draws, seed):
    step = LinearMixedGibbs(model=model, rng=seed)
    point = step.initial_point()
    draws = []
    for i in range(n_draws + 500):
        point, _ = step.step(point)
        if i >= 500:
            draws.append(step.point_to_state(point))
    return draws


def summaries(states):
    beta = np.array([s.beta for s in states])
    psi = np.array([np.diag(s.psi) for s in states])
    sigma2 = np.array([s.sigma2.mean() for s in states])
    return {"beta": beta, "psi": np.log(psi), "sigma2": np.log(sigma2)}


# Slow: NUTS takes minutes. The CI evidence that the step samples its model's posterior is
# the simulation-based calibration of tests/methods/test_calibration.py.
@pytest.mark.slow
@pytest.mark.parametrize("random, heterogeneous", [
    ([0], False),
    ([0, 1], False),
    ([0, 1], True),
])
def test_gibbs_matches_nuts(random, heterogeneous):
    X, y, cluster, n_clusters = simulate()
    q = len(random)
    model = build_pymc_model(
        X, y, cluster, n_clusters, np.array(random), heterogeneous=heterogeneous,
        x_names=["Intercept", "x"],
    )
    gibbs = summaries(gibbs_draws(model, 6000, seed=1))
    with model:
        idata = pm.sample(
            draws=600, tune=600, chains=2, cores=1, random_seed=2, progressbar=False,
            target_accept=0.95, compute_convergence_checks=False,
        )
    post = idata.posterior
    packed = post["psi_chol"].values.reshape(-1, q * (q + 1) // 2)
    nuts = {
        "beta": post["beta"].values.reshape(-1, 2),
        "psi": np.log(np.stack([_psi_diag(p, q) for p in packed])),
        "sigma2": np.log(post["sigma2"].values.reshape(len(post.chain) * len(post.draw), -1).mean(1)),
    }
    for name in gibbs:
        g, n = gibbs[name], nuts[name]
        # Monte Carlo error of a difference of two autocorrelated means: allow 5 s.e. with
        # an effective size of a fifth of the draws (conservative for both samplers).
        se = np.sqrt(g.var(0) / (len(g) / 5) + n.var(0) / (len(n) / 5))
        assert np.all(np.abs(g.mean(0) - n.mean(0)) < 5 * se + 1e-3), name
        assert np.allclose(g.std(0), n.std(0), rtol=0.25), name


def _psi_diag(packed, q):
    from bayesimpute.methods._linalg import unpack_cholesky

    return np.diag(unpack_cholesky(packed, q))


def test_gibbs_step_runs_inside_pm_sample():
    X, y, cluster, n_clusters = simulate()
    model = build_pymc_model(X, y, cluster, n_clusters, np.array([0]), x_names=["Intercept", "x"])
    with model:
        step = LinearMixedGibbs(model=model, rng=5)
        idata = pm.sample(
            draws=300, tune=0, chains=1, step=[step], random_seed=5, progressbar=False,
            compute_convergence_checks=False, initvals=step.initial_point(),
        )
    assert idata.posterior["beta"].shape == (1, 300, 2)
    assert np.isfinite(idata.posterior["sigma2"].values).all()
