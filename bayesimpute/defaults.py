"""micemd-style choice of a two-level imputation method per incomplete variable.

micemd's ``find.defaultMethod`` (Audigier et al. 2018, Stat Sci 33:160-183) chooses between
one-stage and two-stage methods from the variable's type, the number of clusters and the
cluster sizes, with three thresholds: ``I.small = 7`` clusters, ``ni.small = 100``
individuals per cluster and ``prop.small = 0.4`` (the share of small clusters above which
clusters count as small). Its reasons: two-stage (cluster-by-cluster) fits need large
clusters, and many of them for the between-cluster meta-analysis; with few or small
clusters a one-stage mixed model, which pools information, does better.

Here every 2l method is a one-stage Bayesian mixed model whose priors keep the
variance components proper with few clusters, so the thresholds choose something else:

* by type: binary -> ``2l.bin``, unordered factor -> ``2l.polyreg``, ordered factor ->
  ``2l.polr``, count (a nullable integer column, pandas ``Int64`` etc., as micemd treats
  R integers as counts) -> ``2l.pois``;
* continuous -> ``2l.norm`` when the clusters are *informative for that variable*: at
  least ``I_small`` clusters and at most a share ``prop_small`` of them with fewer than
  ``ni_small`` observed values. There the normal model is checkable cluster by cluster and
  its parametric draws are efficient. Otherwise -> ``2l.pmm``: the imputations rest mostly
  on pooling, so donors from observed values protect against a wrong normal assumption
  (Audigier et al. found homoscedastic one-stage imputation best there, which 2l.pmm is).
  Cluster sizes are counted in *observed* values of the variable, which is how the share of
  missingness per cluster enters: a cluster where the variable is mostly or entirely
  missing (systematic missingness) carries no information about its own random effect;
* a variable constant within every cluster (a cluster-level variable,
  :func:`~bayesimpute.design.clusters.is_cluster_level`) -> the cluster-level method
  of its type, ``2lonly.pmm`` (continuous), ``2lonly.logreg`` (binary), ``2lonly.polyreg``
  (unordered factor), ``2lonly.polr`` (ordered factor), which impute one value per cluster.
  :func:`~bayesimpute.engine.spec.make_method` makes the same choice: one table
  (:data:`~bayesimpute.method_table.DEFAULT_METHODS`) serves both. The
  thresholds do not enter: a cluster-level variable has one value per cluster, so its
  model has as many observations as clusters with an observed value, whatever their size;
  predictive mean matching keeps its imputations on observed cluster values;
* fewer than two clusters -> the single-level method (``pmm``, ``logreg``, ``polyreg``,
  ``polr``): one cluster carries no information on a between-cluster variance.

The reason for every choice is kept in ``result.attrs["reasons"]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesimpute.design.clusters import is_cluster_level
from bayesimpute.design.coding import VariableKind, is_count_column, variable_kind
from bayesimpute.engine.spec import to_pandas_frame
from bayesimpute.design.clusters import is_cluster_level
from bayesimpute.method_table import Level, default_method_for
from bayesimpute.settings import settings
from bayesimpute.validation import check_cluster

__all__ = ["find_default_method", "I_SMALL", "NI_SMALL", "PROP_SMALL"]

#: micemd's thresholds, the defaults of ``bi.settings["default_method.*"]`` (see the module
#: docstring for what they decide here)
I_SMALL = settings.default("default_method.I_small")
NI_SMALL = settings.default("default_method.ni_small")
PROP_SMALL = settings.default("default_method.prop_small")


_KIND_REASONS = {VariableKind.BINARY: "binary", VariableKind.CATEGORICAL: "unordered factor",
                 VariableKind.ORDERED: "ordered factor"}


def find_default_method(
    data: pd.DataFrame,
    cluster: str,
    *,
    I_small: int | None = None,  # noqa: N803 - micemd's argument names
    ni_small: int | None = None,
    prop_small: float | None = None,
) -> pd.Series:
    """Choose a two-level imputation method for every incomplete column.

    Parameters
    ----------
    data : pandas.DataFrame
        The incomplete data.
    cluster : str
        Name of the cluster column (it must be complete).
    I_small : int, optional
        Fewer clusters than this count as "few clusters" (micemd's ``I.small``); default
        ``bi.settings["default_method.I_small"]`` (7).
    ni_small : int, optional
        A cluster with fewer observed values of a variable than this is "small"; default
        ``bi.settings["default_method.ni_small"]`` (100).
    prop_small : float, optional
        Clusters count as small when more than this share of them is small; default
        ``bi.settings["default_method.prop_small"]`` (0.4).

    Returns
    -------
    pandas.Series
        Column -> method name; ``""`` for complete columns and for the cluster column.
        ``attrs["reasons"]`` maps each imputed column to why its method was chosen.

    Examples
    --------
    >>> import bayesimpute as bi
    >>> bi.find_default_method(bi.datasets.load_impact("incomplete"), cluster="name")["ct"]
    '2l.polyreg'
    """
    data = to_pandas_frame(data)
    # read at call time, so bi.rc_context changes them
    I_small = settings["default_method.I_small"] if I_small is None else I_small  # noqa: N806
    ni_small = settings["default_method.ni_small"] if ni_small is None else ni_small
    prop_small = settings["default_method.prop_small"] if prop_small is None else prop_small
    groups = _cluster_codes(data, cluster)
    methods, reasons = {}, {}
    for column in data.columns:
        series = data[column]
        if column == cluster or not series.isna().any():
            methods[column] = ""
            continue
        methods[column], reasons[column] = _choose(
            series, data[cluster], groups, I_small, ni_small, prop_small
        )
    result = pd.Series(methods, dtype=object, name="method")
    result.attrs["reasons"] = reasons
    return result


def _cluster_codes(data: pd.DataFrame, cluster: str) -> np.ndarray:
    return pd.factorize(check_cluster(data, cluster))[0]


def _choose(series: pd.Series, cluster: pd.Series, groups: np.ndarray,
            I_small: int, ni_small: int, prop_small: float) -> tuple[str, str]:  # noqa: N803
    kind = variable_kind(series)
    n_clusters = int(groups.max()) + 1
    if n_clusters < 2:
        return (default_method_for(kind, Level.SINGLE),
                "one cluster: no between-cluster variance to model")
    if is_cluster_level(series, cluster):
        return (default_method_for(kind, Level.CLUSTER),
                "constant within every cluster: a cluster-level variable, imputed one value "
                "per cluster")
    if is_count_column(series):
        return "2l.pois", "non-negative integer column: a count"
    if kind is not VariableKind.CONTINUOUS:  # the table's two-level method of its kind
        return default_method_for(kind, Level.TWO), _KIND_REASONS[kind]
    observed = np.bincount(groups[series.notna().to_numpy()], minlength=n_clusters)
    share_small = float(np.mean(observed < ni_small))
    systematic = int(np.sum(observed == 0))
    detail = (f"{n_clusters} clusters, {share_small:.0%} with fewer than {ni_small} observed "
              f"values ({systematic} with none)")
    if n_clusters >= I_small and share_small <= prop_small:
        return "2l.norm", f"continuous; informative clusters: {detail}"
    return "2l.pmm", f"continuous; few or small clusters: {detail}"
