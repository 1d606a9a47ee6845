"""Start values of the Gibbs steps: moment fits of the observed rows."""

import numpy as np
import pytest
from scipy import optimize

from bayesimpute.methods.core.linalg import cluster_crossproducts
from bayesimpute.methods.core.start_values import (
    PSI_FLOOR,
    linear_mixed_start,
    logit_start,
    penalised_logistic_fit,
)


def _stats(X, y, g, J):
    return cluster_crossproducts(np.column_stack([X, y]), g, J), np.bincount(g, minlength=J)


def test_linear_mixed_start_recovers_the_variance_components():
    """ANOVA estimates on 300 clusters of 5: s.e. of Psi about sqrt(2 / J) (Psi + sigma^2 /
    n_j) = 0.06, of sigma^2 about sqrt(2 / (n - J p)) sigma^2 = 0.04; 4 s.e. allowed."""
    rng = np.random.default_rng(1)
    J, size = 300, 5
    g = np.repeat(np.arange(J), size)
    x = rng.normal(size=g.size)
    u = rng.multivariate_normal([0, 0], [[0.5, 0.1], [0.1, 0.3]], J)
    y = 0.2 + 0.7 * x + u[g, 0] + u[g, 1] * x + rng.normal(size=g.size)
    X = np.column_stack([np.ones_like(x), x])
    start = linear_mixed_start(*_stats(X, y, g, J), np.array([0, 1]))
    np.testing.assert_allclose(start.beta, [0.2, 0.7], atol=0.15)
    assert start.sigma2 == pytest.approx(1.0, abs=4 * 0.04 * 1.3)
    assert start.psi[0, 0] == pytest.approx(0.5, abs=4 * 0.06)
    assert start.psi[1, 1] == pytest.approx(0.3, abs=4 * 0.08)
    assert np.all(np.linalg.eigvalsh(start.psi) >= PSI_FLOOR - 1e-12)


def test_linear_mixed_start_without_usable_clusters_falls_back():
    rng = np.random.default_rng(2)
    g = np.arange(40)  # one row per cluster: no within-cluster information
    X = np.column_stack([np.ones(40), rng.normal(size=40)])
    y = rng.normal(size=40)
    start = linear_mixed_start(*_stats(X, y, g, 40), np.array([0]))
    assert np.allclose(start.psi, 0.2 * np.eye(1))
    assert start.sigma2 > 0 and np.all(np.isfinite(start.beta))
    single = linear_mixed_start(*_stats(X, y, g, 40), np.array([], dtype=int))
    assert single.psi.shape == (0, 0) and single.u.shape == (40, 0)


def test_penalised_logistic_fit_is_the_posterior_mode():
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(300), rng.normal(size=(300, 2))])
    y = (rng.random(300) < 1 / (1 + np.exp(-(X @ [-1.0, 1.0, -0.5])))).astype(float)
    sd = np.array([5.0, 2.5, 2.5])

    def negative_log_posterior(beta):
        eta = X @ beta
        return np.sum(np.logaddexp(0, eta) - y * eta) + 0.5 * np.sum((beta / sd) ** 2)

    reference = optimize.minimize(negative_log_posterior, np.zeros(3), method="BFGS",
                                  options={"gtol": 1e-10}).x
    np.testing.assert_allclose(penalised_logistic_fit(X, y, sd), reference, atol=1e-5)


def test_penalised_logistic_fit_stays_finite_under_separation():
    x = np.linspace(-1, 1, 40)
    X = np.column_stack([np.ones(40), x])
    beta = penalised_logistic_fit(X, (x > 0).astype(float), np.array([5.0, 2.5]))
    assert np.all(np.isfinite(beta)) and 0 < beta[1] < 20


def test_logit_start_fits_each_category_against_the_reference():
    rng = np.random.default_rng(4)
    n, J = 3000, 30
    g = rng.integers(0, J, n)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    eta = np.column_stack([np.zeros(n), X @ [0.5, 1.0], X @ [-0.5, -1.0]])
    prob = np.exp(eta) / np.exp(eta).sum(1, keepdims=True)
    y = (rng.random(n)[:, None] > np.cumsum(prob, 1)[:, :-1]).sum(1)
    beta, variance = logit_start(X, y, g, J, 2, np.array([5.0, 2.5]))
    # baseline-category logits, each within about 4 s.e. (s.e. about 0.06 here)
    np.testing.assert_allclose(beta, [[0.5, 1.0], [-0.5, -1.0]], atol=0.25)
    assert np.all(variance >= PSI_FLOOR) and np.all(variance < 0.2)  # no cluster effect
