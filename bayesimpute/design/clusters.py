"""Constant within a cluster: the one rule for what a variable does inside its clusters.

A variable is *constant within a cluster* when its observed values agree there. Three
questions are asked of that, by the specification, the defaults and the methods:

- which clusters vary (:func:`varying_clusters` on coded numbers, where values agree up to
  rounding; :func:`varying_cluster_labels` on a frame's column of any type, where they
  agree when they are equal);
- whether a variable is a cluster-level one (:func:`is_cluster_level`): constant within
  every cluster, and by more than chance (:data:`CHANCE_LEVEL`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesimpute.settings import settings

__all__ = ["CHANCE_LEVEL", "PREFIX_ROWS", "varying_clusters", "varying_cluster_labels",
           "is_cluster_level"]

#: A variable counts as cluster-level when a row-level variable with its observed
#: frequencies would look constant within every cluster with at most this probability.
CHANCE_LEVEL = settings.default("cluster_level.chance_level")

#: observed rows that :func:`is_cluster_level` searches first for a cluster whose values differ
PREFIX_ROWS = 10_000


def varying_clusters(y: np.ndarray, cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """Codes of the clusters whose observed values are not all equal.

    Values agree when they differ by at most ``1e-9`` relative to the larger (absolute 1e-9
    below 1), so a value copied through arithmetic still counts as the same.

    Parameters
    ----------
    y : ndarray of float, shape (n,)
        Values per row; NaN where unobserved.
    cluster : ndarray of int, shape (n,)
        Cluster code 0..n_clusters-1 per row.
    n_clusters : int

    Returns
    -------
    ndarray of int
        The varying clusters' codes, ascending.

    Examples
    --------
    >>> import numpy as np
    >>> varying_clusters(np.array([1.0, 1.0, 2.0, 3.0, np.nan]), np.array([0, 0, 1, 1, 2]), 3)
    array([1])
    """
    ok = ~np.isnan(y)
    low = np.full(n_clusters, np.inf)
    high = np.full(n_clusters, -np.inf)
    np.minimum.at(low, cluster[ok], y[ok])
    np.maximum.at(high, cluster[ok], y[ok])
    return np.flatnonzero(np.isfinite(low) & (high - low > 1e-9 * np.maximum(1, np.abs(high))))


def varying_cluster_labels(values: pd.Series, cluster: pd.Series) -> list:
    """Labels of the clusters in which two observed ``values`` differ (any type, compared
    by equality), in the clusters' sorted order; rows without a cluster are left out.

    Examples
    --------
    >>> import pandas as pd
    >>> varying_cluster_labels(pd.Series(["a", "a", "b", None]), pd.Series([2, 2, 1, 1]))
    []
    >>> varying_cluster_labels(pd.Series(["a", "b", "b", None]), pd.Series([2, 2, 1, 1]))
    [2]
    """
    groups, labels = pd.factorize(cluster, sort=True)
    codes = pd.factorize(values)[0].astype(float)
    codes[codes < 0] = np.nan  # a missing value
    present = groups >= 0
    # integer codes differ by at least 1, beyond the rounding allowance: equality exactly
    varying = varying_clusters(codes[present], groups[present], len(labels))
    return np.asarray(labels)[varying].tolist()


def is_cluster_level(values: pd.Series, cluster: pd.Series) -> bool:
    """Whether ``values`` is a cluster-level variable: constant within every cluster.

    The observed values must agree within every cluster, and that agreement must be more
    than chance: a row-level variable whose most frequent observed value has share ``p``
    looks constant in a cluster with ``n`` observed rows with probability at most
    ``p ** (n - 1)``. The product over the clusters must be below :data:`CHANCE_LEVEL`, so
    a binary variable observed twice in each of a few clusters is not taken for a
    cluster-level one, while a school's denomination observed on 19 pupils per school is.
    A column with a single observed value is not cluster-level (it is constant).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> cluster = pd.Series(np.repeat(np.arange(10), 20))
    >>> is_cluster_level(pd.Series(np.repeat(np.arange(10) % 2, 20)), cluster)
    True
    >>> is_cluster_level(pd.Series(np.arange(200) % 2), cluster)
    False
    """
    observed = values.notna().to_numpy()
    if observed.sum() < 2:
        return False
    observed_values, observed_cluster = values[observed], cluster[observed]
    if varying_cluster_labels(observed_values.iloc[:PREFIX_ROWS],
                              observed_cluster.iloc[:PREFIX_ROWS]):
        return False  # a proof from the first rows: no need to code millions of values
    groups = pd.factorize(cluster.to_numpy()[observed])[0]
    codes = pd.factorize(values.to_numpy()[observed])[0]
    n_clusters = groups.max() + 1
    if len(varying_clusters(codes.astype(float), groups, n_clusters)):
        return False
    top_share = np.bincount(codes).max() / len(codes)
    if top_share >= 1.0:
        return False
    repeats = len(codes) - n_clusters  # sum over clusters of (n_j - 1)
    return bool(repeats * np.log(top_share) < np.log(settings["cluster_level.chance_level"]))
