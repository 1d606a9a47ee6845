"""The compatible methods' models: the standardised scale maps back to the same model."""

from __future__ import annotations

import numpy as np
import pytest

from bayesimpute.methods._compatible_models import DesignScale, GaussianMixed, LogitMixed


def random_design(rng, n=50, J=5):
    cluster = np.repeat(np.arange(J), n // J)
    X = np.column_stack([np.ones(n), rng.normal(3.0, 2.0, n), rng.normal(-1.0, 0.5, n)])
    return X, cluster


@pytest.mark.parametrize("random, intercept", [
    ([0, 1], True), ([0, 1, 2], True), ([1], True), ([], True), ([0], True),
])
@pytest.mark.parametrize("gaussian", [True, False])
def test_linear_predictor_is_the_same_on_both_scales(random, intercept, gaussian):
    """eta on the data's scale from mapped parameters = the standardised model's eta mapped."""
    rng = np.random.default_rng(1)
    X, cluster = random_design(rng)
    y = rng.normal(5.0, 3.0, len(X))
    random = np.array(random, dtype=int)
    scale = DesignScale(X, y if gaussian else None, random, intercept)
    q = len(random)
    beta, u = rng.normal(size=3), rng.normal(size=(5, q))
    L = rng.normal(size=(q, q))
    psi = L @ L.T + np.eye(q)
    X_std = scale.X(X)
    eta_std = X_std @ beta + (np.einsum("nq,nq->n", X_std[:, random], u[cluster]) if q else 0)
    data = scale.to_data_scale(beta, u, psi, 0.7 if gaussian else None)
    eta = data.linear_predictor(X, random, cluster)
    np.testing.assert_allclose(eta, scale.y_mean + scale.y_sd * eta_std, atol=1e-10)
    if q:
        # Psi maps as the effects do: cov(A u) = A Psi A'
        A = scale.effects_map()
        np.testing.assert_allclose(data.psi, scale.y_sd**2 * A @ psi @ A.T)
    if gaussian:
        assert data.sigma2 == pytest.approx(0.7 * scale.y_sd**2)


def test_random_slope_without_random_intercept_is_not_centred():
    X, cluster = random_design(np.random.default_rng(2))
    scale = DesignScale(X, None, np.array([1]), True)
    assert scale.x_mean[1] == 0.0 and scale.x_mean[2] != 0.0


def test_no_intercept_no_centring():
    X, cluster = random_design(np.random.default_rng(3))
    scale = DesignScale(X[:, 1:], np.arange(len(X), dtype=float), np.array([], dtype=int), False)
    assert np.all(scale.x_mean == 0.0) and scale.y_mean == 0.0


def test_gaussian_mixed_recovers_a_random_slope_model():
    """Data-scale posterior means near the truth on a large simulated data set."""
    rng = np.random.default_rng(4)
    J, n = 150, 30
    cluster = np.repeat(np.arange(J), n)
    x = rng.normal(2.0, 1.5, J * n)
    u = rng.multivariate_normal([0, 0], [[0.5, 0.0], [0.0, 0.2]], J)
    y = 10 + 0.5 * x + u[cluster, 0] + u[cluster, 1] * x + rng.standard_normal(J * n)
    X = np.column_stack([np.ones_like(x), x])
    model = GaussianMixed(X, y, cluster, J, np.array([0, 1]), ["Intercept", "x"], True, rng)
    draws = []
    for _ in range(300):
        model.update(X, y, rng, 1)
        draws.append(model.parameters())
    kept = draws[100:]
    beta = np.mean([d.beta for d in kept], axis=0)
    psi = np.mean([d.psi for d in kept], axis=0)
    sigma2 = np.mean([d.sigma2 for d in kept])
    # standard errors at this size: beta ~0.06 / 0.04, var(u1) ~0.03, var(u0) ~0.1
    assert beta == pytest.approx([10.0, 0.5], abs=0.25)
    assert psi[1, 1] == pytest.approx(0.2, abs=0.08)
    assert psi[0, 0] == pytest.approx(0.5, abs=0.3)
    assert sigma2 == pytest.approx(1.0, abs=0.06)


def test_logit_mixed_recovers_coefficients():
    rng = np.random.default_rng(5)
    J, n = 100, 40
    cluster = np.repeat(np.arange(J), n)
    x = rng.normal(1.0, 2.0, J * n)
    u0 = rng.normal(0, 0.7, J)
    eta = -0.5 + 0.8 * x + u0[cluster]
    y = (rng.random(J * n) < 1 / (1 + np.exp(-eta))).astype(float)
    X = np.column_stack([np.ones_like(x), x])
    model = LogitMixed(X, y, cluster, J, np.array([0]), ["Intercept", "x"], True, 2, rng)
    draws = []
    for _ in range(200):
        model.update(X, y, rng, 1)
        draws.append(model.parameters())
    beta = np.mean([d.beta for d in draws[50:]], axis=0)
    psi = np.mean([d.psi[0, 0] for d in draws[50:]])
    assert beta == pytest.approx([-0.5, 0.8], abs=0.2)
    assert psi == pytest.approx(0.49, abs=0.25)
