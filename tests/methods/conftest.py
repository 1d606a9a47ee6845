import numpy as np
import pytest


def _assert_first_draws_in_the_bulk(first: np.ndarray, long_run: np.ndarray) -> None:
    """The K first-iteration draws (one per chain) rank among a long run's draws as
    posterior draws do: ranks uniform on (0, 1), so their mean is within 3.3 / sqrt(12 K)
    of 1/2 (two-sided level 0.001), and none lies outside the long run's range."""
    ranks = np.searchsorted(np.sort(long_run), first) / len(long_run)
    assert abs(ranks.mean() - 0.5) < 3.3 / np.sqrt(12 * len(first)), np.round(ranks, 3)
    assert (0 < ranks).all() and (ranks < 1).all(), np.round(ranks, 3)


@pytest.fixture
def assert_first_draws_in_the_bulk():
    """Check that a method's first-iteration parameter draws are posterior draws."""
    return _assert_first_draws_in_the_bulk
