import numpy as np

from bayesimpute.methods.matching import match_donors


def test_donors_are_among_the_k_nearest():
    rng = np.random.default_rng(0)
    predicted_observed = rng.normal(size=200)
    observed_values = np.arange(200.0)  # value = donor's position, to recover who donated
    recipients = rng.normal(size=50)
    for _ in range(20):
        donated = match_donors(predicted_observed, recipients, observed_values, 5, rng)
        for target, donor in zip(recipients, donated.astype(int)):
            distance = np.abs(predicted_observed - target)
            assert distance[donor] <= np.sort(distance)[4] + 1e-12


def test_every_nearest_donor_is_used_and_no_other():
    rng = np.random.default_rng(1)
    predicted_observed = np.array([0.0, 1.0, 2.0, 3.0, 10.0])
    donated = match_donors(predicted_observed, np.full(3000, 1.4), np.arange(5.0), 3, rng)
    assert set(donated) == {0.0, 1.0, 2.0}
    counts = np.bincount(donated.astype(int), minlength=5)[:3]
    assert counts.min() > 850  # uniform choice among the 3 donors


def test_edges_and_tiny_donor_pools():
    rng = np.random.default_rng(2)
    donated = match_donors(np.array([5.0, 6.0]), np.array([-100.0, 100.0]), np.array([1.0, 2.0]), 5, rng)
    assert set(donated) <= {1.0, 2.0}
