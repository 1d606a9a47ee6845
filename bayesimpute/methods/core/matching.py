"""Predictive mean matching: impute observed values of donors with close predictions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["match_donors", "match_donors_window", "DONOR_RULES"]


def match_donors(
    predicted_observed: np.ndarray,
    predicted_missing: np.ndarray,
    observed_values: np.ndarray,
    donors: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """For each missing row, the observed value of one of its ``donors`` nearest donors.

    mice's rule: the k nearest donors by absolute distance of the predictions, one of them
    drawn uniformly. Donors tied at the k-th distance are broken at random, independently
    for every recipient (mice shuffles the donors before sorting for the same reason), so
    the draw is exact: a donor strictly closer than the k-th distance is drawn with
    probability 1/k, and the donors at exactly the k-th distance share the remaining
    probability equally, however many of them there are. Were ties left to sort order, a
    recipient tied with 50 donors (type-2 matching in a cluster with one predictor
    pattern) would only ever receive the first k of them.

    Vectorised, O((n_obs + n_mis) log n_obs): the donor predictions are sorted once, the
    k-th distance is read off the 2k sorted neighbours of each recipient, and the ranges of
    donors closer than it and tied with it are found by bisection.
    """
    n_obs = len(predicted_observed)
    if n_obs == 0:
        raise ValueError("predictive mean matching needs at least one observed value")
    k = int(min(max(donors, 1), n_obs))
    order = np.argsort(predicted_observed, kind="stable")
    sorted_pred = predicted_observed[order]
    target = np.asarray(predicted_missing, dtype=float)
    position = np.searchsorted(sorted_pred, target)
    kth = _kth_distance(sorted_pred, target, position, k)
    rows = np.arange(len(target))

    def distance(i: np.ndarray, r: np.ndarray) -> np.ndarray:
        return np.abs(sorted_pred[np.minimum(i, n_obs - 1)] - target[r])

    def closer_left(i, r):  # left of ``position``: strictly closer than the k-th distance
        return (i == position[r]) | (distance(i, r) < kth[r])

    def farther_or_tied_right(i, r):  # from ``position`` on: not strictly closer
        return (i == n_obs) | (distance(i, r) >= kth[r])

    def within_left(i, r):  # left of ``position``: at most the k-th distance
        return (i == position[r]) | (distance(i, r) <= kth[r])

    def beyond_right(i, r):  # from ``position`` on: farther than the k-th distance
        return (i == n_obs) | (distance(i, r) > kth[r])

    # |s_i - t| is non-increasing left of ``position`` and non-decreasing from it on (also
    # in floating point), so each set below is one contiguous range [low, high) of sorted
    # donors: strictly closer than the k-th distance (fewer than k donors, so inside the
    # 2k window), and within it (tied donors may reach beyond the window: those rows
    # search on, the others stop at log2(k) steps).
    window_low, window_high = np.maximum(position - k, 0), np.minimum(position + k, n_obs)
    low_closer = _bisect(closer_left, window_low, position, rows)
    high_closer = _bisect(farther_or_tied_right, position, window_high, rows)
    low_within = _bisect(within_left, window_low, position, rows)
    far = rows[(low_within == window_low) & (window_low > 0)]
    low_within[far] = _bisect(within_left, 0, window_low[far], far)
    high_within = _bisect(beyond_right, position, window_high, rows)
    far = rows[(high_within == window_high) & (window_high < n_obs)]
    high_within[far] = _bisect(beyond_right, window_high[far], n_obs, far)
    n_closer = high_closer - low_closer  # < k by definition of the k-th distance
    n_tied_left = low_closer - low_within
    n_tied = n_tied_left + high_within - high_closer  # >= 1: the k-th distance is attained

    # draw one of the k nearest: each closer donor with probability 1/k, else a tied donor
    # uniformly (a uniform subset of the tied donors, then a uniform pick within it)
    slot = rng.integers(0, k, len(target))
    tied_pick = rng.integers(0, n_tied)
    tied_donor = np.where(tied_pick < n_tied_left, low_within + tied_pick,
                          high_closer + tied_pick - n_tied_left)
    chosen = np.where(slot < n_closer, low_closer + slot, tied_donor)
    return observed_values[order[chosen]]


def match_donors_window(
    predicted_observed: np.ndarray,
    predicted_missing: np.ndarray,
    observed_values: np.ndarray,
    donors: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """miceadds' rule (``2l.pmm``): one of the ``donors`` donors just below and the
    ``donors`` just above the recipient in sorted order, drawn uniformly.

    The 2 x ``donors`` candidates are neighbours by rank, not by distance: a recipient
    whose prediction ties with a few donors (a cluster's cell under type-2 matching) also
    draws donors of the neighbouring predictions, as miceadds'
    ``mice_multilevel_imputation_pmm5`` does. Ties are broken at random, as miceadds' jitter
    does: tied donors are put in random order, and each recipient is put at a uniformly
    drawn place among the donors tied with it. At the ends of the sorted donors the window
    is clipped, so the edge donor counts several times (as in miceadds). O((n_obs + n_mis)
    log n_obs).
    """
    n_obs = len(predicted_observed)
    if n_obs == 0:
        raise ValueError("predictive mean matching needs at least one observed value")
    k = int(max(donors, 1))
    order = np.lexsort((rng.permutation(n_obs), predicted_observed))  # ties in random order
    sorted_pred = predicted_observed[order]
    target = np.asarray(predicted_missing, dtype=float)
    first = np.searchsorted(sorted_pred, target, side="left")
    last = np.searchsorted(sorted_pred, target, side="right")
    position = first + rng.integers(0, last - first + 1)  # a random place among its ties
    offset = rng.integers(-k, k, len(target))  # k below (-k..-1), k above (0..k-1)
    chosen = np.clip(position + offset, 0, n_obs - 1)
    return observed_values[order[chosen]]


#: donor rules by name: ``"nearest"`` (mice's k nearest), ``"window"`` (miceadds' 2k window)
DONOR_RULES = {"nearest": match_donors, "window": match_donors_window}


def _kth_distance(sorted_pred: np.ndarray, target: np.ndarray, position: np.ndarray,
                  k: int) -> np.ndarray:
    """The k-th smallest |donor - target|: the k nearest lie among the k sorted donors below
    and the k above the target's insertion position."""
    n_obs = len(sorted_pred)
    window = np.clip(position[:, None] + np.arange(-k, k)[None, :], 0, n_obs - 1)
    distance = np.abs(sorted_pred[window] - target[:, None])
    # clipped windows repeat the edge donor: count each donor once
    repeated = np.zeros_like(window, dtype=bool)
    repeated[:, 1:] = window[:, 1:] == window[:, :-1]
    distance[repeated] = np.inf
    return np.partition(distance, k - 1, axis=1)[:, k - 1]


def _bisect(condition: Callable[[np.ndarray, np.ndarray], np.ndarray], low, high,
            rows: np.ndarray) -> np.ndarray:
    """For each of ``rows``, the smallest i in [low, high] where ``condition(i, rows)``
    holds, for a condition that is monotone (false, then true) on that range; ``high``
    where it holds nowhere before."""
    low, high = (np.array(a, dtype=np.int64) for a in np.broadcast_arrays(low, high, rows)[:2])
    active = np.flatnonzero(low < high)
    while len(active):
        middle = (low[active] + high[active]) // 2
        holds = condition(middle, rows[active])
        high[active[holds]] = middle[holds]
        low[active[~holds]] = middle[~holds] + 1
        active = active[low[active] < high[active]]
    return low
