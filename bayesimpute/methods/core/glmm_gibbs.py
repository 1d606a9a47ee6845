"""Exact Gibbs steps for the GLMMs that NUTS used to sample: ordered factors and counts.

The step (:class:`GlmmGibbs`) works on the PyMC model of
:class:`~bayesimpute.methods.core.nuts_glmm.NutsGlmmMethod` (its point, its priors), so
``pm.sample(step=[GlmmGibbs(...)])`` and NUTS sample the same posterior, which is how the
tests compare them. A sweep is

1. the family's own parameters given the linear predictor ``eta = X beta + Z u``
   (:meth:`GlmmFamily.update_parameters`: the cutpoints, the overdispersion),
2. the interweaving move of the effects' scales under the family's own likelihood
   (:meth:`GlmmGibbs._interweave`), and
3. the coefficients, effects and covariance (:meth:`GlmmFamily.draw_coefficients`).

Step 3 is, for a family with a data augmentation (:class:`AugmentedFamily`), the shared
weighted Gaussian block of :mod:`~bayesimpute.methods.core.weighted_block` (beta with the
effects integrated out, Psi's scales with them integrated out, u, Psi | u) given the
augmentation's weights ``w`` and linear terms ``v``, drawn afresh at every sweep. The
cumulative logit has one: the latent ``z_i = eta_i + e_i``, ``e_i`` standard logistic,
truncated to the observed category's interval between the cutpoints (Albert & Chib 1993
with a logistic error); the logistic density ``e^{-e} / (1 + e^{-e})^2`` is
``PG(2, 0)``-augmentable (Polson, Scott & Windle 2013 with b = 2, kappa = 0), so
``omega ~ PG(2, z - eta)`` makes it Gaussian with ``w = omega``, ``v = omega z``.

The counts have no augmentation whose draws are exact at a cost that does not grow with
the counts (``count/count_steps.py`` says why for the negative binomial's); their step 3
is Metropolis–Hastings within Gibbs: independence proposals at each block's exact
conditional mode (beta given u; each cluster's u_j given beta and Psi), then Psi given u
and a translation of the fixed effects against the effects' means.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
import pymc as pm

from bayesimpute.methods.core.gibbs_step import GibbsStep, log_value_name
from bayesimpute.methods.core.linalg import pack_cholesky, symmetrize, unpack_cholesky
from bayesimpute.methods.core.priors import CovariancePrior
from bayesimpute.methods.core.scale_moves import interweave_likelihood
from bayesimpute.methods.core.weighted_block import ClusterSums, draw_weighted_block

__all__ = ["GlmmState", "GlmmFamily", "AugmentedFamily", "GlmmGibbs"]


@dataclass
class GlmmState:
    """One chain's parameters: ``beta`` (p_fixed,), ``u`` (J, q), ``psi`` (q, q), ``hyper``
    (q,) the Huang–Wand auxiliaries, ``family`` the family's own (name -> array)."""

    beta: np.ndarray
    u: np.ndarray
    psi: np.ndarray
    hyper: np.ndarray
    family: dict = field(default_factory=dict)

    def copy(self) -> GlmmState:
        return GlmmState(self.beta.copy(), self.u.copy(), self.psi.copy(), self.hyper.copy(),
                         {k: np.array(v, copy=True) for k, v in self.family.items()})


class GlmmFamily(ABC):
    """A family's part of :class:`GlmmGibbs`: its parameters in the model's point, their
    update given the linear predictor, and the draw of the coefficients."""

    def start(self, y: np.ndarray) -> dict:
        """The family's parameters at the chain's start."""
        return {}

    def from_point(self, point: dict, model: pm.Model) -> dict:
        """The family's parameters from a point of the model."""
        return {}

    def to_point(self, params: dict, point: dict, model: pm.Model) -> None:
        """Write the family's parameters into ``point`` (in place)."""

    def update_parameters(self, state: GlmmState, eta: np.ndarray, y: np.ndarray,
                          step: GlmmGibbs, rng: np.random.Generator) -> None:
        """Draw the family's parameters given ``eta`` (in place); none by default."""

    @abstractmethod
    def log_likelihood(self, eta: np.ndarray, y: np.ndarray, params: dict) -> float:
        """The observed values' log-likelihood at ``eta`` (up to a constant): what the
        interweaving move of the effects' scales evaluates."""

    @abstractmethod
    def draw_coefficients(self, state: GlmmState, eta: np.ndarray, y: np.ndarray,
                          step: GlmmGibbs, rng: np.random.Generator) -> None:
        """Draw (beta, u, Psi, a) given the family's parameters (in place)."""


class AugmentedFamily(GlmmFamily):
    """A family whose likelihood, given auxiliary draws, is Gaussian in ``eta``."""

    @abstractmethod
    def augment(self, eta: np.ndarray, y: np.ndarray, params: dict,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw the auxiliaries given ``eta``; return the rows' weights ``w`` and linear
        terms ``v`` of the Gaussian likelihood ``exp(v eta - w eta^2 / 2)``."""

    def draw_coefficients(self, state, eta, y, step, rng):
        weights, linear = self.augment(eta, y, state.family, rng)
        XX, Xy = step.sums.crossproducts(step.X, weights, linear)
        beta, u, psi, hyper = draw_weighted_block(
            XX, Xy, step.fixed, step.random, step.prior_precision, state.psi, state.hyper,
            step.covariance, rng)
        state.beta = beta
        if u is not None:
            state.u, state.psi, state.hyper = u, psi, hyper


class GlmmGibbs(GibbsStep):
    """Exact Gibbs step method for a GLMM of :mod:`~bayesimpute.methods.core.nuts_glmm`.

    A PyMC step method over every free variable of that model (``beta``, ``u_raw`` /
    ``u_centred``, ``psi_chol``, ``psi_hyper`` and the family's own). Inside the FCS loop the
    method calls :meth:`refresh_data` after ``pm.set_data`` and then :meth:`step`.

    Parameters
    ----------
    vars : list, optional
        The model's free variables (all of them).
    model : pymc.Model
        The model; its containers ``X`` (the whole standardised design), ``y`` and
        ``cluster_index`` hold the observed rows.
    family : GlmmFamily
        The family's augmentation and parameter draws.
    fixed, random : array of int
        The design's columns with a fixed effect (in ``beta``'s order) and with a random
        effect (in ``u``'s order).
    informative : array of bool
        The clusters whose effects the model centres (the rest are ``u_raw L'``).
    slope_sd : float
        Sd of beta's normal prior.
    covariance : CovariancePrior
        Psi's prior.
    rng : int, numpy.random.Generator or None
    """

    def __init__(self, vars=None, *, model: pm.Model | None = None, family: GlmmFamily,
                 fixed, random, informative, slope_sd: float,
                 covariance: CovariancePrior = CovariancePrior(), rng=None, blocked=True):
        super().__init__(vars, model=model, rng=rng, blocked=blocked)
        self.family = family
        self.fixed = np.asarray(fixed, dtype=int)
        self.random = np.asarray(random, dtype=int)
        self.informative = np.asarray(informative, dtype=bool)
        self.n_clusters = len(self.informative)
        self.slope_sd = float(slope_sd)
        self.prior_precision = np.eye(len(self.fixed)) / self.slope_sd**2
        self.covariance = covariance
        self._hyper_value = (log_value_name(self.model, "psi_hyper") if len(self.random)
                             else None)
        self.X = self.y = self.cluster = self.sums = None

    def refresh_data(self) -> None:
        """Read the current design and outcome from the model's containers."""
        self.X = np.asarray(self.model["X"].get_value(), dtype=float)
        self.y = np.asarray(self.model["y"].get_value(), dtype=float)
        self.cluster = np.asarray(self.model["cluster_index"].get_value()).astype(int)
        self.sums = ClusterSums(self.cluster, self.n_clusters)

    # --- point <-> state ---------------------------------------------------------------------
    def point_to_state(self, point: dict) -> GlmmState:
        q = len(self.random)
        beta = np.asarray(point["beta"], dtype=float).copy()
        family = self.family.from_point(point, self.model)
        if not q:
            return GlmmState(beta, np.zeros((self.n_clusters, 0)), np.zeros((0, 0)),
                             np.zeros(0), family)
        psi = unpack_cholesky(np.asarray(point["psi_chol"], dtype=float), q)
        u = np.zeros((self.n_clusters, q))
        if self.informative.any():
            u[self.informative] = np.asarray(point["u_centred"], dtype=float)
        if (~self.informative).any():
            u[~self.informative] = np.asarray(point["u_raw"], dtype=float) @ np.linalg.cholesky(
                psi).T
        hyper = np.exp(np.asarray(point[self._hyper_value], dtype=float))
        return GlmmState(beta, u, psi, hyper, family)

    def state_to_point(self, state: GlmmState, point: dict) -> dict:
        new = dict(point)
        new["beta"] = state.beta.copy()
        self.family.to_point(state.family, new, self.model)
        if len(self.random):
            new["psi_chol"] = pack_cholesky(state.psi)
            if self.informative.any():
                new["u_centred"] = state.u[self.informative].copy()
            if (~self.informative).any():
                chol = np.linalg.cholesky(symmetrize(state.psi))
                new["u_raw"] = np.linalg.solve(chol, state.u[~self.informative].T).T
            new[self._hyper_value] = np.log(state.hyper)
        return new

    def initial_point(self) -> dict:
        """The chain's start: coefficients and effects 0, Psi = 0.25 I (a random-effect sd
        of 0.5), unit auxiliaries, the family's own start."""
        if self.X is None:
            self.refresh_data()
        q = len(self.random)
        state = GlmmState(np.zeros(len(self.fixed)), np.zeros((self.n_clusters, q)),
                          0.25 * np.eye(q), np.ones(q), self.family.start(self.y))
        return self.state_to_point(state, {})

    def linear_predictor(self, state: GlmmState, X: np.ndarray | None = None,
                         cluster: np.ndarray | None = None) -> np.ndarray:
        """``X beta + Z u_j`` of the observed rows (or of ``X`` with ``cluster``)."""
        X = self.X if X is None else X
        cluster = self.cluster if cluster is None else cluster
        eta = X[:, self.fixed] @ state.beta
        if len(self.random):
            eta = eta + np.einsum("nq,nq->n", X[:, self.random], state.u[cluster])
        return eta

    # --- the transition ----------------------------------------------------------------------
    def _interweave(self, state: GlmmState) -> None:
        """The effects and Psi rescaled jointly given the family's own likelihood, with the
        augmentation integrated out (:func:`~bayesimpute.methods.core.scale_moves.
        interweave_likelihood`): the collapsed scale move inside the Gaussian block sees
        the scales only through the latent values, which follow them."""
        fixed = self.X[:, self.fixed] @ state.beta
        parts = self.X[:, self.random] * state.u[self.cluster]

        def log_likelihood(scales):
            return self.family.log_likelihood(fixed + parts @ scales, self.y, state.family)

        state.u, state.psi, state.hyper = interweave_likelihood(
            state.u, state.psi, self.covariance, log_likelihood, self.rng)

    def sweep(self, point: dict) -> dict:
        if self.X is None:
            self.refresh_data()
        state = self.point_to_state(point)
        self.family.update_parameters(state, self.linear_predictor(state), self.y, self,
                                      self.rng)
        if len(self.random):
            self._interweave(state)
        self.family.draw_coefficients(state, self.linear_predictor(state), self.y, self,
                                      self.rng)
        return self.state_to_point(state, point)
