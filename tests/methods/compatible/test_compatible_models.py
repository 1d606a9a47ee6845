"""The compatible methods' models: the standardised scale maps back to the same model."""

from __future__ import annotations

import numpy as np
import pytest

from bayesimpute.methods.core.standardise import Standardiser
from bayesimpute.methods.compatible.covariate_models import (
    GaussianMixed,
    LogitMixed,
    PoissonMixed,
)


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
    scale = Standardiser(X, y if gaussian else None, random, intercept)
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
    scale = Standardiser(X, None, np.array([1]), True)
    assert scale.x_mean[1] == 0.0 and scale.x_mean[2] != 0.0


def test_no_intercept_no_centring():
    X, cluster = random_design(np.random.default_rng(3))
    scale = Standardiser(X[:, 1:], np.arange(len(X), dtype=float), np.array([], dtype=int), False)
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


def poisson_model(rng, J: int, n: int):
    """Counts x ~ Poisson(exp(0.3 + 0.3 z + v_j)), v_j ~ N(0, 0.3) (the validity study's
    count covariate), and a PoissonMixed model of them with a random intercept."""
    cluster = np.repeat(np.arange(J), n)
    z = rng.standard_normal(J * n)
    x = rng.poisson(np.exp(0.3 + 0.3 * z + rng.normal(0, np.sqrt(0.3), J)[cluster]))
    X = np.column_stack([np.ones_like(z), z])
    return X, x, cluster, PoissonMixed(X, x, cluster, J, np.array([0]), ["Intercept", "z"],
                                       True, rng)


def test_poisson_mixed_agrees_with_glmer():
    """The count covariate model's posterior means against the Laplace ML fit (glmer's) of the
    same Poisson random-intercept model on one data set: at this size the two differ by a
    small fraction of the posterior sd (tolerance 0.5 sd plus 4 Monte-Carlo s.e.)."""
    import pandas as pd

    import bayesimpute as bi

    rng = np.random.default_rng(5)
    X, x, cluster, model = poisson_model(rng, J=80, n=25)
    z = X[:, 1]
    draws = []
    for _ in range(400):
        model.update(X, x, rng, 1)
        draws.append(model.parameters())
    kept = draws[50:]
    beta = np.array([d.beta for d in kept])
    psi = np.array([d.psi[0, 0] for d in kept])
    fit = bi.analyze(pd.DataFrame({"x": x, "z": z, "g": cluster}), "x ~ z + (1 | g)",
                     family="poisson").model_fits()[0]
    for k, term in enumerate(["Intercept", "z"]):
        sd = beta[:, k].std()
        assert abs(beta[:, k].mean() - fit.params[term]) < 0.5 * sd + 4 * sd / np.sqrt(50)
    ml_variance = float(fit.random_covariances["g"].iloc[0, 0])
    assert abs(psi.mean() - ml_variance) < 0.5 * psi.std() + 4 * psi.std() / np.sqrt(50)
    assert model.parameters().sigma2 is None


def test_poisson_mixed_centres_informative_clusters_and_mixes_their_variance():
    """Clusters of 20 counts of mean ~1.6 (the validity study's count design): the effects
    are centred, and the variance's ESS over 200 transitions is above 80 (non-centred, the
    same chain gave 4 and 38 on two seeds; centred 200 and 270)."""
    import arviz as az

    rng = np.random.default_rng(3)
    X, x, _, model = poisson_model(rng, J=100, n=20)
    assert model.informative.mean() > 0.9
    model.update(X, x, rng, 1)  # the tuning transitions
    psi = []
    for _ in range(200):
        model.update(X, x, rng, 1)
        psi.append(model.parameters().psi[0, 0])
    assert float(az.ess(np.array(psi)[None])) > 80


def test_partially_centred_effects_map_both_forms_to_their_clusters():
    """u is u_centred in the informative clusters and u_raw L' in the others, in place."""
    import pymc as pm
    import pytensor.tensor as pt

    from bayesimpute.methods.core.nuts_glmm import partially_centred_effects
    from bayesimpute.methods.count.poisson import informative_count_clusters

    informative = informative_count_clusters(np.array([12, 3, 0, 9, 1, 40]),
                                             np.array([0, 1, 2, 3, 3, 4]), 6)
    np.testing.assert_array_equal(informative, [True, False, False, True, True, False])
    chol_value = np.array([[2.0, 0.0], [0.5, 1.0]])
    with pm.Model(coords={"cluster": np.arange(6), "re": ["a", "b"]}) as model:
        u = partially_centred_effects(pt.as_tensor(chol_value), 2, informative)
    rng = np.random.default_rng(0)
    centred, raw = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    value = model.compile_fn(model.replace_rvs_by_values([u])[0], inputs=model.value_vars)(
        {"u_centred": centred, "u_raw": raw})
    np.testing.assert_allclose(value[informative], centred)
    np.testing.assert_allclose(value[~informative], raw @ chol_value.T)
