"""The scale moves leave the posterior of a random-effect variance exactly invariant.

A toy posterior with a known answer: J clusters whose effects u_j ~ N(0, psi) have the
Gaussian likelihood exp(-ZZ_j u_j^2 / 2 + Zr_j u_j), psi the Huang–Wand (half-t(2, A) sd)
prior. psi's posterior, u integrated out, is computed on a grid; chains of the moves must
reproduce its mean and sd of log psi within Monte Carlo error (5 s.e. from ArviZ's ESS).
"""

import arviz as az
import numpy as np
import pytest
from scipy import stats

from bayesimpute.methods.core.priors import CovariancePrior
from bayesimpute.methods.core.scale_moves import (
    collapsed_log_likelihood,
    draw_collapsed_scales,
    effect_quadratic,
    interweave,
    interweave_likelihood,
)

PRIOR = CovariancePrior(df=2.0, scale=0.5)


def toy(n_clusters, true_psi, seed):
    rng = np.random.default_rng(seed)
    ZZ = rng.integers(2, 8, n_clusters).astype(float)[:, None, None]
    u = rng.normal(0, np.sqrt(true_psi), n_clusters)
    Zr = (ZZ[:, 0, 0] * u + rng.normal(0, np.sqrt(ZZ[:, 0, 0])))[:, None]
    return ZZ, Zr


def grid_posterior(ZZ, Zr):
    """Mean and sd of log psi under the exact posterior (grid on log psi)."""
    t = np.linspace(-16, 4, 8001)
    psi = np.exp(t)
    nu, A = PRIOR.df, PRIOR.scale
    log_prior = -0.5 * t - 0.5 * (nu + 1) * np.log1p(psi / (nu * A**2)) + t  # + Jacobian
    log_post = log_prior + np.array([collapsed_log_likelihood(np.array([[p]]), ZZ, Zr)
                                     for p in psi])
    w = np.exp(log_post - log_post.max())
    w /= w.sum()
    mean = np.sum(w * t)
    return mean, np.sqrt(np.sum(w * (t - mean) ** 2))


def assert_matches(draws, ZZ, Zr):
    mean, sd = grid_posterior(ZZ, Zr)
    logs = np.log(np.asarray(draws))
    se = logs.std() / np.sqrt(az.ess(logs[None, :]))
    assert abs(logs.mean() - mean) < 5 * se, (logs.mean(), mean, se)
    assert abs(logs.std() - sd) < 0.08 * sd, (logs.std(), sd)


@pytest.mark.parametrize("true_psi", [0.0, 0.05, 0.5], ids=["zero", "small", "large"])
def test_collapsed_move_samples_the_variance_posterior(true_psi):
    ZZ, Zr = toy(15, true_psi, seed=1)
    rng = np.random.default_rng(2)
    psi, hyper, draws = np.array([[0.1]]), np.ones(1), []
    for _ in range(6000):
        psi, hyper = draw_collapsed_scales(psi, PRIOR, ZZ, Zr, rng)
        draws.append(psi[0, 0])
    assert_matches(draws, ZZ, Zr)


@pytest.mark.parametrize("true_psi", [0.0, 0.05, 0.5], ids=["zero", "small", "large"])
def test_centred_draw_and_interweaving_sample_the_variance_posterior(true_psi):
    ZZ, Zr = toy(15, true_psi, seed=1)
    rng = np.random.default_rng(3)
    psi, hyper, draws = np.array([[0.1]]), np.ones(1), []
    for _ in range(6000):
        precision = 1.0 / psi[0, 0] + ZZ[:, 0, 0]
        u = (Zr[:, 0] / precision + rng.standard_normal(len(ZZ)) / np.sqrt(precision))[:, None]
        psi, hyper = PRIOR.update(u, hyper, rng)
        G, h = effect_quadratic(u, ZZ, Zr)
        u, psi, hyper = interweave(u, psi, PRIOR, G, h, rng)
        draws.append(psi[0, 0])
    assert_matches(draws, ZZ, Zr)


def test_collapsed_likelihood_is_the_marginal_gaussian_likelihood():
    """q = 2: differences in psi of the collapsed log-likelihood equal those of the rows'
    marginal Gaussian density N(0, W^-1 + Z Psi Z'), for unit weights."""
    rng = np.random.default_rng(4)
    clusters = [rng.normal(size=(n, 2)) for n in (3, 5, 4)]
    residuals = [rng.normal(size=len(Z)) for Z in clusters]
    ZZ = np.stack([Z.T @ Z for Z in clusters])
    Zr = np.stack([Z.T @ r for Z, r in zip(clusters, residuals)])

    def direct(psi):
        return sum(stats.multivariate_normal(np.zeros(len(Z)), np.eye(len(Z)) + Z @ psi @ Z.T)
                   .logpdf(r) for Z, r in zip(clusters, residuals))

    a, b = np.array([[0.5, 0.1], [0.1, 0.3]]), np.array([[0.2, -0.05], [-0.05, 0.9]])
    np.testing.assert_allclose(collapsed_log_likelihood(a, ZZ, Zr)
                               - collapsed_log_likelihood(b, ZZ, Zr), direct(a) - direct(b),
                               rtol=1e-10)


def test_interweaving_with_a_poisson_likelihood_samples_the_variance_posterior():
    """Counts y_ij ~ Poisson(exp(1 + u_j)): psi's exact posterior by a grid over psi and,
    per cluster, over u_j; the chain draws each u_j by slice sampling, psi | u, then the
    interweaving move with the Poisson log-likelihood (as the NUTS methods do)."""
    from bayesimpute.methods.core.slice_sampling import slice_sample

    rng = np.random.default_rng(6)
    n_clusters = 12
    cluster = np.repeat(np.arange(n_clusters), 6)
    y = rng.poisson(np.exp(1.0 + rng.normal(0, 0.2, n_clusters)[cluster]))
    totals = np.bincount(cluster, weights=y)
    sizes = np.bincount(cluster).astype(float)

    # exact: p(y_j | psi) = int exp(T_j (1 + u) - n_j e^(1 + u)) N(u; 0, psi) du on a grid
    u_grid = np.linspace(-6, 6, 4001)
    log_f = totals[:, None] * (1 + u_grid) - sizes[:, None] * np.exp(1 + u_grid)
    t = np.linspace(-14, 3, 1201)
    log_marginal = []
    for p in np.exp(t):
        log_w = log_f - 0.5 * u_grid**2 / p - 0.5 * np.log(p)
        top = log_w.max(axis=1, keepdims=True)
        log_marginal.append(float(np.sum(top[:, 0] + np.log(np.exp(log_w - top).sum(1)))))
    nu, A = PRIOR.df, PRIOR.scale
    log_post = (np.array(log_marginal) + 0.5 * t
                - 0.5 * (nu + 1) * np.log1p(np.exp(t) / (nu * A**2)))
    w = np.exp(log_post - log_post.max())
    w /= w.sum()
    mean = np.sum(w * t)
    sd = np.sqrt(np.sum(w * (t - mean) ** 2))

    psi, hyper, u, draws = np.array([[0.1]]), np.ones(1), np.zeros((n_clusters, 1)), []
    for _ in range(5000):
        def log_density(v, psi=psi):
            return totals * v - sizes * np.exp(1 + v) - 0.5 * v**2 / psi[0, 0]
        u = slice_sample(u[:, 0], log_density, 0.5, rng)[:, None]
        psi, hyper = PRIOR.update(u, hyper, rng)

        def log_likelihood(c, u=u):
            eta = 1 + c[0] * u[cluster, 0]
            return float(np.sum(y * eta - np.exp(eta)))
        u, psi, hyper = interweave_likelihood(u, psi, PRIOR, log_likelihood, rng)
        draws.append(psi[0, 0])
    logs = np.log(np.array(draws[200:]))
    se = logs.std() / np.sqrt(az.ess(logs[None, :]))
    assert abs(logs.mean() - mean) < 5 * se, (logs.mean(), mean, se)
    assert abs(logs.std() - sd) < 0.1 * sd, (logs.std(), sd)
