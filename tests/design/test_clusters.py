"""The one "constant within a cluster" rule: which clusters vary, on coded numbers and on a
frame's column, and when a variable counts as cluster-level."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesimpute.design.clusters import (
    PREFIX_ROWS,
    is_cluster_level,
    varying_cluster_labels,
    varying_clusters,
)


def test_varying_clusters_reads_observed_values_only_and_allows_rounding():
    y = np.array([1.0, 1.0 + 1e-12, 2.0, 2.5, 4.0, np.nan, np.nan])
    cluster = np.array([0, 0, 1, 1, 2, 2, 3])
    # cluster 0 agrees up to rounding, 2 has one observed value, 3 none
    assert varying_clusters(y, cluster, 4).tolist() == [1]


def test_varying_cluster_labels_compares_any_type_exactly_in_sorted_order():
    values = pd.Series(["a", "b", "c", "c", None, "d", 1.0, 1.0 + 1e-12])
    cluster = pd.Series(["z", "z", "y", "y", "x", "x", "w", "w"])
    assert varying_cluster_labels(values, cluster) == ["w", "z"]


def test_a_cluster_level_variable_needs_more_than_chance():
    cluster = pd.Series(np.repeat(np.arange(10), 20))
    assert is_cluster_level(pd.Series(np.repeat(np.arange(10) % 3, 20)), cluster)
    # a binary value observed twice in each of 5 clusters: agreement 0.6^5, above the chance level
    few = pd.Series(np.repeat(np.arange(5), 2))
    chance = pd.Series(np.repeat([0.0, 1.0, 0.0, 1.0, 0.0], 2))
    assert not is_cluster_level(chance, few)
    assert not is_cluster_level(pd.Series(np.ones(200)), cluster)  # constant, not level-2


def test_a_variation_beyond_the_first_rows_is_found():
    n = PREFIX_ROWS + 400
    cluster = pd.Series(np.arange(n) // 20)
    values = pd.Series((np.arange(n) // 20 % 4).astype(float))
    assert is_cluster_level(values, cluster)
    values.iloc[-1] += 1.0  # the last cluster varies, past the prefix searched first
    assert not is_cluster_level(values, cluster)
