"""Draws of an incomplete variable from p(x | y, rest) ∝ p(y | x, rest) p(x | rest).

Four kernels, each vectorised over the rows to impute:

* :func:`draw_normal_conditional` — exact, when x is continuous with a normal covariate
  model and enters a Gaussian analysis model linearly (also through a random slope or an
  interaction with other variables): then eta = a + b x and the product of the two normal
  densities is normal.
* :func:`draw_from_log_weights` — exact, for a binary or categorical x: the analysis
  likelihood at each category times its covariate-model probability, normalised.
* :func:`draw_count_conditional` — exact, for a count x with a Poisson covariate model: the
  analysis likelihood at each count times its Poisson probability, over a support that is
  extended until the mass beyond it is negligible.
* :func:`metropolis_normal_prior` — otherwise (a square, a logistic analysis model):
  Metropolis–Hastings steps per cell that alternate an independence proposal from the
  covariate model (accepted by the likelihood ratio alone; it moves between the modes a
  square can create) and a random walk scaled to the conditional's width.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import special, stats

__all__ = ["draw_normal_conditional", "draw_from_log_weights", "draw_count_conditional",
           "metropolis_normal_prior", "gaussian_log_likelihood", "logistic_log_likelihood"]

LogLikelihood = Callable[[np.ndarray], np.ndarray]


def gaussian_log_likelihood(y: np.ndarray, eta: np.ndarray, sigma2: float) -> np.ndarray:
    """log N(y; eta, sigma2) per row."""
    return -0.5 * (y - eta) ** 2 / sigma2 - 0.5 * np.log(2.0 * np.pi * sigma2)


def logistic_log_likelihood(y: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """log P(y | eta) of a logit model per row (y in {0, 1})."""
    return y * eta - np.logaddexp(0.0, eta)


def draw_normal_conditional(prior_mean: np.ndarray, prior_var: np.ndarray,
                            intercept: np.ndarray, slope: np.ndarray, y: np.ndarray,
                            sigma2: float, rng: np.random.Generator) -> np.ndarray:
    """Exact draw from N(x; m, v) N(y; a + b x, sigma2), normalised in x.

    Rows without an outcome pass ``slope = 0`` (any finite ``y``): their draw is the
    covariate model's.
    """
    precision = 1.0 / prior_var + slope**2 / sigma2
    mean = (prior_mean / prior_var + slope * (y - intercept) / sigma2) / precision
    return mean + rng.standard_normal(len(mean)) / np.sqrt(precision)


def draw_from_log_weights(log_weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per row, with probabilities proportional to exp(log_weights) (n, K)."""
    return _draw_from_probabilities(special.softmax(log_weights, axis=1), rng)


def _draw_from_probabilities(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per row of normalised ``probabilities`` (n, K)."""
    cumulative = np.cumsum(probabilities, axis=1)
    uniform = rng.random(len(probabilities))[:, None]
    return (uniform > cumulative[:, :-1]).sum(axis=1).astype(float)


#: probability left beyond the support of a count draw (in the Poisson prior, and in the
#: normalised conditional at the support's last value)
COUNT_TAIL = 1e-12
#: the largest count the support may reach
MAX_COUNT = 100_000


def draw_count_conditional(log_mean: np.ndarray, log_likelihood_at: Callable[[int], np.ndarray],
                           rng: np.random.Generator) -> np.ndarray:
    """Exact draw of a count from Poisson(x; exp(log_mean)) L(x), normalised over x = 0, 1, ...

    ``log_likelihood_at(k)`` gives log L(k) per row. The support starts at the Poisson
    prior's 1 - COUNT_TAIL quantile of the largest mean and is doubled while any row's
    conditional puts more than COUNT_TAIL on its last value (a likelihood that favours
    large counts pulls the mass beyond the prior's bulk).
    """
    log_mean = np.asarray(log_mean, dtype=float)
    top = int(stats.poisson.ppf(1.0 - COUNT_TAIL, float(np.exp(log_mean.max())))) + 1
    counts: list[int] = []
    columns: list[np.ndarray] = []
    while True:
        for k in range(len(counts), top + 1):
            counts.append(k)
            columns.append(k * log_mean - special.gammaln(k + 1.0) + log_likelihood_at(k))
        log_weights = np.column_stack(columns) - np.exp(log_mean)[:, None]
        probabilities = special.softmax(log_weights, axis=1)
        if probabilities[:, -1].max() <= COUNT_TAIL:
            return _draw_from_probabilities(probabilities, rng)
        if top >= MAX_COUNT:
            raise ValueError(f"the conditional of a count keeps mass beyond {MAX_COUNT}: the "
                             "analysis model's likelihood does not bound the imputed counts")
        top = min(2 * top, MAX_COUNT)


def metropolis_normal_prior(x: np.ndarray, prior_mean: np.ndarray, prior_sd: np.ndarray,
                            log_likelihood: LogLikelihood, walk_sd: np.ndarray,
                            n_steps: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Metropolis–Hastings for p(x) ∝ L(x) N(x; prior_mean, prior_sd^2), one chain per row.

    Even steps propose from the prior N(prior_mean, prior_sd^2) (acceptance L(x*) / L(x));
    odd steps a random walk x + walk_sd * N(0, 1) (acceptance by the full ratio). Both
    leave the target invariant, so their cycle does. ``walk_sd`` must not depend on the
    current ``x``.

    Returns
    -------
    x : ndarray
        The values after ``n_steps`` steps.
    acceptance : float
        Share of accepted proposals over all rows and steps.
    """
    x = np.array(x, dtype=float)
    current = log_likelihood(x)
    accepted = 0
    for step in range(n_steps):
        noise = rng.standard_normal(len(x))
        if step % 2 == 0:
            proposal = prior_mean + prior_sd * noise
            proposed = log_likelihood(proposal)
            log_ratio = proposed - current
        else:
            proposal = x + walk_sd * noise
            proposed = log_likelihood(proposal)
            log_ratio = (proposed - current
                         - 0.5 * ((proposal - prior_mean) ** 2 - (x - prior_mean) ** 2)
                         / prior_sd**2)
        accept = np.log(rng.random(len(x))) < log_ratio
        x = np.where(accept, proposal, x)
        current = np.where(accept, proposed, current)
        accepted += int(accept.sum())
    return x, accepted / max(n_steps * len(x), 1)
