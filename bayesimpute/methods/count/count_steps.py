"""The exact Gibbs steps' count families (:mod:`~bayesimpute.methods.core.glmm_gibbs`).

Both count families draw their coefficients by Metropolis–Hastings blocks with
independence proposals (:class:`ModeBlocks`): a multivariate t (8 df) at the block's exact
conditional mode with the curvature there, for beta given u and for every cluster's u_j
given beta and Psi (all clusters at once). The proposal depends on the other blocks only,
not on the block's current value, so each step leaves its conditional invariant;
acceptance is high because a count's log-likelihood is nearly quadratic near its mode. A
translation of the fixed effects against the means of their random effects (the likelihood
is unchanged, the conditional of the shift is Gaussian from the priors) keeps the two
blocks from sticking together.

* :class:`PoissonBlocks` (2l.pois): no augmentation makes the Poisson exactly Gaussian (the
  auxiliary mixtures of Frühwirth-Schnatter & Wagner 2006 are approximations).
* :class:`NegBinBlocks` (2l.nb): the same blocks, and the overdispersion ``1 / alpha`` by
  slice sampling of its log given the linear predictor. The negative binomial's Pólya–Gamma
  augmentation (``omega ~ PG(y + alpha, log(mu / alpha))``, Zhou et al. 2012) is not used:
  the ``polyagamma`` package's samplers for such ``h`` are not exact (its hybrid and
  saddle-point draws miss the mean by hundreds of standard errors at ``h`` of 25 to 100
  when ``|z| > 25``, and the saddle-point sampler does not return at ``h ~ 1e13``, the
  Poisson limit ``1 / alpha -> 0`` that the slice sampler may visit), and exact draws for
  large ``h`` cost time in proportion to the counts.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
from scipy import special

from bayesimpute.methods.core.glmm_gibbs import GlmmFamily
from bayesimpute.methods.core.gibbs_step import log_value_name
from bayesimpute.methods.core.slice_sampling import slice_sample

__all__ = ["ModeBlocks", "NegBinBlocks", "PoissonBlocks", "translate_fixed_effects"]

#: log(1 / alpha) is drawn within these bounds: the posterior's mass beyond them is
#: negligible (1 / alpha < 1e-13 is a Poisson to double precision; > e^30 no count fits),
#: and inside them every term of the likelihood is finite
LOG_INV_ALPHA_BOUND = (-30.0, 30.0)

#: degrees of freedom of the count blocks' t proposals: tails a little heavier than the
#: conditional's, so the independence sampler is not stuck in either tail
PROPOSAL_DF = 8.0
#: Newton's method stops when no coordinate of the mode moves more than this
MODE_TOLERANCE = 1e-9
_MAX_NEWTON = 60


class ModeBlocks(GlmmFamily):
    """A count family whose coefficients are drawn by the Metropolis–Hastings blocks at the
    exact conditional modes (beta | u, then every u_j | beta, Psi, then Psi | u and the
    translation of the fixed effects). The family gives its rows' log-likelihood in
    ``log mu = eta + log_offset``, its score and its curvature (minus the second
    derivative, positive: the log-likelihood is concave in ``log mu``)."""

    def __init__(self, log_offset: float):
        self.log_offset = float(log_offset)

    @abstractmethod
    def row_terms(self, log_mu: np.ndarray, y: np.ndarray, params: dict,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows' log-likelihood terms (up to constants), score and curvature."""

    def log_likelihood(self, eta, y, params):
        with np.errstate(over="ignore"):
            return float(np.sum(self.row_terms(eta + self.log_offset, y, params)[0]))

    def draw_coefficients(self, state, eta, y, step, rng):
        def terms(log_mu):
            return self.row_terms(log_mu, y, state.family)

        X_fixed = step.X[:, step.fixed]
        q = len(step.random)
        Z = step.X[:, step.random]
        random_part = np.einsum("nq,nq->n", Z, state.u[step.cluster]) if q else 0.0
        state.beta = _beta_step(state.beta, X_fixed, terms, self.log_offset + random_part,
                                step.prior_precision, rng)
        if not q:
            return
        base = X_fixed @ state.beta + self.log_offset
        state.u = _effects_step(state.u, Z, terms, base, step, np.linalg.inv(state.psi), rng)
        state.psi, state.hyper = step.covariance.update(state.u, state.hyper, rng)
        translate_fixed_effects(state, step, rng)


class PoissonBlocks(ModeBlocks):
    """2l.pois's family: ``y ~ Poisson(mu)``, ``log mu = eta + log_offset``."""

    def row_terms(self, log_mu, y, params):
        mu = np.exp(log_mu)
        return y * log_mu - mu, y - mu, mu


class NegBinBlocks(ModeBlocks):
    """2l.nb's family: ``y ~ NB(mu, alpha)``, ``log mu = eta + log_offset``,
    ``1 / alpha ~ HalfNormal(inv_alpha_sd)``; ``1 / alpha`` by slice sampling of its log
    given the linear predictor."""

    def __init__(self, log_offset: float, inv_alpha_sd: float):
        super().__init__(log_offset)
        self.inv_alpha_sd = float(inv_alpha_sd)

    def start(self, y):
        return {"inv_alpha": np.array(1.0)}

    def from_point(self, point, model):
        return {"inv_alpha": np.exp(np.asarray(point[log_value_name(model, "inv_alpha")]))}

    def to_point(self, params, point, model):
        point[log_value_name(model, "inv_alpha")] = np.log(np.asarray(params["inv_alpha"]))

    def row_terms(self, log_mu, y, params):
        # log NB(y | mu, alpha) = y log(mu / (alpha + mu)) - alpha log(1 + mu / alpha) + terms
        # free of mu: written so, no term grows with alpha (near the Poisson limit,
        # alpha ~ 1e13, y log mu - (y + alpha) log(alpha + mu) would lose its digits)
        alpha = 1.0 / float(params["inv_alpha"])
        log_alpha = np.log(alpha)
        log_share = log_mu - np.logaddexp(log_alpha, log_mu)  # log(mu / (alpha + mu))
        share = np.exp(log_share)
        rows = y * log_share - alpha * np.log1p(np.exp(log_mu - log_alpha))
        return rows, y - (y + alpha) * share, (y + alpha) * share * (1.0 - share)

    def update_parameters(self, state, eta, y, step, rng):
        log_mu = eta + self.log_offset
        counted = y > 0  # a zero count's gamma ratio is 1
        y_counted = y[counted]

        def log_density(t):  # t = log(1 / alpha); the last term is the Jacobian
            inv_alpha = np.exp(t[0])
            if not LOG_INV_ALPHA_BOUND[0] < t[0] < LOG_INV_ALPHA_BOUND[1]:
                return np.array([-np.inf])
            # the rows' terms in mu, and the one in alpha alone that they leave out
            rows = self.row_terms(log_mu, y, {"inv_alpha": inv_alpha})[0]
            log_likelihood = np.sum(log_gamma_ratio(y_counted, 1.0 / inv_alpha)) + np.sum(rows)
            return np.array([log_likelihood - 0.5 * (inv_alpha / self.inv_alpha_sd) ** 2
                             + t[0]])

        t = np.log(np.atleast_1d(np.asarray(state.family["inv_alpha"], dtype=float)))
        state.family["inv_alpha"] = np.array(np.exp(slice_sample(t, log_density, 1.0, rng)[0]))


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
    psi_inv = np.linalg.inv(state.psi)
    # -1/2 [sum (beta + d)^2 / s^2 + sum_j (u_j - E d)' Psi^-1 (u_j - E d)]
    precision = (np.eye(len(pairs)) / step.slope_sd**2
                 + len(state.u) * psi_inv[np.ix_(at_u, at_u)])
    linear = -state.beta[at_beta] / step.slope_sd**2 + (psi_inv @ state.u.sum(0))[at_u]
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


def _beta_step(beta, X, terms, offset, prior_precision, rng):
    """beta | u: independence Metropolis–Hastings at the conditional mode (``terms``: the
    rows' log-likelihood, score and curvature at ``log mu``)."""
    def log_target(b):
        with np.errstate(over="ignore"):  # a wild proposal: log target -inf, rejected
            rows = terms(X @ b + offset)[0]
        return float(np.sum(rows) - 0.5 * b @ prior_precision @ b)

    mode = beta.copy()
    for _ in range(_MAX_NEWTON):
        _, score, curvature = terms(X @ mode + offset)
        gradient = X.T @ score - prior_precision @ mode
        hessian = (X.T * curvature) @ X + prior_precision
        move = np.linalg.solve(hessian, gradient)
        trial = mode + move
        while log_target(trial) < log_target(mode) and np.max(np.abs(move)) > MODE_TOLERANCE:
            move = move / 2.0  # Newton's step overshot: halve it
            trial = mode + move
        mode = trial
        if np.max(np.abs(move)) < MODE_TOLERANCE:
            break
    curvature = terms(X @ mode + offset)[2]
    precision = (X.T * curvature) @ X + prior_precision
    chol = np.linalg.cholesky(np.linalg.inv(precision))
    proposal = _t_draw(mode, chol, rng)
    log_ratio = (log_target(proposal) - _t_log_density(proposal, mode, precision)
                 - log_target(beta) + _t_log_density(beta, mode, precision))
    return proposal if np.log(rng.random()) < log_ratio else beta


def _effects_step(u, Z, terms, base, step, psi_inv, rng):
    """u_j | beta, Psi for every cluster at once: independence Metropolis–Hastings at each
    cluster's conditional mode (clusters without observed rows: at 0, with Psi^-1)."""
    cluster, J = step.cluster, len(u)

    def log_target(effects):
        log_mu = base + np.einsum("nq,nq->n", Z, effects[cluster])
        with np.errstate(over="ignore"):  # a wild proposal: log target -inf, rejected
            rows = np.bincount(cluster, weights=terms(log_mu)[0], minlength=J)
        return rows - 0.5 * np.einsum("ja,ab,jb->j", effects, psi_inv, effects)

    def gradient_and_precision(effects):
        _, score, curvature = terms(base + np.einsum("nq,nq->n", Z, effects[cluster]))
        ZZ, Zr = step.sums.crossproducts(Z, curvature, score)
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
