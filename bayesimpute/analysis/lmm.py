"""Linear mixed models fitted as lme4's ``lmer``: the profiled REML / ML criterion over theta.

For a given ``theta`` (see :mod:`bayesimpute.analysis.random_effects`) the penalised least
squares problem of Bates et al. (2015, section 3.2) is solved by block elimination with the
factor of ``A = Lambda' Z'Z Lambda + I``::

    R_ZX' R_ZX = (Lambda'Z'X)' A^-1 (Lambda'Z'X)      R_X'R_X = X'X - R_ZX'R_ZX
    beta(theta) = (R_X'R_X)^-1 (X'y - (Lambda'Z'X)' A^-1 Lambda'Z'y)
    r^2(theta)  = y'y - (Lambda'Z'y)' A^-1 Lambda'Z'y - beta' (X'y - ...)   (penalised RSS)

and ``sigma`` and ``beta`` are profiled out (section 3.4)::

    ML:   d(theta)   = log|A| + n (1 + log(2 pi r^2 / n))
    REML: d_R(theta) = log|A| + log|R_X'R_X| + (n - p) (1 + log(2 pi r^2 / (n - p)))

Every cross-product with the data is formed once per fit, so one evaluation costs a
factorisation of ``A``, not a pass over the rows. ``d`` is minimised over ``theta`` by BOBYQA
(NLopt's, the algorithm of lme4's default ``nloptwrap``) with lme4's bounds (diagonal entries of
each ``T_k`` >= 0), to tight tolerances. Then, as lme4's ``check.boundary``, a diagonal entry
within 1e-5 of its bound is set to the bound when that does not raise the criterion, and the fit
is *singular* when any bounded entry is below 1e-4 (lme4's ``isSingular``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayesimpute.analysis.formula import DesignMatrices
from bayesimpute.analysis.mixed_core import (
    SINGULAR_MESSAGE,
    SINGULAR_TOL,
    MixedFit,
    group_counts,
    is_singular,
    random_covariances,
    schur_complement,
    settle_boundary,
)
from bayesimpute.analysis.optimize import minimize_bobyqa, one_blas_thread
from bayesimpute.analysis.random_effects import make_solver

__all__ = ["LinearMixedFit", "ProfiledDeviance", "fit_lmm"]

@dataclass
class PlsSolution:
    """The penalised least squares solution at one theta."""

    logdet_a: float
    logdet_rx: float  # log |R_X' R_X|
    r2: float  # penalised residual sum of squares
    beta: np.ndarray
    rx_inverse: np.ndarray  # (R_X' R_X)^-1


class ProfiledDeviance:
    """The profiled (RE)ML criterion of one data set as a function of theta."""

    def __init__(self, design: DesignMatrices, reml: bool = True):
        self.X = design.fixed.to_numpy(dtype=float)
        self.y = np.asarray(design.response, dtype=float)
        self.n, self.p = self.X.shape
        self.reml = reml
        self.solver = make_solver(design.terms)
        self.layout = self.solver.layout
        xy = np.column_stack([self.X, self.y])
        self._gram = self.solver.gram()
        self._zt_xy = self.solver.zt(xy)  # (q, p + 1)
        self._xy_xy = xy.T @ xy

    def solve(self, theta: np.ndarray) -> PlsSolution:
        factor = self.solver.factor(theta, self._gram)
        lzt = self.solver.lam_t(theta, self._zt_xy)  # Lambda' Z' [X y]
        cross = schur_complement(self._xy_xy, factor, lzt)
        p = self.p
        rxtrx, rxty, yty = cross[:p, :p], cross[:p, p], cross[p, p]
        chol = np.linalg.cholesky(rxtrx)
        rx_inverse = np.linalg.inv(rxtrx)
        beta = rx_inverse @ rxty
        r2 = float(yty - beta @ rxty)
        return PlsSolution(factor.logdet, 2.0 * float(np.log(np.diag(chol)).sum()), r2, beta,
                           rx_inverse)

    def __call__(self, theta: np.ndarray) -> float:
        s = self.solve(np.asarray(theta, dtype=float))
        if self.reml:
            dof = self.n - self.p
            return s.logdet_a + s.logdet_rx + dof * (1 + math.log(2 * math.pi * s.r2 / dof))
        return s.logdet_a + self.n * (1 + math.log(2 * math.pi * s.r2 / self.n))

    def sigma2(self, s: PlsSolution) -> float:
        return s.r2 / (self.n - self.p if self.reml else self.n)

    def deviance_at(self, theta: np.ndarray, sigma: float) -> float:
        """lmerTest's ``devfun_vp``: the criterion at (theta, sigma), beta profiled out.

        Not profiled over sigma, so that its Hessian in (theta, sigma) gives the asymptotic
        covariance of the variance parameters (Satterthwaite df, variance-component SEs).
        """
        s = self.solve(np.asarray(theta, dtype=float))
        sigma2 = sigma**2
        value = s.logdet_a + s.r2 / sigma2 + self.n * math.log(2 * math.pi * sigma2)
        if self.reml:
            value += s.logdet_rx - self.p * math.log(2 * math.pi * sigma2)
        return value

    def beta_covariance(self, theta: np.ndarray, sigma: float) -> np.ndarray:
        """sigma^2 (R_X'R_X)^-1 at (theta, sigma): Var(beta) as a function of the parameters."""
        return sigma**2 * self.solve(np.asarray(theta, dtype=float)).rx_inverse


@dataclass(kw_only=True)
class LinearMixedFit(MixedFit):
    """A linear mixed model fitted as lme4's ``lmer``.

    The fields of :class:`~bayesimpute.analysis.mixed_core.MixedFit` (``cov`` is
    ``sigma^2 (R_X'R_X)^-1``, ``loglik`` the (RE)ML log-likelihood and ``criterion`` the REML
    criterion or deviance), and:

    Attributes
    ----------
    sigma : float
        Residual standard deviation.
    reml : bool
        Whether REML.
    deviance : ProfiledDeviance
        The criterion, kept for the inference on the variance parameters.
    """

    sigma: float
    reml: bool
    deviance: ProfiledDeviance | None = field(default=None, repr=False)


def fit_lmm(design: DesignMatrices, *, reml: bool = True, maxeval: int = 20000) -> LinearMixedFit:
    """Fit a linear mixed model by profiled REML (default) or ML; see the module docstring."""
    with one_blas_thread():
        return _fit_lmm(design, reml=reml, maxeval=maxeval)


def _fit_lmm(design: DesignMatrices, *, reml: bool = True, maxeval: int = 20000) -> LinearMixedFit:
    _check_fixed_rank(design)
    deviance = ProfiledDeviance(design, reml=reml)
    lower = deviance.layout.lower_bounds()
    result = minimize_bobyqa(deviance, deviance.layout.start(), lower, maxeval=maxeval)
    if is_singular(result.x, lower):
        result = _restart_singular(deviance, result, lower, maxeval)
    theta, messages = settle_boundary(deviance, result.x, lower)
    messages = result.messages + messages
    solution = deviance.solve(theta)
    sigma2 = deviance.sigma2(solution)
    criterion = deviance(theta)
    names = list(design.fixed.columns)
    singular = is_singular(theta, lower)
    if singular:
        messages.append(SINGULAR_MESSAGE)
    return LinearMixedFit(
        params=pd.Series(solution.beta, index=names),
        cov=pd.DataFrame(sigma2 * solution.rx_inverse, index=names, columns=names),
        theta=theta, sigma=math.sqrt(sigma2), loglik=-0.5 * criterion,
        reml=reml, nobs=deviance.n, n_groups=group_counts(design.terms),
        random_covariances=random_covariances(design, deviance.layout.factors(theta), sigma2),
        converged=result.converged, is_singular=singular, messages=messages,
        n_evaluations=result.n_evaluations, deviance=deviance, lower=lower,
    )


def _restart_singular(deviance: ProfiledDeviance, result, lower: np.ndarray, maxeval: int):
    """A boundary optimum may be one of several: restart from off-boundary points.

    The criterion can have separate local optima on the boundary (a zero variance, or a
    correlation of +1 or -1: lme4's default optimiser and its bobyqa stop at different ones on
    the reference models). From the boundary estimate with its zero diagonal entries lifted,
    and from starts with strongly positive and strongly negative correlations, BOBYQA runs
    again; the best optimum wins.
    """
    lifted = np.where((lower == 0.0) & (result.x < SINGULAR_TOL), 0.2, result.x)
    starts = [lifted]
    for sign in (1.0, -1.0):
        starts.append(np.where(lower == 0.0, 0.5, sign * 0.5))
    # Explore with loose tolerances; polish only a start that beats the first optimum.
    used, best_start, best_value = result.n_evaluations, None, result.fun
    for start in starts:
        trial = minimize_bobyqa(deviance, start, lower, maxeval=maxeval, xtol_abs=1e-6,
                                ftol_abs=1e-8, restarts=0)
        used += trial.n_evaluations
        if trial.converged and trial.fun < best_value - 1e-6:
            best_start, best_value = trial.x, trial.fun
    if best_start is None:
        result.n_evaluations = used
        return result
    polished = minimize_bobyqa(deviance, best_start, lower, maxeval=maxeval)
    polished.n_evaluations += used
    return polished if polished.fun <= result.fun else result


def _check_fixed_rank(design: DesignMatrices) -> None:
    X = design.fixed.to_numpy(dtype=float)
    if X.shape[0] <= X.shape[1]:
        raise ValueError(f"{X.shape[0]} rows cannot estimate {X.shape[1]} fixed effects")
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        # Name the columns that add nothing: those whose removal keeps the rank.
        redundant = [c for i, c in enumerate(design.fixed.columns)
                     if np.linalg.matrix_rank(np.delete(X, i, axis=1)) == rank]
        raise ValueError(
            f"the fixed-effects design is rank deficient (rank {rank} of {X.shape[1]}); "
            f"collinear columns among {redundant}"
        )
