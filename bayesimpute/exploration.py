"""Exploring incomplete multilevel data before imputing it.

The computations behind the exploration plots in :mod:`bayesimpute.plots`:
missing-data patterns (mice's ``md.pattern``), missingness per cluster with a
sporadic / systematic classification, intraclass correlations from a null
random-intercept model, mice's influx / outflux statistics and pairwise-complete
correlations. None of these functions modifies the DataFrame it is given.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayesimpute.validation import check_cluster, check_columns, check_frame

__all__ = [
    "md_pattern",
    "missingness_summary",
    "MissingnessSummary",
    "icc",
    "flux",
    "correlation_matrix",
]

#: Label of the last row of :func:`md_pattern` (missing counts per variable).
TOTAL_ROW = "total"


def _is_numeric(series: pd.Series) -> bool:
    """Numbers and booleans count as numeric (0/1 variables included); categoricals do not."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return False
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


# --------------------------------------------------------------------------- md.pattern
def md_pattern(data: pd.DataFrame) -> pd.DataFrame:
    """Missing-data patterns, as mice's ``md.pattern``.

    Parameters
    ----------
    data : pandas.DataFrame
        The incomplete data. Any dtype; only missingness (``isna``) matters.

    Returns
    -------
    pandas.DataFrame
        One row per distinct pattern, index ``1..k`` (name ``"pattern"``), plus a last
        row labelled ``"total"``. Columns: ``count`` (rows with that pattern), then the
        variables sorted by their number of missing values (ties keep the data's order),
        then ``n_missing`` (variables missing in the pattern). Pattern cells are 1 =
        observed, 0 = missing; patterns are ordered as in mice (the complete pattern
        first, then lexicographically by missingness over the sorted columns). In the
        ``"total"`` row the variable columns hold each variable's number of missing
        values, ``n_missing`` the total number of missing cells, ``count`` the number of
        rows. All values are integers.

    Examples
    --------
    >>> df = pd.DataFrame({"a": [1, None, 3], "b": [1, 2, 3]})
    >>> md_pattern(df)  # doctest: +NORMALIZE_WHITESPACE
             count  b  a  n_missing
    pattern
    1            2  1  1          0
    2            1  1  0          1
    total        3  0  1          1
    """
    check_frame(data)
    missing = data.isna()
    n_missing_per_variable = missing.sum(axis=0)
    # A stable sort keeps the data's column order among ties, as R's order() does.
    order = n_missing_per_variable.sort_values(kind="stable").index
    missing = missing[order].astype(np.int8)

    patterns = missing.value_counts(sort=False).rename("count").reset_index()
    # mice sorts patterns by the string of missing indicators: complete pattern first.
    keys = patterns[list(order)].astype(str).agg("".join, axis=1)
    patterns = patterns.loc[keys.sort_values(kind="stable").index].reset_index(drop=True)

    table = pd.DataFrame({"count": patterns["count"].to_numpy()})
    for column in order:
        table[column] = 1 - patterns[column].to_numpy()
    table["n_missing"] = patterns[list(order)].sum(axis=1).to_numpy()
    table.index = pd.RangeIndex(1, len(table) + 1)

    total = [len(data), *n_missing_per_variable[order].tolist(), int(n_missing_per_variable.sum())]
    table.loc[TOTAL_ROW] = total
    table.index.name = "pattern"
    return table.astype(np.int64)


# --------------------------------------------------------------------------- missingness
@dataclass(frozen=True)
class MissingnessSummary:
    """Missingness per variable and cluster, with a sporadic / systematic classification.

    Attributes
    ----------
    cluster : Hashable
        Name of the cluster column.
    shares : pandas.DataFrame
        Wide table: index = variables (data order), columns = clusters (sorted), values =
        share of the cluster's rows where the variable is missing (0–1).
    counts : pandas.DataFrame
        Same shape as ``shares``: the number of missing values.
    cluster_sizes : pandas.Series
        Rows per cluster.
    classification : pandas.DataFrame
        One row per variable (index ``variable``) with columns ``status`` (``"complete"``:
        never missing; ``"sporadic"``: missing somewhere but observed in every cluster;
        ``"systematic"``: entirely missing in at least one cluster), ``systematic_clusters``
        (list of the clusters where it is entirely missing, empty otherwise),
        ``n_missing`` and ``share_missing`` (over all rows).
    """

    cluster: Hashable
    shares: pd.DataFrame
    counts: pd.DataFrame
    cluster_sizes: pd.Series
    classification: pd.DataFrame

    def tidy(self) -> pd.DataFrame:
        """Long form: one row per variable and cluster.

        Returns
        -------
        pandas.DataFrame
            Columns ``variable, cluster, n, n_missing, share_missing``.
        """
        counts = self.counts.rename_axis(index="variable", columns="cluster").stack()
        shares = self.shares.rename_axis(index="variable", columns="cluster").stack()
        long = pd.DataFrame({"n_missing": counts, "share_missing": shares}).reset_index()
        long.insert(2, "n", long["cluster"].map(self.cluster_sizes).astype(np.int64))
        return long

    def systematic(self) -> dict[Hashable, list]:
        """Variables that are systematically missing, mapped to their clusters."""
        table = self.classification
        rows = table[table["status"] == "systematic"]
        return dict(zip(rows.index, rows["systematic_clusters"]))

    def __repr__(self) -> str:
        return (
            f"MissingnessSummary(cluster={self.cluster!r}, clusters={self.shares.shape[1]})\n"
            f"{self.classification.to_string()}"
        )


def missingness_summary(
    data: pd.DataFrame,
    cluster: Hashable,
    variables: Sequence[Hashable] | None = None,
) -> MissingnessSummary:
    """Share missing per variable and cluster, and whether missingness is systematic.

    A variable is *systematically* missing when it is never observed in at least one
    cluster (e.g. a measurement a study did not take); such variables need a method
    that borrows information across clusters (``2l.*`` with random effects), not a
    per-cluster model.

    Parameters
    ----------
    data : pandas.DataFrame
        The incomplete data.
    cluster : hashable
        The cluster column; it must be completely observed.
    variables : sequence of hashable, optional
        Variables to summarise; default every column except ``cluster``.

    Returns
    -------
    MissingnessSummary
        ``.shares`` (variables × clusters), ``.classification`` (``status``,
        ``systematic_clusters``, ``n_missing``, ``share_missing`` per variable),
        ``.tidy()`` for a long table.

    Examples
    --------
    >>> import bayesimpute as bi
    >>> s = bi.missingness_summary(bi.datasets.load_impact("systematic"), cluster="name")
    >>> s.classification.loc["ct", "systematic_clusters"]
    ['HIT II', 'NABIS', 'CSTAT']
    """
    check_frame(data)
    check_cluster(data, cluster)
    if variables is None:
        variables = [c for c in data.columns if c != cluster]
    else:
        variables = check_columns(data, variables, "variable")

    missing = data[variables].isna()
    # observed=True: unused categorical levels are not clusters of this data.
    grouped = missing.groupby(data[cluster], observed=True, sort=True)
    counts = grouped.sum().T.astype(np.int64)
    sizes = grouped.size().astype(np.int64)
    shares = counts / sizes
    counts.columns.name = shares.columns.name = cluster

    classification = _classify(counts, shares, sizes)
    return MissingnessSummary(cluster, shares, counts, sizes, classification)


def _classify(counts: pd.DataFrame, shares: pd.DataFrame, sizes: pd.Series) -> pd.DataFrame:
    """One row per variable: complete / sporadic / systematic and its clusters."""
    rows = []
    for variable in counts.index:
        entirely_missing = [c for c in shares.columns if shares.at[variable, c] == 1.0]
        n_missing = int(counts.loc[variable].sum())
        if entirely_missing:
            status = "systematic"
        elif n_missing:
            status = "sporadic"
        else:
            status = "complete"
        rows.append(
            {
                "variable": variable,
                "status": status,
                "systematic_clusters": entirely_missing,
                "n_missing": n_missing,
                "share_missing": n_missing / int(sizes.sum()),
            }
        )
    return pd.DataFrame(rows).set_index("variable")


# --------------------------------------------------------------------------- ICC
def icc(
    data: pd.DataFrame,
    cluster: Hashable,
    variables: Sequence[Hashable] | None = None,
) -> pd.DataFrame:
    """Intraclass correlation of each numeric variable from a null random-intercept model.

    For every variable ``y`` the model ``y ~ 1 + (1 | cluster)`` is fitted by REML
    (the lme4-exact :func:`~bayesimpute.analysis.fit_formula`) on the rows where ``y`` is observed, and
    ``ICC = tau² / (tau² + sigma²)`` with tau² the cluster-intercept variance and
    sigma² the residual variance. A variable constant within every cluster (a
    cluster-level variable such as a teacher's experience) has zero within-cluster
    variance and ICC 1; a variable constant overall has ICC NaN.

    Parameters
    ----------
    data : pandas.DataFrame
        The incomplete data.
    cluster : hashable
        The cluster column; it must be completely observed.
    variables : sequence of hashable, optional
        Variables to compute the ICC for. Default: every numeric or boolean column
        (0/1 included) except ``cluster``; categorical and text columns are skipped.
        A non-numeric variable named here is an error.

    Returns
    -------
    pandas.DataFrame
        Index ``variable``; columns ``icc``, ``between_var`` (tau²), ``within_var``
        (sigma²), ``n_obs`` and ``n_clusters`` (rows and clusters the fit used).

    Raises
    ------
    ValueError
        For an unknown column, or a requested variable that is not numeric.

    Examples
    --------
    >>> import bayesimpute as bi
    >>> bi.icc(bi.datasets.load_popmis(), cluster="school", variables=["texp"])["icc"]
    variable
    texp    1.0
    Name: icc, dtype: float64
    """
    check_frame(data)
    check_cluster(data, cluster)
    if variables is None:
        variables = [c for c in data.columns if c != cluster and _is_numeric(data[c])]
    else:
        variables = check_columns(data, variables, "variable")
        for variable in variables:
            if not _is_numeric(data[variable]):
                raise ValueError(
                    f"icc needs numeric variables; column {variable!r} has dtype "
                    f"{data[variable].dtype} (code it as numbers first)"
                )
    rows = [_null_model_icc(data[v], data[cluster]) | {"variable": v} for v in variables]
    columns = ["variable", "icc", "between_var", "within_var", "n_obs", "n_clusters"]
    return pd.DataFrame(rows, columns=columns).set_index("variable")


def _null_model_icc(values: pd.Series, groups: pd.Series) -> dict:
    """Fit ``y ~ 1`` with a random intercept per group on the observed rows of ``y``."""
    observed = values.notna()
    y = values[observed].astype(float).to_numpy()
    g = groups[observed].to_numpy()
    n_clusters = int(pd.Series(g).nunique())
    result = {"n_obs": int(y.size), "n_clusters": n_clusters}

    cluster_means = pd.Series(y).groupby(g).transform("mean").to_numpy()
    within_ss = float(np.sum((y - cluster_means) ** 2))
    total_var = float(np.var(y)) if y.size else 0.0
    if y.size < 2 or total_var == 0.0:
        # Nothing varies: the ICC is undefined.
        return result | {"icc": np.nan, "between_var": 0.0, "within_var": 0.0}
    if np.isclose(within_ss, 0.0, atol=1e-12 * total_var * y.size):
        # Constant within every cluster: MixedLM's likelihood is degenerate here, but the
        # answer is known: all variance lies between clusters.
        between = float(pd.Series(y).groupby(g).mean().var(ddof=1)) if n_clusters > 1 else 0.0
        return result | {"icc": 1.0, "between_var": between, "within_var": 0.0}
    if n_clusters < 2:
        return result | {"icc": np.nan, "between_var": np.nan, "within_var": total_var}

    between, within = _fit_random_intercept(y, g)
    icc_value = between / (between + within)
    return result | {"icc": icc_value, "between_var": between, "within_var": within}


def _fit_random_intercept(y: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """REML variance components of ``y ~ 1 + (1 | groups)``, by the package's lme4-exact
    analysis layer (a boundary estimate, tau² = 0, is a legitimate answer: ICC 0)."""
    from bayesimpute.analysis import fit_formula

    frame = pd.DataFrame({"y": y, "cluster": pd.Categorical(groups)})
    components = fit_formula("y ~ 1 + (1 | cluster)", frame).variance_components
    return max(float(components["cluster: Intercept"]), 0.0), float(components["residual"])


# --------------------------------------------------------------------------- flux
def flux(data: pd.DataFrame, local: Sequence[Hashable] | None = None) -> pd.DataFrame:
    """Influx and outflux of the missing-data pattern, as mice's ``flux``.

    With ``R_j`` the response indicator of variable ``j`` and sums over all
    variables ``k`` of the data:

    - ``pobs``: proportion of rows where ``j`` is observed;
    - ``influx``: pairs (``j`` missing, ``k`` observed) divided by all observed cells;
      0 for a complete variable, higher = better connected to the observed data;
    - ``outflux``: pairs (``j`` observed, ``k`` missing) divided by all missing cells;
      1 for a complete variable, higher = more useful as a predictor (NaN when the data
      have no missing values at all);
    - ``ainb``: average over ``k != j`` of P(``k`` observed | ``j`` missing);
    - ``aout``: average over ``k != j`` of P(``k`` missing | ``j`` observed);
    - ``fico``: fraction of incomplete rows among the rows where ``j`` is observed
      (White and Carlin, 2010).

    Parameters
    ----------
    data : pandas.DataFrame
        The incomplete data (any dtypes).
    local : sequence of hashable, optional
        Variables to report (rows of the result); the statistics still count pairs with
        every column of ``data``. Default: all columns.

    Returns
    -------
    pandas.DataFrame
        Index = variables, columns ``pobs, influx, outflux, ainb, aout, fico``.
    """
    check_frame(data)
    local = list(data.columns) if local is None else check_columns(data, local, "variable")
    observed = data.notna().to_numpy(dtype=float)
    missing = 1.0 - observed
    # mice's md.pairs: rr[j, k] = rows with j and k observed, rm = j observed & k missing, ...
    rr, rm = observed.T @ observed, observed.T @ missing
    mr, mm = missing.T @ observed, missing.T @ missing
    n_vars = data.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        ainb = np.nansum(mr / (mr + mm), axis=1) / (n_vars - 1) if n_vars > 1 else np.zeros(n_vars)
        aout = np.nansum(rm / (rm + rr), axis=1) / (n_vars - 1) if n_vars > 1 else np.zeros(n_vars)
        outflux = rm.sum(axis=1) / (rm + mm).sum(axis=1)
        influx = mr.sum(axis=1) / (mr + rr).sum(axis=1)
        incomplete_row = missing.any(axis=1)
        fico = (observed * incomplete_row[:, None]).sum(axis=0) / observed.sum(axis=0)
    table = pd.DataFrame(
        {
            "pobs": observed.mean(axis=0),
            "influx": influx,
            "outflux": outflux,
            "ainb": ainb,
            "aout": aout,
            "fico": fico,
        },
        index=pd.Index(data.columns, name="variable"),
    )
    return table.loc[local]


# --------------------------------------------------------------------------- correlations
def correlation_matrix(
    data: pd.DataFrame,
    variables: Sequence[Hashable] | None = None,
    method: str = "pearson",
) -> pd.DataFrame:
    """Pairwise-complete correlations of the numeric and ordered categorical variables.

    Parameters
    ----------
    data : pandas.DataFrame
        The incomplete data.
    variables : sequence of hashable, optional
        Columns to correlate. Default: numeric, boolean and *ordered* categorical
        columns (ordered categories enter as their level codes 0, 1, ...); unordered
        categoricals and text are left out, since their codes carry no order.
    method : {"pearson", "spearman", "kendall"}
        Passed to :meth:`pandas.DataFrame.corr`.

    Returns
    -------
    pandas.DataFrame
        Square correlation matrix; NaN where a column is constant or two columns share
        fewer than two observed rows.

    Raises
    ------
    ValueError
        For an unknown column or an explicitly requested unordered categorical / text
        column.
    """
    check_frame(data)
    if variables is None:
        variables = [c for c in data.columns if _correlatable(data[c])]
    else:
        variables = check_columns(data, variables, "variable")
        for variable in variables:
            if not _correlatable(data[variable]):
                raise ValueError(
                    f"column {variable!r} (dtype {data[variable].dtype}) cannot be "
                    "correlated: it is neither numeric nor an ordered categorical"
                )
    if len(variables) < 2:
        raise ValueError(f"need at least two correlatable variables, got {list(variables)}")
    coded = pd.DataFrame({v: _as_numbers(data[v]) for v in variables}, index=data.index)
    return coded.corr(method=method)


def _correlatable(series: pd.Series) -> bool:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return bool(series.dtype.ordered)
    return _is_numeric(series)


def _as_numbers(series: pd.Series) -> pd.Series:
    """Numeric view of a column: ordered categoricals as codes, missing kept missing."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.astype(float)
        return codes.where(codes >= 0)
    return series.astype(float)
