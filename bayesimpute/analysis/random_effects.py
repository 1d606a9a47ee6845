"""Random-effect structure of a mixed model: the relative covariance factor and its Cholesky.

Notation of Bates, Mächler, Bolker & Walker (2015, JSS 67(1), section 3): the random effects are
``b = Lambda_theta u`` with ``u ~ N(0, sigma^2 I)``; for random-effect term k with ``p_k``
effects and ``l_k`` levels, ``Lambda_theta`` holds ``I_{l_k} (x) T_k`` with ``T_k`` lower
triangular, its entries the parameters ``theta`` (column-major lower triangle, as lme4's
``getME(fit, "theta")``; diagonal entries bounded below by 0). Every likelihood evaluation needs
the Cholesky factor (here: a factorisation with its log-determinant and solves) of::

    A(theta) = Lambda' Z' W Z Lambda + I

Three solvers share one interface, with vectors in the ``q``-space of all random effects as
``(q, k)`` arrays ordered term by term, level by level, effect by effect:

* :class:`BlockSolver`: every term has the same grouping factor, so ``A`` is block diagonal
  with one ``P x P`` block per level (``P`` the number of effects): batched dense solves.
* :class:`DenseSolver`: several grouping factors (nested or crossed) with at most
  ``DENSE_MAX`` random effects in all: ``A`` dense, LAPACK's Cholesky;
* :class:`SparseSolver`: more random effects than that: ``Z`` and ``Lambda``
  sparse, ``A`` factorised by SuperLU with a fill-reducing ordering (scipy's ``splu``; the
  matrix is symmetric positive definite, so no pivoting is needed and the log-determinant is the
  sum of the logs of ``U``'s diagonal).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from bayesimpute.analysis.formula import RandomTermDesign

__all__ = ["ThetaLayout", "BlockSolver", "DenseSolver", "SparseSolver", "make_solver"]


@dataclass
class ThetaLayout:
    """Where each term's ``T_k`` entries sit in ``theta``."""

    sizes: list[int]  # p_k per term

    @property
    def offsets(self) -> list[int]:
        out, start = [], 0
        for p in self.sizes:
            out.append(start)
            start += p * (p + 1) // 2
        return out

    @property
    def n_theta(self) -> int:
        return sum(p * (p + 1) // 2 for p in self.sizes)

    @staticmethod
    @lru_cache(maxsize=None)
    def lower_triangle(p: int) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices of a p x p lower triangle in column-major order."""
        rows, cols = [], []
        for c in range(p):
            for r in range(c, p):
                rows.append(r)
                cols.append(c)
        return np.array(rows), np.array(cols)

    def lower_bounds(self) -> np.ndarray:
        """0 for diagonal entries of every T_k, -inf off the diagonal (lme4's bounds)."""
        out = []
        for p in self.sizes:
            rows, cols = self.lower_triangle(p)
            out += [0.0 if r == c else -np.inf for r, c in zip(rows, cols)]
        return np.array(out)

    def start(self) -> np.ndarray:
        """lme4's starting value: T_k = I."""
        return np.where(self.lower_bounds() == 0.0, 1.0, 0.0)

    def factors(self, theta: np.ndarray) -> list[np.ndarray]:
        """The T_k matrices."""
        out = []
        for p, offset in zip(self.sizes, self.offsets):
            rows, cols = self.lower_triangle(p)
            t = np.zeros((p, p))
            t[rows, cols] = theta[offset: offset + len(rows)]
            out.append(t)
        return out


class _Factor:
    """A(theta) factorised: ``solve`` and ``logdet``."""

    logdet: float

    def solve(self, rhs: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def half_solve(self, rhs: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def quad(self, rhs: np.ndarray) -> np.ndarray:
        """rhs' A^-1 rhs."""
        half = self.half_solve(rhs)
        return half.T @ half


class BlockSolver:
    """All terms on one grouping factor: A is block diagonal (one P x P block per level)."""

    def __init__(self, terms: list[RandomTermDesign]):
        self.layout = ThetaLayout([t.matrix.shape[1] for t in terms])
        self.codes = terms[0].codes
        self.n_groups = terms[0].n_groups
        self.rows = np.hstack([t.matrix for t in terms])  # (n, P)
        self.P = self.rows.shape[1]
        self.q = self.n_groups * self.P
        n = len(self.codes)
        # Sums over the rows of each level as one sparse product.
        self._sum = sp.csr_matrix((np.ones(n), (self.codes, np.arange(n))),
                                  shape=(self.n_groups, n))

    def block_factor(self, theta: np.ndarray) -> np.ndarray:
        """The P x P block T (block diagonal over the terms)."""
        t = np.zeros((self.P, self.P))
        start = 0
        for block in self.layout.factors(theta):
            p = block.shape[0]
            t[start: start + p, start: start + p] = block
            start += p
        return t

    def gram(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Z' W Z as (levels, P, P)."""
        z = self.rows if weights is None else self.rows * weights[:, None]
        outer = (z[:, :, None] * self.rows[:, None, :]).reshape(len(z), -1)
        return np.asarray(self._sum @ outer).reshape(self.n_groups, self.P, self.P)

    def zt(self, matrix: np.ndarray) -> np.ndarray:
        """Z' M for M (n, k), as (q, k)."""
        k = matrix.shape[1]
        prod = (self.rows[:, :, None] * matrix[:, None, :]).reshape(len(matrix), -1)
        return np.asarray(self._sum @ prod).reshape(self.q, k)

    def lam_t(self, theta: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Lambda' v for v (q, k)."""
        t = self.block_factor(theta)
        k = vectors.shape[1]
        return _times_transpose(t, vectors.reshape(self.n_groups, self.P, k)).reshape(self.q, k)

    def z_lam(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Z Lambda u for u (q,): the random part of the linear predictor."""
        t = self.block_factor(theta)
        b = u.reshape(self.n_groups, self.P) @ t.T
        return np.einsum("np,np->n", self.rows, b[self.codes])

    has_leverages = True

    def leverages(self, theta: np.ndarray, factor: _BlockFactor) -> np.ndarray:
        """h_i = z~_i' A^-1 z~_i with z~_i = T' z_i, per row (via the level's Cholesky)."""
        t = self.block_factor(theta)
        ztilde = self.rows @ t  # (n, P): row i is (T' z_i)'
        half = _forward(factor.chol[self.codes], ztilde[:, :, None])[:, :, 0]
        return np.sum(half**2, axis=1)

    def factor(self, theta: np.ndarray, gram: np.ndarray) -> _Factor:
        t = self.block_factor(theta)
        a = np.matmul(t.T, np.matmul(gram, t)) + np.eye(self.P)
        return _BlockFactor(a, self.n_groups, self.P)


class _BlockFactor(_Factor):
    """Per-level Cholesky factors of P x P blocks, vectorised over the levels.

    P is small (the effects of one grouping factor), so the factorisation and the triangular
    solves loop over the P rows in Python and over the levels in numpy: batched LAPACK calls
    cost more per level than the arithmetic they do.
    """

    def __init__(self, a: np.ndarray, n_groups: int, P: int):
        self.n_groups, self.P = n_groups, P
        self.chol = _batched_cholesky(a)
        self.logdet = 2.0 * float(np.log(np.diagonal(self.chol, axis1=1, axis2=2)).sum())

    def half_solve(self, rhs: np.ndarray) -> np.ndarray:
        """L^-1 rhs (levels stacked): rhs' A^-1 rhs = (L^-1 rhs)' (L^-1 rhs)."""
        k = rhs.shape[1]
        return _forward(self.chol, rhs.reshape(self.n_groups, self.P, k)).reshape(-1, k)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        k = rhs.shape[1]
        half = _forward(self.chol, rhs.reshape(self.n_groups, self.P, k))
        return _backward(self.chol, half).reshape(-1, k)


def _times_transpose(t: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """T' x_l for every level l: blocks (levels, p, k). T is p x p with p small, so its
    entries loop in Python and the levels in numpy (einsum is slower here)."""
    p = t.shape[0]
    if p == 1:
        return blocks * t[0, 0]
    out = np.zeros_like(blocks, dtype=float)
    for a in range(p):
        for b in range(p):
            if t[a, b] != 0.0:
                out[:, b, :] += t[a, b] * blocks[:, a, :]
    return out


def _batched_cholesky(a: np.ndarray) -> np.ndarray:
    P = a.shape[1]
    L = np.zeros_like(a)
    for j in range(P):
        diag = a[:, j, j] - np.sum(L[:, j, :j] ** 2, axis=1)
        if np.any(diag <= 0):
            raise np.linalg.LinAlgError("random-effects system is not positive definite")
        L[:, j, j] = np.sqrt(diag)
        for i in range(j + 1, P):
            L[:, i, j] = (a[:, i, j] - np.sum(L[:, i, :j] * L[:, j, :j], axis=1)) / L[:, j, j]
    return L


def _forward(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve L x = b for lower-triangular L (levels, P, P), b (levels, P, k)."""
    x = np.empty_like(b)
    for i in range(L.shape[1]):
        acc = b[:, i, :] - np.einsum("lj,ljk->lk", L[:, i, :i], x[:, :i, :])
        x[:, i, :] = acc / L[:, i, i, None]
    return x


def _backward(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve L' x = b."""
    x = np.empty_like(b)
    P = L.shape[1]
    for i in reversed(range(P)):
        acc = b[:, i, :] - np.einsum("lj,ljk->lk", L[:, i + 1:, i], x[:, i + 1:, :])
        x[:, i, :] = acc / L[:, i, i, None]
    return x


class DenseSolver:
    """Several grouping factors, few random effects in all: A dense, Cholesky by LAPACK.

    ``Lambda' G Lambda`` is formed term block by term block (``Lambda`` is block diagonal with
    ``I (x) T_k``), so an evaluation costs O(q^2 p) plus the O(q^3 / 3) factorisation.
    """

    def __init__(self, terms: list[RandomTermDesign]):
        self._sparse = SparseSolver(terms)
        self.layout = self._sparse.layout
        self.q = self._sparse.q
        self.Z = self._sparse.Z.tocsr()
        self._zt = self.Z.T.tocsr()
        self._blocks = []  # (start, levels, p) per term
        start = 0
        columns, values = [], []
        for term in terms:
            p = term.matrix.shape[1]
            self._blocks.append((start, term.n_groups, p))
            columns.append(start + term.codes[:, None] * p + np.arange(p)[None, :])
            values.append(term.matrix)
            start += term.n_groups * p
        # Z'WZ as one bincount: every row adds w_i z_ia z_ib at (column a, column b).
        cols, vals = np.hstack(columns), np.hstack(values)  # (n, r): r effects per row
        self._gram_index = (cols[:, :, None] * self.q + cols[:, None, :]).reshape(len(cols), -1)
        self._gram_values = (vals[:, :, None] * vals[:, None, :]).reshape(len(vals), -1)

    def gram(self, weights: np.ndarray | None = None) -> np.ndarray:
        values = self._gram_values if weights is None else self._gram_values * weights[:, None]
        flat = np.bincount(self._gram_index.ravel(), weights=values.ravel(),
                           minlength=self.q * self.q)
        return flat.reshape(self.q, self.q)

    def zt(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(self._zt @ matrix)

    def lam_t(self, theta: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Lambda' v: each term's rows, level by level, times T_k'."""
        out = np.empty_like(vectors, dtype=float)
        for (start, levels, p), t in zip(self._blocks, self.layout.factors(theta)):
            rows = vectors[start: start + levels * p].reshape(levels, p, -1)
            out[start: start + levels * p] = _times_transpose(t, rows).reshape(levels * p, -1)
        return out

    def z_lam(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Z Lambda u: each term's levels times T_k, then one sparse product."""
        b = np.empty(self.q)
        for (start, levels, p), t in zip(self._blocks, self.layout.factors(theta)):
            b[start: start + levels * p] = (u[start: start + levels * p].reshape(levels, p)
                                            @ t.T).ravel()
        return self.Z @ b

    @property
    def has_leverages(self) -> bool:
        # (Z Lambda) A^-1 (Z Lambda)' row by row costs q^2 n: only where that is small
        return self.q * self.q * self.Z.shape[0] <= 5e8

    def leverages(self, theta: np.ndarray, factor: _DenseFactor) -> np.ndarray:
        """h_i = (Z Lambda)_i A^-1 (Z Lambda)_i' for every row."""
        lzt = self.lam_t(theta, self._zt.toarray())  # Lambda' Z' (q, n)
        half = factor.half_solve(lzt)
        return np.sum(half**2, axis=0)

    def factor(self, theta: np.ndarray, gram: np.ndarray) -> _Factor:
        a = self.lam_t(theta, self.lam_t(theta, gram).T)  # Lambda' (Lambda' G)' = Lambda' G Lambda
        a[np.diag_indices_from(a)] += 1.0
        return _DenseFactor(a)


class _DenseFactor(_Factor):
    def __init__(self, a: np.ndarray):
        from scipy.linalg import cholesky

        self.chol = cholesky(a, lower=True, check_finite=False)
        self.logdet = 2.0 * float(np.log(np.diag(self.chol)).sum())

    def half_solve(self, rhs: np.ndarray) -> np.ndarray:
        from scipy.linalg import solve_triangular

        return solve_triangular(self.chol, rhs, lower=True, check_finite=False)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        from scipy.linalg import cho_solve

        return cho_solve((self.chol, True), rhs, check_finite=False)


class SparseSolver:
    """Several grouping factors: Z and Lambda sparse, A by sparse LU (SuperLU)."""

    def __init__(self, terms: list[RandomTermDesign]):
        self.layout = ThetaLayout([t.matrix.shape[1] for t in terms])
        n = len(terms[0].codes)
        blocks, lam_rows, lam_cols, lam_index = [], [], [], []
        offset = 0
        for term, theta_offset in zip(terms, self.layout.offsets):
            p = term.matrix.shape[1]
            columns = offset + term.codes[:, None] * p + np.arange(p)[None, :]
            blocks.append((term.matrix.ravel(), np.repeat(np.arange(n), p), columns.ravel()))
            rows, cols = self.layout.lower_triangle(p)
            level_offsets = offset + np.arange(term.n_groups)[:, None] * p
            lam_rows.append((level_offsets + rows[None, :]).ravel())
            lam_cols.append((level_offsets + cols[None, :]).ravel())
            lam_index.append(np.tile(theta_offset + np.arange(len(rows)), term.n_groups))
            offset += term.n_groups * p
        self.q = offset
        data = np.concatenate([b[0] for b in blocks])
        rows = np.concatenate([b[1] for b in blocks])
        cols = np.concatenate([b[2] for b in blocks])
        self.Z = sp.csc_matrix((data, (rows, cols)), shape=(n, self.q))
        self._lam_rows = np.concatenate(lam_rows)
        self._lam_cols = np.concatenate(lam_cols)
        self._lam_index = np.concatenate(lam_index)
        self._identity = sp.identity(self.q, format="csc")

    has_leverages = False

    def lam(self, theta: np.ndarray) -> sp.csc_matrix:
        return sp.csc_matrix((theta[self._lam_index], (self._lam_rows, self._lam_cols)),
                             shape=(self.q, self.q))

    def gram(self, weights: np.ndarray | None = None) -> sp.csc_matrix:
        z = self.Z if weights is None else sp.diags(weights) @ self.Z
        return (self.Z.T @ z).tocsc()

    def zt(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(self.Z.T @ matrix)

    def lam_t(self, theta: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        return np.asarray(self.lam(theta).T @ vectors)

    def z_lam(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        return np.asarray(self.Z @ (self.lam(theta) @ u)).ravel()

    def factor(self, theta: np.ndarray, gram: sp.csc_matrix) -> _Factor:
        lam = self.lam(theta)
        a = (lam.T @ gram @ lam + self._identity).tocsc()
        return _SparseFactor(a)


class _SparseFactor(_Factor):
    def __init__(self, a: sp.csc_matrix):
        self.lu = splu(a, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                       options={"SymmetricMode": True})
        self.logdet = float(np.log(np.abs(self.lu.U.diagonal())).sum())

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return self.lu.solve(np.asarray(rhs, dtype=float))

    def quad(self, rhs: np.ndarray) -> np.ndarray:
        return rhs.T @ self.solve(rhs)


#: at most this many random effects in all: A dense (LAPACK) rather than sparse (SuperLU)
DENSE_MAX = 1500


def make_solver(terms: list[RandomTermDesign]) -> BlockSolver | DenseSolver | SparseSolver:
    """Block solver when every term shares one grouping factor; else dense for up to
    ``DENSE_MAX`` random effects, sparse beyond."""
    if len({t.group for t in terms}) == 1:
        return BlockSolver(terms)
    if sum(t.n_groups * t.matrix.shape[1] for t in terms) <= DENSE_MAX:
        return DenseSolver(terms)
    return SparseSolver(terms)
