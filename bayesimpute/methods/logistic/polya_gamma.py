"""The (multinomial) logistic mixed model behind logreg, 2l.bin, polyreg and 2l.polyreg.

For a target with K categories (K = 2: binary), category 0 the reference, and k = 1..K-1:

    eta_ik = x_i' beta_k + z_i' u_{k, j[i]},   eta_i0 = 0,   P(y_i = k) = softmax(eta_i)_k
    beta_k ~ N(0, diag(intercept_sd^2, slope_sd^2, ...))     (standardised predictors)
    u_{k,j} ~ N_q(0, Psi_k)
    Psi_k | a_k ~ InvWishart(nu + q - 1, 2 nu diag(1 / a_k)),  a_kr ~ InvGamma(1/2, 1 / A^2)

The last line is Huang & Wand's (2013) prior, the one every multilevel method of the
package uses (:mod:`bayesimpute.methods.core.priors`): each random-effect standard deviation is
half-t(nu = 2, A = 1) on the logit scale a priori and correlations are uniform. The normal prior with
scale 2.5 on standardised slopes is rstanarm's default (after Gelman et al. 2008): it keeps
coefficients finite under perfect or quasi-separation.

The model is written once in PyMC (:func:`build_pymc_model`, with ``pm.Data`` containers)
and sampled in the FCS loop by :class:`LogisticMixedGibbs`, an exact blocked Gibbs step
using Pólya–Gamma data augmentation (Polson, Scott & Windle 2013; Holmes & Held 2006 for
the multinomial case: category k given the others is a logistic regression with offset
``log sum_{l != k} exp(eta_il)``). Given the Pólya–Gamma variables the model is a weighted
Gaussian linear mixed model, so (beta_k, u_k) are drawn jointly (beta with the random
effects integrated out, then the scales of Psi_k with them integrated out
(:mod:`~bayesimpute.methods.core.scale_moves`), then u given both) from per-cluster
cross-products: a transition
costs a few passes over the data, whatever the number of clusters. Clusters with no
observed value contribute no cross-products, so their effects are drawn from N(0, Psi_k):
that is how systematically missing clusters are handled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from polyagamma import random_polyagamma
from scipy import special

from bayesimpute.methods.core.gibbs_step import GibbsStep, log_value_name
from bayesimpute.methods.core.priors import CovariancePrior, Prior, huang_wand
from bayesimpute.methods.core.weighted_block import ClusterSums, draw_weighted_block
from bayesimpute.methods.core.start_values import logit_start
from bayesimpute.methods.core.linalg import pack_cholesky, symmetrize, unpack_cholesky

__all__ = [
    "LogitPriors",
    "LogitState",
    "build_pymc_model",
    "LogisticMixedGibbs",
    "category_probabilities",
    "draw_categories",
    "separation_events",
]


@dataclass(frozen=True)
class LogitPriors:
    """Weakly informative priors on the standardised scale of the predictors."""

    intercept_sd: float = 5.0  # predictors are centred: the intercept is a log-odds
    slope_sd: float = 2.5  # rstanarm's default; bounds coefficients under separation
    re_df: float = 2.0  # Huang-Wand nu: half-t(2) sds, uniform correlations
    re_scale: float = 1.0  # Huang-Wand A: a random-effect sd of 1 on the logit scale

    def settings(self) -> dict[str, float]:
        """The settings a user may give (method options of these names), at these values.

        Examples
        --------
        >>> LogitPriors().settings()
        {'intercept_sd': 5.0, 'slope_sd': 2.5, 're_scale': 1.0}
        """
        return {"intercept_sd": self.intercept_sd, "slope_sd": self.slope_sd,
                "re_scale": self.re_scale}

    @classmethod
    def with_settings(cls, given) -> LogitPriors:
        """The priors with those of :meth:`settings` that ``given`` names (other keys are
        ignored), the defaults for the rest.

        Examples
        --------
        >>> LogitPriors.with_settings({"slope_sd": 1, "burn": 50}).slope_sd
        1.0
        """
        return cls(**{k: float(v) for k, v in given.items() if k in cls().settings()})

    def beta_sd(self, p: int) -> np.ndarray:
        sd = np.full(p, self.slope_sd)
        sd[0] = self.intercept_sd
        return sd

    @property
    def covariance(self) -> CovariancePrior:
        return CovariancePrior(df=self.re_df, scale=self.re_scale)

    def describe(self, *, random_effects: bool, options: bool = True) -> list[Prior]:
        """These priors as declared :class:`Prior` objects (``options``: whether the
        ``intercept_sd`` / ``slope_sd`` / ``re_scale`` options set them)."""
        named = (lambda name: name) if options else (lambda name: None)
        out = [Prior("beta (intercept)", f"Normal(0, {self.intercept_sd:g})",
                     option=named("intercept_sd")),
               Prior("beta (slopes)", f"Normal(0, {self.slope_sd:g})", option=named("slope_sd"))]
        if random_effects:
            out.append(huang_wand("psi", self.covariance, named("re_scale")))
        return out


@dataclass
class LogitState:
    """Parameters of one chain; arrays carry a leading category axis of length K-1."""

    beta: np.ndarray  # (K-1, p)
    u: np.ndarray  # (K-1, J, q)
    psi: np.ndarray  # (K-1, q, q)
    hyper: np.ndarray  # (K-1, q): Huang-Wand auxiliaries a_k

    @classmethod
    def start(cls, n_free: int, p: int, q: int, n_clusters: int) -> LogitState:
        return cls(
            beta=np.zeros((n_free, p)),
            u=np.zeros((n_free, n_clusters, q)),
            psi=np.tile(np.eye(q) * 0.25, (n_free, 1, 1)),
            hyper=np.ones((n_free, q)),
        )

    def copy(self) -> LogitState:
        return LogitState(self.beta.copy(), self.u.copy(), self.psi.copy(), self.hyper.copy())


# --- linear predictors and draws --------------------------------------------------------------
def linear_predictors(
    state: LogitState, X: np.ndarray, random: np.ndarray, cluster: np.ndarray
) -> np.ndarray:
    """eta of the K-1 non-reference categories, shape (n, K-1)."""
    eta = X @ state.beta.T
    if len(random):
        Z = X[:, random]
        eta = eta + np.einsum("nq,knq->nk", Z, state.u[:, cluster, :])
    return eta


def category_probabilities(eta: np.ndarray) -> np.ndarray:
    """Softmax over [0, eta]: probabilities of the K categories, shape (n, K)."""
    full = np.column_stack([np.zeros(len(eta)), eta])
    return special.softmax(full, axis=1)


def draw_categories(prob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row by inversion (codes 0..K-1, as floats)."""
    cumulative = np.cumsum(prob, axis=1)
    uniform = rng.random(len(prob))[:, None]
    codes = (uniform > cumulative[:, :-1]).sum(axis=1)
    return codes.astype(float)


# --- the exact Gibbs transition ------------------------------------------------------------------
def _offsets(eta: np.ndarray, k: int) -> np.ndarray:
    """log(1 + sum_{l != k} exp(eta_l)): category k versus the rest is a logit with this offset."""
    others = np.delete(eta, k, axis=1)
    return np.logaddexp.reduce(np.column_stack([np.zeros(len(eta)), others]), axis=1)


def _draw_block(
    X: np.ndarray,
    kappa: np.ndarray,
    offset: np.ndarray,
    cluster: np.ndarray,
    sums: ClusterSums,
    random: np.ndarray,
    state: LogitState,
    k: int,
    priors: LogitPriors,
    rng: np.random.Generator,
) -> None:
    """Update (beta_k, u_k, Psi_k, a_k) in place given the other categories' predictors."""
    q = len(random)
    psi_lin = X @ state.beta[k] - offset
    if q:
        psi_lin += np.einsum("nq,nq->n", X[:, random], state.u[k][cluster])
    omega = random_polyagamma(1.0, psi_lin, random_state=rng)
    # Given omega the model is Gaussian: pseudo-response offset + kappa / omega with
    # precision omega. Only its weighted cross-products are needed, kappa + omega * offset.
    XX, Xy = sums.crossproducts(X, omega, kappa + omega * offset)
    prior_precision = np.diag(1.0 / priors.beta_sd(X.shape[1]) ** 2)
    beta, u, psi, hyper = draw_weighted_block(XX, Xy, np.arange(X.shape[1]), random,
                                              prior_precision, state.psi[k], state.hyper[k],
                                              priors.covariance, rng)
    state.beta[k] = beta
    if q:
        state.u[k], state.psi[k], state.hyper[k] = u, psi, hyper


def gibbs_sweep(
    X: np.ndarray,
    y: np.ndarray,
    cluster: np.ndarray,
    n_clusters: int,
    random: np.ndarray,
    state: LogitState,
    priors: LogitPriors,
    rng: np.random.Generator,
) -> LogitState:
    """One exact Gibbs transition over every non-reference category's block."""
    state = state.copy()
    sums = ClusterSums(cluster, n_clusters)
    n_free = state.beta.shape[0]
    for k in range(n_free):
        if n_free == 1:
            offset = np.zeros(len(y))
        else:
            offset = _offsets(linear_predictors(state, X, random, cluster), k)
        kappa = (y == k + 1) - 0.5
        _draw_block(X, kappa, offset, cluster, sums, random, state, k, priors, rng)
    return state


# --- the PyMC model -----------------------------------------------------------------------------
def build_pymc_model(
    X: np.ndarray,
    y: np.ndarray,
    cluster: np.ndarray,
    n_clusters: int,
    random: np.ndarray,
    n_categories: int,
    *,
    priors: LogitPriors = LogitPriors(),
    x_names: list[str] | None = None,
) -> pm.Model:
    """The PyMC model of the observed rows (codes 0..K-1 in ``y``), data in ``pm.Data``.

    Random effects are non-centred (``u_raw`` standard normal, ``u = u_raw L'``), the
    parameterisation NUTS needs when clusters carry little information.
    """
    n_free, q, p = n_categories - 1, len(random), X.shape[1]
    names = x_names or [f"x{i}" for i in range(p)]
    coords = {"category": list(range(1, n_categories)), "x": names,
              "cluster": np.arange(n_clusters)}
    if q:
        coords["re"] = [names[i] for i in random]
    with pm.Model(coords=coords) as model:
        X_data = pm.Data("X", X)
        y_data = pm.Data("y", y.astype("int64"))
        cluster_data = pm.Data("cluster_index", cluster.astype("int64"))
        beta = pm.Normal("beta", 0.0, priors.beta_sd(p)[None, :], dims=("category", "x"))
        eta = pt.dot(X_data, beta.T)
        if q:
            eta = eta + _random_part(X_data, cluster_data, random, n_free, q, priors)
        if n_free == 1:
            pm.Bernoulli("y_obs", logit_p=eta[:, 0], observed=y_data)
        else:
            full = pt.concatenate([pt.zeros((eta.shape[0], 1)), eta], axis=1)
            pm.Categorical("y_obs", logit_p=full, observed=y_data)
    return model


def _random_part(X_data, cluster_data, random, n_free: int, q: int, priors: LogitPriors):
    chol = priors.covariance.declare(q, hyper_dims=("category", "re"), batch=(n_free,))
    u_raw = pm.Normal("u_raw", 0.0, 1.0, dims=("category", "cluster", "re"))
    Z = X_data[:, random]
    parts, effects = [], []
    for k in range(n_free):
        u_k = pt.dot(u_raw[k], chol[k].T)
        effects.append(u_k)
        parts.append(pt.sum(Z * u_k[cluster_data], axis=1))
    pm.Deterministic("u", pt.stack(effects), dims=("category", "cluster", "re"))
    return pt.stack(parts, axis=1)


# --- the step method ----------------------------------------------------------------------------
class LogisticMixedGibbs(GibbsStep):
    """Exact Pólya–Gamma Gibbs step method for the model of :func:`build_pymc_model`.

    A PyMC step method: ``pm.sample(step=[LogisticMixedGibbs(model=model)])`` samples the
    model with it (that is how the tests compare it with NUTS). Inside the FCS loop the
    method calls :meth:`refresh_data` after ``pm.set_data`` and then :meth:`step`.
    """

    def __init__(self, vars=None, *, model: pm.Model | None = None,
                 priors: LogitPriors = LogitPriors(), rng=None, blocked=True):
        super().__init__(vars, model=model, rng=rng, blocked=blocked)
        model = self.model
        self.priors = priors
        self.n_free = len(model.coords["category"])
        self.n_clusters = len(model.coords["cluster"])
        names = list(model.coords["x"])
        self.random = np.array(
            [names.index(n) for n in model.coords.get("re", ())], dtype=int
        )
        self.p = len(names)
        self._data = None
        self._hyper_value = log_value_name(model, "psi_hyper") if len(self.random) else None

    def refresh_data(self) -> None:
        """Read the current design and outcome from the model's containers."""
        self._data = (
            np.asarray(self.model["X"].get_value(), dtype=float),
            np.asarray(self.model["y"].get_value()),
            np.asarray(self.model["cluster_index"].get_value()).astype(int),
        )

    # --- point <-> state ---------------------------------------------------------------------
    def point_to_state(self, point: dict) -> LogitState:
        q = len(self.random)
        beta = np.asarray(point["beta"], dtype=float).reshape(self.n_free, self.p)
        if not q:
            return LogitState(beta, np.zeros((self.n_free, self.n_clusters, 0)),
                              np.zeros((self.n_free, 0, 0)), np.zeros((self.n_free, 0)))
        packed = np.asarray(point["psi_chol"], dtype=float).reshape(self.n_free, -1)
        psi = np.stack([unpack_cholesky(packed[k], q) for k in range(self.n_free)])
        u_raw = np.asarray(point["u_raw"], dtype=float).reshape(self.n_free, self.n_clusters, q)
        u = np.stack([u_raw[k] @ np.linalg.cholesky(psi[k]).T for k in range(self.n_free)])
        hyper = np.exp(np.asarray(point[self._hyper_value], dtype=float)).reshape(self.n_free, q)
        return LogitState(beta, u, psi, hyper)

    def state_to_point(self, state: LogitState, point: dict) -> dict:
        new = dict(point)
        new["beta"] = state.beta.copy()
        if len(self.random):
            chols = [np.linalg.cholesky(symmetrize(state.psi[k])) for k in range(self.n_free)]
            new["psi_chol"] = np.stack([pack_cholesky(state.psi[k]) for k in range(self.n_free)])
            new["u_raw"] = np.stack(
                [np.linalg.solve(chols[k], state.u[k].T).T for k in range(self.n_free)]
            )
            new[self._hyper_value] = np.log(state.hyper)
        return new

    def initial_point(self) -> dict:
        """A start in the posterior's bulk: per category the posterior mode of its logistic
        regression against the reference (no random effects), and a one-step moment
        estimate of the random intercept's variance (:mod:`~bayesimpute.methods.core.start_values`)."""
        if self._data is None:
            self.refresh_data()
        X, y, cluster = self._data
        state = LogitState.start(self.n_free, self.p, len(self.random), self.n_clusters)
        state.beta, intercept_variance = logit_start(X, y, cluster, self.n_clusters,
                                                     self.n_free, self.priors.beta_sd(self.p))
        if 0 in self.random:
            r = list(self.random).index(0)
            state.psi[:, r, r] = intercept_variance
        return self.state_to_point(state, {})

    # --- the transition ----------------------------------------------------------------------
    def sweep(self, point: dict) -> dict:
        if self._data is None:
            self.refresh_data()
        X, y, cluster = self._data
        state = gibbs_sweep(
            X, y, cluster, self.n_clusters, self.random, self.point_to_state(point),
            self.priors, self.rng,
        )
        return self.state_to_point(state, point)


# --- separation ----------------------------------------------------------------------------------
def separation_events(
    X: np.ndarray, y: np.ndarray, x_names: list[str], target: str, n_categories: int
) -> list[str]:
    """Messages for two-valued predictors one of whose values perfectly predicts a category.

    Among the observed rows, a dummy whose rows all have (or all lack) category k, while
    k occurs otherwise, makes the maximum-likelihood coefficient infinite; the prior keeps
    the posterior finite, and the event tells the user why the coefficient is large.
    """
    events = []
    for c in range(1, X.shape[1]):
        values = np.unique(X[:, c])
        if len(values) != 2:
            continue
        for k in range(1 if n_categories == 2 else 0, n_categories):
            hit = y == k
            if hit.all() or not hit.any():
                continue
            for v in values:
                rows = X[:, c] == v
                if hit[rows].all() or not hit[rows].any():
                    what = "always" if hit[rows].all() else "never"
                    events.append(
                        f"separation in the model of {target!r}: where {x_names[c]} = {v:g}, "
                        f"{target} is {what} category {k} among observed rows; the weakly "
                        "informative prior keeps its coefficient finite"
                    )
                    break
    return events
