"""The models behind ml.norm / ml.pmm (Gaussian) and ml.bin / ml.polyreg (logistic), with
random effects at several nested or crossed levels, and their exact Gibbs transitions.

Gaussian, on the standardised scale of the target and the predictors::

    y_i = x_i' beta + sum_l z_li' u_{l, c_l(i)} + e_i,   e_i ~ N(0, sigma2)
    u_{l,c} ~ N_q(0, Psi_l),  Psi_l ~ Huang & Wand's hierarchical inverse-Wishart
    beta ~ N(0, beta_sd^2 I),  sigma2 ~ InvGamma(a, b)

with the priors of :class:`~bayesimpute.methods.gaussian.linear_mixed.LinearMixedPriors` (the
two-level model is the special case of one level); every level's Psi_l has the package's one
covariance prior (:class:`~bayesimpute.methods.core.priors.CovariancePrior`). Logistic (K categories, category 0
the reference): each non-reference category k has ``eta_ik = x_i' beta_k + sum_l z_li'
u_{k,l,c}`` and each level's ``Psi_{k,l}`` has Huang & Wand's prior, exactly as in
:mod:`bayesimpute.methods.logistic.polya_gamma` (:class:`~bayesimpute.methods.logistic.polya_gamma.LogitPriors`).

Transitions (:func:`gaussian_sweep`, :func:`logit_sweep`) draw (beta, u) per chain of
nested levels exactly (:func:`bayesimpute.methods.multilevel.sweeps.draw_chain`), then each
``Psi_l`` and its Huang–Wand auxiliaries from their conditionals, the interweaving move of
each level's effects and ``Psi_l`` (:mod:`~bayesimpute.methods.core.scale_moves`: it keeps a
variance near zero mixing) and ``sigma2`` from its inverse-gamma conditional; the
logistic sweep first draws the Pólya–Gamma variables given the current linear predictor.
Each costs a few passes over the rows plus work linear in the clusters.

:func:`build_pymc_model` writes the Gaussian model in PyMC; the tests check that the Gibbs
sweep and NUTS on that model give the same posterior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from polyagamma import random_polyagamma

from bayesimpute.methods.core.linalg import draw_mvn_from_precision
from bayesimpute.methods.core.priors import CovariancePrior
from bayesimpute.methods.core.scale_moves import interweave
from bayesimpute.methods.logistic.polya_gamma import LogitPriors
from bayesimpute.methods.multilevel.sweeps import EffectChain, chain_offset, cluster_sums, draw_chain
from bayesimpute.methods.gaussian.linear_mixed import LinearMixedPriors

__all__ = ["MultilevelState", "MultilevelLogitState", "GaussianSweep", "gaussian_sweep",
           "logit_sweep", "linear_predictor", "build_pymc_model"]


def _zeros_like_chains(chains: Sequence[EffectChain]) -> list[list[np.ndarray]]:
    return [[np.zeros((lv.n_clusters, len(lv.random))) for lv in c.levels] for c in chains]


@dataclass
class MultilevelState:
    """Gaussian parameters; ``effects[g][l]`` (J, q), ``psi[g][l]`` (q, q) and ``hyper[g][l]``
    (the Huang–Wand auxiliaries, (q,)) per chain ``g`` and level ``l`` (lowest first)."""

    beta: np.ndarray
    sigma2: float
    effects: list[list[np.ndarray]]
    psi: list[list[np.ndarray]]
    hyper: list[list[np.ndarray]]

    @classmethod
    def start(cls, p: int, chains: Sequence[EffectChain]) -> MultilevelState:
        return cls(np.zeros(p), 0.5, _zeros_like_chains(chains),
                   [[np.eye(len(lv.random)) * 0.2 for lv in c.levels] for c in chains],
                   [[np.ones(len(lv.random)) for lv in c.levels] for c in chains])


@dataclass
class MultilevelLogitState:
    """Logistic parameters with a leading category axis: ``beta`` (K-1, p); ``effects[k]``,
    ``psi[k]`` and ``hyper[k]`` (Huang–Wand auxiliaries, (q,)) nested by chain and level."""

    beta: np.ndarray
    effects: list[list[list[np.ndarray]]]
    psi: list[list[list[np.ndarray]]]
    hyper: list[list[list[np.ndarray]]]

    @classmethod
    def start(cls, n_free: int, p: int, chains: Sequence[EffectChain]) -> MultilevelLogitState:
        return cls(
            np.zeros((n_free, p)),
            [_zeros_like_chains(chains) for _ in range(n_free)],
            [[[np.eye(len(lv.random)) * 0.25 for lv in c.levels] for c in chains]
             for _ in range(n_free)],
            [[[np.ones(len(lv.random)) for lv in c.levels] for c in chains]
             for _ in range(n_free)],
        )


def linear_predictor(X: np.ndarray, beta: np.ndarray, chains: Sequence[EffectChain],
                     effects: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """x' beta + every level's random part, per unit (the units of ``chains``' codes)."""
    return X @ beta + chain_offset(X, chains, effects)


def _draw_blocks(X, weights, weighted_v, chains, effects, psi_inverses, prior_precision, rng,
                 XX_cache=None, scale=1.0):
    """(beta, u_chain) jointly for each chain in turn, the other chains as an offset.

    ``weighted_v`` is ``w * v`` of the working response before any random part;
    ``psi_inverses[g][l]`` the prior precisions of the effects; ``scale`` as in
    :func:`~bayesimpute.methods.multilevel.sweeps.draw_chain`. Returns beta and the new effects."""
    effects = [list(e) for e in effects]
    if not chains:  # no random effect: a (weighted) Bayesian regression
        precision = ((weights[:, None] * X).T @ X + prior_precision) / scale
        return draw_mvn_from_precision(precision, X.T @ weighted_v / scale, rng), effects
    beta = None
    for g, chain in enumerate(chains):
        lowest = chain.levels[0]
        shifted = weighted_v - weights * chain_offset(X, chains, effects, skip=g)
        cached = None if XX_cache is None else XX_cache[g]
        XX, Xv = cluster_sums(X, weights, shifted, lowest.codes, lowest.n_clusters, cached)
        if XX_cache is not None:
            XX_cache[g] = XX
        beta, effects[g] = draw_chain(XX, Xv, chain, psi_inverses[g], prior_precision, rng,
                                      scale)
    return beta, effects


def _interweave_levels(X, weights, weighted_v, beta, chains, effects, psi, hyper,
                       prior: CovariancePrior, rng) -> None:
    """The interweaving move of every level's effects and Psi, in place.

    At each level the effects and ``Psi_l`` are rescaled jointly given the non-centred
    effects (:func:`~bayesimpute.methods.core.scale_moves.interweave`), after the centred
    draw ``Psi_l | u_l``: it keeps a variance near zero (a class level inside schools)
    mixing. The rescaled effects' log-likelihood comes from the rows: with ``f_i`` the
    level's random part per effect column and ``r_i`` the residual without it,
    ``G = sum_i w_i f_i f_i'`` and ``h = sum_i w_i r_i f_i``.
    """
    eta = linear_predictor(X, beta, chains, effects)
    for g, chain in enumerate(chains):
        for l, level in enumerate(chain.levels):
            parts = X[:, level.random] * effects[g][l][level.codes]  # (n, q)
            weighted_residual = weighted_v - weights * (eta - parts.sum(axis=1))
            G = (parts * weights[:, None]).T @ parts
            effects[g][l], psi[g][l], hyper[g][l] = interweave(
                effects[g][l], psi[g][l], prior, G, parts.T @ weighted_residual, rng)
            eta += (X[:, level.random] * effects[g][l][level.codes]).sum(axis=1) - parts.sum(1)


class GaussianSweep:
    """Exact Gibbs transitions of the Gaussian model on fixed X (one FCS visit).

    The unweighted per-cluster ``X'X`` is computed once and reused by every transition.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, chains: Sequence[EffectChain],
                 priors: LinearMixedPriors = LinearMixedPriors()):
        self.X, self.y, self.chains, self.priors = X, y, list(chains), priors
        self._XX: list[np.ndarray | None] = [None] * len(self.chains)

    def __call__(self, state: MultilevelState, rng: np.random.Generator) -> MultilevelState:
        return gaussian_sweep(self.X, self.y, self.chains, state, self.priors, rng, self._XX)


def gaussian_sweep(X, y, chains, state: MultilevelState, priors: LinearMixedPriors,
                   rng: np.random.Generator, XX_cache=None) -> MultilevelState:
    """One exact Gibbs transition: (beta, u) per chain, Psi per level, sigma2."""
    n, p = X.shape
    sigma2 = state.sigma2
    # on the scale of unweighted cross-products: precisions times sigma2, covariance
    # scaled back by sigma2 (draw_chain's ``scale``)
    psi_inverses = [[sigma2 * np.linalg.inv(s) for s in chain_psi] for chain_psi in state.psi]
    beta, effects = _draw_blocks(
        X, np.ones(n), y, chains, state.effects, psi_inverses,
        np.eye(p) * sigma2 / priors.beta_sd**2, rng, XX_cache, scale=sigma2)
    updates = [[priors.covariance.update(u, a, rng) for u, a in zip(chain_effects, chain_hyper)]
               for chain_effects, chain_hyper in zip(effects, state.hyper)]
    psi = [[psi_l for psi_l, _ in chain] for chain in updates]
    hyper = [[a_l for _, a_l in chain] for chain in updates]
    _interweave_levels(X, np.full(n, 1.0 / sigma2), y / sigma2, beta, chains, effects, psi,
                       hyper, priors.covariance, rng)
    residual = y - linear_predictor(X, beta, chains, effects)
    shape = priors.sigma2_shape + 0.5 * n
    rate = priors.sigma2_rate + 0.5 * float(residual @ residual)
    return MultilevelState(beta, rate / rng.gamma(shape), effects, psi, hyper)


# --- logistic ------------------------------------------------------------------------------------
def _category_eta(X, state: MultilevelLogitState, chains, k: int) -> np.ndarray:
    return linear_predictor(X, state.beta[k], chains, state.effects[k])


def logit_sweep(X: np.ndarray, y: np.ndarray, chains: Sequence[EffectChain],
                state: MultilevelLogitState, priors: LogitPriors,
                rng: np.random.Generator) -> MultilevelLogitState:
    """One exact Pólya–Gamma Gibbs transition over every non-reference category.

    Category k given the others is a logistic regression with offset
    ``log(1 + sum_{l != k} exp(eta_l))`` (Holmes & Held 2006); given its Pólya–Gamma
    variables omega it is the weighted Gaussian model with working response
    ``kappa / omega + offset``, whose blocks :func:`_draw_blocks` draws exactly.
    """
    n_free, p = state.beta.shape
    beta = state.beta.copy()
    effects = [list(map(list, e)) for e in state.effects]
    psi = [list(map(list, s)) for s in state.psi]
    hyper = [list(map(list, h)) for h in state.hyper]
    current = MultilevelLogitState(beta, effects, psi, hyper)
    prior_precision = np.diag(1.0 / priors.beta_sd(p) ** 2)
    for k in range(n_free):
        if n_free == 1:
            offset = np.zeros(len(y))
        else:
            eta = np.column_stack([_category_eta(X, current, chains, c) for c in range(n_free)])
            others = np.delete(eta, k, axis=1)
            offset = np.logaddexp.reduce(np.column_stack([np.zeros(len(y)), others]), axis=1)
        omega = random_polyagamma(1.0, _category_eta(X, current, chains, k) - offset,
                                  random_state=rng)
        kappa = (y == k + 1) - 0.5
        psi_inverses = [[np.linalg.inv(s) for s in chain_psi] for chain_psi in psi[k]]
        XX_cache = [None] * len(chains)  # the weights omega are shared by the chain blocks
        beta[k], effects[k] = _draw_blocks(X, omega, kappa + omega * offset, chains,
                                           effects[k], psi_inverses, prior_precision, rng,
                                           XX_cache)
        for g, chain in enumerate(chains):
            for l, level in enumerate(chain.levels):
                psi[k][g][l], hyper[k][g][l] = priors.covariance.update(
                    effects[k][g][l], hyper[k][g][l], rng)
        _interweave_levels(X, omega, kappa + omega * offset, beta[k], chains, effects[k],
                           psi[k], hyper[k], priors.covariance, rng)
    return current


# --- the PyMC model ------------------------------------------------------------------------------
def build_pymc_model(X: np.ndarray, y: np.ndarray, chains: Sequence[EffectChain],
                     priors: LinearMixedPriors = LinearMixedPriors()) -> pm.Model:
    """The Gaussian model of the module docstring in PyMC (for the NUTS comparison).

    Random effects are non-centred (``u = u_raw L'``), which NUTS needs with few units per
    cluster.
    """
    levels = [level for chain in chains for level in chain.levels]
    with pm.Model() as model:
        beta = pm.Normal("beta", 0.0, priors.beta_sd, shape=X.shape[1])
        mu = pt.dot(X, beta)
        for level in levels:
            q = len(level.random)
            chol = priors.covariance.declare(q, suffix=f"_{level.name}")
            u_raw = pm.Normal(f"u_raw_{level.name}", 0.0, 1.0, shape=(level.n_clusters, q))
            u = pm.Deterministic(f"u_{level.name}", pt.dot(u_raw, chol.T))
            pm.Deterministic(f"psi_{level.name}", pt.dot(chol, chol.T))
            mu = mu + pt.sum(X[:, level.random] * u[level.codes], axis=1)
        sigma2 = pm.InverseGamma("sigma2", alpha=priors.sigma2_shape, beta=priors.sigma2_rate)
        pm.Normal("y_obs", mu=mu, sigma=pt.sqrt(sigma2), observed=y)
    return model
