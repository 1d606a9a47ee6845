"""The exact Gibbs steps' count families (:mod:`~bayesimpute.methods.core.glmm_gibbs`).

* :class:`NegBinAugmentation` (2l.nb): Pólya–Gamma augmentation of the negative binomial
  (``omega ~ PG(y + alpha, log(mu / alpha))``, Zhou et al. 2012), then the shared Gaussian
  block; the overdispersion ``1 / alpha`` by slice sampling of its log given the linear
  predictor (the augmentation integrated out).
* :class:`PoissonBlocks` (2l.pois): no augmentation makes the Poisson exactly Gaussian (the
  auxiliary mixtures of Frühwirth-Schnatter & Wagner 2006 are approximations), so its blocks
  are Metropolis–Hastings steps with independence proposals: a multivariate t (8 df) at the
  block's exact conditional mode with the curvature there, for beta given u and for every
  cluster's u_j given beta and Psi (all clusters at once). The proposal depends on the
  other blocks only, not on the block's current value, so each step leaves its conditional
  invariant; acceptance is high because the Poisson log-likelihood is nearly quadratic near
  its mode. A translation of the fixed effects against the means of their random effects
  (the likelihood is unchanged, the conditional of the shift is Gaussian from the priors)
  keeps the two blocks from sticking together.
"""

from __future__ import annotations

import numpy as np
from polyagamma import random_polyagamma
from scipy import special

from bayesimpute.methods.core.glmm_gibbs import AugmentedFamily, GlmmFamily
from bayesimpute.methods.core.gibbs_step import log_value_name
from bayesimpute.methods.core.slice_sampling import slice_sample

__all__ = ["NegBinAugmentation", "PoissonBlocks", "exact_polya_gamma",
           "translate_fixed_effects"]

#: log(1 / alpha) is drawn within these bounds: the posterior's mass beyond them is
#: negligible (1 / alpha < 1e-13 is a Poisson to double precision; > e^30 no count fits),
#: and inside them every term of the likelihood is finite
LOG_INV_ALPHA_BOUND = (-30.0, 30.0)
#: polyagamma's default sampler switches to a normal approximation above h = 50; the
#: saddle-point method is an exact rejection sampler there
_NORMAL_APPROXIMATION_ABOVE = 50.0

#: degrees of freedom of the Poisson blocks' t proposals: tails a little heavier than the
#: conditional's, so the independence sampler is not stuck in either tail
PROPOSAL_DF = 8.0
#: Newton's method stops when no coordinate of the mode moves more than this
MODE_TOLERANCE = 1e-9
_MAX_NEWTON = 60


class NegBinAugmentation(AugmentedFamily):
    """2l.nb's family: ``y ~ NB(mu, alpha)``, ``log mu = eta + log_offset``,
    ``1 / alpha ~ HalfNormal(inv_alpha_sd)``."""

    def __init__(self, log_offset: float, inv_alpha_sd: float):
        self.log_offset, self.inv_alpha_sd = float(log_offset), float(inv_alpha_sd)

    def start(self, y):
        return {"inv_alpha": np.array(1.0)}

    def from_point(self, point, model):
        return {"inv_alpha": np.exp(np.asarray(point[log_value_name(model, "inv_alpha")]))}

    def to_point(self, params, point, model):
        point[log_value_name(model, "inv_alpha")] = np.log(np.asarray(params["inv_alpha"]))

    def augment(self, eta, y, params, rng):
        alpha = 1.0 / float(params["inv_alpha"])
        # psi = log(mu / alpha) = eta + offset: the likelihood is exp(kappa psi - omega psi^2 / 2)
        offset = self.log_offset - np.log(alpha)
        omega = exact_polya_gamma(y + alpha, eta + offset, rng)
        return omega, 0.5 * (y - alpha) - omega * offset

    def log_likelihood(self, eta, y, params):
        # the terms of log NB(y | mu, alpha) that depend on mu
        alpha = 1.0 / float(params["inv_alpha"])
        log_mu = eta + self.log_offset
        return float(np.sum(y * log_mu - (y + alpha) * np.logaddexp(np.log(alpha), log_mu)))

    def update_parameters(self, state, eta, y, step, rng):
        log_mu = eta + self.log_offset
        counted = y > 0  # a zero count's gamma ratio is 1
        y_counted = y[counted]

        def log_density(t):  # t = log(1 / alpha); the last term is the Jacobian
            inv_alpha = np.exp(t[0])
            if not LOG_INV_ALPHA_BOUND[0] < t[0] < LOG_INV_ALPHA_BOUND[1]:
                return np.array([-np.inf])
            alpha = 1.0 / inv_alpha
            log_mean_ratio = log_mu - np.logaddexp(np.log(alpha), log_mu)  # log mu/(alpha+mu)
            log_likelihood = (np.sum(log_gamma_ratio(y_counted, alpha))
                              - np.sum(alpha * np.log1p(np.exp(log_mu) / alpha))
                              + np.sum(y * log_mean_ratio))
            return np.array([log_likelihood - 0.5 * (inv_alpha / self.inv_alpha_sd) ** 2
                             + t[0]])

        t = np.log(np.atleast_1d(np.asarray(state.family["inv_alpha"], dtype=float)))
        state.family["inv_alpha"] = np.array(np.exp(slice_sample(t, log_density, 1.0, rng)[0]))


class PoissonBlocks(GlmmFamily):
    """2l.pois's family: ``y ~ Poisson(mu)``, ``log mu = eta + log_offset``."""

    def __init__(self, log_offset: float):
        self.log_offset = float(log_offset)

    def draw_coefficients(self, state, eta, y, step, rng):
        X_fixed = step.X[:, step.fixed]
        q = len(step.random)
        Z = step.X[:, step.random]
        random_part = np.einsum("nq,nq->n", Z, state.u[step.cluster]) if q else 0.0
        state.beta = _beta_step(state.beta, X_fixed, y, self.log_offset + random_part,
                                step.prior_precision, rng)
        if not q:
            return
        base = X_fixed @ state.beta + self.log_offset
        state.u = _effects_step(state.u, Z, y, base, step, np.linalg.inv(state.psi), rng)
        state.psi, state.hyper = step.covariance.update(state.u, state.hyper, rng)
        translate_fixed_effects(state, step, rng)

    def log_likelihood(self, eta, y, params):
        log_mu = eta + self.log_offset
        with np.errstate(over="ignore"):
            return float(np.sum(y * log_mu - np.exp(log_mu)))


def translate_fixed_effects(state, step, rng: np.random.Generator) -> None:
    """Shift each fixed effect that also has a random effect by ``delta`` and its effects by
    ``-delta`` (in place): ``eta`` is unchanged, so ``delta``'s conditional is the Gaussian
    the priors give, ``beta ~ N(0, slope_sd^2)`` and ``u_j ~ N(0, Psi)`` over every cluster.
    Without it, a fixed effect drawn given the effects and the effects given it move only
    as far as the other lets them (slowly when the clusters' data are strong)."""
    fixed = list(step.fixed)
    pairs = [(fixed.index(c), r) for r, c in enumerate(step.random) if c in fixed]
    if not pairs:
        return
    at_beta, at_u = (np.array(index) for index in zip(*pairs))
    psi_inv = np.linalg.inv(state.psi)[np.ix_(at_u, at_u)]
    # -1/2 [sum (beta + d)^2 / s^2 + sum_j (u_j - E d)' Psi^-1 (u_j - E d)]
    precision = np.eye(len(pairs)) / step.slope_sd**2 + len(state.u) * psi_inv
    linear = (-state.beta[at_beta] / step.slope_sd**2
              + (np.linalg.inv(state.psi) @ state.u.sum(0))[at_u])
    cov = np.linalg.inv(precision)
    delta = rng.multivariate_normal(cov @ linear, cov)
    state.beta[at_beta] += delta
    state.u[:, at_u] -= delta


def log_gamma_ratio(y: np.ndarray, alpha: float) -> np.ndarray:
    """``log Gamma(y + alpha) - log Gamma(alpha)``, accurate where ``alpha`` dwarfs ``y``
    (there by its expansion ``y log alpha + y (y - 1) / (2 alpha)``, whose next term is
    below 1e-8 of the last).

    Examples
    --------
    >>> from scipy import special
    >>> y = np.array([1.0, 4.0])
    >>> bool(np.allclose(log_gamma_ratio(y, 2.5), special.gammaln(y + 2.5) - special.gammaln(2.5)))
    True
    """
    y = np.asarray(y, dtype=float)
    expanded = alpha > 1e4 * (1.0 + y) ** 2
    direct = special.gammaln(y + alpha) - special.gammaln(alpha)
    series = y * np.log(alpha) + 0.5 * y * (y - 1.0) / alpha
    return np.where(expanded, series, direct)


def exact_polya_gamma(h: np.ndarray, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """PG(h, z) draws by exact samplers only (polyagamma's hybrid, except the saddle-point
    rejection sampler where the hybrid would use its normal approximation, h > 50).

    Examples
    --------
    >>> draws = exact_polya_gamma(np.array([0.5, 3.0, 400.0]), np.zeros(3),
    ...                           np.random.default_rng(1))
    >>> bool(np.all(draws > 0))
    True
    """
    h, z = np.broadcast_arrays(np.asarray(h, dtype=float), np.asarray(z, dtype=float))
    large = h > _NORMAL_APPROXIMATION_ABOVE
    out = np.empty(h.shape)
    if (~large).any():
        out[~large] = random_polyagamma(h[~large], z[~large], random_state=rng)
    if large.any():
        out[large] = random_polyagamma(h[large], z[large], method="saddle", random_state=rng)
    return out


# --- the Poisson's Metropolis-Hastings blocks ------------------------------------------------
def _t_draw(mode: np.ndarray, chol: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """t(PROPOSAL_DF) draws at ``mode`` (..., d) with scale factors ``chol`` (..., d, d)."""
    z = rng.standard_normal(mode.shape)
    g = rng.chisquare(PROPOSAL_DF, size=mode.shape[:-1])
    return mode + np.einsum("...ab,...b->...a", chol, z) * np.sqrt(PROPOSAL_DF / g)[..., None]


def _t_log_density(x: np.ndarray, mode: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """The t proposal's log-density up to a constant shared by current and proposed values."""
    d = x - mode
    quadratic = np.einsum("...a,...ab,...b->...", d, precision, d)
    return -0.5 * (PROPOSAL_DF + x.shape[-1]) * np.log1p(quadratic / PROPOSAL_DF)


def _beta_step(beta, X, y, offset, prior_precision, rng):
    """beta | u: independence Metropolis–Hastings at the conditional mode."""
    def log_target(b):
        log_mu = X @ b + offset
        with np.errstate(over="ignore"):  # a wild proposal: log target -inf, rejected
            rows = y * log_mu - np.exp(log_mu)
        return float(np.sum(rows) - 0.5 * b @ prior_precision @ b)

    mode = beta.copy()
    for _ in range(_MAX_NEWTON):
        mu = np.exp(X @ mode + offset)
        gradient = X.T @ (y - mu) - prior_precision @ mode
        hessian = (X.T * mu) @ X + prior_precision
        move = np.linalg.solve(hessian, gradient)
        trial = mode + move
        while log_target(trial) < log_target(mode) and np.max(np.abs(move)) > MODE_TOLERANCE:
            move = move / 2.0  # Newton's step overshot: halve it
            trial = mode + move
        mode = trial
        if np.max(np.abs(move)) < MODE_TOLERANCE:
            break
    mu = np.exp(X @ mode + offset)
    precision = (X.T * mu) @ X + prior_precision
    chol = np.linalg.cholesky(np.linalg.inv(precision))
    proposal = _t_draw(mode, chol, rng)
    log_ratio = (log_target(proposal) - _t_log_density(proposal, mode, precision)
                 - log_target(beta) + _t_log_density(beta, mode, precision))
    return proposal if np.log(rng.random()) < log_ratio else beta


def _effects_step(u, Z, y, base, step, psi_inv, rng):
    """u_j | beta, Psi for every cluster at once: independence Metropolis–Hastings at each
    cluster's conditional mode (clusters without observed rows: at 0, with Psi^-1)."""
    cluster, J = step.cluster, len(u)

    def log_target(effects):
        log_mu = base + np.einsum("nq,nq->n", Z, effects[cluster])
        with np.errstate(over="ignore"):  # a wild proposal: log target -inf, rejected
            terms = y * log_mu - np.exp(log_mu)
        rows = np.bincount(cluster, weights=terms, minlength=J)
        return rows - 0.5 * np.einsum("ja,ab,jb->j", effects, psi_inv, effects)

    def gradient_and_precision(effects):
        mu = np.exp(base + np.einsum("nq,nq->n", Z, effects[cluster]))
        ZZ, Zr = step.sums.crossproducts(Z, mu, y - mu)
        return Zr - effects @ psi_inv, ZZ + psi_inv[None]

    mode = u.copy()
    current = log_target(mode)
    for _ in range(_MAX_NEWTON):
        gradient, precision = gradient_and_precision(mode)
        move = np.linalg.solve(precision, gradient[..., None])[..., 0]
        for _ in range(40):
            trial = mode + move
            value = log_target(trial)
            worse = value < current
            if not worse.any():
                break
            move[worse] /= 2.0  # the clusters whose Newton step overshot: halve it
        mode, current = np.where(worse[:, None], mode, trial), np.where(worse, current, value)
        if np.max(np.abs(move)) < MODE_TOLERANCE:
            break
    _, precision = gradient_and_precision(mode)
    chol = np.linalg.cholesky(np.linalg.inv(precision))
    proposal = _t_draw(mode, chol, rng)
    log_ratio = (log_target(proposal) - _t_log_density(proposal, mode, precision)
                 - log_target(u) + _t_log_density(u, mode, precision))
    accept = np.log(rng.random(J)) < log_ratio
    return np.where(accept[:, None], proposal, u)
