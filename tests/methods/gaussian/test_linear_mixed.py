"""The exact Gibbs step targets the same posterior as NUTS on the same PyMC model."""

import numpy as np
import pymc as pm
import pytest

from bayesimpute.methods.gaussian.linear_mixed import LinearMixedGibbs, build_pymc_model


def simulate(n_clusters=8, per_cluster=12, seed=3):
    """The data of the comparisons; the slope's variance 0.2 (8 clusters leave its posterior
    piled near zero, where NUTS on this centred model diverges: the NUTS comparison uses
    30, and the near-zero regime is checked by the calibration tests)."""
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
    # sds, not log variances: log psi's left tail is where NUTS on this centred model is
    # least reliable (the funnel of a variance near zero)
    return {"beta": beta, "psi": np.sqrt(psi), "sigma2": np.log(sigma2)}


# Slow: NUTS takes minutes. The CI evidence that the step samples its model's posterior is
# the simulation-based calibration of tests/methods/test_calibration.py.
@pytest.mark.slow
@pytest.mark.parametrize("random, heterogeneous", [
    ([0], False),
    ([0, 1], False),
    ([0, 1], True),
])
def test_gibbs_matches_nuts(random, heterogeneous):
    X, y, cluster, n_clusters = simulate(n_clusters=30)
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
        "psi": np.sqrt(np.stack([_psi_diag(p, q) for p in packed])),
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
    from bayesimpute.methods.core.linalg import unpack_cholesky

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


# --- the plane kernels against the batched-matrix transcription of the conditionals ----------
def reference_sweep(stats, n_per_cluster, random, state, priors, rng):
    """The transition written with numpy's batched linalg on (J, k, k) cross-products: the
    implementation the plane kernels replaced (as of commit ae24fa6), with the collapsed
    scale move added (issue 26), kept as the reference that the fast path must reproduce
    draw for draw."""
    from bayesimpute.methods.core.scale_moves import draw_collapsed_scales
    from bayesimpute.methods.core.linalg import (
        draw_batched_mvn,
        draw_mvn_from_precision,
        symmetrize,
    )
    from bayesimpute.methods.gaussian.linear_mixed import LinearMixedState

    n_clusters, k, _ = stats.shape
    p = k - 1
    q = len(random)
    XX, Xy, yy = stats[:, :p, :p], stats[:, :p, p], stats[:, p, p]
    sigma2 = np.broadcast_to(state.sigma2, (n_clusters,))
    if q:
        XZ = XX[:, :, random]
        ZZ = XX[:, random][:, :, random]
        Zy = Xy[:, random]
        M = sigma2[:, None, None] * np.linalg.inv(state.psi)[None] + ZZ
        M_inv = np.linalg.inv(symmetrize(M))
        XZ_Minv = XZ @ M_inv
        P_j = (XX - XZ_Minv @ np.swapaxes(XZ, 1, 2)) / sigma2[:, None, None]
        b_j = (Xy - np.einsum("jpq,jq->jp", XZ_Minv, Zy)) / sigma2[:, None]
    else:
        P_j = XX / sigma2[:, None, None]
        b_j = Xy / sigma2[:, None]
    precision = P_j.sum(axis=0) + np.eye(p) / priors.beta_sd**2
    beta = draw_mvn_from_precision(precision, b_j.sum(axis=0), rng)
    ssr = yy - 2.0 * Xy @ beta + np.einsum("p,jpr,r->j", beta, XX, beta)
    if q:
        residual = Zy - np.einsum("jpq,p->jq", XZ, beta)
        psi, hyper = draw_collapsed_scales(state.psi, priors.covariance,
                                           ZZ / sigma2[:, None, None],
                                           residual / sigma2[:, None], rng)
        M_inv = np.linalg.inv(symmetrize(sigma2[:, None, None] * np.linalg.inv(psi)[None] + ZZ))
        u_mean = np.einsum("jab,jb->ja", M_inv, residual)
        u = draw_batched_mvn(u_mean, sigma2[:, None, None] * M_inv, rng)
        psi, hyper = priors.covariance.update(u, hyper, rng)
        ssr = ssr + (-2.0 * np.einsum("jq,jq->j", Zy, u)
                     + 2.0 * np.einsum("p,jpq,jq->j", beta, XZ, u)
                     + np.einsum("ja,jab,jb->j", u, ZZ, u))
    else:
        u, psi, hyper = state.u, state.psi, state.psi_hyper
    ssr = np.maximum(ssr, 0.0)
    if len(state.sigma2) == 1:
        shape = priors.sigma2_shape + 0.5 * n_per_cluster.sum()
        rate = priors.sigma2_rate + 0.5 * ssr.sum()
        return LinearMixedState(beta, np.array([rate / rng.gamma(shape)]), u, psi,
                                psi_hyper=hyper)
    a = priors.cluster_sigma2_shape
    cluster_sigma2 = (state.sigma2_scale + 0.5 * ssr) / rng.gamma(a + 0.5 * n_per_cluster)
    scale = rng.gamma(priors.scale_shape + n_clusters * a,
                      1.0 / (priors.scale_rate + np.sum(1.0 / cluster_sigma2)))
    return LinearMixedState(beta, cluster_sigma2, u, psi, float(scale), psi_hyper=hyper)


def small_clusters(seed=11, n_clusters=40):
    """Clusters of 0 to 4 rows (as at 10^7 rows in 500,000 clusters), three predictors."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 5, n_clusters)
    cluster = np.repeat(np.arange(n_clusters), sizes)
    n = len(cluster)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    u = rng.normal(scale=0.6, size=(n_clusters, 2))
    y = X @ [0.2, 0.5, -0.3, 0.1] + u[cluster, 0] + u[cluster, 1] * X[:, 1] + rng.normal(size=n)
    return X, y, cluster, n_clusters


@pytest.mark.parametrize("block", [7, 8192], ids=["blocks of 7", "one block"])
@pytest.mark.parametrize("heterogeneous", [False, True], ids=["common", "per-cluster"])
@pytest.mark.parametrize("random", [[], [0], [0, 1], [0, 1, 3], [1, 3]],
                         ids=["q0", "q1", "q2", "q3", "q2 no intercept"])
def test_sweep_reproduces_the_batched_matrix_transition(random, heterogeneous, block,
                                                        monkeypatch):
    """Same generator state in, same draws out (to round-off), from many states of a chain:
    the plane kernels (scalar arithmetic for q = 1) sample the same conditionals, over
    one block of clusters or several."""
    import copy

    from bayesimpute.methods.gaussian import linear_mixed
    from bayesimpute.methods.core.linalg import cluster_crossproducts

    monkeypatch.setattr(linear_mixed, "CLUSTER_BLOCK", block)

    X, y, cluster, n_clusters = small_clusters()
    model = build_pymc_model(X, y, cluster, n_clusters, np.array(random, dtype=int),
                             heterogeneous=heterogeneous)
    step = LinearMixedGibbs(model=model, rng=np.random.default_rng(7))
    stats = cluster_crossproducts(np.column_stack([X, y]), cluster, n_clusters)
    n_per_cluster = np.bincount(cluster, minlength=n_clusters).astype(float)
    point = step.initial_point()
    for _ in range(30):
        before = step.point_to_state(point)
        rng = copy.deepcopy(step.rng)
        point, _ = step.step(point)
        fast = step.point_to_state(point)
        reference = reference_sweep(stats, n_per_cluster, step.random, before, step.priors, rng)
        for name in ("beta", "sigma2", "u", "psi", "sigma2_scale", "psi_hyper"):
            got, want = getattr(fast, name), getattr(reference, name)
            if want is None:
                continue
            np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10, err_msg=name)
        # the same numbers of draws: the generators are in the same state afterwards
        assert step.rng.random() == rng.random()
