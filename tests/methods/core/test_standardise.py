"""The one standardiser: which columns it centres, its two paths to the same numbers, its
saved constants and its round trip of the response."""

from __future__ import annotations

import numpy as np
import pytest

from bayesimpute.methods.core.standardise import Standardiser


def design(n=40, seed=3):
    rng = np.random.default_rng(seed)
    return np.column_stack([np.ones(n), rng.normal(3.0, 2.0, n), np.full(n, 7.0),
                            rng.normal(-1.0, 0.5, n)])


def test_the_intercept_stays_ones_and_the_other_columns_are_standardised():
    X = design()
    X_std = Standardiser(X).X(X)
    assert np.array_equal(X_std[:, 0], np.ones(len(X)))
    np.testing.assert_allclose(X_std[:, [1, 3]].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(X_std[:, [1, 3]].std(axis=0), 1.0)
    # a constant column is centred but not divided by a zero spread
    assert np.array_equal(X_std[:, 2], np.zeros(len(X)))


def test_a_random_slope_is_centred_only_with_a_random_intercept():
    X = design()
    slope_only = Standardiser(X, random=[1])
    with_intercept = Standardiser(X, random=[0, 1])
    assert slope_only.x_mean[1] == 0.0 and slope_only.x_mean[3] != 0.0
    assert with_intercept.x_mean[1] == pytest.approx(X[:, 1].mean())


def test_without_an_intercept_nothing_is_centred():
    X = design()[:, 1:]
    scale = Standardiser(X, np.arange(len(X), dtype=float), intercept=False)
    assert np.array_equal(scale.x_mean, np.zeros(X.shape[1]))
    assert scale.y_mean == 0.0 and scale.y_sd == pytest.approx(np.arange(len(X)).std())


def test_rows_are_the_same_numbers_as_the_whole_design_then_the_rows():
    X = design()
    rows = np.random.default_rng(0).random(len(X)) < 0.6
    scale = Standardiser(X)
    assert np.array_equal(scale.X_rows(X, rows), scale.X(X)[rows])
    assert np.array_equal(scale(X), scale.X(X))


def test_the_response_goes_there_and_back_and_none_keeps_its_scale():
    X, y = design(), np.linspace(10.0, 30.0, 40)
    scale = Standardiser(X, y)
    np.testing.assert_allclose(scale.y_back(scale.y(y)), y)
    assert scale.y(y).std() == pytest.approx(1.0)
    untouched = Standardiser(X)
    assert (untouched.y_mean, untouched.y_sd) == (0.0, 1.0)


def test_a_saved_scale_is_restored_exactly():
    X = design()
    first = Standardiser(X, np.linspace(0.0, 1.0, 40))
    later = Standardiser(2.0 * X + 1.0, np.zeros(40))  # another visit's data
    later.set_state(first.get_state("analysis.scale."), "analysis.scale.")
    assert np.array_equal(later.X(X), first.X(X))
    assert (later.y_mean, later.y_sd) == (first.y_mean, first.y_sd)
    # the steppers save the predictor constants under mean / sd
    assert later.mean is later.x_mean and later.sd is later.x_sd
