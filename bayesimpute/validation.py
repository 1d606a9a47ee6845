"""Checks of user input shared by every entry point, each with one message.

The imputation spec (:mod:`bayesimpute.engine.spec`), the exploration helpers and their
plots, the default-method helpers (:mod:`bayesimpute.defaults`) and the model files all
check a data frame, its columns, a cluster column and a choice among named values the same
way, with the same words. This module imports nothing of the package, so every layer can
use it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["check_frame", "check_columns", "check_cluster_column", "check_one_of",
           "one_of_message"]


def check_frame(data: object, name: str = "data") -> pd.DataFrame:
    """Return ``data`` if it is a pandas DataFrame with at least one column.

    Parameters
    ----------
    data : object
        What the user passed.
    name : str
        How the error calls it.

    Returns
    -------
    DataFrame
        ``data`` itself.

    Raises
    ------
    TypeError
        Not a DataFrame (the message says how to convert a polars frame or an array).
    ValueError
        No columns.

    Examples
    --------
    >>> import pandas as pd
    >>> check_frame(pd.DataFrame({"a": [1.0]})).shape
    (1, 1)
    """
    if not isinstance(data, pd.DataFrame):
        kind = f"{type(data).__module__.split('.')[0]}.{type(data).__name__}"
        hint = (f": convert it with {name}.to_pandas()" if hasattr(data, "to_pandas")
                else ": pd.DataFrame(array, columns=[...])" if isinstance(data, np.ndarray)
                else "")
        raise TypeError(f"{name} must be a pandas DataFrame, got {kind}{hint}")
    if data.shape[1] == 0:
        raise ValueError(f"{name} has no columns")
    return data


def check_columns(data: pd.DataFrame, columns: Iterable[Hashable] | Hashable,
                  role: str) -> list[Hashable]:
    """Return ``columns`` as a list, raising a ValueError that names any unknown one.

    Examples
    --------
    >>> import pandas as pd
    >>> check_columns(pd.DataFrame({"a": [1], "b": [2]}), "a", "variable")
    ['a']
    """
    if isinstance(columns, (str, bytes)) or not isinstance(columns, Iterable):
        columns = [columns]
    columns = list(columns)
    unknown = [c for c in columns if c not in data.columns]
    if unknown:
        raise ValueError(
            f"{role} {', '.join(repr(c) for c in unknown)} is not a column of the data; "
            f"columns are {list(data.columns)}"
        )
    return columns


def check_cluster_column(data: pd.DataFrame, cluster: Hashable) -> pd.Series:
    """Return the cluster column: it must exist and be observed in every row.

    Raises
    ------
    ValueError
        The column is absent, or some rows have no cluster (identifiers cannot be imputed).

    Examples
    --------
    >>> import pandas as pd
    >>> check_cluster_column(pd.DataFrame({"g": [1, 1, 2]}), "g").nunique()
    2
    """
    if cluster not in data.columns:
        raise ValueError(f"cluster column {cluster!r} is not a column of the data; columns are "
                         f"{list(data.columns)}")
    n_missing = int(data[cluster].isna().sum())
    if n_missing:
        raise ValueError(
            f"cluster column {cluster!r} has {n_missing} missing values; every row must belong "
            "to a cluster (identifiers cannot be imputed: drop or recode those rows)"
        )
    return data[cluster]


def one_of_message(name: str, choices: Sequence[Any], value: Any) -> str:
    """The one wording of "must be one of": ``name must be one of 'a', 'b', got 'c'``.

    Examples
    --------
    >>> one_of_message("keep", ["all", "last"], "some")
    "keep must be one of 'all', 'last', got 'some'"
    """
    return f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}"


def check_one_of(value: Any, choices: Sequence[Any], *, name: str) -> Any:
    """Return ``value`` if it is one of ``choices``; else a ValueError in the one wording.

    Examples
    --------
    >>> check_one_of("last", ("all", "last"), name="keep")
    'last'
    """
    if value not in choices:
        raise ValueError(one_of_message(name, choices, value))
    return value
