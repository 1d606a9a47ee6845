"""The ``polyagamma`` draws the exact steps rely on: PG(1, z) (logit, multinomial logit) and
PG(2, z) (the cumulative logit's latent logistic values), over the z they meet.

The package's samplers are not exact everywhere (its hybrid misses the mean by thousands
of standard errors at h = 25, z = -40, and by ~4 at h = 3.7 near z = 0), which is why the
count families use no Pólya–Gamma augmentation; these are the h where it is used.
"""

import numpy as np
import pytest
from polyagamma import random_polyagamma

N_DRAWS = 40_000


def pg_mean(h, z):
    return h / 4.0 if z == 0 else h / (2 * z) * np.tanh(z / 2)


def pg_variance(h, z):
    return h / 24.0 if z == 0 else h / (4 * z**3) * (np.sinh(z) - z) / np.cosh(z / 2) ** 2


def moments_agree(draws, h, z) -> bool:
    """The draws' mean within 4.5 standard errors of PG(h, z)'s and their variance within 6%
    (the sample variance's relative sd is ~ sqrt((kurtosis - 1) / N) < 0.015 here)."""
    mean_error = (draws.mean() - pg_mean(h, z)) / np.sqrt(pg_variance(h, z) / len(draws))
    return abs(mean_error) < 4.5 and abs(draws.var() / pg_variance(h, z) - 1.0) < 0.06


@pytest.mark.parametrize("h", [1.0, 2.0])
@pytest.mark.parametrize("z", [0.0, -0.5, 1.0, -3.0, 8.0, -15.0, 28.0, -40.0])
def test_draws_have_the_polya_gamma_moments(h, z):
    draws = random_polyagamma(h, np.full(N_DRAWS, z), random_state=np.random.default_rng(7))
    assert moments_agree(draws, h, z)


@pytest.mark.parametrize("z", [0.0, -3.0, 28.0])
def test_the_check_sees_a_three_percent_error(z):
    draws = random_polyagamma(1.0, np.full(N_DRAWS, z), random_state=np.random.default_rng(7))
    assert not moments_agree(1.03 * draws, 1.0, z)
