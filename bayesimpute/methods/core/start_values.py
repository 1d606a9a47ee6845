"""Where the exact Gibbs steps start: quick fits of the observed rows.

A Gibbs chain started at beta = 0 and a fixed guess of the variance components needs many
sweeps to reach the posterior when the data are far from the guess: the random-effect
variance moves slowly when clusters are small (a random-intercept ICC of 0.8 with two rows
per cluster took the Gaussian step's Psi from 0.2 to 0.39 in its first two sweeps, against
a posterior of 0.79 +/- 0.06), and the Pólya–Gamma logistic step moves the intercept slowly
when the outcome is rare (from 0 to -2.5 in two sweeps, against a posterior of -4.0 +/-
0.25). Those first draws impute the first iterations. Starting at a fit of the observed
rows puts the chain in the posterior's bulk at once; the methods then run a short burn-in
of exact sweeps at the first visit (their ``burn`` option) before the first imputation.

All fits are on the methods' standardised scale and use only cluster sums, so they cost a
pass over the data. They are starting values, not estimates anyone reports: moment
estimators, floored so that the chain starts at a proper point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LinearStart", "linear_mixed_start", "logit_start", "penalised_logistic_fit",
           "logistic_intercept_variance", "PSI_FLOOR"]

#: smallest random-effect variance a chain starts at (standardised scale): a zero start
#: would make the inverse-Wishart draw of Psi start at its prior
PSI_FLOOR = 0.01
#: smallest residual variance a chain starts at (standardised scale)
SIGMA2_FLOOR = 1e-3


@dataclass
class LinearStart:
    """Starting values of the linear mixed model."""

    beta: np.ndarray  # (p,)
    sigma2: float
    u: np.ndarray  # (J, q)
    psi: np.ndarray  # (q, q)


def linear_mixed_start(stats: np.ndarray, n_per_cluster: np.ndarray,
                       random: np.ndarray) -> LinearStart:
    """Least squares for beta, then per-cluster least squares of the residuals on the
    random-effect columns: their within-cluster residual variance estimates sigma^2, and
    the spread of the cluster estimates minus their sampling variance estimates Psi
    (the ANOVA / method-of-moments estimator, eigenvalues floored at :data:`PSI_FLOOR`).

    Parameters
    ----------
    stats : ndarray, shape (J, p + 1, p + 1)
        Per-cluster cross-products of ``[X, y]`` (observed rows, standardised).
    n_per_cluster : ndarray, shape (J,)
        Observed rows per cluster.
    random : ndarray of int
        Columns of ``X`` with a random effect (empty: a single-level regression).
    """
    n_clusters, k, _ = stats.shape
    p, q = k - 1, len(random)
    XX_j, Xy_j, yy_j = stats[:, :p, :p], stats[:, :p, p], stats[:, p, p]
    beta = np.linalg.lstsq(XX_j.sum(0), Xy_j.sum(0), rcond=None)[0]
    rr_j = yy_j - 2.0 * Xy_j @ beta + np.einsum("p,jpr,r->j", beta, XX_j, beta)
    n = n_per_cluster.sum()
    sigma2 = rr_j.sum() / max(n - p, 1.0)
    u, psi = np.zeros((n_clusters, q)), np.eye(q) * 0.2
    if q:
        ZZ_j = XX_j[:, random][:, :, random]
        Zr_j = Xy_j[:, random] - XX_j[:, random, :] @ beta
        # clusters with more rows than random effects and a well-posed Z_j'Z_j
        usable = n_per_cluster > q
        usable[usable] = np.linalg.cond(ZZ_j[usable]) < 1e8
        if usable.sum() > q + 1:
            ZZ_inv = np.linalg.inv(ZZ_j[usable])
            u_hat = np.einsum("jab,jb->ja", ZZ_inv, Zr_j[usable])
            within = rr_j[usable] - np.einsum("ja,ja->j", u_hat, Zr_j[usable])
            sigma2 = within.sum() / (n_per_cluster[usable] - q).sum()
            spread = u_hat.T @ u_hat / len(u_hat) - sigma2 * ZZ_inv.mean(axis=0)
            psi = _floor_eigenvalues(spread, PSI_FLOOR)
            u[usable] = u_hat
    return LinearStart(beta, max(float(sigma2), SIGMA2_FLOOR), u, psi)


def logit_start(X: np.ndarray, y: np.ndarray, cluster: np.ndarray, n_clusters: int,
                n_free: int, prior_sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (n_free, p) and random-intercept variances (n_free,) to start the
    (multinomial) logistic step at: category k against the reference category 0 on the
    rows that have either, which is the baseline-category logit's conditional likelihood.

    ``y`` holds codes 0..n_free; a category with no rows keeps zeros and the default
    variance.
    """
    beta = np.zeros((n_free, X.shape[1]))
    variance = np.full(n_free, 0.25)
    for k in range(n_free):
        rows = (y == 0) | (y == k + 1)
        if rows.sum() < 2:
            continue
        hit = (y[rows] == k + 1).astype(float)
        beta[k] = penalised_logistic_fit(X[rows], hit, prior_sd)
        variance[k] = logistic_intercept_variance(X[rows], hit, beta[k], cluster[rows],
                                                  n_clusters)
    return beta, variance


def penalised_logistic_fit(X: np.ndarray, y: np.ndarray, prior_sd: np.ndarray,
                           offset: np.ndarray | float = 0.0, *, max_iter: int = 50,
                           tol: float = 1e-8) -> np.ndarray:
    """Posterior mode of a logistic regression with independent N(0, prior_sd^2) priors
    (Newton-Raphson; the prior keeps it finite under separation).

    Parameters
    ----------
    X : ndarray, shape (n, p)
    y : ndarray of 0/1, shape (n,)
    prior_sd : ndarray, shape (p,)
    offset : ndarray, shape (n,), or float
        Added to the linear predictor.
    """
    precision = 1.0 / np.asarray(prior_sd, dtype=float) ** 2
    beta = np.zeros(X.shape[1])
    for _ in range(max_iter):
        eta = X @ beta + offset
        prob = 1.0 / (1.0 + np.exp(-eta))
        gradient = X.T @ (y - prob) - precision * beta
        weights = prob * (1.0 - prob)
        hessian = (X * weights[:, None]).T @ X + np.diag(precision)
        step = np.linalg.solve(hessian, gradient)
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    return beta


def logistic_intercept_variance(X: np.ndarray, y: np.ndarray, beta: np.ndarray,
                                cluster: np.ndarray, n_clusters: int) -> float:
    """One-step moment estimate of a random intercept's variance on the logit scale.

    At the fit without random effects, a cluster's score ``sum (y - p)`` over its
    information ``W_j = sum p (1 - p)`` is a one-step estimate of its intercept, with
    sampling variance ``1 / W_j``; their mean square minus the mean sampling variance
    estimates the intercept variance (floored at :data:`PSI_FLOOR`). It errs low (the fit
    without random effects is attenuated), which the burn-in sweeps then correct.
    """
    prob = 1.0 / (1.0 + np.exp(-(X @ beta)))
    score = np.bincount(cluster, weights=y - prob, minlength=n_clusters)
    information = np.bincount(cluster, weights=prob * (1.0 - prob), minlength=n_clusters)
    present = information > 0
    if present.sum() < 3:
        return 0.25
    u_hat = score[present] / information[present]
    return max(float(np.mean(u_hat**2) - np.mean(1.0 / information[present])), PSI_FLOOR)


def _floor_eigenvalues(matrix: np.ndarray, floor: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(0.5 * (matrix + matrix.T))
    return (vectors * np.maximum(values, floor)) @ vectors.T
