"""Cluster-level (level-2) variables: 2lonly.norm and 2lonly.pmm.

A level-2 variable (e.g. teacher experience ``texp``) takes one value per cluster. Its
model is a Bayesian linear regression at the cluster level, on the cluster means of the
predictors (as mice's 2lonly.norm and miceadds' 2lonly.function do); a missing cluster gets
one draw, copied to all its rows.
"""

from __future__ import annotations

import numpy as np

from bayesimpute.engine.coding import VariableKind
from bayesimpute.methods.base import Draw, MethodData, MethodError
from bayesimpute.methods.normal import _LinearGaussianMethod
from bayesimpute.methods.registry import register_method

__all__ = ["ClusterLevelNorm", "ClusterLevelPmm", "varying_clusters"]


def varying_clusters(y: np.ndarray, cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """Codes of the clusters whose observed values are not all equal."""
    ok = ~np.isnan(y)
    low = np.full(n_clusters, np.inf)
    high = np.full(n_clusters, -np.inf)
    np.minimum.at(low, cluster[ok], y[ok])
    np.maximum.at(high, cluster[ok], y[ok])
    return np.flatnonzero(np.isfinite(low) & (high - low > 1e-9 * np.maximum(1, np.abs(high))))


def _to_cluster_level(data: MethodData) -> tuple[MethodData, np.ndarray]:
    """Aggregate rows to clusters; returns the cluster-level data and the cluster values
    already known from observed rows (NaN where the cluster has none)."""
    J, cluster = data.n_clusters, data.cluster
    counts = np.bincount(cluster, minlength=J).astype(float)
    X = np.column_stack([
        np.bincount(cluster, weights=data.X[:, j], minlength=J) / np.maximum(counts, 1)
        for j in range(data.X.shape[1])
    ])
    obs = data.observed
    known = np.full(J, np.nan)
    known[cluster[obs]] = data.y[obs]
    y = known.copy()
    y[np.isnan(y)] = 0.0  # placeholder, never used: those clusters are not observed
    present = counts > 0
    level2 = MethodData(
        target=data.target, kind=data.kind, y=y[present], observed=~np.isnan(known[present]),
        impute=np.isnan(known[present]) & (np.bincount(cluster[data.impute], minlength=J) > 0)[present],
        X=X[present], x_names=data.x_names, random=np.array([], dtype=int), cluster=None,
        n_clusters=0,
    )
    return level2, known


class _ClusterLevelMethod(_LinearGaussianMethod):
    multilevel = True
    cluster_level = True
    random_effects = False

    def update(self, data: MethodData, rng: np.random.Generator) -> Draw:
        if data.cluster is None:
            raise MethodError(f"{self.name} needs a cluster identifier (predictor code -2)")
        bad = varying_clusters(np.where(data.observed, data.y, np.nan), data.cluster, data.n_clusters)
        if len(bad):
            labels = data.cluster_labels[bad] if data.cluster_labels is not None else bad
            raise MethodError(
                f"{self.name}: {data.target!r} varies within cluster(s) {list(labels)[:10]}; "
                "a cluster-level variable must be constant within each cluster"
            )
        level2, known = _to_cluster_level(data)
        draw = super().update(level2, rng)
        present = np.flatnonzero(np.bincount(data.cluster, minlength=data.n_clusters) > 0)
        cluster_values = known.copy()
        cluster_values[present[level2.impute]] = draw.values
        values = cluster_values[data.cluster[data.impute]]
        events = []
        partial = np.unique(data.cluster[data.impute & ~np.isnan(known[data.cluster])])
        if len(partial):
            events.append(
                f"{len(partial)} cluster(s) had {data.target!r} observed on some rows and "
                "missing on others: the missing rows took the cluster's observed value"
            )
        return Draw(values, draw.parameters, draw.stats, draw.events + events)


@register_method("2lonly.norm")
class ClusterLevelNorm(_ClusterLevelMethod):
    """Bayesian linear regression at the cluster level, on cluster means of predictors."""


@register_method("2lonly.pmm")
class ClusterLevelPmm(_ClusterLevelMethod):
    """2lonly.norm's model + predictive mean matching among observed clusters."""

    matching = True
    kinds = frozenset({VariableKind.CONTINUOUS, VariableKind.BINARY, VariableKind.ORDERED})
