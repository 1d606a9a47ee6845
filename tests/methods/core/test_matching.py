import numpy as np
from scipy import stats

from bayesimpute.methods.core.matching import DONOR_RULES, match_donors, match_donors_window


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


# --- ties: broken at random, for every recipient -------------------------------------------------
# A chi-square goodness-of-fit test at level 0.001 on 20,000 draws: a fixed seed, and a
# deviation of 10% in a single donor's probability is detected with high power.
ALPHA = 1e-3


def _donor_counts(predicted_observed, recipient, donors, n_draws, seed):
    rng = np.random.default_rng(seed)
    n = len(predicted_observed)
    donated = match_donors(np.asarray(predicted_observed, float), np.full(n_draws, recipient),
                           np.arange(n, dtype=float), donors, rng)
    return np.bincount(donated.astype(int), minlength=n)


def test_a_recipient_tied_with_50_donors_draws_each_of_them_equally():
    # 50 donors share the recipient's prediction (type-2 matching in a cluster whose rows
    # all have the same predictors); the old stable-sort rule only ever gave the first 5
    predicted_observed = np.concatenate([np.full(50, 1.0), [0.0, 2.5, 3.0]])
    counts = _donor_counts(predicted_observed, 1.0, 5, 20_000, seed=3)
    assert counts[50:].sum() == 0  # nothing beyond the tied donors
    assert (counts[:50] > 0).all()
    assert stats.chisquare(counts[:50]).pvalue > ALPHA


def test_tied_donors_share_what_the_closer_donors_leave():
    # k = 5: one donor strictly closer (probability 1/5), 20 tied at the 5th distance
    # (4/5 shared: 0.04 each), farther donors never
    predicted_observed = np.concatenate([[0.5], np.full(20, 1.0), np.full(5, 3.0)])
    counts = _donor_counts(predicted_observed, 0.4, 5, 20_000, seed=4)
    expected = np.concatenate([[0.2], np.full(20, 0.04)]) * counts.sum()
    assert counts[21:].sum() == 0
    assert stats.chisquare(counts[:21], expected).pvalue > ALPHA


def test_ties_on_both_sides_of_the_recipient():
    # distance 1 to three donors below and three above: all six tied for the 2 nearest
    predicted_observed = np.array([1.0, 1.0, 1.0, 3.0, 3.0, 3.0, 7.0])
    counts = _donor_counts(predicted_observed, 2.0, 2, 12_000, seed=5)
    assert counts[6] == 0
    assert stats.chisquare(counts[:6]).pvalue > ALPHA


def test_recipients_in_one_call_break_ties_independently():
    # within one call (one imputed data set) recipients of a tied block must not all get
    # the same k donors, as they would with one shuffle per call
    rng = np.random.default_rng(6)
    donated = match_donors(np.full(50, 1.0), np.full(2000, 1.0), np.arange(50.0), 5, rng)
    assert len(np.unique(donated)) == 50


# --- miceadds' rank window (2l.pmm) --------------------------------------------------------------
def _window_counts(predicted_observed, recipient, donors, n_draws, seed, per_call=None):
    """Donor counts over ``n_draws`` draws, made ``per_call`` recipients at a time."""
    rng = np.random.default_rng(seed)
    n = len(predicted_observed)
    per_call = per_call or n_draws
    donated = np.concatenate([
        match_donors_window(np.asarray(predicted_observed, float), np.full(per_call, recipient),
                            np.arange(n, dtype=float), donors, rng)
        for _ in range(n_draws // per_call)])
    return np.bincount(donated.astype(int), minlength=n)


def test_window_draws_the_k_donors_below_and_the_k_above():
    # distinct predictions 0..19, recipient between 9 and 10: donors 5..14, 1/10 each
    counts = _window_counts(np.arange(20.0), 9.5, 5, 20_000, seed=7)
    assert counts[:5].sum() == 0 and counts[15:].sum() == 0
    assert stats.chisquare(counts[5:15]).pvalue > ALPHA


def test_window_is_clipped_at_the_ends_as_in_miceadds():
    # below every donor: the 5 "below" slots all fall on the first donor (squeezed)
    counts = _window_counts(np.arange(20.0), -100.0, 5, 20_000, seed=8)
    expected = np.array([6, 1, 1, 1, 1]) / 10 * counts.sum()
    assert counts[5:].sum() == 0
    assert stats.chisquare(counts[:5], expected).pvalue > ALPHA


def test_window_breaks_ties_at_random():
    # 50 donors tie with the recipient: over calls (one random order of the ties per call,
    # as miceadds' jitter) each is drawn equally often, and the window reaches the
    # neighbouring predictions only when the recipient sits near the block's ends
    predicted = np.concatenate([np.arange(-10.0, 0.0), np.full(50, 1.0), np.arange(2.0, 12.0)])
    counts = _window_counts(predicted, 1.0, 5, 40_000, seed=9, per_call=10)
    tied = counts[10:60]
    assert (tied > 0).all()
    assert stats.chisquare(tied).pvalue > ALPHA
    assert counts[:5].sum() == 0 and counts[65:].sum() == 0  # at most 5 ranks beyond
    # the recipient sits at a random place among its ties, so the block's lower and upper
    # neighbours are reached equally often (binomial, 4 s.e.); placed at the block's start
    # it would draw half its donors from the lower neighbours and none from the upper
    below, above = counts[:10].sum(), counts[60:].sum()
    assert abs(below - above) < 4 * np.sqrt(below + above)


def test_window_rule_is_chosen_by_name():
    assert DONOR_RULES == {"nearest": match_donors, "window": match_donors_window}
