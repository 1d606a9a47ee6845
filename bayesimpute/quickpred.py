"""mice's quickpred: choose predictors by their correlation with the target or its
missingness indicator, and by the proportion of usable cases."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayesimpute.engine.spec import to_pandas_frame

__all__ = ["quickpred"]


def _numeric(data: pd.DataFrame) -> pd.DataFrame:
    """R's data.matrix(): factors become their integer codes."""
    out = {}
    for column in data.columns:
        series = data[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            codes = series.cat.codes.astype(float)
            out[column] = codes.where(codes >= 0)
        elif pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
            out[column] = series.astype("float64")
        else:
            raise TypeError(f"quickpred: column {column!r} ({series.dtype}) is not numeric or categorical")
    return pd.DataFrame(out, index=data.index)


def quickpred(
    data: pd.DataFrame,
    mincor: float = 0.1,
    minpuc: float = 0.0,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    method: str = "pearson",
    cluster: str | None = None,
) -> pd.DataFrame:
    """A predictor matrix chosen from the data, as mice's ``quickpred()``.

    Predictor j enters the row of target i (code 1) when ``max(|cor(y_i, y_j)|,
    |cor(r_i, y_j)|) > mincor``, with r_i the response indicator of y_i, and when the
    proportion of usable cases (rows where y_i is missing and y_j observed, among rows
    where y_i is missing) is at least ``minpuc``. ``include`` forces predictors in,
    ``exclude`` out; complete variables get empty rows. A ``cluster`` column is coded -2
    in the rows of incomplete variables and never used as an ordinary predictor.
    """
    data = to_pandas_frame(data)  # polars, pyarrow, ... converted; others get the fix named
    for name, names in (("include", include), ("exclude", exclude)):
        unknown = [c for c in names if c not in data.columns]
        if unknown:
            raise ValueError(f"quickpred: {name} names columns not in data: {unknown}")
    if cluster is not None and cluster not in data.columns:
        raise ValueError(f"quickpred: cluster column {cluster!r} is not in data")
    columns = list(data.columns)
    x = _numeric(data.drop(columns=[cluster]) if cluster else data)
    response = x.notna().astype(float)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # constant columns: NaN -> 0 below
        v = x.corr(method=method).abs().fillna(0.0)
        # u[i, j] = |cor(r_i, y_j)|, pairwise complete; constant indicators give NaN -> 0
        u = pd.DataFrame(
            {j: response.corrwith(x[j], method=method).abs() for j in x.columns}
        ).fillna(0.0)
    chosen = (np.maximum(v.to_numpy(), u.loc[x.columns, x.columns].to_numpy()) > mincor).astype(int)
    matrix = pd.DataFrame(chosen, index=x.columns, columns=x.columns)
    missing = x.isna()
    for i in x.columns:
        n_missing = missing[i].sum()
        if n_missing:
            usable = (missing[i].to_numpy()[:, None] & x.notna().to_numpy()).sum(axis=0) / n_missing
            matrix.loc[i, usable < minpuc] = 0
    matrix[list(exclude)] = 0
    matrix[[c for c in include if c != cluster]] = 1
    for column in matrix.columns:
        matrix.loc[column, column] = 0
    matrix.loc[~missing.any().to_numpy(), :] = 0
    matrix = matrix.reindex(index=columns, columns=columns, fill_value=0).astype(int)
    if cluster is not None:
        incomplete = [c for c in columns if c != cluster and data[c].isna().any()]
        matrix.loc[incomplete, cluster] = -2
    return matrix
