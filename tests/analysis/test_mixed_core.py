"""The mixed-model core that lmer-style and glmer-style fits share."""

from dataclasses import fields

import numpy as np
import pandas as pd
import pytest

from bayesimpute.analysis.formula import RandomTermDesign
from bayesimpute.analysis.glmm import GeneralizedMixedFit
from bayesimpute.analysis.lmm import LinearMixedFit
from bayesimpute.analysis.mixed_core import (
    BOUNDARY_TOL,
    SINGULAR_TOL,
    MixedFit,
    group_counts,
    is_singular,
    schur_complement,
    settle_boundary,
)
from bayesimpute.analysis.random_effects import make_solver


def _term(n_groups: int, per_group: int, slope: bool = False) -> RandomTermDesign:
    rng = np.random.default_rng(0)
    n = n_groups * per_group
    matrix = np.ones((n, 1)) if not slope else np.column_stack([np.ones(n), rng.normal(size=n)])
    effects = ["Intercept", "x"][: matrix.shape[1]]
    return RandomTermDesign("g", effects, np.repeat(np.arange(n_groups), per_group),
                            pd.Index(range(n_groups)), matrix)


@pytest.mark.parametrize("slope", [False, True])
def test_schur_complement_is_the_dense_block_elimination(slope):
    term = _term(5, 4, slope)
    solver = make_solver([term])
    theta = np.array([0.7]) if not slope else np.array([0.7, 0.2, 0.4])
    factor = solver.factor(theta, solver.gram())
    xy = np.random.default_rng(1).normal(size=(20, 3))
    cross = solver.lam_t(theta, solver.zt(xy))
    # Dense Z Lambda and A = Lambda'Z'Z Lambda + I, written out.
    z_lam = np.column_stack([solver.z_lam(theta, e) for e in np.eye(solver.q)])
    a = z_lam.T @ z_lam + np.eye(solver.q)
    expected = xy.T @ xy - cross.T @ np.linalg.solve(a, cross)
    np.testing.assert_allclose(schur_complement(xy.T @ xy, factor, cross), expected, rtol=1e-12)


def test_settle_boundary_sets_only_near_bound_entries_that_do_not_worsen():
    lower = np.array([0.0, -np.inf, 0.0, 0.0])
    params = np.array([0.5 * BOUNDARY_TOL, 0.5 * BOUNDARY_TOL, 2 * BOUNDARY_TOL, 0.3, 1.0])
    settled, messages = settle_boundary(lambda p: float(p @ p), params, lower)
    # Entry 0 is near its bound 0; entry 1 is unbounded; entry 2 is beyond the tolerance; the
    # last entry (a fixed effect, after theta) is never touched.
    np.testing.assert_array_equal(settled, [0.0, *params[1:]])
    assert messages == ["theta[0] set to its boundary 0"]
    assert params[0] > 0  # the input is not changed


def test_settle_boundary_keeps_an_entry_whose_bound_is_worse():
    lower = np.array([0.0])
    params = np.array([0.5 * BOUNDARY_TOL])
    settled, messages = settle_boundary(lambda p: float((p[0] - 1.0) ** 2), params, lower)
    np.testing.assert_array_equal(settled, params)
    assert messages == []


def test_is_singular_looks_only_at_bounded_entries():
    lower = np.array([0.0, -np.inf])
    assert is_singular(np.array([0.5 * SINGULAR_TOL, 0.3]), lower)
    assert not is_singular(np.array([2 * SINGULAR_TOL, 0.0]), lower)


def test_group_counts_per_grouping_factor():
    assert group_counts([_term(5, 4)]) == {"g": 5}


def test_the_fit_records_share_one_declaration():
    shared = {f.name for f in fields(MixedFit)}
    for record in (LinearMixedFit, GeneralizedMixedFit):
        assert issubclass(record, MixedFit)
        assert shared <= {f.name for f in fields(record)}
    assert MixedFit(params=pd.Series(dtype=float), cov=pd.DataFrame(), theta=np.zeros(0),
                    loglik=-3.5, nobs=1, n_groups={}, random_covariances={}, converged=True,
                    is_singular=False).criterion == 7.0
