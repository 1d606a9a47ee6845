"""REML fit of a linear mixed model with random intercepts for several grouping factors,
nested or crossed (lme4's ``y ~ x + (1 | school) + (1 | class)``), for the simulations.

A stand-in until the package's analysis layer fits several grouping factors (another
issue builds it as an lme4-exact fitter): the simulations need a complete-data fit of every
completed data set. With ``V = sigma2 (I + Z G Z')``, ``G`` diagonal with one variance
ratio per factor, Woodbury gives every REML quantity from ``Z'Z``, ``Z'X``, ``Z'y`` (of
dimension the total number of clusters), so one evaluation costs O((sum J)^3), not O(n^3).
The profiled REML criterion is minimised over the log variance ratios (Nelder-Mead);
``sigma2`` and beta are profiled out, as lme4 does. Checked against lme4 in
``bench_multilevel_sim.py`` (the reference numbers come from ``r/ri_reml_reference.R``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import linalg, optimize, sparse
from threadpoolctl import threadpool_limits

from bayesimpute.analysis import ModelFit


def _design(data: pd.DataFrame, factors: Sequence[str]) -> tuple[sparse.csr_matrix, list[int]]:
    blocks, sizes = [], []
    for factor in factors:
        codes, labels = pd.factorize(data[factor], sort=True)
        blocks.append(sparse.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)),
                                        shape=(len(codes), len(labels))))
        sizes.append(len(labels))
    return sparse.hstack(blocks).tocsr(), sizes


class _Reml:
    def __init__(self, X: np.ndarray, y: np.ndarray, Z: sparse.csr_matrix, sizes: list[int]):
        self.n, self.p = X.shape
        self.sizes = np.asarray(sizes)
        self.ZZ = (Z.T @ Z).toarray()
        self.ZX = np.asarray(Z.T @ X)
        self.Zy = np.asarray(Z.T @ y).ravel()
        self.XX, self.Xy, self.yy = X.T @ X, X.T @ y, float(y @ y)

    def parts(self, log_ratios: np.ndarray):
        gamma = np.repeat(np.exp(log_ratios), self.sizes)
        A = self.ZZ + np.diag(1.0 / gamma)
        chol = linalg.cho_factor(A, lower=True)
        log_det_v0 = np.sum(np.log(gamma)) + 2.0 * np.sum(np.log(np.diag(chol[0])))
        AZX = linalg.cho_solve(chol, self.ZX)
        AZy = linalg.cho_solve(chol, self.Zy)
        XVX = self.XX - self.ZX.T @ AZX
        XVy = self.Xy - self.ZX.T @ AZy
        yVy = self.yy - self.Zy @ AZy
        beta = np.linalg.solve(XVX, XVy)
        rss = yVy - beta @ XVy
        return log_det_v0, XVX, beta, rss

    def criterion(self, log_ratios: np.ndarray) -> float:
        log_det_v0, XVX, _, rss = self.parts(log_ratios)
        dof = self.n - self.p
        return log_det_v0 + np.linalg.slogdet(XVX)[1] + dof * np.log(rss / dof)


def fit_random_intercepts(data: pd.DataFrame, response: str, predictors: Sequence[str],
                          factors: Sequence[str]) -> ModelFit:
    """REML fit of ``response ~ predictors + (1 | f) for f in factors``.

    Returns a :class:`~bayesimpute.analysis.ModelFit` whose ``variance_components`` are
    ``"<factor>: Intercept"`` per factor and ``"residual"``; ``dfcom`` is n - p (mice's
    residual rule; the simulations' terms have hundreds of df either way).
    """
    X = np.column_stack([np.ones(len(data)), data[list(predictors)].to_numpy(float)])
    y = data[response].to_numpy(float)
    Z, sizes = _design(data, factors)
    reml = _Reml(X, y, Z, sizes)
    start = np.zeros(len(factors)) - 1.0
    # derivative-free, as lme4's bobyqa; a boundary fit drifts to a very small ratio. One
    # BLAS thread: these small factorisations run a hundred times slower threaded on a
    # busy 2-core machine.
    with threadpool_limits(1):
        result = optimize.minimize(reml.criterion, start, method="Nelder-Mead",
                                   options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 4000})
    if not result.success:
        raise RuntimeError(f"REML did not converge: {result.message}")
    _, XVX, beta, rss = reml.parts(result.x)
    sigma2 = rss / (reml.n - reml.p)
    names = ["Intercept", *predictors]
    cov = sigma2 * np.linalg.inv(XVX)
    components = {f"{f}: Intercept": float(sigma2 * np.exp(r)) for f, r in zip(factors, result.x)}
    components["residual"] = float(sigma2)
    return ModelFit(pd.Series(beta, index=names), pd.DataFrame(cov, index=names, columns=names),
                    dfcom=float(reml.n - reml.p), variance_components=components, nobs=reml.n)
