"""The exact Gibbs step's ordinal family (:mod:`~bayesimpute.methods.core.glmm_gibbs`).

The cumulative logit ``P(y <= k) = F(c_k - eta)`` (F the logistic cdf) is the model of a
latent ``z = eta + e``, ``e`` standard logistic, observed through the interval of the
cutpoints it falls in. A sweep of :class:`OrderedLogitAugmentation`

1. shifts the cutpoints and the random intercepts together by ``delta`` (the likelihood
   is unchanged; ``delta``'s conditional is the Gaussian the priors give): without it the
   cutpoints, drawn given the effects, and the effects, drawn given the cutpoints, only
   move as far as the other lets them;
2. draws each cutpoint given ``eta`` with the latent variables integrated out, by slice
   sampling between its neighbours (drawing them given ``z`` instead, uniform between the
   neighbouring categories' latent values, is the classic slow-mixing step; Cowles 1996);
3. rescales the effects and Psi jointly under this likelihood (the interweaving move of
   :mod:`~bayesimpute.methods.core.glmm_gibbs`);
4. draws ``z`` from the truncated logistic given the cutpoints and ``eta``, then
   ``omega ~ PG(2, z - eta)``, so that the logistic density of ``z - eta`` becomes a
   Gaussian with precision ``omega`` (Polson, Scott & Windle 2013, b = 2, kappa = 0), and the
   shared Gaussian block draws (beta, u, Psi) given them.

Step 2 draws from a marginal of step 4's joint conditional and step 4 draws the latent
variables afresh: a partially collapsed Gibbs sampler (van Dyk & Park 2008) whose stationary
distribution is the model's posterior.
"""

from __future__ import annotations

import numpy as np
from polyagamma import random_polyagamma

from bayesimpute.methods.core.glmm_gibbs import AugmentedFamily
from bayesimpute.methods.core.slice_sampling import slice_sample

__all__ = ["OrderedLogitAugmentation", "draw_truncated_logistic", "log_interval_probability",
           "ordered_forward", "ordered_backward"]


def ordered_backward(value: np.ndarray) -> np.ndarray:
    """Cutpoints from the value of PyMC's ``ordered`` transform (first, then log-gaps)."""
    value = np.asarray(value, dtype=float)
    return np.cumsum(np.concatenate([value[:1], np.exp(value[1:])]))


def ordered_forward(cutpoints: np.ndarray) -> np.ndarray:
    """The value of PyMC's ``ordered`` transform of increasing ``cutpoints``.

    Examples
    --------
    >>> ordered_backward(ordered_forward(np.array([-1.0, 0.5, 2.0]))).tolist()
    [-1.0, 0.5, 2.0]
    """
    cutpoints = np.asarray(cutpoints, dtype=float)
    return np.concatenate([cutpoints[:1], np.log(np.diff(cutpoints))])


def _log_cdf(x):
    return -np.logaddexp(0.0, -x)


def _log_survival(x):
    return -np.logaddexp(0.0, x)


def log_interval_probability(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``log(F(upper) - F(lower))`` for the logistic cdf F, accurate in both tails (the upper
    tail through the survival function).

    Examples
    --------
    >>> float(np.exp(log_interval_probability(np.array([0.0]), np.array([np.inf]))[0]))
    0.5
    """
    upper_tail = lower > 0
    big = np.where(upper_tail, _log_survival(lower), _log_cdf(upper))
    small = np.where(upper_tail, _log_survival(upper), _log_cdf(lower))
    with np.errstate(divide="ignore"):
        return big + np.log(-np.expm1(np.minimum(small - big, -1e-300)))


def draw_truncated_logistic(lower: np.ndarray, upper: np.ndarray,
                            rng: np.random.Generator) -> np.ndarray:
    """Standard logistic draws truncated to ``(lower, upper]``, by inversion on the log scale
    of whichever tail keeps its precision (``lower > 0``: the survival function).

    Examples
    --------
    >>> e = draw_truncated_logistic(np.full(1000, 1.0), np.full(1000, 2.0),
    ...                             np.random.default_rng(1))
    >>> bool(e.min() >= 1.0 and e.max() <= 2.0)
    True
    """
    uniform = 1.0 - rng.random(len(lower))  # in (0, 1]
    upper_tail = lower > 0
    # log of a uniform draw between the interval's two tail probabilities, the larger `big`
    big = np.where(upper_tail, _log_survival(lower), _log_cdf(upper))
    small = np.where(upper_tail, _log_survival(upper), _log_cdf(lower))
    with np.errstate(divide="ignore"):
        log_p = big + np.log(uniform + (1.0 - uniform) * np.exp(small - big))
        logit = log_p - np.log(-np.expm1(np.minimum(log_p, -1e-300)))
    draws = np.where(upper_tail, -logit, logit)
    return np.clip(draws, lower, upper)


class OrderedLogitAugmentation(AugmentedFamily):
    """polr / 2l.polr's family: cutpoints ``c ~ N(0, cutpoint_sd^2)``, ordered.

    Parameters
    ----------
    n_categories : int
    cutpoint_sd : float
    start_cutpoints : ndarray
        The chain's first cutpoints (the observed cumulative logits).
    intercept_effect : int or None
        Position of the random intercept among the effects (None: none).
    """

    def __init__(self, n_categories: int, cutpoint_sd: float, start_cutpoints: np.ndarray,
                 intercept_effect: int | None):
        self.n_categories, self.cutpoint_sd = int(n_categories), float(cutpoint_sd)
        self.start_cutpoints = np.asarray(start_cutpoints, dtype=float)
        self.intercept_effect = intercept_effect

    def start(self, y):
        return {"cutpoints": self.start_cutpoints.copy()}

    def from_point(self, point, model):
        name = model.rvs_to_values[model["cutpoints"]].name
        return {"cutpoints": ordered_backward(point[name])}

    def to_point(self, params, point, model):
        point[model.rvs_to_values[model["cutpoints"]].name] = ordered_forward(
            params["cutpoints"])

    def _bounds(self, cutpoints: np.ndarray, y: np.ndarray):
        padded = np.concatenate([[-np.inf], cutpoints, [np.inf]])
        k = y.astype(int)
        return padded[k], padded[k + 1]

    def update_parameters(self, state, eta, y, step, rng):
        if self.intercept_effect is not None:
            self._translate(state, rng)
        cutpoints = state.family["cutpoints"]  # eta moved with them: recompute
        eta = step.linear_predictor(state)
        k = y.astype(int)
        for j in range(len(cutpoints)):
            below, above = k == j, k == j + 1  # the categories that cutpoint j bounds
            low = cutpoints[j - 1] if j else -np.inf
            high = cutpoints[j + 1] if j + 1 < len(cutpoints) else np.inf
            eta_below, eta_above = eta[below], eta[above]

            def log_density(c, low=low, high=high, eta_below=eta_below, eta_above=eta_above):
                if not low < c[0] < high:
                    return np.array([-np.inf])
                value = (np.sum(log_interval_probability(low - eta_below, c[0] - eta_below))
                         + np.sum(log_interval_probability(c[0] - eta_above, high - eta_above))
                         - 0.5 * (c[0] / self.cutpoint_sd) ** 2)
                return np.array([value])

            cutpoints[j] = slice_sample(cutpoints[j:j + 1], log_density, 1.0, rng)[0]
        state.family["cutpoints"] = cutpoints

    def _translate(self, state, rng):
        """Cutpoints and random intercepts shifted together by their conditional's draw."""
        cutpoints, r = state.family["cutpoints"], self.intercept_effect
        psi_inv = np.linalg.inv(state.psi)
        # -1/2 [sum_k (c_k + d)^2 / s^2 + sum_j (u_j + d e_r)' Psi^-1 (u_j + d e_r)]
        precision = len(cutpoints) / self.cutpoint_sd**2 + len(state.u) * psi_inv[r, r]
        linear = -cutpoints.sum() / self.cutpoint_sd**2 - (psi_inv @ state.u.sum(0))[r]
        delta = linear / precision + rng.standard_normal() / np.sqrt(precision)
        state.family["cutpoints"] = cutpoints + delta
        state.u[:, r] += delta

    def log_likelihood(self, eta, y, params):
        lower, upper = self._bounds(params["cutpoints"], y)
        return float(np.sum(log_interval_probability(lower - eta, upper - eta)))

    def augment(self, eta, y, params, rng):
        lower, upper = self._bounds(params["cutpoints"], y)
        error = draw_truncated_logistic(lower - eta, upper - eta, rng)
        omega = random_polyagamma(2.0, error, random_state=rng)
        return omega, omega * (eta + error)
