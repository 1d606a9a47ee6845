"""Generalised linear mixed models by Laplace's method, as lme4's ``glmer`` (nAGQ = 1).

Families with their canonical links: ``binomial`` (logit; 0/1 responses) and ``poisson`` (log).
With ``b = Lambda_theta u``, ``u ~ N(0, I)``, the Laplace approximation of the deviance at
``(theta, beta)`` is (Bates et al. 2015; lme4's ``glmer`` objective)::

    d(theta, beta) = -2 log p(y | u_hat) + ||u_hat||^2 + log |A(u_hat)|,
    A(u) = Lambda' Z' W(u) Z Lambda + I

with ``u_hat`` the conditional mode, found by penalised iteratively reweighted least squares
(PIRLS: Newton steps with step halving; W = var(mu) for canonical links). As glmer, the fit has
two stages: (1) BOBYQA over ``theta`` with ``beta`` and ``u`` optimised jointly by PIRLS (glmer's
nAGQ = 0), then (2) BOBYQA over ``(theta, beta)`` from there. ``beta`` is optimised on centred and
scaled columns of X (mapped back exactly afterwards). The covariance of ``beta`` is the
``beta`` block of ``2 H^-1``, H the numerical Hessian of ``d`` in ``(theta, beta)`` (glmer's
``use.hessian = TRUE``); the ``theta`` block gives the variance-component standard errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from bayesimpute.analysis import numdiff
from bayesimpute.analysis.families import LAPLACE_FAMILIES, check_family
from bayesimpute.analysis.formula import DesignMatrices
from bayesimpute.analysis.mixed_core import (
    SINGULAR_MESSAGE,
    MixedFit,
    group_counts,
    is_singular,
    random_covariances,
    settle_boundary,
)
from bayesimpute.analysis.optimize import minimize_bobyqa, one_blas_thread
from bayesimpute.analysis.random_effects import make_solver

__all__ = ["GeneralizedMixedFit", "fit_glmm"]


class _Family:
    """Canonical-link family: -2 log-likelihood, mean, variance."""

    def __init__(self, name: str, y: np.ndarray):
        self.name, self.y = name, y
        # Constant of the Poisson log-likelihood, as R's dpois (and glmer's logLik) keep it.
        self._constant = float(special.gammaln(y + 1).sum()) if name == "poisson" else 0.0

    def evaluate(self, eta: np.ndarray) -> tuple[float, np.ndarray]:
        """-2 log-likelihood and the mean at ``eta``, sharing one exponential."""
        if self.name == "binomial":
            # log(1 + e^eta) = max(eta, 0) + log1p(e^-|eta|); expit from the same e^-|eta|
            small = np.exp(-np.abs(eta))
            softplus = np.maximum(eta, 0.0) + np.log1p(small)
            mu = np.where(eta >= 0, 1.0, small) / (1.0 + small)
            return -2.0 * float(self.y @ eta - softplus.sum()), mu
        mu = np.exp(eta)
        return -2.0 * float(self.y @ eta - mu.sum() - self._constant), mu

    def mean(self, eta: np.ndarray) -> np.ndarray:
        return self.evaluate(eta)[1]

    def weights(self, mu: np.ndarray) -> np.ndarray:
        return mu * (1.0 - mu) if self.name == "binomial" else mu

    def weight_slope(self, mu: np.ndarray) -> np.ndarray:
        """d weights / d eta."""
        return mu * (1.0 - mu) * (1.0 - 2.0 * mu) if self.name == "binomial" else mu


@dataclass
class _Mode:
    u: np.ndarray
    beta: np.ndarray
    value: float  # -2 loglik + ||u||^2 + log|A|
    mu: np.ndarray | None = None
    factor: object = None


class LaplaceDeviance:
    """glmer's Laplace deviance of one data set (see the module docstring)."""

    def __init__(self, design: DesignMatrices, family: str):
        X = design.fixed.to_numpy(dtype=float)
        self.forward = _standardisation(X)
        self.X = X @ self.forward.T  # centred, unit-s.d. columns
        self.y = np.asarray(design.response, dtype=float)
        self.n, self.p = self.X.shape
        self.family = _Family(family, self.y)
        self.solver = make_solver(design.terms)
        self.layout = self.solver.layout
        self.q = self.solver.q
        self.u = np.zeros(self.q)  # warm start of the modes

    # -- PIRLS -------------------------------------------------------------------------
    def _penalised(self, theta, offset, u) -> tuple[float, np.ndarray, np.ndarray]:
        """-2 log p(y | u) + ||u||^2, and the mean, at offset + Z Lambda u."""
        minus_two_loglik, mu = self.family.evaluate(offset + self.solver.z_lam(theta, u))
        return minus_two_loglik + float(u @ u), mu

    def modes(self, theta: np.ndarray, beta: np.ndarray, *, joint: bool = False,
              max_iter: int = 60) -> _Mode:
        """Conditional modes u (and, with ``joint``, beta too) by PIRLS with step halving.

        Newton steps from the previous modes (warm start) until the largest step is below
        1e-9; the log-determinant is then taken at the weights of the final modes.
        """
        u = self.u.copy()
        offset = self.X @ beta
        value, mu = self._penalised(theta, offset, u)
        if not math.isfinite(value):
            u = np.zeros(self.q)
            value, mu = self._penalised(theta, offset, u)
        for _ in range(max_iter):
            w = self.family.weights(mu)
            factor = self.solver.factor(theta, self.solver.gram(w))
            resid = (self.y - mu)[:, None]
            grad_u = self.solver.lam_t(theta, self.solver.zt(resid))[:, 0] - u
            if joint:
                step_beta, step_u = self._joint_step(theta, factor, w, resid, grad_u)
                step_offset = self.X @ step_beta
            else:
                step_beta, step_u = None, factor.solve(grad_u[:, None])[:, 0]
            scale, improved = 1.0, False
            for _ in range(30):
                trial_u = u + scale * step_u
                trial_offset = offset + scale * step_offset if joint else offset
                trial, trial_mu = self._penalised(theta, trial_offset, trial_u)
                if trial <= value + 1e-12 * abs(value):
                    improved = True
                    break
                scale *= 0.5
            if not improved:
                break
            u, value, mu, offset = trial_u, trial, trial_mu, trial_offset
            if joint:
                beta = beta + scale * step_beta
            largest = np.max(np.abs(step_u), initial=0.0)
            if joint:
                largest = max(largest, np.max(np.abs(step_beta), initial=0.0))
            if scale * largest < 1e-9:
                break
        factor = self.solver.factor(theta, self.solver.gram(self.family.weights(mu)))
        self.u = u
        return _Mode(u, beta, value + factor.logdet, mu, factor)

    def _joint_step(self, theta, factor, w, resid, grad_u):
        """Newton step in (beta, u) by block elimination of the joint Hessian."""
        c = self.solver.lam_t(theta, self.solver.zt(self.X * w[:, None]))  # Lambda'Z'WX
        a_inv_c = factor.solve(c)
        a_inv_g = factor.solve(grad_u[:, None])[:, 0]
        schur = (self.X * w[:, None]).T @ self.X - c.T @ a_inv_c
        grad_beta = self.X.T @ resid[:, 0]
        step_beta = np.linalg.solve(schur, grad_beta - c.T @ a_inv_g)
        return step_beta, a_inv_g - a_inv_c @ step_beta

    # -- objectives --------------------------------------------------------------------
    def stage1(self, theta: np.ndarray, beta: np.ndarray) -> _Mode:
        return self.modes(np.asarray(theta, dtype=float), beta, joint=True)

    def __call__(self, params: np.ndarray) -> float:
        k = self.layout.n_theta
        return self.modes(params[:k], params[k:]).value

    def beta_gradient(self, params: np.ndarray) -> np.ndarray:
        """Exact gradient of the Laplace deviance in beta (standardised scale).

        With the modes u(beta) and eta = X beta + Z Lambda u: the penalised part contributes
        -2 X'(y - mu) (its u-derivative vanishes at the mode); log|A| depends on beta through
        the weights, d log|A| / d eta_i = w'_i h_i with h_i = (Z Lambda)_i A^-1 (Z Lambda)_i',
        and d eta / d beta = X - Z Lambda A^-1 Lambda'Z'W X (implicit differentiation of the
        mode). So, with v = w' h::

            grad = -2 X'(y - mu) + X'v - (Lambda'Z'WX)' A^-1 Lambda'Z'v
        """
        k = self.layout.n_theta
        theta = params[:k]
        mode = self.modes(theta, params[k:])
        mu, factor = mode.mu, mode.factor
        w = self.family.weights(mu)
        v = self.family.weight_slope(mu) * self.solver.leverages(theta, factor)
        c = self.solver.lam_t(theta, self.solver.zt(self.X * w[:, None]))
        lzv = self.solver.lam_t(theta, self.solver.zt(v[:, None]))
        return (-2.0 * self.X.T @ (self.y - mu) + self.X.T @ v
                - c.T @ factor.solve(lzv)[:, 0])


@dataclass(kw_only=True)
class GeneralizedMixedFit(MixedFit):
    """A GLMM fitted as lme4's ``glmer`` (Laplace).

    The fields of :class:`~bayesimpute.analysis.mixed_core.MixedFit` (``loglik`` the Laplace
    log-likelihood, lme4's ``logLik``; ``random_covariances`` on the link scale), and:

    Attributes
    ----------
    family : str
        ``"binomial"`` or ``"poisson"``.
    theta_cov : numpy.ndarray
        Covariance of theta from the Hessian of the deviance, NaN where unavailable.
    layout : ThetaLayout
        Where each term's entries sit in theta.
    """

    family: str
    theta_cov: np.ndarray
    layout: object = field(default=None, repr=False)


def fit_glmm(design: DesignMatrices, family: str, *, maxeval: int = 20000) -> GeneralizedMixedFit:
    """Laplace fit of a binomial or poisson mixed model; see the module docstring."""
    with one_blas_thread():
        return _fit_glmm(design, family, maxeval=maxeval)


def _fit_glmm(design: DesignMatrices, family: str, *, maxeval: int = 20000) -> GeneralizedMixedFit:
    check_family(family, LAPLACE_FAMILIES)
    dev = LaplaceDeviance(design, family)
    k = dev.layout.n_theta
    lower = dev.layout.lower_bounds()
    beta0 = _glm_start(dev)
    # Stage 1: theta with beta and u optimised jointly (glmer's nAGQ = 0).
    state = {"beta": beta0}

    def stage1(theta: np.ndarray) -> float:
        mode = dev.stage1(theta, state["beta"])
        state["beta"] = mode.beta
        return mode.value

    first = minimize_bobyqa(stage1, dev.layout.start(), lower, maxeval=maxeval,
                            xtol_abs=1e-6, ftol_abs=1e-8, restarts=0)
    beta1 = dev.stage1(first.x, state["beta"]).beta
    # Stage 2: (theta, beta) on the Laplace deviance.
    start = np.concatenate([first.x, beta1])
    bounds = np.concatenate([lower, np.full(dev.p, -np.inf)])
    step = np.concatenate([np.maximum(0.1 * np.abs(first.x), 0.05), np.full(dev.p, 0.05)])
    second = minimize_bobyqa(dev, start, bounds, step=step, maxeval=maxeval, xtol_abs=1e-8,
                             ftol_abs=1e-10)
    params, messages = settle_boundary(dev, second.x, lower)
    messages = first.messages + second.messages + messages
    value = dev(params)
    theta, beta_std = params[:k], params[k:]
    cov_std, theta_cov, hessian_messages = _covariances(dev, params)
    messages += hessian_messages
    # A degenerate Hessian is a failed fit for lme4 too ("Model failed to converge").
    converged = first.converged and second.converged and not hessian_messages
    to_original = dev.forward.T
    names = list(design.fixed.columns)
    singular = is_singular(theta, lower)
    if singular:
        messages.append(SINGULAR_MESSAGE)
    return GeneralizedMixedFit(
        params=pd.Series(to_original @ beta_std, index=names),
        cov=pd.DataFrame(to_original @ cov_std @ to_original.T, index=names, columns=names),
        theta=theta, loglik=-0.5 * value, family=family, nobs=dev.n,
        n_groups=group_counts(design.terms),
        random_covariances=random_covariances(design, dev.layout.factors(theta), 1.0),
        converged=converged, is_singular=singular,
        theta_cov=theta_cov, messages=messages,
        n_evaluations=first.n_evaluations + second.n_evaluations, layout=dev.layout,
        lower=lower,
    )


def _glm_start(dev: LaplaceDeviance) -> np.ndarray:
    """Fixed effects of the GLM without random effects (Newton, tiny ridge)."""
    beta = np.zeros(dev.p)
    for _ in range(50):
        mu = dev.family.mean(dev.X @ beta)
        w = dev.family.weights(mu)
        hessian = (dev.X * w[:, None]).T @ dev.X + 1e-8 * np.eye(dev.p)
        step = np.linalg.solve(hessian, dev.X.T @ (dev.y - mu))
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def _covariances(dev: LaplaceDeviance, params: np.ndarray):
    """beta covariance (standardised scale) and theta covariance from 2 H^-1."""
    k = dev.layout.n_theta
    hessian = _hessian(dev, params)
    messages = []
    try:
        cov = 2.0 * np.linalg.inv(hessian)
        if not np.all(np.isfinite(cov)) or np.any(np.linalg.eigvalsh(hessian) <= 0):
            raise np.linalg.LinAlgError("not positive definite")
    except np.linalg.LinAlgError:
        # The beta block alone, theta held fixed: the fixed effects keep standard errors; the
        # variance parameters have none.
        cov = np.full_like(hessian, np.nan)
        cov[k:, k:] = 2.0 * np.linalg.inv(hessian[k:, k:])
        messages.append("the Hessian of the Laplace deviance is not positive definite: fixed-"
                        "effect standard errors hold theta fixed, variance parameters have none")
    dev(params)  # leave the warm-start modes at the estimate
    return cov[k:, k:], cov[:k, :k], messages


def _hessian(dev: LaplaceDeviance, params: np.ndarray, step: float = 1e-3) -> np.ndarray:
    """Hessian of the Laplace deviance in (theta, beta).

    Where the solver gives leverages, the beta rows are central differences of the exact
    beta gradient (2 (k + p) gradients) and only the theta block differences the deviance;
    else every entry is a central second difference of the deviance (steps 1e-3, relative;
    these agree with Richardson extrapolation to about 1e-7 on the reference models).
    """
    k = dev.layout.n_theta
    if not dev.solver.has_leverages:
        return numdiff.hessian(dev, params, step=step, relative=True)
    steps = step * np.maximum(1.0, np.abs(params))
    rows = []
    for i in range(len(params)):
        e = np.zeros_like(params)
        e[i] = steps[i]
        rows.append((dev.beta_gradient(params + e) - dev.beta_gradient(params - e))
                    / (2 * steps[i]))
    beta_rows = np.array(rows)  # (k + p, p): d grad_beta / d params
    hessian = np.empty((len(params), len(params)))
    hessian[:, k:] = beta_rows
    hessian[k:, :k] = beta_rows[:k].T
    hessian[k:, k:] = 0.5 * (beta_rows[k:] + beta_rows[k:].T)
    if k:
        hessian[:k, :k] = numdiff.hessian(dev, params, step=step, relative=True,
                                          coordinates=range(k))
    return hessian


def _standardisation(X: np.ndarray) -> np.ndarray:
    """F with x_std = F x per row: non-constant columns scaled to unit s.d., and centred when X
    has a constant (intercept) column, which absorbs the shift; that column becomes 1.
    Then X_std = X F' and beta = F' beta_std."""
    sd = X.std(axis=0)
    forward = np.diag(1.0 / np.where(sd > 0, sd, 1.0))
    constant = np.flatnonzero(sd == 0)
    if len(constant) and X[0, constant[0]] != 0:
        c, value = constant[0], X[0, constant[0]]
        forward[c, c] = 1.0 / value
        for j in np.flatnonzero(sd > 0):
            forward[j, c] = -X[:, j].mean() / (sd[j] * value)
    return forward
