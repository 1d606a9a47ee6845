"""Cluster-level (level-2) variables: one value per cluster, imputed at the cluster level.

A level-2 variable (teacher experience ``texp``, a school's denomination ``den``) takes one
value per cluster. As in miceadds' ``2lonly.function``, its model is a single-level model
fitted to one row per cluster, with the cluster means of the predictors as covariates; a
cluster without an observed value gets one draw, copied to all its rows, so the variable
stays constant within every cluster of every completed dataset:

============================  ==================  ===========================================
method                        variable            model at the cluster level
============================  ==================  ===========================================
``2lonly.norm``               continuous          Bayesian linear regression (``norm``)
``2lonly.pmm``                continuous, binary, ``norm``'s model + predictive mean matching
                              ordered             among the observed clusters (``pmm``)
``2lonly.logreg``             binary              Bayesian logistic regression (``logreg``)
``2lonly.polyreg``            unordered factor    multinomial logit (``polyreg``)
``2lonly.polr``               ordered factor      cumulative logit (``polr``)
============================  ==================  ===========================================

Each is the single-level method of the same name run on the cluster-level rows, so it
inherits that method's priors, sampler and options. The defaults
(:func:`~bayesimpute.engine.spec.make_method`, :func:`~bayesimpute.defaults.find_default_method`)
detect a cluster-level variable with :func:`is_cluster_level` and choose
:func:`cluster_level_method` for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesimpute.design.coding import VariableKind
from bayesimpute.method_table import Level, default_method_for
from bayesimpute.methods.base import Draw, MethodData, MethodError
from bayesimpute.methods.logistic.binary import LogReg
from bayesimpute.methods.logistic.categorical import PolyReg
from bayesimpute.methods.ordinal.cumulative_logit import Polr
from bayesimpute.methods.gaussian.normal import Norm, Pmm
from bayesimpute.methods.registry import register_method
from bayesimpute.settings import settings

__all__ = [
    "ClusterLevelNorm",
    "ClusterLevelPmm",
    "ClusterLevelLogReg",
    "ClusterLevelPolyReg",
    "ClusterLevelPolr",
    "CHANCE_LEVEL",
    "cluster_level_method",
    "is_cluster_level",
    "varying_clusters",
]

#: The default of ``settings["cluster_level.chance_level"]``: a variable counts as
#: cluster-level when a row-level variable with its observed frequencies would look
#: constant within every cluster with at most this probability.
CHANCE_LEVEL = settings.default("cluster_level.chance_level")


def cluster_level_method(kind: VariableKind) -> str:
    """The default 2lonly method for a cluster-level variable of this kind.

    The same family as the single-level defaults (``pmm``, ``logreg``, ``polyreg``,
    ``polr``): predictive mean matching for a continuous variable keeps its imputations on
    the observed cluster values (whole years of experience, an index's own values).
    """
    return default_method_for(kind, Level.CLUSTER)


def is_cluster_level(values: pd.Series, cluster: pd.Series) -> bool:
    """Whether ``values`` is a cluster-level variable: constant within every cluster.

    The observed values must agree within every cluster, and that agreement must be more
    than chance: a row-level variable whose most frequent observed value has share ``p``
    looks constant in a cluster with ``n`` observed rows with probability at most
    ``p ** (n - 1)``. The product over the clusters must be below
    ``bi.settings["cluster_level.chance_level"]`` (:data:`CHANCE_LEVEL`), so a binary
    variable observed twice in each of a few clusters is not taken for a cluster-level one,
    while a school's denomination observed on 19 pupils per school is.
    A column with a single observed value is not cluster-level (it is constant).
    """
    observed = values.notna().to_numpy()
    if observed.sum() < 2:
        return False
    if _varies_within_a_cluster(values.to_numpy()[observed][:PREFIX_ROWS],
                                cluster.to_numpy()[observed][:PREFIX_ROWS]):
        return False  # a proof from the first rows: no need to code millions of values
    groups = pd.factorize(cluster.to_numpy()[observed])[0]
    codes = pd.factorize(values.to_numpy()[observed])[0]
    low = np.full(groups.max() + 1, np.iinfo(np.int64).max)
    high = np.full(groups.max() + 1, -1)
    np.minimum.at(low, groups, codes)
    np.maximum.at(high, groups, codes)
    if np.any(low != high):
        return False
    top_share = np.bincount(codes).max() / len(codes)
    if top_share >= 1.0:
        return False
    repeats = len(codes) - (groups.max() + 1)  # sum over clusters of (n_j - 1)
    return bool(repeats * np.log(top_share) < np.log(settings["cluster_level.chance_level"]))


#: observed rows that :func:`is_cluster_level` searches first for a cluster whose values differ
PREFIX_ROWS = 10_000


def _varies_within_a_cluster(values: np.ndarray, cluster: np.ndarray) -> bool:
    """Whether two of these (observed) rows of one cluster have different values."""
    frame = pd.DataFrame({"cluster": pd.factorize(cluster)[0], "value": pd.factorize(values)[0]})
    return bool((frame.groupby("cluster")["value"].nunique() > 1).any())


def varying_clusters(y: np.ndarray, cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """Codes of the clusters whose observed values are not all equal."""
    ok = ~np.isnan(y)
    low = np.full(n_clusters, np.inf)
    high = np.full(n_clusters, -np.inf)
    np.minimum.at(low, cluster[ok], y[ok])
    np.maximum.at(high, cluster[ok], y[ok])
    return np.flatnonzero(np.isfinite(low) & (high - low > 1e-9 * np.maximum(1, np.abs(high))))


def _to_cluster_level(data: MethodData) -> tuple[MethodData, np.ndarray, np.ndarray]:
    """Aggregate rows to clusters.

    Returns the cluster-level data (one row per cluster present), the cluster values
    already known from observed rows (NaN where the cluster has none, one entry per
    cluster code) and the codes of the clusters present.
    """
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
    present = np.flatnonzero(counts > 0)
    to_impute = np.bincount(cluster[data.impute], minlength=J) > 0
    level2 = MethodData(
        target=data.target, kind=data.kind, y=y[present], observed=~np.isnan(known[present]),
        impute=(np.isnan(known) & to_impute)[present], X=X[present], x_names=data.x_names,
        random=np.array([], dtype=int), cluster=None, n_clusters=0, cluster_labels=None,
        n_categories=data.n_categories, x_roles=data.x_roles, categories=data.categories,
        mean_levels=list(data.mean_levels),
    )
    return level2, known, present


class _ClusterLevel:
    """Mixin: run the single-level method that follows it in the MRO on cluster rows."""

    multilevel = True
    cluster_level = True

    def update(self, data: MethodData, rng: np.random.Generator) -> Draw:
        if data.cluster is None:
            raise MethodError(f"{self.name} needs a cluster identifier (predictor code -2)")
        bad = varying_clusters(np.where(data.observed, data.y, np.nan), data.cluster,
                               data.n_clusters)
        if len(bad):
            labels = data.cluster_labels[bad] if data.cluster_labels is not None else bad
            raise MethodError(
                f"{self.name}: {data.target!r} varies within cluster(s) {list(labels)[:10]}; "
                "a cluster-level variable must be constant within each cluster"
            )
        level2, known, present = _to_cluster_level(data)
        draw = super().update(level2, rng)
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
class ClusterLevelNorm(_ClusterLevel, Norm):
    """Bayesian linear regression at the cluster level, on cluster means of predictors."""


@register_method("2lonly.pmm")
class ClusterLevelPmm(_ClusterLevel, Pmm):
    """2lonly.norm's model + predictive mean matching among observed clusters."""


@register_method("2lonly.logreg", aliases=("2lonly.bin",))
class ClusterLevelLogReg(_ClusterLevel, LogReg):
    """Bayesian logistic regression at the cluster level (miceadds' 2lonly.function with
    ``logreg``)."""


@register_method("2lonly.polyreg")
class ClusterLevelPolyReg(_ClusterLevel, PolyReg):
    """Multinomial logistic regression at the cluster level, for an unordered factor
    (miceadds' 2lonly.function with ``polyreg``)."""


@register_method("2lonly.polr")
class ClusterLevelPolr(_ClusterLevel, Polr):
    """Cumulative-logit regression at the cluster level, for an ordered factor (miceadds'
    2lonly.function with ``polr``)."""
