"""NumPy kernels for the conjugate draws (no PyMC, no pytensor: these are hot paths)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import linalg, stats

__all__ = [
    "cluster_crossproducts",
    "cluster_crossproduct_planes",
    "cholesky_planes",
    "spd_inverse_planes",
    "matmul_planes",
    "matvec_planes",
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

    The same sums as :func:`cluster_crossproduct_planes` (bitwise), cluster axis first.
    """
    planes = cluster_crossproduct_planes(list(D.T), cluster, n_clusters)
    return np.ascontiguousarray(np.moveaxis(planes, -1, 0))


def cluster_crossproduct_planes(
    columns: Sequence[np.ndarray], cluster: np.ndarray, n_clusters: int,
    reuse: tuple[Sequence[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Per-cluster cross-products of ``columns`` as planes: an array of shape (k, k, J).

    ``out[a, b, j]`` is the sum over the rows of cluster j of ``columns[a] * columns[b]``.
    One ``bincount`` per pair of columns on contiguous copies of the columns: memory stays
    O(n) however many rows there are.
    The cluster axis is last so that each entry ``out[a, b]`` is one contiguous vector over
    the clusters: with many small clusters the per-cluster algebra of the Gibbs steps then
    runs as vector arithmetic (the ``*_planes`` kernels below) instead of batched LAPACK
    calls on thousands of 2 x 2 matrices, and writing the sums costs no strided scatter.

    ``reuse`` = (earlier columns, their planes), for the same rows and clusters: the entries
    of pairs of columns that are unchanged are copied instead of summed again (in an FCS
    visit most predictors did not change since the last one). Only read-only columns count
    as unchanged (a writeable one may have been changed in place, and would then equal its
    earlier self). The result is the same, bit for bit.
    """
    columns = [np.ascontiguousarray(column, dtype=float) for column in columns]
    unchanged = _unchanged_columns(columns, reuse)
    # a column of ones (the intercept) needs no product: its sums are the column's own
    ones = [len(c) > 0 and c[0] == 1.0 and bool(np.all(c == 1.0)) for c in columns]
    k = len(columns)
    out = np.empty((k, k, n_clusters))
    product = np.empty(len(cluster))  # one buffer for every pair: no allocation per pair
    for a in range(k):
        for b in range(a, k):
            if unchanged[a] and unchanged[b]:
                out[a, b] = reuse[1][a, b]
            else:
                out[a, b] = _pair_sums(columns, ones, a, b, cluster, n_clusters, product)
            if b != a:
                out[b, a] = out[a, b]
    return out


def _pair_sums(columns, ones, a: int, b: int, cluster: np.ndarray, n_clusters: int,
               product: np.ndarray) -> np.ndarray:
    """Per-cluster sums of ``columns[a] * columns[b]`` (``product`` is a work buffer)."""
    if ones[a] and ones[b]:
        weights = None  # the counts
    elif ones[a] or ones[b]:
        weights = columns[b] if ones[a] else columns[a]
    else:
        weights = np.multiply(columns[a], columns[b], out=product)
    return np.bincount(cluster, weights=weights, minlength=n_clusters)


def _unchanged_columns(columns: Sequence[np.ndarray],
                       reuse: tuple[Sequence[np.ndarray], np.ndarray] | None) -> list[bool]:
    """Per column, whether it equals the same column of ``reuse``'s earlier columns."""
    if reuse is None or len(reuse[0]) != len(columns):
        return [False] * len(columns)
    return [not a.flags.writeable and not b.flags.writeable and a.shape == b.shape
            and (a is b or np.array_equal(a, b)) for a, b in zip(columns, reuse[0])]


# --- batches of small matrices stored as planes (matrix axes first, batch axis last) -------
# For q x q matrices with q small and many of them, a loop over the q^2 entries of vector
# operations over the batch is far cheaper than numpy's batched linalg, which pays a LAPACK
# call per matrix. Every kernel is the textbook algorithm, written entry by entry.


def _check_positive(pivot: np.ndarray) -> None:
    if not np.min(pivot, initial=np.inf) > 0:  # NaN fails too
        raise np.linalg.LinAlgError("Matrix is not positive definite")


def cholesky_planes(A: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of the symmetric positive definite matrices ``A[:, :, j]``.

    Reads the lower triangle only, as LAPACK's ``potrf``; raises ``LinAlgError`` as
    ``np.linalg.cholesky`` does when a matrix is not positive definite.
    """
    q = A.shape[0]
    L = np.empty(A.shape)
    for c in range(q):
        pivot = A[c, c].copy()
        for k in range(c):
            pivot -= L[c, k] ** 2
        _check_positive(pivot)
        L[c, c] = np.sqrt(pivot)
        L[c, c + 1:] = 0.0
        for r in range(c + 1, q):
            L[r, c] = A[r, c]
            for k in range(c):
                L[r, c] -= L[r, k] * L[c, k]
            L[r, c] /= L[c, c]
    return L


def _lower_triangular_inverse_planes(L: np.ndarray) -> np.ndarray:
    q = L.shape[0]
    inverse = np.zeros(L.shape)
    for r in range(q):
        inverse[r, r] = 1.0 / L[r, r]
        for c in range(r):
            # row r of L times column c of the inverse is 0 below the diagonal
            inverse[r, c] = -np.sum(L[r, c:r] * inverse[c:r, c], axis=0) / L[r, r]
    return inverse


def spd_inverse_planes(A: np.ndarray) -> np.ndarray:
    """Inverses of the symmetric positive definite matrices ``A[:, :, j]`` (exactly
    symmetric). Closed forms for q = 1 and 2, else through the Cholesky factor:
    ``A^-1 = L^-T L^-1``."""
    q = A.shape[0]
    if q == 1:
        _check_positive(A[0, 0])
        return 1.0 / A
    if q == 2:
        # [[a, b], [b, d]]^-1 = [[d, -b], [-b, a]] / (a d - b^2); positive definite iff
        # a > 0 and a d - b^2 > 0
        a, b, d = A[0, 0], A[1, 0], A[1, 1]
        determinant = a * d - b * b
        _check_positive(a)
        _check_positive(determinant)
        out = np.empty(A.shape)
        out[0, 0], out[1, 1] = d / determinant, a / determinant
        out[0, 1] = out[1, 0] = -b / determinant
        return out
    L_inv = _lower_triangular_inverse_planes(cholesky_planes(A))
    out = np.empty(A.shape)
    for a in range(q):
        for b in range(a + 1):
            # (L^-T L^-1)[a, b] = sum over k >= a of L_inv[k, a] L_inv[k, b]
            out[a, b] = np.sum(L_inv[a:, a] * L_inv[a:, b], axis=0)
            out[b, a] = out[a, b]
    return out


def matmul_planes(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A[:, :, j] @ B[:, :, j]`` for every j: (m, n, J) x (n, r, J) -> (m, r, J)."""
    out = A[:, 0, None, :] * B[None, 0, :, :]
    for i in range(1, A.shape[1]):
        out += A[:, i, None, :] * B[None, i, :, :]
    return out


def matvec_planes(A: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``A[:, :, j] @ v[:, j]`` for every j: (m, n, J) x (n, J) -> (m, J)."""
    out = A[:, 0] * v[0]
    for i in range(1, A.shape[1]):
        out += A[:, i] * v[i]
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
