"""Scale robustness: many clusters, one-row clusters, many-level factors, extreme units.

The Gaussian methods standardise the target and the predictors internally, so changing
units must change nothing but the units: with the same seed, the imputations of
``x * 1e9`` are ``1e9`` times the imputations of ``x``, and a predictor measured in other
units leaves the target's imputations as they were.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi


def clustered_frame(n_clusters: int, max_size: int, seed: int = 1) -> pd.DataFrame:
    """Random-intercept data; cluster sizes 1..max_size; x and z partly missing."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_size + 1, n_clusters)
    cluster = np.repeat(np.arange(n_clusters), sizes)
    n = len(cluster)
    z = rng.normal(size=n)
    x = rng.normal(size=n_clusters)[cluster] + 0.5 * z + rng.normal(size=n)
    data = pd.DataFrame({"g": cluster, "x": x, "z": z})
    data.loc[rng.random(n) < 0.3, "x"] = np.nan
    data.loc[rng.random(n) < 0.2, "z"] = np.nan
    return data


def assert_observed_kept_and_complete(imp: bi.MultipleImputation, data: pd.DataFrame) -> None:
    for i in range(imp.m):
        completed = imp.complete(i)
        assert not completed.isna().any().any()
        for column in data.columns:
            seen = data[column].notna()
            pd.testing.assert_series_equal(completed.loc[seen, column], data.loc[seen, column])


def test_thousands_of_clusters_with_singletons_and_a_many_level_factor():
    data = clustered_frame(1500, 3)
    rng = np.random.default_rng(2)
    data["site"] = pd.Categorical(rng.integers(0, 60, len(data)).astype(str))  # 59 dummies
    imp = bi.impute(data, cluster="g", method={"x": "2l.pmm", "z": "2l.norm"}, m=1, maxit=2,
                    seed=1)
    assert (data["g"].value_counts() == 1).sum() > 300
    assert_observed_kept_and_complete(imp, data)
    assert imp.idata.posterior["x_u"].sizes["x_cluster"] == 1500
    assert imp.idata.posterior["x_beta"].sizes["x_x"] == 1 + 1 + 59


@pytest.mark.parametrize("method", ["2l.norm", "2l.pmm"])
def test_every_cluster_a_single_row(method):
    data = clustered_frame(300, 1)
    assert data["g"].is_unique
    imp = bi.impute(data, cluster="g", method={"x": method, "z": method}, m=2, maxit=2, seed=3)
    assert_observed_kept_and_complete(imp, data)


def test_ordered_factor_with_many_levels():
    data = clustered_frame(60, 6)
    rng = np.random.default_rng(4)
    levels = [f"grade {k:02d}" for k in range(40)]
    data["grade"] = pd.Categorical(np.array(levels)[rng.integers(0, 40, len(data))],
                                   categories=levels, ordered=True)
    data.loc[rng.random(len(data)) < 0.2, "grade"] = np.nan
    imp = bi.impute(data, cluster="g", method={"x": "2l.pmm", "z": "2l.pmm", "grade": "2l.pmm"},
                    m=1, maxit=2, seed=5)
    grade = imp.complete(0)["grade"]
    assert grade.dtype == data["grade"].dtype
    assert grade.notna().all()
    assert_observed_kept_and_complete(imp, data)


# --- units ---------------------------------------------------------------------------------------
SCALE_CASES = [(1e9, 1.0), (1.0, 1e-4), (1e-4, 1e9)]
RTOL = 1e-9


def _long(data: pd.DataFrame, method: str) -> pd.DataFrame:
    return bi.impute(data, cluster="g", method={"x": method, "z": method}, m=2, maxit=3,
                     seed=9).complete("long")


@pytest.fixture(scope="module")
def unit_data() -> pd.DataFrame:
    return clustered_frame(40, 15, seed=6)


@pytest.mark.parametrize("method", ["2l.norm", "2l.pmm", "norm", "pmm"])
def test_imputations_follow_the_units(unit_data, method):
    reference = _long(unit_data, method)
    for x_scale, z_scale in SCALE_CASES:
        rescaled = _long(unit_data.assign(x=unit_data["x"] * x_scale, z=unit_data["z"] * z_scale),
                         method)
        np.testing.assert_allclose(rescaled["x"] / x_scale, reference["x"], rtol=RTOL, atol=0,
                                   err_msg=f"x scaled by {x_scale:g}, z by {z_scale:g}")
        np.testing.assert_allclose(rescaled["z"] / z_scale, reference["z"], rtol=RTOL, atol=0,
                                   err_msg=f"x scaled by {x_scale:g}, z by {z_scale:g}")


def test_imputations_follow_a_shift_of_origin(unit_data):
    # values near 1e9 with unit spread (e.g. POSIX seconds) must not break the models; a
    # float64 near 1e9 keeps about 7 digits below the unit, hence the absolute tolerances
    reference = _long(unit_data, "2l.norm")
    shifted = _long(unit_data.assign(x=unit_data["x"] + 1e9), "2l.norm")
    np.testing.assert_allclose(shifted["x"] - 1e9, reference["x"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(shifted["z"], reference["z"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("method", ["2lonly.norm", "2lonly.pmm"])
def test_cluster_level_variable_follows_the_units(method):
    rng = np.random.default_rng(8)
    cluster = np.repeat(np.arange(30), 5)
    data = pd.DataFrame({"g": cluster, "y": rng.normal(size=150),
                         "w": np.repeat(rng.normal(size=30), 5)})
    data.loc[np.isin(cluster, [2, 7, 11, 19]), "w"] = np.nan

    def impute(frame):
        return bi.impute(frame, cluster="g", method={"w": method}, m=2, maxit=2,
                         seed=1).complete("long")["w"]

    reference = impute(data)
    np.testing.assert_allclose(impute(data.assign(w=data["w"] * 1e9)) / 1e9, reference,
                               rtol=RTOL)
    np.testing.assert_allclose(impute(data.assign(y=data["y"] * 1e-4)), reference, rtol=RTOL)
