"""Property-based tests: the invariants the package promises over random small multilevel frames.

Hypothesis draws the shape of the problem (clusters and their sizes, the type of the
cluster ids, the dtypes, the missing rates, the methods); a seeded numpy generator fills
in the numbers, so every example is a realistic frame rather than a degenerate one.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bayesimpute as bi

CLUSTER_TYPES = ["int", "str", "float", "category"]
#: methods for the unordered factor, where registered (they are developed alongside)
CATEGORICAL_METHODS = [m for m in ("2l.polyreg", "polyreg") if m in bi.available_methods()]


@st.composite
def multilevel_frames(draw) -> tuple[pd.DataFrame, dict[str, str]]:
    """A frame with a cluster column, a continuous, a binary and two categorical columns."""
    sizes = draw(st.lists(st.integers(1, 8), min_size=3, max_size=9).filter(lambda s: sum(s) >= 12))
    cluster_type = draw(st.sampled_from(CLUSTER_TYPES))
    binary_as_bool = draw(st.booleans())
    rates = draw(st.tuples(*[st.floats(0.0, 0.5)] * 4))
    continuous_method = draw(st.sampled_from(["2l.pmm", "2l.norm", "pmm", "norm"]))
    factor_method = draw(st.sampled_from(["", *CATEGORICAL_METHODS]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(len(sizes)), sizes)
    n = len(cluster)
    effect = rng.normal(size=len(sizes))[cluster]
    x = effect + rng.normal(size=n)
    ids = {"int": cluster * 3 + 1, "str": np.char.add("c", cluster.astype(str)),
           "float": cluster + 0.25,
           "category": pd.Categorical(np.char.add("k", cluster.astype(str)))}
    data = pd.DataFrame({
        "cluster": ids[cluster_type],
        "x": x * 10 + 50,
        "b": (x + rng.normal(size=n) > 0),
        "level": pd.Categorical(rng.choice(["lo", "mid", "hi"], n),
                                categories=["lo", "mid", "hi"], ordered=True),
        "group": pd.Categorical(rng.choice(["a", "b", "c"], n), categories=["c", "a", "b", "z"]),
    })
    data["b"] = data["b"].astype("boolean" if binary_as_bool else "float64")
    incomplete = ["x", "b", "level"] + (["group"] if factor_method else [])
    for column, rate in zip(incomplete, rates):
        missing = rng.random(n) < rate
        missing[:4] = False  # a few observed values in every column
        missing[4] = True  # and something to impute
        data.loc[missing, column] = np.nan if column != "b" else None
    if cluster_type == "category":
        data["cluster"] = data["cluster"].astype("category")
    method = {"x": continuous_method, "b": "2l.pmm", "level": "2l.pmm", "group": factor_method}
    return data, method


def impute(data: pd.DataFrame, method: dict[str, str], **kwargs) -> bi.MultipleImputation:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # few clusters, mostly missing, ...
        return bi.impute(data, cluster="cluster", method=method, m=2, maxit=2, seed=11, **kwargs)


PROPERTY_SETTINGS = settings(max_examples=20, deadline=None, derandomize=True,
                             suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(multilevel_frames())
def test_design_invariants_hold(problem):
    data, method = problem
    original = copy.deepcopy(data)
    imp = impute(data, method)

    pd.testing.assert_frame_equal(data, original)  # the input is never modified
    for i in range(imp.m):
        completed = imp.complete(i)
        assert list(completed.columns) == list(data.columns)
        assert completed.index.equals(data.index)
        pd.testing.assert_series_equal(completed.dtypes, data.dtypes)
        assert not completed.isna().any().any(), "a completed dataset still has missing values"
        for column in data.columns:
            observed = data[column].notna()
            pd.testing.assert_series_equal(completed.loc[observed, column],
                                           data.loc[observed, column])
            if isinstance(data[column].dtype, pd.CategoricalDtype):
                assert completed[column].cat.categories.equals(data[column].cat.categories)
                assert completed[column].cat.ordered == data[column].cat.ordered


@settings(PROPERTY_SETTINGS, max_examples=8)
@given(multilevel_frames())
def test_same_seed_same_imputations(problem):
    data, method = problem
    first, second = impute(data, method), impute(data, method)
    pd.testing.assert_frame_equal(first.complete("long"), second.complete("long"))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_parallel_chains_match_sequential_chains():
    data, method = _fixed_problem()
    sequential = impute(data, method)
    parallel = impute(data, method, n_jobs=2)
    pd.testing.assert_frame_equal(sequential.complete("long"), parallel.complete("long"))


def _fixed_problem() -> tuple[pd.DataFrame, dict[str, str]]:
    rng = np.random.default_rng(2)
    cluster = np.repeat(np.arange(8), 6)
    data = pd.DataFrame({"cluster": np.char.add("s", cluster.astype(str)),
                         "x": rng.normal(size=48) + cluster, "y": rng.normal(size=48)})
    data.loc[rng.random(48) < 0.3, "x"] = np.nan
    data.loc[rng.random(48) < 0.3, "y"] = np.nan
    return data, {"x": "2l.norm", "y": "2l.pmm"}
