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
detect a cluster-level variable with
:func:`~bayesimpute.design.clusters.is_cluster_level` and choose
:func:`cluster_level_method` for it.
"""

from __future__ import annotations

import numpy as np

# the rule lives in the design layer; re-exported here beside the methods it chooses
from bayesimpute.design.clusters import CHANCE_LEVEL, is_cluster_level, varying_clusters
from bayesimpute.design.coding import VariableKind
from bayesimpute.method_table import Level, default_method_for
from bayesimpute.methods.base import Draw, MethodData, MethodError
from bayesimpute.methods.logistic.binary import LogReg
from bayesimpute.methods.logistic.categorical import PolyReg
from bayesimpute.methods.ordinal.cumulative_logit import Polr
from bayesimpute.methods.gaussian.normal import Norm, Pmm
from bayesimpute.methods.registry import register_method

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



def cluster_level_method(kind: VariableKind) -> str:
    """The default 2lonly method for a cluster-level variable of this kind.

    The same family as the single-level defaults (``pmm``, ``logreg``, ``polyreg``,
    ``polr``): predictive mean matching for a continuous variable keeps its imputations on
    the observed cluster values (whole years of experience, an index's own values).
    """
    return default_method_for(kind, Level.CLUSTER)


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
