"""The Gaussian linear (mixed) model behind norm, pmm, 2l.norm, 2l.pmm and 2lonly.*.

    y_i = x_i' beta + z_i' u_{j[i]} + e_i,   e_i ~ N(0, sigma2_{j[i]})
    u_j ~ N_q(0, Psi),  Psi ~ Huang-Wand(nu = 2, A = 0.5): half-t(2, 0.5) sds, uniform
                        correlations (:mod:`bayesimpute.methods.core.priors`)
    beta ~ N(0, beta_sd^2 I)
    sigma2 ~ InvGamma(a, b)                      (homoscedastic), or
    sigma2_j ~ InvGamma(a_j, s), s ~ Gamma(c, d) (heterogeneous, as mice's 2l.norm)

on the standardised scale of the target and the predictors. The model is written once in
PyMC (:func:`build_pymc_model`, with ``pm.Data`` containers) and sampled inside the FCS
loop either by :class:`LinearMixedGibbs`, an exact blocked Gibbs step method, or by NUTS.

The Gibbs step draws (beta, u) jointly: beta from its conditional with the random
effects integrated out, then u given beta. Both need only per-cluster cross-products
of [X, y], computed once per FCS visit, so a transition costs O(J p^2 q), not O(n):
this is what makes 100,000 rows in 5,000 clusters take milliseconds per transition.
The per-cluster algebra is vector arithmetic over the clusters (:class:`ClusterStatistics`
holds the cross-products with the cluster axis last), in blocks that stay in cache: at
two rows per cluster (10^7 rows in 500,000 clusters) batched LAPACK calls on 500,000 tiny
matrices cost several times more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayesimpute.methods.core.gibbs_step import GibbsStep, log_value_name
from bayesimpute.methods.core.scale_moves import draw_collapsed_scales
from bayesimpute.methods.core.priors import CovariancePrior, Prior, huang_wand
from bayesimpute.methods.core.start_values import linear_mixed_start
from bayesimpute.methods.core.linalg import (
    cholesky_planes,
    cluster_crossproduct_planes,
    draw_mvn_from_precision,
    matmul_planes,
    matvec_planes,
    pack_cholesky,
    spd_inverse_planes,
    unpack_cholesky,
)

__all__ = ["LinearMixedPriors", "LinearMixedState", "ClusterStatistics", "build_pymc_model",
           "LinearMixedGibbs"]


@dataclass(frozen=True)
class LinearMixedPriors:
    """Weakly informative priors on the standardised scale (documented in the README)."""

    beta_sd: float = 10.0
    sigma2_shape: float = 0.01  # homoscedastic: close to mice's p(sigma2) ~ 1/sigma2
    sigma2_rate: float = 0.01
    # half-t(2, 0.5) random-effect sds on the standardised scale, uniform correlations:
    # A = 0.5 of the outcome's sd is the fraction of the latent sd that A = 1 is on the
    # logit scale (sd pi / sqrt(3)), so every method states the same belief
    covariance: CovariancePrior = CovariancePrior(df=2.0, scale=0.5)
    cluster_sigma2_shape: float = 3.0  # heterogeneous: sigma2_j ~ InvGamma(3, s)
    scale_shape: float = 1.0  # s ~ Gamma(1, rate 1)
    scale_rate: float = 1.0

    def settings(self) -> dict[str, float]:
        """The settings a user may give (method options of these names), at these values.

        Examples
        --------
        >>> LinearMixedPriors().settings()["re_scale"]
        0.5
        """
        return {"beta_sd": self.beta_sd, "re_scale": self.covariance.scale,
                "sigma2_shape": self.sigma2_shape, "sigma2_rate": self.sigma2_rate}

    @classmethod
    def with_settings(cls, given) -> LinearMixedPriors:
        """The priors with those of :meth:`settings` that ``given`` names (a method's options
        or a dict of settings; other keys are ignored), the defaults for the rest.

        Examples
        --------
        >>> LinearMixedPriors.with_settings({"beta_sd": 5, "donors": 3}).beta_sd
        5.0
        """
        value = {**cls().settings(), **{k: float(v) for k, v in given.items()
                                        if k in cls().settings()}}
        return cls(beta_sd=value["beta_sd"], sigma2_shape=value["sigma2_shape"],
                   sigma2_rate=value["sigma2_rate"],
                   covariance=CovariancePrior(df=cls().covariance.df, scale=value["re_scale"]))


def describe_linear_mixed_priors(priors: LinearMixedPriors, *, random_effects: bool,
                                 heterogeneous: bool, options: bool = True) -> list[Prior]:
    """The Gaussian models' priors as declared :class:`Prior` objects (``options``: whether
    ``beta_sd``, ``re_scale``, ``sigma2_shape`` / ``sigma2_rate`` set them)."""
    out = [Prior("beta", f"Normal(0, {priors.beta_sd:g})", option="beta_sd" if options else None)]
    if heterogeneous:
        out += [Prior("sigma2_j", f"InvGamma({priors.cluster_sigma2_shape:g}, s)"),
                Prior("s", f"Gamma({priors.scale_shape:g}, rate={priors.scale_rate:g})")]
    else:
        out.append(Prior("sigma2", f"InvGamma({priors.sigma2_shape:g}, {priors.sigma2_rate:g})",
                         option="sigma2_shape, sigma2_rate" if options else None))
    if random_effects:
        out.append(huang_wand("psi", priors.covariance, "re_scale" if options else None))
    return out


@dataclass
class LinearMixedState:
    """Current parameter values of one chain (standardised scale)."""

    beta: np.ndarray
    sigma2: np.ndarray  # shape (J,) heterogeneous, or (1,) homoscedastic
    u: np.ndarray  # (J, q)
    psi: np.ndarray  # (q, q)
    sigma2_scale: float = 1.0  # hyper-parameter s of the heterogeneous model
    psi_hyper: np.ndarray | None = None  # (q,) Huang-Wand auxiliaries a; None: ones


#: clusters per block of the per-cluster algebra: a block's planes (a few hundred kB) stay in
#: the core's cache, so the cost per cluster is the same at 5,000 and at 500,000 clusters
CLUSTER_BLOCK = 8192


class ClusterStatistics:
    """Per-cluster sufficient statistics of the observed rows for one FCS visit.

    Built from the cross-product planes of ``[X, y]`` (shape (p+1, p+1, J), cluster axis
    last: :func:`~bayesimpute.methods.core.linalg.cluster_crossproduct_planes`). The blocks the
    transitions read are views of the planes: ``XX`` (p, p, J), ``Xy`` (p, J), ``yy`` (J,)
    and, for the random-effect columns, ``ZZ`` (q, q, J), ``XZ`` (p, q, J), ``Zy`` (q, J)
    (copies only when those columns are not consecutive). The sums over the clusters that
    a homoscedastic transition needs are computed once per visit.
    """

    def __init__(self, planes: np.ndarray, n_per_cluster: np.ndarray, random: np.ndarray):
        self.p = planes.shape[0] - 1
        self.q = len(random)
        self.n_clusters = planes.shape[-1]
        self.planes = planes
        self.n_per_cluster = n_per_cluster
        p, columns = self.p, _as_index(random)
        self.XX, self.Xy, self.yy = planes[:p, :p], planes[:p, p], planes[p, p]
        self.ZZ = self.XX[columns][:, columns]
        self.XZ = self.XX[:, columns]
        self.Zy = self.Xy[columns]
        self.XX_total = self.XX.sum(axis=-1)
        self.Xy_total = self.Xy.sum(axis=-1)

    @property
    def by_cluster(self) -> np.ndarray:
        """The cross-products with the cluster axis first, (J, p+1, p+1) (a view)."""
        return np.moveaxis(self.planes, -1, 0)

    def blocks(self):
        """Slices of at most :data:`CLUSTER_BLOCK` consecutive clusters."""
        for start in range(0, self.n_clusters, CLUSTER_BLOCK):
            yield slice(start, min(start + CLUSTER_BLOCK, self.n_clusters))

    def weighted_totals(self, weight) -> tuple[np.ndarray, np.ndarray]:
        """sum_j w_j X_j'X_j and sum_j w_j X_j'y_j for a scalar or per-cluster weight."""
        if np.ndim(weight) == 0:
            return self.XX_total * weight, self.Xy_total * weight
        return self.XX @ weight, self.Xy @ weight

    def residual_sums_of_squares(self, beta: np.ndarray) -> np.ndarray:
        """sum over cluster j's rows of (y - X beta)^2 = v' S_j v with v = (-beta, 1)."""
        k = self.p + 1
        v = np.append(-beta, 1.0)
        return np.outer(v, v).ravel() @ self.planes.reshape(k * k, self.n_clusters)


def _as_index(random: np.ndarray):
    """Consecutive columns as a slice (their blocks are then views), others as they are."""
    random = np.asarray(random, dtype=int)
    if len(random) and np.array_equal(random, np.arange(random[0], random[0] + len(random))):
        return slice(int(random[0]), int(random[0]) + len(random))
    return random


def _restrict(values, block: slice):
    """A per-cluster vector's entries in ``block``; a scalar stays a scalar."""
    return values if np.ndim(values) == 0 else values[block]


def _weighted_products(A: np.ndarray, B: np.ndarray, weight) -> np.ndarray:
    """sum_j w_j A[:, j] B[:, j]' for planes A (m, J), B (r, J), scalar or per-cluster w."""
    if np.ndim(weight) == 0:
        return weight * (A @ B.T)
    return (A * weight) @ B.T


def _quadratic_form_planes(A: np.ndarray, v: np.ndarray) -> np.ndarray:
    """v_j' A_j v_j per cluster for symmetric planes A (m, m, J) and v (m, J)."""
    out = A[0, 0] * v[0] ** 2
    for a in range(1, A.shape[0]):
        out += A[a, a] * v[a] ** 2
        for b in range(a):
            out += 2.0 * A[a, b] * (v[a] * v[b])
    return out


def _effect_covariances(stats: ClusterStatistics, sigma2, psi: np.ndarray) -> np.ndarray:
    """M_j^-1 = (sigma2_j Psi^-1 + Z_j'Z_j)^-1 per cluster, planes (q, q, J)."""
    psi_inv = np.linalg.inv(psi)[:, :, None]
    M_inv = np.empty((stats.q, stats.q, stats.n_clusters))
    for block in stats.blocks():
        M_inv[..., block] = spd_inverse_planes(
            _restrict(sigma2, block) * psi_inv + stats.ZZ[..., block])
    return M_inv


def _sweep(
    stats: ClusterStatistics,
    state: LinearMixedState,
    priors: LinearMixedPriors,
    rng: np.random.Generator,
) -> LinearMixedState:
    """One exact blocked Gibbs transition: beta | sigma2, Psi and the scales of Psi | beta,
    sigma2 with u integrated out (:func:`~bayesimpute.methods.core.scale_moves.
    draw_collapsed_scales`), then u | beta, Psi, sigma2, Psi | u and sigma2 | rest.

    Per cluster j, with M_j = sigma2_j Psi^-1 + Z_j'Z_j: beta | sigma2, Psi, with u
    integrated out, has precision sum_j (X_j'X_j - X_j'Z_j M_j^-1 Z_j'X_j) / sigma2_j
    + I / beta_sd^2 and linear term sum_j (X_j'y_j - X_j'Z_j M_j^-1 Z_j'y_j) / sigma2_j;
    then u_j | beta ~ N(M_j^-1 Z_j'(y_j - X_j beta), sigma2_j M_j^-1), independently.
    The per-cluster algebra runs on planes over blocks of clusters (vector arithmetic: with
    q = 1 the M_j are scalars). The random numbers are drawn in a fixed order (beta, the
    scales, the effects cluster by cluster, Psi, sigma2), so the same generator state gives
    the same draws.
    """
    n_clusters, p, q = stats.n_clusters, stats.p, stats.q
    homoscedastic = len(state.sigma2) == 1
    sigma2 = state.sigma2[0] if homoscedastic else state.sigma2  # scalar or (J,)
    weight = 1.0 / sigma2

    precision, linear = stats.weighted_totals(weight)
    if q:
        M_inv = _effect_covariances(stats, sigma2, state.psi)
        for block in stats.blocks():
            XZ = stats.XZ[..., block]
            XZ_Minv = matmul_planes(XZ, M_inv[..., block])  # (p, q, block)
            w = _restrict(weight, block)
            for c in range(q):
                precision = precision - _weighted_products(XZ_Minv[:, c], XZ[:, c], w)
                linear = linear - _weighted_products(
                    XZ_Minv[:, c], stats.Zy[c, None, block], w)[:, 0]
    beta = draw_mvn_from_precision(precision + np.eye(p) / priors.beta_sd**2, linear, rng)

    ssr = stats.residual_sums_of_squares(beta)
    if q:
        residual = stats.Zy - np.einsum("p,pqj->qj", beta, stats.XZ)  # Z'(y - Xb), (q, J)
        # Psi's scales with u integrated out: they mix where Psi is near zero
        w = np.broadcast_to(weight, (n_clusters,))
        psi, hyper = draw_collapsed_scales(
            state.psi, priors.covariance,
            np.moveaxis(stats.ZZ, -1, 0) * w[:, None, None], residual.T * w[:, None], rng)
        M_inv = _effect_covariances(stats, sigma2, psi)
        z = rng.standard_normal((n_clusters, q))  # cluster-major
        u = np.empty((n_clusters, q))
        for block in stats.blocks():
            M_inv_block = M_inv[..., block]
            factor = cholesky_planes(_restrict(sigma2, block) * M_inv_block)
            u[block] = (matvec_planes(M_inv_block, residual[:, block])
                        + matvec_planes(factor, z[block].T)).T
        psi, hyper = priors.covariance.update(u, hyper, rng)
        # (y - Xb - Zu)'(y - Xb - Zu) = ssr(b) - 2 u'Z'(y - Xb) + u'Z'Z u
        ssr += _quadratic_form_planes(stats.ZZ, u.T) - 2.0 * np.sum(residual * u.T, axis=0)
    else:
        u, psi, hyper = state.u, state.psi, state.psi_hyper
    ssr = np.maximum(ssr, 0.0)  # guards round-off on exactly fitted clusters

    n_per_cluster = stats.n_per_cluster
    if homoscedastic:
        shape = priors.sigma2_shape + 0.5 * n_per_cluster.sum()
        rate = priors.sigma2_rate + 0.5 * ssr.sum()
        return LinearMixedState(beta, np.array([rate / rng.gamma(shape)]), u, psi,
                                psi_hyper=hyper)
    a = priors.cluster_sigma2_shape
    cluster_sigma2 = (state.sigma2_scale + 0.5 * ssr) / rng.gamma(a + 0.5 * n_per_cluster)
    scale = rng.gamma(
        priors.scale_shape + n_clusters * a, 1.0 / (priors.scale_rate + np.sum(1.0 / cluster_sigma2))
    )
    return LinearMixedState(beta, cluster_sigma2, u, psi, float(scale), psi_hyper=hyper)


def build_pymc_model(
    X: np.ndarray,
    y: np.ndarray,
    cluster: np.ndarray,
    n_clusters: int,
    random: np.ndarray,
    *,
    heterogeneous: bool = False,
    priors: LinearMixedPriors = LinearMixedPriors(),
    x_names: list[str] | None = None,
) -> pm.Model:
    """The PyMC model of the observed rows, data in ``pm.Data`` containers.

    ``X`` includes the intercept column; ``random`` indexes the columns of ``X`` with a
    random effect (empty: a single-level regression).
    """
    q = len(random)
    coords = {
        "x": x_names or [f"x{i}" for i in range(X.shape[1])],
        "cluster": np.arange(n_clusters),
    }
    if q:
        coords["re"] = [coords["x"][i] for i in random]
    with pm.Model(coords=coords) as model:
        X_data = pm.Data("X", X)
        y_data = pm.Data("y", y)
        cluster_data = pm.Data("cluster_index", cluster)
        beta = pm.Normal("beta", 0.0, priors.beta_sd, dims="x")
        mu = pt.dot(X_data, beta)
        if q:
            chol = priors.covariance.declare(q, hyper_dims="re")
            u = pm.MvNormal("u", mu=np.zeros(q), chol=chol, dims=("cluster", "re"))
            mu = mu + pt.sum(X_data[:, random] * u[cluster_data], axis=1)
        if heterogeneous:
            scale = pm.Gamma("sigma2_scale", alpha=priors.scale_shape, beta=priors.scale_rate)
            sigma2 = pm.InverseGamma(
                "sigma2", alpha=priors.cluster_sigma2_shape, beta=scale, dims="cluster"
            )
            sigma = pt.sqrt(sigma2)[cluster_data]
        else:
            sigma2 = pm.InverseGamma("sigma2", alpha=priors.sigma2_shape, beta=priors.sigma2_rate)
            sigma = pt.sqrt(sigma2)
        pm.Normal("y_obs", mu=mu, sigma=sigma, observed=y_data)
    return model


@dataclass(frozen=True)
class _RefreshedData:
    """What one :meth:`LinearMixedGibbs.refresh_data` read and computed."""

    columns: list  # the columns of [X, y]
    codes: np.ndarray  # the cluster container's array
    cluster: np.ndarray  # its codes as intp
    n_per_cluster: np.ndarray
    planes: np.ndarray


class LinearMixedGibbs(GibbsStep):
    """Exact blocked Gibbs step method for the model of :func:`build_pymc_model`.

    A PyMC step method: ``pm.sample(step=[LinearMixedGibbs(model)])`` samples the model
    with it, which is how the tests check it targets the same posterior as NUTS. Inside
    the FCS loop the method calls :meth:`refresh_data` after ``pm.set_data`` and then
    :meth:`step` a few times; the per-cluster cross-products are computed once per refresh.
    """

    def __init__(self, vars=None, *, model: pm.Model | None = None, priors=LinearMixedPriors(),
                 rng=None, blocked=True):
        super().__init__(vars, model=model, rng=rng, blocked=blocked)
        model = self.model
        self.priors = priors
        self.heterogeneous = "sigma2_scale" in model.named_vars
        self.has_random = "u" in model.named_vars
        self.random = self._random_columns(model)
        self._cluster_stats: ClusterStatistics | None = None
        self._planes_source: _RefreshedData | None = None  # what the last refresh read
        self._sigma2_value = log_value_name(model, "sigma2")
        self._scale_value = log_value_name(model, "sigma2_scale") if self.heterogeneous else None
        self._hyper_value = log_value_name(model, "psi_hyper") if self.has_random else None

    @staticmethod
    def _random_columns(model: pm.Model) -> np.ndarray:
        if "u" not in model.named_vars:
            return np.array([], dtype=int)
        names = list(model.coords["x"])
        return np.array([names.index(name) for name in model.coords["re"]], dtype=int)

    # --- data -------------------------------------------------------------------------
    def refresh_data(self) -> None:
        """Recompute the per-cluster sufficient statistics from the model's containers."""
        # borrow: read the containers' arrays in place (a copy of 10^7 rows costs seconds)
        X = self.model["X"].get_value(borrow=True)
        y = self.model["y"].get_value(borrow=True)
        codes = self.model["cluster_index"].get_value(borrow=True)
        n_clusters = len(self.model.coords["cluster"])
        columns = [np.ascontiguousarray(c, dtype=float) for c in (*X.T, y)]
        earlier = self._planes_source
        if earlier is not None and earlier.codes is codes and not codes.flags.writeable:
            # the same rows and clusters as at the last refresh: the sums of unchanged
            # read-only columns are kept (the FCS methods hand over read-only arrays)
            cluster, n_per_cluster = earlier.cluster, earlier.n_per_cluster
            planes = cluster_crossproduct_planes(columns, cluster, n_clusters,
                                                 reuse=(earlier.columns, earlier.planes))
        else:
            cluster = codes.astype(np.intp, copy=False)
            n_per_cluster = np.bincount(cluster, minlength=n_clusters).astype(float)
            planes = cluster_crossproduct_planes(columns, cluster, n_clusters)
        self._planes_source = _RefreshedData(columns, codes, cluster, n_per_cluster, planes)
        self._cluster_stats = ClusterStatistics(planes, n_per_cluster, self.random)

    @property
    def cluster_stats(self) -> np.ndarray:
        """Per-cluster cross-products of the current [X, y], (J, p+1, p+1) (a view)."""
        if self._cluster_stats is None:
            self.refresh_data()
        return self._cluster_stats.by_cluster

    @property
    def n_per_cluster(self) -> np.ndarray:
        """Rows per cluster of the current data."""
        if self._cluster_stats is None:
            self.refresh_data()
        return self._cluster_stats.n_per_cluster

    # --- point <-> state ----------------------------------------------------------------
    def point_to_state(self, point: dict) -> LinearMixedState:
        q = len(self.random)
        n_clusters = len(self.model.coords["cluster"])
        psi = unpack_cholesky(point["psi_chol"], q) if q else np.zeros((0, 0))
        u = np.asarray(point["u"]).reshape(n_clusters, q) if q else np.zeros((n_clusters, 0))
        sigma2 = np.atleast_1d(np.exp(point[self._sigma2_value]))
        scale = float(np.exp(point[self._scale_value])) if self.heterogeneous else 1.0
        hyper = np.exp(np.asarray(point[self._hyper_value], float)).reshape(q) if q else None
        return LinearMixedState(np.asarray(point["beta"], float), sigma2, u, psi, scale, hyper)

    def state_to_point(self, state: LinearMixedState, point: dict) -> dict:
        new = dict(point)
        new["beta"] = state.beta.copy()
        if self.has_random:
            new["u"] = state.u.copy()
            new["psi_chol"] = pack_cholesky(state.psi)
            hyper = np.ones(len(self.random)) if state.psi_hyper is None else state.psi_hyper
            new[self._hyper_value] = np.log(hyper)
        sigma2 = state.sigma2 if self.heterogeneous else state.sigma2[0]
        new[self._sigma2_value] = np.asarray(np.log(sigma2), dtype=float)
        if self.heterogeneous:
            new[self._scale_value] = np.asarray(np.log(state.sigma2_scale), dtype=float)
        return new

    def initial_point(self) -> dict:
        """A start in the posterior's bulk: the moment fit of the model's current data
        (:func:`~bayesimpute.methods.core.start_values.linear_mixed_start`)."""
        fit = linear_mixed_start(self.cluster_stats, self.n_per_cluster, self.random)
        n_clusters = len(self.model.coords["cluster"])
        sigma2 = np.full(n_clusters if self.heterogeneous else 1, fit.sigma2)
        # heterogeneous: E[sigma2_j | s] = s / (a - 1), so s = (a - 1) sigma2 centres them
        scale = (self.priors.cluster_sigma2_shape - 1.0) * fit.sigma2
        state = LinearMixedState(fit.beta, sigma2, fit.u, fit.psi, scale)
        return self.state_to_point(state, {})

    # --- the transition -----------------------------------------------------------------
    def sweep(self, point: dict) -> dict:
        if self._cluster_stats is None:
            self.refresh_data()
        state = _sweep(self._cluster_stats, self.point_to_state(point), self.priors, self.rng)
        return self.state_to_point(state, point)
