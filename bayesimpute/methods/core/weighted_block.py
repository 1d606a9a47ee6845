"""The Gaussian block shared by the augmented Gibbs steps: (beta, u, Psi) given weights.

Data augmentation turns a logistic, negative binomial or ordinal likelihood into a
weighted Gaussian one in the linear predictor ``eta_i = d_i'beta + z_i'u_j``: given the
Pólya–Gamma (and latent) variables the likelihood is proportional to

    exp(sum_i [v_i eta_i - w_i eta_i^2 / 2])

with a weight ``w_i`` and a linear term ``v_i`` per row (the logit: ``w = omega``,
``v = kappa + omega * offset``; the others in :mod:`~bayesimpute.methods.core.glmm_gibbs`).
Only the per-cluster cross-products ``X_j'W X_j`` and ``X_j'v_j`` enter the conditional
(:class:`ClusterSums`), and :func:`draw_weighted_block` draws (beta, u, Psi) from it
jointly: beta with u integrated out, then Psi's scales with u integrated out, then u given
both, then Psi given u (:func:`~bayesimpute.methods.core.scale_moves.draw_effects_block`).
A transition costs a few passes over the data, whatever the number of clusters; clusters
with no observed value contribute nothing, so their effects are drawn from N(0, Psi).
"""

from __future__ import annotations

import numpy as np

from bayesimpute.methods.core.linalg import (
    cluster_crossproducts,
    draw_mvn_from_precision,
    symmetrize,
)
from bayesimpute.methods.core.priors import CovariancePrior
from bayesimpute.methods.core.scale_moves import draw_effects_block

__all__ = ["ClusterSums", "draw_weighted_block"]

#: up to this many clusters, per-cluster cross-products are one BLAS product per cluster on
#: rows sorted by cluster (fastest); beyond it, one bincount per pair of columns.
_SEGMENT_LIMIT = 256


class ClusterSums:
    """Per-cluster weighted cross-products ``X_j' W_j X_j`` and ``X_j' v_j``.

    Built once per FCS visit from the cluster codes of the observed rows.

    Examples
    --------
    >>> sums = ClusterSums(np.array([0, 0, 1]), 2)
    >>> XX, Xv = sums.crossproducts(np.ones((3, 1)), np.array([1.0, 2.0, 3.0]), np.ones(3))
    >>> XX[:, 0, 0].tolist(), Xv[:, 0].tolist()
    ([3.0, 3.0], [2.0, 1.0])
    """

    def __init__(self, cluster: np.ndarray, n_clusters: int):
        self.cluster, self.n_clusters = cluster, n_clusters
        self.segmented = n_clusters <= _SEGMENT_LIMIT
        if self.segmented:
            self.order = np.argsort(cluster, kind="stable")
            counts = np.bincount(cluster, minlength=n_clusters)
            self.bounds = np.concatenate([[0], np.cumsum(counts)])

    def crossproducts(self, X: np.ndarray, weights: np.ndarray, v: np.ndarray):
        """(J, p, p) sums of w x x' and (J, p) sums of x v."""
        p = X.shape[1]
        if not self.segmented:
            XX = cluster_crossproducts(np.sqrt(weights)[:, None] * X, self.cluster,
                                       self.n_clusters)
            Xv = np.stack([np.bincount(self.cluster, weights=X[:, c] * v,
                                       minlength=self.n_clusters) for c in range(p)], axis=1)
            return XX, Xv
        Xs, ws, vs = X[self.order], weights[self.order], v[self.order]
        XX = np.zeros((self.n_clusters, p, p))
        Xv = np.zeros((self.n_clusters, p))
        for j in range(self.n_clusters):
            lo, hi = self.bounds[j], self.bounds[j + 1]
            if hi > lo:
                block = Xs[lo:hi]
                XX[j] = (block.T * ws[lo:hi]) @ block
                Xv[j] = vs[lo:hi] @ block
        return XX, Xv


def draw_weighted_block(XX: np.ndarray, Xy: np.ndarray, fixed: np.ndarray, random: np.ndarray,
                        prior_precision: np.ndarray, psi: np.ndarray, hyper: np.ndarray,
                        prior: CovariancePrior, rng: np.random.Generator):
    """One joint draw of ``(beta, u, Psi, a)`` given the weighted cross-products.

    Parameters
    ----------
    XX, Xy : ndarray
        :meth:`ClusterSums.crossproducts` of the design's columns, (J, p, p) and (J, p).
    fixed, random : ndarray of int
        The columns with a fixed effect (beta, in this order) and with a random effect.
    prior_precision : ndarray (len(fixed), len(fixed))
        Precision of beta's zero-mean normal prior.
    psi, hyper : ndarray
        The current covariance of the effects and its Huang–Wand auxiliaries (ignored
        without random effects).
    prior : CovariancePrior
        Psi's prior.
    rng : numpy.random.Generator

    Returns
    -------
    beta, u, psi, hyper
        ``u`` (J, q); without random effects ``u`` is None and Psi, a come back as given.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(40), rng.normal(size=40)])
    >>> sums = ClusterSums(np.repeat(np.arange(8), 5), 8)
    >>> XX, Xy = sums.crossproducts(X, np.ones(40), X @ [1.0, 2.0])
    >>> beta, u, psi, hyper = draw_weighted_block(
    ...     XX, Xy, np.arange(2), np.array([0]), np.eye(2) * 0.01, np.eye(1), np.ones(1),
    ...     CovariancePrior(), rng)
    >>> beta.shape, u.shape
    ((2,), (8, 1))
    """
    XX_fixed = XX[:, fixed]
    if not len(random):
        beta = draw_mvn_from_precision(XX_fixed[:, :, fixed].sum(0) + prior_precision,
                                       Xy[:, fixed].sum(0), rng)
        return beta, None, psi, hyper
    XZ, ZZ, Zy = XX_fixed[:, :, random], XX[:, random][:, :, random], Xy[:, random]
    # beta | w, Psi with u integrated out, then the effects block given beta
    M_inv = np.linalg.inv(symmetrize(np.linalg.inv(psi)[None] + ZZ))
    XZ_Minv = XZ @ M_inv
    P_j = XX_fixed[:, :, fixed] - XZ_Minv @ np.swapaxes(XZ, 1, 2)
    b_j = Xy[:, fixed] - np.einsum("jpq,jq->jp", XZ_Minv, Zy)
    beta = draw_mvn_from_precision(P_j.sum(0) + prior_precision, b_j.sum(0), rng)
    u, psi, hyper = draw_effects_block(beta, XZ, ZZ, Zy, psi, hyper, prior, rng)
    return beta, u, psi, hyper
