"""Exact draws of fixed and random effects at several nested or crossed levels (NumPy only).

Model, given the weights ``w_i`` (``1 / sigma2`` for a Gaussian target, the Pólya–Gamma
variables ``omega_i`` for a logistic one) and a working response ``v_i``::

    v_i ~ N(x_i' beta + sum_l z_li' u_{l, c_l(i)},  1 / w_i),   u_{l,c} ~ N(0, Psi_l)

where ``z_li`` are the columns of ``x_i`` with a random effect at level ``l``.

Nested levels (pupil in class in school) form a *chain*. For a chain the joint conditional
of (beta, u_1, ..., u_L) is drawn exactly, in one pass up and one pass down the tree:

* up: at the lowest level each cluster's weighted cross-products ``H_c = D_c' W D_c`` of
  ``D = [X, v]`` are its likelihood as a quadratic form in ``a = [-(beta + ...), 1]``
  (``D a`` is the residual). Integrating the cluster's effect ``u`` out (Woodbury) leaves
  another quadratic form ``G_c = H_c - H_c[:, r] (Psi^-1 + H_c[r, r])^-1 H_c[r, :]``; the
  forms of the clusters inside one parent cluster add up to the parent's ``H``, and so on
  to the top, where the sum over the top clusters is beta's marginal precision and mean.
* down: beta from that marginal; then each level's effects given beta and the effects
  above them, ``u_c ~ N(W_c^-1 H_c[r, :] a_c, W_c^-1)``, ``W_c = Psi^-1 + H_c[r, r]``.

Every random column is a column of ``X``, so only the ``(p+1) x (p+1)`` cross-products of
``[X, v]`` per lowest-level cluster are needed: one pass over the rows, then work linear in
the number of clusters. Clusters without any observed row have zero cross-products, so
their effects come from N(0, Psi): systematic missingness needs nothing special.

Crossed levels (pupils cross-classified by primary and secondary school) are chains of
their own; a sweep draws each chain's block (beta, u_chain) jointly given the other
chains' current effects, which enter as an offset of the working response. Each block is
an exact conditional, so the sweep is an exact (blocked) Gibbs transition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from bayesimpute.methods.core.linalg import draw_batched_mvn, draw_mvn_from_precision, symmetrize

__all__ = ["EffectLevel", "EffectChain", "make_chain", "cluster_sums", "random_part",
           "draw_chain", "chain_offset"]


@dataclass(frozen=True)
class EffectLevel:
    """One level of random effects over the units the model is fitted to.

    Attributes
    ----------
    name : str
        The cluster column.
    codes : ndarray of int, shape (n_units,)
        Cluster code of every unit (row, or aggregated unit).
    n_clusters : int
        Number of clusters (also those without an observed unit).
    random : ndarray of int
        Columns of X with a random effect at this level (0 = intercept).
    """

    name: str
    codes: np.ndarray
    n_clusters: int
    random: np.ndarray


@dataclass(frozen=True)
class EffectChain:
    """Nested levels, lowest first, with the map of each level's clusters to the next."""

    levels: tuple[EffectLevel, ...]
    #: ``parents[l]`` (J_l,) gives the cluster at level l + 1 of each cluster of level l
    parents: tuple[np.ndarray, ...]
    #: ``aggregators[l]`` (J_{l+1}, J_l) sparse 0/1 matrix summing children into parents
    aggregators: tuple[sparse.csr_matrix, ...]


def make_chain(levels: Sequence[EffectLevel]) -> EffectChain:
    """Chain nested levels (lowest first); raises if one is not nested in the next."""
    parents, aggregators = [], []
    for lower, upper in zip(levels[:-1], levels[1:]):
        parent = np.full(lower.n_clusters, -1, dtype=np.int64)
        parent[lower.codes] = upper.codes
        if np.any(parent[lower.codes] != upper.codes):
            raise ValueError(f"level {lower.name!r} is not nested in {upper.name!r}")
        # a cluster with no unit here keeps no parent; it has no data, so any parent does
        parent[parent < 0] = 0
        parents.append(parent)
        aggregators.append(sparse.csr_matrix(
            (np.ones(lower.n_clusters), (parent, np.arange(lower.n_clusters))),
            shape=(upper.n_clusters, lower.n_clusters)))
    return EffectChain(tuple(levels), tuple(parents), tuple(aggregators))


def cluster_sums(X: np.ndarray, weights: np.ndarray, weighted_v: np.ndarray,
                 codes: np.ndarray, n_clusters: int,
                 XX: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per cluster ``sum w x x'`` (J, p, p) and ``sum w v x`` (J, p).

    ``weighted_v`` is ``w * v`` (for Pólya–Gamma: ``kappa + omega * offset``, which avoids
    dividing by small omegas). ``XX`` may be passed when the weights did not change.
    """
    p = X.shape[1]
    if XX is None:
        XX = np.empty((n_clusters, p, p))
        for a in range(p):
            wa = weights * X[:, a]
            for b in range(a, p):
                s = np.bincount(codes, weights=wa * X[:, b], minlength=n_clusters)
                XX[:, a, b] = s
                XX[:, b, a] = s
    Xv = np.column_stack([np.bincount(codes, weights=weighted_v * X[:, a], minlength=n_clusters)
                          for a in range(p)])
    return XX, Xv


def random_part(X: np.ndarray, level: EffectLevel, u: np.ndarray) -> np.ndarray:
    """Per unit ``z_l' u_{l, c(i)}`` for one level, shape (n_units,)."""
    if len(level.random) == 1 and level.random[0] == 0:
        return u[level.codes, 0]  # a random intercept: the intercept column is all ones
    return np.einsum("nq,nq->n", X[:, level.random], u[level.codes])


def chain_offset(X: np.ndarray, chains: Sequence[EffectChain], effects: Sequence[Sequence[np.ndarray]],
                 skip: int | None = None) -> np.ndarray:
    """Sum of the random parts of every chain but ``skip``."""
    total = np.zeros(len(X))
    for g, (chain, chain_effects) in enumerate(zip(chains, effects)):
        if g == skip:
            continue
        for level, u in zip(chain.levels, chain_effects):
            total += random_part(X, level, u)
    return total


def draw_chain(
    XX: np.ndarray,
    Xv: np.ndarray,
    chain: EffectChain,
    psi_inverses: Sequence[np.ndarray],
    prior_precision: np.ndarray,
    rng: np.random.Generator,
    scale: float = 1.0,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """One exact joint draw of (beta, u_1, ..., u_L) for a chain (see the module docstring).

    Parameters
    ----------
    XX, Xv
        Weighted cross-products per cluster of the chain's lowest level (:func:`cluster_sums`).
    chain
        The nested levels.
    psi_inverses
        Per level, the inverse of the random-effect covariance (q_l, q_l).
    prior_precision
        Prior precision of beta (p, p); its prior mean is zero.
    scale
        The conditional covariance is ``scale`` times the inverse of the precision that
        the cross-products and priors give. A Gaussian model passes unweighted
        cross-products, ``sigma2 Psi^-1`` and ``sigma2 / beta_sd^2``, and ``scale =
        sigma2``: the per-cluster ``X'X`` then stays fixed while ``sigma2`` moves.

    Returns
    -------
    beta : ndarray (p,)
    effects : list of ndarray (J_l, q_l), lowest level first
    """
    n_low, p = Xv.shape
    k = p + 1
    H = np.zeros((n_low, k, k))
    H[:, :p, :p] = XX
    H[:, :p, p] = Xv
    H[:, p, :p] = Xv
    kept = []
    for l, level in enumerate(chain.levels):
        r = level.random
        Hr = H[:, r, :]  # (J, q, k)
        W_inv = np.linalg.inv(symmetrize(psi_inverses[l][None] + Hr[:, :, r]))
        kept.append((Hr, W_inv))
        G = H - np.swapaxes(Hr, 1, 2) @ W_inv @ Hr
        if l + 1 < len(chain.levels):
            H = (chain.aggregators[l] @ G.reshape(len(G), k * k)).reshape(-1, k, k)
        else:
            H = G.sum(axis=0, keepdims=True)
    total = H[0]
    beta = draw_mvn_from_precision((total[:p, :p] + prior_precision) / scale,
                                   total[:p, p] / scale, rng)
    top = chain.levels[-1].n_clusters
    a = np.tile(np.append(-beta, 1.0), (top, 1))
    effects: list[np.ndarray] = [np.empty(0)] * len(chain.levels)
    for l in range(len(chain.levels) - 1, -1, -1):
        Hr, W_inv = kept[l]
        r = chain.levels[l].random
        mean = np.einsum("jab,jb->ja", W_inv, np.einsum("jqk,jk->jq", Hr, a))
        u = draw_batched_mvn(mean, scale * W_inv, rng)
        effects[l] = u
        a = a.copy()
        a[:, r] -= u
        if l:
            a = a[chain.parents[l - 1]]
    return beta, effects
