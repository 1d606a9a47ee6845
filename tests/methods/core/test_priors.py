"""The one random-effect covariance prior (Huang & Wand 2013) of every multilevel method."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from scipy import stats

from bayesimpute.methods.heckman.selection_model import HeckmanPriors
from bayesimpute.methods.core.linalg import pack_cholesky, unpack_cholesky
from bayesimpute.methods.logistic.polya_gamma import LogitPriors
from bayesimpute.methods.core.priors import CovariancePrior
from bayesimpute.methods.gaussian.linear_mixed import LinearMixedPriors


def _model(prior: CovariancePrior, q: int, batch: tuple[int, ...] = ()) -> pm.Model:
    coords = {"re": list(range(q)), "category": list(range(batch[0] if batch else 1))}
    with pm.Model(coords=coords) as model:
        prior.declare(q, hyper_dims=(("category",) if batch else ()) + ("re",), batch=batch)
    return model


def test_every_method_states_the_same_family():
    families = {
        "gaussian": LinearMixedPriors().covariance,
        "heckman": HeckmanPriors().covariance,
        "logistic": LogitPriors().covariance,
    }
    assert all(isinstance(p, CovariancePrior) and p.df == 2.0 for p in families.values())
    # the same fraction of the latent residual sd: 0.5 of a standard normal, 1 of a logistic
    # (sd pi / sqrt(3) = 1.81)
    assert families["gaussian"].scale == families["heckman"].scale == 0.5
    assert families["logistic"].scale == 1.0


@pytest.mark.parametrize("batch", [(), (2,)])
def test_model_density_is_the_hierarchical_inverse_wishart(batch):
    """The PyMC model's log density of (a, packed Cholesky) equals scipy's IW(nu + q - 1,
    2 nu diag(1/a)) x InvGamma(1/2, 1/A^2), with the Jacobians of the packing and the log."""
    prior, q = CovariancePrior(df=2.0, scale=0.7), 3
    model = _model(prior, q, batch)
    rng = np.random.default_rng(0)
    n = batch[0] if batch else 1
    hyper = rng.gamma(2.0, size=(n, q))
    psi = [prior.draw_covariance(hyper[k], rng) for k in range(n)]
    point = model.initial_point()
    point["psi_hyper_log__"] = np.log(hyper).reshape(*batch, q)
    point["psi_chol"] = np.array([pack_cholesky(p) for p in psi]).reshape(*batch, -1)
    expected = 0.0
    for k in range(n):
        expected += stats.invwishart.logpdf(psi[k], df=prior.wishart_df(q),
                                            scale=np.diag(2 * prior.df / hyper[k]))
        chol = np.linalg.cholesky(psi[k])
        expected += q * np.log(2) + np.sum((q - np.arange(q) + 1) * np.log(np.diag(chol)))
        expected += np.sum(stats.invgamma.logpdf(hyper[k], 0.5, scale=1 / prior.scale**2)
                           + np.log(hyper[k]))
    assert model.compile_logp()(point) == pytest.approx(expected, rel=1e-8)


def test_prior_draws_have_half_t_sds_and_uniform_correlations():
    prior, q = CovariancePrior(df=2.0, scale=0.5), 3
    packed = pm.draw(_model(prior, q)["psi_chol"], draws=4000, random_seed=1)
    psi = np.array([unpack_cholesky(p, q) for p in packed])
    sd = np.sqrt(psi[:, 0, 0])
    corr = psi[:, 0, 1] / np.sqrt(psi[:, 0, 0] * psi[:, 1, 1])
    # |t_2| * A has cdf 2 F_t(x / A) - 1
    assert stats.kstest(sd, lambda x: 2 * stats.t(2).cdf(x / prior.scale) - 1).pvalue > 0.01
    assert stats.kstest(corr, stats.uniform(-1, 2).cdf).pvalue > 0.01


def test_a_different_scale_is_detected():
    """The half-t check above has power: the sds of a prior with A = 0.55 fail it."""
    packed = pm.draw(_model(CovariancePrior(2.0, 0.55), 2)["psi_chol"], draws=4000,
                     random_seed=1)
    sd = np.sqrt([unpack_cholesky(p, 2)[0, 0] for p in packed])
    assert stats.kstest(sd, lambda x: 2 * stats.t(2).cdf(x / 0.5) - 1).pvalue < 0.01


def _update_ranks(prior: CovariancePrior, q: int, n_clusters: int, error: float = 1.0,
                  replications: int = 200, n_draws: int = 9, thin: int = 2, seed: int = 0):
    """Simulation-based calibration of the conjugate update alone: the effects are data.

    Statistics: log Psi_kk and log a_k; returns their chi-square p-values."""
    rng = np.random.default_rng(seed)
    ranks = []
    for _ in range(replications):
        hyper = prior.draw_hyper(q, rng)
        psi = prior.draw_covariance(hyper, rng)
        u = rng.multivariate_normal(np.zeros(q), psi, size=n_clusters)
        truth = np.log(np.r_[np.diag(psi), hyper])
        draws, state = [], (psi, hyper)
        for i in range(n_draws * thin):
            state = prior.update(u, state[1], rng)
            state = (state[0] * error, state[1])
            if (i + 1) % thin == 0:
                draws.append(np.log(np.r_[np.diag(state[0]), state[1]]))
        ranks.append((np.array(draws) < truth).sum(0))
    binned = np.array(ranks) * 5 // (n_draws + 1)
    return [stats.chisquare(np.bincount(b, minlength=5)).pvalue for b in binned.T]


@pytest.mark.parametrize("q", [1, 3])
def test_conjugate_update_is_calibrated_and_has_power(q):
    prior = CovariancePrior(2.0, 0.5)
    # 5 clusters (the obesity case): the prior dominates, so an error in a | Psi shows
    # (drawing a from InvGamma((nu + q - 1) / 2, .) fails here); 50 clusters: a 10% error in
    # the drawn covariance fails the same check
    assert min(_update_ranks(prior, q, n_clusters=5)) > 0.001
    assert min(_update_ranks(prior, q, n_clusters=50)) > 0.001
    assert min(_update_ranks(prior, q, n_clusters=50, error=1.1)) < 0.001
