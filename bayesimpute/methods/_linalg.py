"""NumPy kernels for the conjugate draws (no PyMC, no pytensor: these are hot paths)."""

from __future__ import annotations

import numpy as np
from scipy import linalg, stats

__all__ = [
    "cluster_crossproducts",
    "draw_mvn_from_precision",
    "draw_batched_mvn",
    "draw_inverse_wishart",
    "symmetrize",
    "pack_cholesky",
    "unpack_cholesky",
]


def symmetrize(a: np.ndarray) -> np.ndarray:
    return 0.5 * (a + np.swapaxes(a, -1, -2))


def cluster_crossproducts(D: np.ndarray, cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """Per-cluster cross-products ``D_j' D_j`` as an array of shape (J, k, k).

    One ``bincount`` per pair of columns: memory stays O(n) however many rows there are,
    which is what keeps a million-row update a few passes over the data.
    """
    k = D.shape[1]
    out = np.empty((n_clusters, k, k))
    for a in range(k):
        for b in range(a, k):
            s = np.bincount(cluster, weights=D[:, a] * D[:, b], minlength=n_clusters)
            out[:, a, b] = s
            out[:, b, a] = s
    return out


def draw_mvn_from_precision(
    precision: np.ndarray, linear: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draw from N(P^{-1} b, P^{-1}) given precision P and linear term b."""
    chol = linalg.cholesky(symmetrize(precision), lower=True)
    mean = linalg.cho_solve((chol, True), linear)
    z = rng.standard_normal(len(linear))
    return mean + linalg.solve_triangular(chol, z, lower=True, trans="T")


def draw_batched_mvn(mean: np.ndarray, cov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw from each N(mean[j], cov[j]); mean (J, q), cov (J, q, q)."""
    chol = np.linalg.cholesky(symmetrize(cov))
    z = rng.standard_normal(mean.shape)
    return mean + np.einsum("jab,jb->ja", chol, z)


def draw_inverse_wishart(df: float, scale: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw of a (q, q) matrix from the inverse-Wishart(df, scale) distribution."""
    q = scale.shape[0]
    draw = stats.invwishart.rvs(df=df, scale=symmetrize(scale), random_state=rng)
    return np.asarray(draw, dtype=float).reshape(q, q)


def pack_cholesky(cov: np.ndarray) -> np.ndarray:
    """Covariance -> unconstrained vector: lower Cholesky factor, log on the diagonal."""
    q = cov.shape[0]
    chol = np.linalg.cholesky(symmetrize(cov))
    rows, cols = np.tril_indices(q)
    packed = chol[rows, cols].copy()
    diagonal = rows == cols
    packed[diagonal] = np.log(packed[diagonal])
    return packed


def unpack_cholesky(packed: np.ndarray, q: int) -> np.ndarray:
    """Inverse of :func:`pack_cholesky`: returns the covariance matrix."""
    rows, cols = np.tril_indices(q)
    chol = np.zeros((q, q))
    values = np.asarray(packed, dtype=float).copy()
    diagonal = rows == cols
    values[diagonal] = np.exp(values[diagonal])
    chol[rows, cols] = values
    return chol @ chol.T
