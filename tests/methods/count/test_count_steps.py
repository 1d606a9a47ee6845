"""The count families' Metropolis–Hastings blocks (methods/count/count_steps.py)."""

import numpy as np
import pytest

from bayesimpute.methods.count.count_steps import NegBinBlocks, PoissonBlocks
from bayesimpute.methods.count.poisson import TwoLevelNegBin

from tests.methods.count.test_count import simulate

FAMILIES = {
    "poisson": (PoissonBlocks(0.3), {}),
    "negative binomial": (NegBinBlocks(0.3, 1.0), {"inv_alpha": np.array(0.7)}),
    "negative binomial near the Poisson limit": (NegBinBlocks(0.3, 1.0),
                                                 {"inv_alpha": np.array(1e-13)}),
}


@pytest.mark.parametrize("name", FAMILIES)
def test_score_and_curvature_are_the_rows_derivatives(name):
    family, params = FAMILIES[name]
    rng = np.random.default_rng(0)
    log_mu, y = rng.normal(0.5, 1.5, 50), rng.poisson(3.0, 50).astype(float)
    h = 1e-5
    rows, score, curvature = family.row_terms(log_mu, y, params)
    up, down = (family.row_terms(log_mu + s, y, params) for s in (h, -h))
    np.testing.assert_allclose(score, (up[0] - down[0]) / (2 * h), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(curvature, -(up[1] - down[1]) / (2 * h), rtol=1e-5, atol=1e-6)
    assert np.all(curvature > 0)  # concave: the Newton steps and the t proposals hold


def test_negative_binomial_rows_keep_their_digits_at_the_poisson_limit():
    # at alpha = 1e13 the NB's log-likelihood differences are the Poisson's (to ~y mu / alpha)
    rng = np.random.default_rng(1)
    y = rng.poisson(4.0, 200).astype(float)
    a, b = rng.normal(1.3, 0.3, 200), rng.normal(1.3, 0.3, 200)
    nb, poisson = NegBinBlocks(0.0, 1.0), PoissonBlocks(0.0)
    near_poisson = {"inv_alpha": np.array(1e-13)}
    nb_difference = nb.log_likelihood(a, y, near_poisson) - nb.log_likelihood(b, y, near_poisson)
    poisson_difference = poisson.log_likelihood(a, y, {}) - poisson.log_likelihood(b, y, {})
    assert abs(nb_difference - poisson_difference) < 1e-8


def test_negative_binomial_step_leaves_the_poisson_limit():
    # the slice draw of 1 / alpha can visit ~1e-13 (the posterior allows it from a poor
    # start); the next sweeps must return from there in normal time (this step's former
    # Polya-Gamma draws, h = y + alpha ~ 1e13, did not return at all)
    data, _, rng = simulate(seed=5, n_clusters=6, per_cluster=30)
    method = TwoLevelNegBin("c", {"burn": 0})
    method.update(data, rng)
    point = method._stepper.point
    point["inv_alpha_log__"] = np.log(1e-13)
    method._stepper.point = point
    draws = [method.update(data, rng) for _ in range(30)]
    inv_alpha = np.array([float(d.parameters["inv_alpha"]) for d in draws])
    assert np.all(np.isfinite(inv_alpha)) and inv_alpha[-10:].min() > 1e-6
