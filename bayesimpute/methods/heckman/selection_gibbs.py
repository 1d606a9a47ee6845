"""Exact data-augmentation Gibbs sampler for the two-level Heckman selection model.

With the latent selection value ``z_i`` drawn (truncated normal, above zero on observed
rows and below zero on missing rows), the model becomes a linear mixed model. Writing the
outcome error as ``e_o = gamma_j e_s + nu``, ``gamma_j = rho sigma_j``, ``nu ~ N(0, omega_j)``,
``omega_j = sigma_j^2 (1 - rho^2)`` (the reparameterisation of Chib & Greenberg and van
Hasselt 2011), every row gives an independent equation ``z = mu_s + e_s`` and every
observed row a second, ``y - gamma_j z = mu_o - gamma_j mu_s + nu``. Both are linear in
``theta = (beta_sel, beta_out)`` and ``u_j``, so one sweep draws

1. ``z`` (and ``y*`` for a binary outcome) from their truncated normal conditionals;
2. ``theta`` with the random effects integrated out, then the scales of ``Psi`` with them
   integrated out (:mod:`~bayesimpute.methods.core.scale_moves`), then ``u_j | theta, Psi``
   (Gaussian), from per-cluster cross-products: O(n p) work for the cross-products,
   O(J p^3) for the rest;
3. ``Psi | u`` and its Huang-Wand auxiliaries (inverse Wishart, inverse gamma);
4. ``atanh(rho)``, ``log sigma_j``, their hyper-parameters, by slice sampling on per-cluster
   residual sums of squares and products (O(J) per density evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pymc as pm
from pymc.step_methods.state import dataclass_state
from scipy import sparse, special

from bayesimpute.methods.core.gibbs_step import GibbsStep, GibbsStepState, log_value_name
from bayesimpute.methods.heckman.selection_model import HeckmanDesign, HeckmanPriors, truncated_normal
from bayesimpute.methods.core.scale_moves import draw_effects_block
from bayesimpute.methods.core.slice_sampling import slice_sample
from bayesimpute.methods.core.linalg import (
    draw_mvn_from_precision,
    pack_cholesky,
    symmetrize,
    unpack_cholesky,
)

__all__ = ["HeckmanState", "HeckmanSampler", "HeckmanGibbs"]


@dataclass
class HeckmanState:
    """Current parameters of one chain (standardised scale)."""

    beta: np.ndarray  # (p_sel + p_out,)
    u: np.ndarray  # (J, q)
    psi: np.ndarray  # (q, q)
    rho_atanh: float
    log_sigma: np.ndarray  # (J,); zeros for a binary outcome
    log_sigma_mu: float = 0.0
    log_sigma_tau: float = 0.3
    psi_hyper: np.ndarray | None = None  # (q,) Huang-Wand auxiliaries a; None: ones

    @property
    def rho(self) -> float:
        return float(np.tanh(self.rho_atanh))


class HeckmanSampler:
    """The sweep of the module docstring on numpy arrays (no PyMC inside)."""

    def __init__(self, design: HeckmanDesign, n_clusters: int, *, binary: bool,
                 priors: HeckmanPriors = HeckmanPriors()):
        self.design = design
        self.n_clusters = n_clusters
        self.binary = binary
        self.priors = priors
        self.z: np.ndarray | None = None
        self.ystar: np.ndarray | None = None

    # --- data ----------------------------------------------------------------------------
    def set_data(self, X: np.ndarray, y: np.ndarray, observed: np.ndarray,
                 cluster: np.ndarray) -> None:
        """Standardised design, outcome, selection indicator, cluster codes; cross-products.

        Clusters without any observed value carry no information about the selection
        process of the others (their values were never asked for): their rows are left out
        of the selection likelihood, so their random effects are drawn from the population.
        """
        d, J = self.design, self.n_clusters
        self.observed = np.asarray(observed, dtype=bool)
        self.cluster = np.asarray(cluster, dtype=int)
        self.n_obs = np.bincount(self.cluster[self.observed], minlength=J).astype(float)
        self.in_selection = self.n_obs[self.cluster] > 0
        self.Xs, self.Xo = X[:, d.sel], X[:, d.out]
        self.W = np.column_stack([self.Xs, self.Xo])
        self.y = np.where(self.observed, y, 0.0)
        self.cluster_obs = self.cluster[self.observed]
        self.W_obs = self.W[self.observed]
        self.sum_sel = _summing_matrix(self.cluster, self.in_selection, J)
        self.sum_obs = _summing_matrix(self.cluster, self.observed, J)[:, self.observed]
        self.A_all = _cluster_crossproducts(self.sum_sel, self.Xs)
        self.C_obs = _cluster_crossproducts(self.sum_obs, self.W_obs)
        if self.z is None or len(self.z) != len(self.y):
            self.z = np.where(self.observed, 0.5, -0.5)
            self.ystar = np.where(self.y > 0.5, 0.5, -0.5)

    # --- linear predictors ----------------------------------------------------------------
    def linear_predictors(self, state: HeckmanState, Xs=None, Xo=None, cluster=None):
        """(mu_sel, mu_out) for the stored rows, or for the given design and clusters."""
        d = self.design
        Xs = self.Xs if Xs is None else Xs
        Xo = self.Xo if Xo is None else Xo
        cluster = self.cluster if cluster is None else cluster
        ps, qs = len(d.sel), len(d.sel_random)
        mu_s, mu_o = Xs @ state.beta[:ps], Xo @ state.beta[ps:]
        if len(d.random):
            u = state.u[cluster]
            mu_s = mu_s + np.einsum("nq,nq->n", Xs[:, d.sel_random], u[:, :qs])
            mu_o = mu_o + np.einsum("nq,nq->n", Xo[:, d.out_random], u[:, qs:])
        return mu_s, mu_o

    # --- the sweep --------------------------------------------------------------------------
    def sweep(self, state: HeckmanState, rng: np.random.Generator) -> HeckmanState:
        """One Gibbs transition (exact conditionals; slice steps for rho and sigma).

        For a continuous outcome rho is drawn first with the latent selection values
        integrated out (a partially collapsed step: rho and then z given rho form one joint
        draw from their conditional), which mixes much faster than rho given z when |rho|
        is large; for a binary outcome rho is drawn given the latents.
        """
        mu_s, mu_o = self.linear_predictors(state)
        if not self.priors.rho.is_fixed and not self.binary:
            state = replace(state, rho_atanh=self._draw_rho_collapsed(state, mu_s, mu_o, rng))
        y_latent = self._draw_latents(state, mu_s, mu_o, rng)
        state = self._draw_coefficients(state, y_latent, rng)
        stats = self._residual_stats(state, y_latent)
        if not self.priors.rho.is_fixed and self.binary:
            state = replace(state, rho_atanh=self._draw_rho(state, stats, rng))
        if not self.binary:
            state = self._draw_sigma(state, stats, rng)
        return state

    def _draw_rho_collapsed(self, state: HeckmanState, mu_s, mu_o, rng) -> float:
        """atanh(rho) | coefficients, sigma, y: only the observed rows' selection terms
        ``Phi((mu_s + rho r) / sqrt(1 - rho^2))``, ``r = (y - mu_o) / sigma``, depend on it."""
        obs = self.observed
        sigma = np.exp(state.log_sigma)[self.cluster[obs]]
        resid, mean = (self.y[obs] - mu_o[obs]) / sigma, mu_s[obs]
        prior = self.priors.rho

        def log_density(a: np.ndarray) -> np.ndarray:
            r = np.tanh(a)
            value = special.log_ndtr((mean + r * resid) / np.sqrt(1.0 - r**2)).sum()
            return value + prior.log_density_atanh(a)

        return float(slice_sample(np.array([state.rho_atanh]), log_density, 0.5, rng)[0])

    def _draw_latents(self, state: HeckmanState, mu_s, mu_o, rng) -> np.ndarray:
        rho, obs = state.rho, self.observed
        sd = np.sqrt(1.0 - rho**2)
        if self.binary:
            mean_z = np.where(obs, mu_s + rho * (self.ystar - mu_o), mu_s)
            self.z = truncated_normal(mean_z, np.where(obs, sd, 1.0), obs, rng)
            mean_y = mu_o + rho * (self.z - mu_s)
            self.ystar = np.where(obs, truncated_normal(mean_y, sd, self.y > 0.5, rng), 0.0)
            return self.ystar
        sigma = np.exp(state.log_sigma)[self.cluster]
        mean_z = np.where(obs, mu_s + rho * (self.y - mu_o) / sigma, mu_s)
        self.z = truncated_normal(mean_z, np.where(obs, sd, 1.0), obs, rng)
        return self.y

    def _weighted_crossproducts(self, state: HeckmanState, y_latent: np.ndarray):
        """Per cluster X'X and X'y of the two stacked, independent equations."""
        J, ps = self.n_clusters, len(self.design.sel)
        P = self.design.n_params
        z_obs, y_obs = self.z[self.observed], y_latent[self.observed]
        Xs_z = self.sum_sel @ (self.Xs * self.z[:, None])
        W_z = self.sum_obs @ (self.W_obs * z_obs[:, None])
        W_y = self.sum_obs @ (self.W_obs * y_obs[:, None])
        sigma = np.exp(state.log_sigma)
        gamma, omega = state.rho * sigma, sigma**2 * (1.0 - state.rho**2)
        g = np.ones((J, P))
        g[:, :ps] = -gamma[:, None]
        XX = g[:, :, None] * g[:, None, :] * self.C_obs / omega[:, None, None]
        XX[:, :ps, :ps] += self.A_all
        Xy = g * (W_y - gamma[:, None] * W_z) / omega[:, None]
        Xy[:, :ps] += Xs_z
        return XX, Xy

    def _draw_coefficients(self, state: HeckmanState, y_latent, rng) -> HeckmanState:
        XX, Xy = self._weighted_crossproducts(state, y_latent)
        R, P = self.design.random, self.design.n_params
        prior_precision = np.eye(P) / self.priors.beta_sd**2
        if not len(R):
            beta = draw_mvn_from_precision(XX.sum(0) + prior_precision, Xy.sum(0), rng)
            return replace(state, beta=beta)
        XZ, ZZ, Zy = XX[:, :, R], XX[:, R][:, :, R], Xy[:, R]
        M_inv = np.linalg.inv(symmetrize(np.linalg.inv(state.psi)[None] + ZZ))
        XZ_Minv = XZ @ M_inv
        precision = (XX - XZ_Minv @ np.swapaxes(XZ, 1, 2)).sum(0) + prior_precision
        linear = (Xy - np.einsum("jpq,jq->jp", XZ_Minv, Zy)).sum(0)
        beta = draw_mvn_from_precision(precision, linear, rng)
        # Psi's scales with u integrated out (they mix near zero), then u and Psi given them
        hyper = np.ones(len(R)) if state.psi_hyper is None else state.psi_hyper
        u, psi, hyper = draw_effects_block(beta, XZ, ZZ, Zy, state.psi, hyper,
                                           self.priors.covariance, rng)
        return replace(state, beta=beta, u=u, psi=psi, psi_hyper=hyper)

    def _residual_stats(self, state: HeckmanState, y_latent) -> np.ndarray:
        """Per cluster (sum e_s^2, sum e_s e_o, sum e_o^2) over the observed rows, (3, J)."""
        mu_s, mu_o = self.linear_predictors(state)
        obs = self.observed
        e_s, e_o = (self.z - mu_s)[obs], (y_latent - mu_o)[obs]
        return (self.sum_obs @ np.column_stack([e_s * e_s, e_s * e_o, e_o * e_o])).T

    def _draw_rho(self, state: HeckmanState, stats: np.ndarray, rng) -> float:
        inv_sigma = np.exp(-state.log_sigma)
        s_ss = stats[0].sum()
        s_so = stats[1] @ inv_sigma
        s_oo = stats[2] @ inv_sigma**2
        n = self.n_obs.sum()
        prior = self.priors.rho

        def log_density(a: np.ndarray) -> np.ndarray:
            r = np.tanh(a)
            one_minus = 1.0 - r**2
            quad = (s_ss - 2.0 * r * s_so + s_oo) / (2.0 * one_minus)
            return -0.5 * n * np.log(one_minus) - quad + prior.log_density_atanh(a)

        width = 2.5 / np.sqrt(n + 4.0)
        return float(slice_sample(np.array([state.rho_atanh]), log_density, width, rng)[0])

    def _draw_sigma(self, state: HeckmanState, stats: np.ndarray, rng) -> HeckmanState:
        rho, mu, tau = state.rho, state.log_sigma_mu, state.log_sigma_tau
        one_minus = 1.0 - rho**2
        n = self.n_obs

        def log_density(ls: np.ndarray) -> np.ndarray:
            inv = np.exp(-ls)
            quad = (stats[2] * inv**2 - 2.0 * rho * stats[1] * inv) / (2.0 * one_minus)
            return -n * ls - quad - 0.5 * ((ls - mu) / tau) ** 2

        width = 2.5 / np.sqrt(2.0 * n + 1.0 / tau**2)
        log_sigma = slice_sample(state.log_sigma, log_density, width, rng)
        mu = self._draw_log_sigma_mu(log_sigma, tau, rng)
        tau = self._draw_log_sigma_tau(log_sigma, mu, tau, rng)
        return replace(state, log_sigma=log_sigma, log_sigma_mu=mu, log_sigma_tau=tau)

    def _draw_log_sigma_mu(self, log_sigma, tau, rng) -> float:
        precision = len(log_sigma) / tau**2 + 1.0 / self.priors.log_sigma_mu_sd**2
        mean = log_sigma.sum() / tau**2 / precision
        return float(mean + rng.standard_normal() / np.sqrt(precision))

    def _draw_log_sigma_tau(self, log_sigma, mu, tau, rng) -> float:
        ss, J, scale = np.sum((log_sigma - mu) ** 2), len(log_sigma), self.priors.log_sigma_tau_sd

        def log_density(log_tau: np.ndarray) -> np.ndarray:  # HalfNormal prior + Jacobian
            t2 = np.exp(2.0 * log_tau)
            return -J * log_tau - ss / (2.0 * t2) - t2 / (2.0 * scale**2) + log_tau

        return float(np.exp(slice_sample(np.array([np.log(tau)]), log_density, 1.0, rng)[0]))

    # --- starting values ----------------------------------------------------------------------
    def initial_state(self) -> HeckmanState:
        q, J = len(self.design.random), self.n_clusters
        return HeckmanState(
            beta=np.zeros(self.design.n_params), u=np.zeros((J, q)), psi=np.eye(q) * 0.2,
            rho_atanh=self.priors.rho.start(), log_sigma=np.zeros(J),
            log_sigma_mu=0.0, log_sigma_tau=0.3, psi_hyper=np.ones(q),
        )


def _cluster_crossproducts(summing, values: np.ndarray) -> np.ndarray:
    """Per-cluster ``V_j' V_j`` (J, k, k) through the sparse summing matrix."""
    k = values.shape[1]
    outer = (values[:, :, None] * values[:, None, :]).reshape(len(values), k * k)
    return np.asarray(summing @ outer).reshape(-1, k, k)


def _summing_matrix(cluster: np.ndarray, include: np.ndarray, n_clusters: int):
    """Sparse (J, n) matrix whose product with a (n, k) array gives per-cluster sums over
    the included rows."""
    n = len(cluster)
    return sparse.csr_matrix((include.astype(float), (cluster, np.arange(n))),
                             shape=(n_clusters, n))


@dataclass_state
class HeckmanGibbsState(GibbsStepState):
    """:class:`GibbsStepState` plus the augmented latent values the sweeps carry: the
    selection utilities ``z`` and, for a binary outcome, its latent ``ystar``."""

    latent_z: np.ndarray | None
    latent_ystar: np.ndarray | None


class HeckmanGibbs(GibbsStep):
    """PyMC step method running :class:`HeckmanSampler` on the model of
    :func:`~bayesimpute.methods.heckman.selection_model.build_heckman_model`.

    The latent selection values are the sampler's augmented state (part of the step's
    ``sampling_state``); the chain on the model's parameters leaves their posterior
    invariant (tested against NUTS).
    """

    _state_class = HeckmanGibbsState

    def __init__(self, vars=None, *, model: pm.Model | None = None, design: HeckmanDesign,
                 priors: HeckmanPriors = HeckmanPriors(), binary: bool = False, rng=None,
                 blocked=True):
        super().__init__(vars, model=model, rng=rng, blocked=blocked)
        self.design = design
        self.sampler = HeckmanSampler(design, len(self.model.coords["cluster"]), binary=binary,
                                      priors=priors)
        self._fresh = False
        self._hyper_value = (log_value_name(self.model, "psi_hyper") if len(design.random)
                             else None)
        self._tau_value = None if binary else log_value_name(self.model, "log_sigma_tau")

    @property
    def latent_z(self) -> np.ndarray | None:
        """The sampler's latent selection utilities (None before the first sweep)."""
        return self.sampler.z

    @latent_z.setter
    def latent_z(self, values) -> None:
        self.sampler.z = None if values is None else np.asarray(values, dtype=float)

    @property
    def latent_ystar(self) -> np.ndarray | None:
        """The sampler's latent outcome of a binary model (None before the first sweep)."""
        return self.sampler.ystar

    @latent_ystar.setter
    def latent_ystar(self, values) -> None:
        self.sampler.ystar = None if values is None else np.asarray(values, dtype=float)

    def refresh_data(self) -> None:
        """Read the ``pm.Data`` containers into the sampler (after ``pm.set_data``)."""
        m = self.model
        self.sampler.set_data(
            m["X"].get_value(), m["y"].get_value(), m["observed"].get_value() > 0.5,
            m["cluster_index"].get_value().astype(int),
        )
        # (rows of clusters without observed values are dropped from the selection
        # likelihood by the model as well: see build_heckman_model)
        self._fresh = True

    def point_to_state(self, point: dict) -> HeckmanState:
        q, J = len(self.design.random), self.sampler.n_clusters
        beta = np.concatenate([point["beta_sel"], point["beta_out"]]).astype(float)
        rho_atanh = (float(point["rho_atanh"]) if "rho_atanh" in point
                     else self.sampler.priors.rho.start())
        state = HeckmanState(beta, np.zeros((J, q)), np.zeros((q, q)), rho_atanh, np.zeros(J))
        if q:
            state.psi = unpack_cholesky(point["psi_chol"], q)
            state.u = np.asarray(point["u"], dtype=float).reshape(J, q)
            state.psi_hyper = np.exp(np.asarray(point[self._hyper_value], dtype=float))
        if "log_sigma" in point:
            state.log_sigma = np.asarray(point["log_sigma"], dtype=float)
            state.log_sigma_mu = float(point["log_sigma_mu"])
            state.log_sigma_tau = float(np.exp(point[self._tau_value]))
        return state

    def state_to_point(self, state: HeckmanState, point: dict) -> dict:
        ps = len(self.design.sel)
        new = dict(point)
        new["beta_sel"], new["beta_out"] = state.beta[:ps].copy(), state.beta[ps:].copy()
        if len(self.design.random):
            new["u"] = state.u.copy()
            new["psi_chol"] = pack_cholesky(state.psi)
            hyper = np.ones(len(self.design.random)) if state.psi_hyper is None else state.psi_hyper
            new[self._hyper_value] = np.log(hyper)
        if not self.sampler.priors.rho.is_fixed:
            new["rho_atanh"] = np.asarray(state.rho_atanh, dtype=float)
        if not self.sampler.binary:
            new["log_sigma"] = state.log_sigma.copy()
            new["log_sigma_mu"] = np.asarray(state.log_sigma_mu, dtype=float)
            new[self._tau_value] = np.asarray(np.log(state.log_sigma_tau), dtype=float)
        return new

    def initial_point(self) -> dict:
        return self.state_to_point(self.sampler.initial_state(), {})

    def sweep(self, point: dict) -> dict:
        if not self._fresh:
            self.refresh_data()
        state = self.sampler.sweep(self.point_to_state(point), self.rng)
        return self.state_to_point(state, point)
