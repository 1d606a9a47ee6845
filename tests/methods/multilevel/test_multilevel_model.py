"""The exact multi-level Gibbs sweeps target the same posterior as NUTS on the same PyMC
model (nested three-level and crossed random intercepts, and a random slope), and the
nested draw is the two-level collapsed draw when there is one level.

The NUTS comparisons are slow tests; the CI evidence that the sweeps sample their posterior
is their simulation-based calibration (tests/methods/test_calibration.py). A variance near
zero mixes slowly in the Gibbs sweep (the class-level log variance of the nested data has an
effective size of about 1% of the draws), hence the long Gibbs runs here.
"""

import arviz as az
import numpy as np
import pymc as pm
import pytest

from bayesimpute.methods.multilevel.sweeps import EffectLevel, make_chain
from bayesimpute.methods.multilevel.ml_model import (
    GaussianSweep,
    MultilevelState,
    build_pymc_model,
)


def nested_data(seed=4, schools=6, classes=3, pupils=5, slope=False):
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(schools), classes * pupils)
    klass = np.repeat(np.arange(schools * classes), pupils)
    x = rng.normal(size=len(school))
    y = (0.3 + 0.6 * x + rng.normal(0, 0.6, schools)[school]
         + rng.normal(0, 0.4, schools * classes)[klass] + rng.normal(0, 0.7, len(x)))
    if slope:
        y = y + rng.normal(0, 0.4, schools * classes)[klass] * x
    X = np.column_stack([np.ones_like(x), x])
    random_class = np.array([0, 1]) if slope else np.array([0])
    levels = [EffectLevel("class", klass, schools * classes, random_class),
              EffectLevel("school", school, schools, np.array([0]))]
    return X, y, [make_chain(levels)]


def crossed_data(seed=5, a=6, b=5, n=100):
    rng = np.random.default_rng(seed)
    first, second = rng.integers(0, a, n), rng.integers(0, b, n)
    x = rng.normal(size=n)
    y = (0.2 + 0.5 * x + rng.normal(0, 0.7, a)[first] + rng.normal(0, 0.5, b)[second]
         + rng.normal(0, 0.7, n))
    X = np.column_stack([np.ones_like(x), x])
    chains = [make_chain([EffectLevel("primary", first, a, np.array([0]))]),
              make_chain([EffectLevel("secondary", second, b, np.array([0]))])]
    return X, y, chains


def level_names(chains):
    return [level.name for chain in chains for level in chain.levels]


def gibbs_summaries(X, y, chains, n_draws=20000, burn=300, seed=1):
    rng = np.random.default_rng(seed)
    sweep = GaussianSweep(X, y, chains)
    state = MultilevelState.start(X.shape[1], chains)
    rows = []
    for i in range(n_draws + burn):
        state = sweep(state, rng)
        if i >= burn:
            psi = [np.log(np.diag(s)) for chain_psi in state.psi for s in chain_psi]
            rows.append(np.concatenate([state.beta, [np.log(state.sigma2)], *psi]))
    return np.array(rows)


def nuts_summaries(X, y, chains, seed=2, draws=2000):
    model = build_pymc_model(X, y, chains)
    with model:
        idata = pm.sample(draws=draws, tune=draws, chains=2, cores=1, random_seed=seed,
                          progressbar=False, target_accept=0.95,
                          compute_convergence_checks=False)
    post = idata.posterior
    parts = [post["beta"].values, np.log(post["sigma2"].values)[..., None]]
    for name in level_names(chains):
        psi = post[f"psi_{name}"].values
        parts.append(np.log(np.diagonal(psi, axis1=-2, axis2=-1)))
    return np.concatenate(parts, axis=-1)  # (chain, draw, k)


def assert_same_posterior(gibbs, nuts):
    """Means and standard deviations agree within 5 Monte Carlo standard errors (ArviZ's
    ``mcse`` of the mean and of the sd, which account for autocorrelation and heavy tails:
    the log variance of a level whose variance may be near zero has both)."""
    def mcse(draws, method):  # draws (chain, draw, k)
        return np.array([float(az.mcse(draws[:, :, k], method=method))
                         for k in range(draws.shape[-1])])

    g = gibbs[None]
    n_flat = nuts.reshape(-1, nuts.shape[-1])
    for method, statistic in (("mean", np.mean), ("sd", np.std)):
        se = np.sqrt(mcse(g, method) ** 2 + mcse(nuts, method) ** 2)
        z = np.abs(statistic(gibbs, axis=0) - statistic(n_flat, axis=0)) / se
        assert np.all(z < 5), (method, z, statistic(gibbs, axis=0), statistic(n_flat, axis=0))


@pytest.mark.slow
def test_nested_three_levels_match_nuts():
    X, y, chains = nested_data()
    assert_same_posterior(gibbs_summaries(X, y, chains), nuts_summaries(X, y, chains))


@pytest.mark.slow
def test_crossed_levels_match_nuts():
    X, y, chains = crossed_data()
    assert_same_posterior(gibbs_summaries(X, y, chains), nuts_summaries(X, y, chains))


@pytest.mark.slow
def test_nested_with_random_slope_matches_nuts():
    X, y, chains = nested_data(slope=True)
    assert_same_posterior(gibbs_summaries(X, y, chains), nuts_summaries(X, y, chains))


def test_one_level_ml_sweep_samples_the_2l_norm_posterior():
    """With one level, ml's nested sweep (with the interweaving move) and 2l.norm's sweep
    (with the collapsed scale move) are different chains on the same posterior: their long
    runs agree within Monte Carlo error (5 s.e. of the difference, from ArviZ's ESS)."""
    import arviz as az

    from bayesimpute.methods.core.linalg import cluster_crossproduct_planes
    from bayesimpute.methods.gaussian.linear_mixed import (
        ClusterStatistics,
        LinearMixedPriors,
        LinearMixedState,
        _sweep,
    )
    from bayesimpute.methods.multilevel.ml_model import MultilevelState, gaussian_sweep

    rng = np.random.default_rng(0)
    J, n_per = 30, 12
    cluster = np.repeat(np.arange(J), n_per)
    X = np.column_stack([np.ones(J * n_per), rng.normal(size=(J * n_per, 2))])
    y = X @ [0.3, 0.5, -0.2] + rng.normal(0, 0.7, J)[cluster] + rng.normal(size=len(X))
    random, priors = np.array([0, 1]), LinearMixedPriors()
    planes = cluster_crossproduct_planes([np.ascontiguousarray(c) for c in (*X.T, y)],
                                         cluster, J)
    stats = ClusterStatistics(planes, np.bincount(cluster).astype(float), random)
    chain = make_chain([EffectLevel("g", cluster, J, random)])
    two = LinearMixedState(np.zeros(3), np.array([0.5]), np.zeros((J, 2)), np.eye(2) * 0.25)
    ml = MultilevelState(np.zeros(3), 0.5, [[np.zeros((J, 2))]], [[np.eye(2) * 0.25]],
                         [[np.ones(2)]])
    rng_two, rng_ml = np.random.default_rng(5), np.random.default_rng(6)
    draws_two, draws_ml = [], []
    for i in range(3200):
        two = _sweep(stats, two, priors, rng_two)
        ml = gaussian_sweep(X, y, [chain], ml, priors, rng_ml)
        if i >= 200:
            draws_two.append([*two.beta, *np.sqrt(np.diag(two.psi)), two.sigma2[0]])
            draws_ml.append([*ml.beta, *np.sqrt(np.diag(ml.psi[0][0])), ml.sigma2])
    a, b = np.array(draws_two), np.array(draws_ml)
    ess = [np.array([az.ess(d[None, :, k]) for k in range(d.shape[1])]) for d in (a, b)]
    se = np.sqrt(a.var(0) / ess[0] + b.var(0) / ess[1])
    assert np.all(np.abs(a.mean(0) - b.mean(0)) < 5 * se), (a.mean(0), b.mean(0), se)
    assert np.allclose(a.std(0), b.std(0), rtol=0.15)
