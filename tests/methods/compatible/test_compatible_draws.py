"""The draw kernels of the compatible methods target p(x | y) ∝ p(y | x) p(x).

Each kernel is checked against the target computed independently by numerical integration
on a fine grid, over many rows that share one target (the rows are independent chains), with
tolerances of a few Monte-Carlo standard errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from bayesimpute.methods.compatible.smc_draws import (
    draw_count_conditional,
    draw_from_log_weights,
    draw_normal_conditional,
    gaussian_log_likelihood,
    logistic_log_likelihood,
    metropolis_normal_prior,
)

GRID = np.linspace(-12, 12, 200_001)


def grid_moments(log_density: np.ndarray) -> tuple[float, float, float]:
    """Mean, variance and P(x > 0) of the density exp(log_density) on GRID."""
    w = np.exp(log_density - log_density.max())
    w /= w.sum()
    mean = float(w @ GRID)
    return mean, float(w @ (GRID - mean) ** 2), float(w[GRID > 0].sum())


def assert_matches(draws: np.ndarray, log_density: np.ndarray, k: float = 4.0) -> None:
    mean, var, positive = grid_moments(log_density)
    n = len(draws)
    assert abs(draws.mean() - mean) < k * np.sqrt(var / n)
    # the variance of a sample variance is about 2 var^2 / n for near-normal draws; 3 allows
    # for the heavier tails of the bimodal targets
    assert abs(draws.var() - var) < k * np.sqrt(3 * var**2 / n)
    assert abs((draws > 0).mean() - positive) < k * np.sqrt(positive * (1 - positive) / n) + 1e-3


def test_exact_normal_draw_is_the_conditional():
    rng = np.random.default_rng(1)
    n = 40_000
    m, v, a, b, y, s2 = 0.3, 0.8, 1.0, 1.7, 2.5, 0.6
    draws = draw_normal_conditional(np.full(n, m), np.full(n, v), np.full(n, a), np.full(n, b),
                                    np.full(n, y), s2, rng)
    log_density = -0.5 * (GRID - m) ** 2 / v - 0.5 * (y - a - b * GRID) ** 2 / s2
    assert_matches(draws, log_density)


def test_exact_normal_draw_without_outcome_is_the_prior():
    rng = np.random.default_rng(2)
    n = 40_000
    draws = draw_normal_conditional(np.full(n, -1.0), np.full(n, 2.0), np.zeros(n), np.zeros(n),
                                    np.zeros(n), 1.0, rng)
    assert_matches(draws, -0.5 * (GRID + 1.0) ** 2 / 2.0)


def test_discrete_draw_frequencies():
    rng = np.random.default_rng(3)
    n = 60_000
    log_w = np.log(np.array([0.2, 0.5, 0.3]))[None, :] + 7.0  # unnormalised on purpose
    draws = draw_from_log_weights(np.repeat(log_w, n, axis=0), rng)
    for k, p in enumerate([0.2, 0.5, 0.3]):
        assert abs((draws == k).mean() - p) < 4 * np.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("case", ["quadratic", "logistic", "informative"])
def test_metropolis_targets_the_conditional(case):
    """Bimodal (a strong square), logistic and sharply informative conditionals."""
    rng = np.random.default_rng(4)
    n, m, sd = 20_000, 0.2, 1.0
    if case == "quadratic":  # y = 0.5 x + 1.5 x^2 + e with y large: two modes near +-1.3
        y, s2 = 3.0, 0.3

        def eta(x):
            return 0.5 * x + 1.5 * x**2

        def log_lik(x):
            return gaussian_log_likelihood(y, eta(x), s2)
    elif case == "logistic":
        y = 1.0

        def log_lik(x):
            return logistic_log_likelihood(y, -0.5 + 2.0 * x)
    else:  # y pins x down to a width of 0.05: the random walk must shrink
        y, s2 = 1.0, 0.01

        def log_lik(x):
            return gaussian_log_likelihood(y, 2.0 * x, s2)
    walk = np.full(n, 2.4 * (0.05 if case == "informative" else 0.5))
    start = rng.normal(m, sd, n)
    draws, acceptance = metropolis_normal_prior(start, np.full(n, m), np.full(n, sd), log_lik,
                                                walk, 40, rng)
    assert 0.02 < acceptance < 0.98
    log_density = -0.5 * (GRID - m) ** 2 / sd**2 + log_lik(GRID)
    assert_matches(draws, log_density)


def test_metropolis_keeps_a_target_draw_a_target_draw():
    """Started from exact draws of the target, two steps leave them distributed as the
    target (stationarity)."""
    rng = np.random.default_rng(5)
    n = 30_000
    m, v, b, y, s2 = 0.0, 1.0, 1.0, 2.0, 0.5
    exact = draw_normal_conditional(np.full(n, m), np.full(n, v), np.zeros(n), np.full(n, b),
                                    np.full(n, y), s2, rng)
    draws, _ = metropolis_normal_prior(exact, np.full(n, m), np.full(n, 1.0),
                                       lambda x: gaussian_log_likelihood(y, b * x, s2),
                                       np.full(n, 1.0), 2, rng)
    assert_matches(draws, -0.5 * GRID**2 / v + gaussian_log_likelihood(y, b * GRID, s2))


def exact_count_probabilities(mean: float, log_likelihood, top: int = 400) -> np.ndarray:
    """Poisson(k; mean) L(k) normalised over k = 0..top by direct enumeration."""
    k = np.arange(top + 1)
    log_w = k * np.log(mean) - mean - special.gammaln(k + 1.0) + log_likelihood(k)
    return special.softmax(log_w)


@pytest.mark.parametrize("mean, y, slope", [
    (1.6, 2.0, 0.3),    # the validity study's count design: a mild pull
    (1.0, 30.0, 1.0),   # y far above: the conditional's mass lies beyond the prior's bulk
    (4.0, -3.0, 0.8),   # pulled towards 0
])
def test_count_draw_is_the_conditional(mean, y, slope):
    """Frequencies of the drawn counts against Poisson(k) N(y; 1 + slope k, 1), each count
    within 4 binomial standard errors, and the mean within 4 standard errors."""
    rng = np.random.default_rng(7)
    n = 40_000

    def log_likelihood(k):
        return gaussian_log_likelihood(y, 1.0 + slope * np.asarray(k, dtype=float), 1.0)

    draws = draw_count_conditional(np.full(n, np.log(mean)),
                                   lambda k: np.full(n, log_likelihood(k)), rng)
    exact = exact_count_probabilities(mean, log_likelihood)
    assert np.all(draws == np.round(draws)) and draws.min() >= 0
    counts = np.bincount(draws.astype(int), minlength=len(exact))[:len(exact)]
    se = np.sqrt(exact * (1 - exact) / n)
    assert np.all(np.abs(counts / n - exact) < 4 * se + 1e-4)
    support = np.arange(len(exact))
    sd = np.sqrt(exact @ (support - exact @ support) ** 2)
    assert abs(draws.mean() - exact @ support) < 4 * sd / np.sqrt(n)


def test_count_draw_without_outcome_is_poisson_per_row():
    """Rows with different means and no likelihood: each row's draws are Poisson."""
    rng = np.random.default_rng(8)
    means = np.array([0.2, 1.0, 7.5])
    n = 20_000
    log_mean = np.repeat(np.log(means), n)
    draws = draw_count_conditional(log_mean, lambda k: np.zeros(len(log_mean)), rng)
    for i, mean in enumerate(means):
        part = draws[i * n:(i + 1) * n]
        assert abs(part.mean() - mean) < 4 * np.sqrt(mean / n)
        assert abs(part.var() - mean) < 4 * np.sqrt((2 * mean**2 + mean) / n)
