"""Checks shared by every entry point: frames, columns, cluster columns, choices, warnings.

One check per concept, with one message, so ``bi.impute``, ``bi.md_pattern``,
``bi.find_default_method`` and the model file say the same thing about the same mistake.
:func:`warn_user` points every warning of the package at the user's own line.

This module imports nothing of the engine or the methods, so any layer may use it.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["check_frame", "check_imputable_frame", "check_columns", "check_cluster",
           "check_one_of", "user_stacklevel", "warn_user"]

_PACKAGE_DIR = str(Path(__file__).resolve().parent) + os.sep


def check_frame(data: object, name: str = "data") -> pd.DataFrame:
    """Return ``data`` if it is a pandas DataFrame with at least one column, else raise.

    Parameters
    ----------
    data : object
        What the user passed.
    name : str
        The argument's name, for the message.

    Returns
    -------
    pandas.DataFrame
        ``data`` itself.

    Raises
    ------
    TypeError
        If ``data`` is not a DataFrame (the message says how to convert a polars frame or
        a NumPy array).
    ValueError
        If it has no columns.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesimpute.validation import check_frame
    >>> check_frame(pd.DataFrame({"x": [1.0]})).shape
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


def check_imputable_frame(data: pd.DataFrame) -> pd.DataFrame:
    """Return ``data`` if it can be imputed: rows and columns, string labels, none repeated.

    Methods, predictors and the cluster are named by column, so the labels must be
    distinct strings.

    Parameters
    ----------
    data : pandas.DataFrame
        The data to impute.

    Returns
    -------
    pandas.DataFrame
        ``data`` itself.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesimpute.validation import check_imputable_frame
    >>> check_imputable_frame(pd.DataFrame([[1.0, 2.0]], columns=["x", "x"]))
    Traceback (most recent call last):
    ...
    ValueError: duplicate column names in data: ['x']
    """
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise ValueError(f"data is empty (shape {data.shape}); nothing to impute")
    bad = [c for c in data.columns if not isinstance(c, str)]
    if bad:
        raise ValueError(
            f"column labels must be strings; got {bad[:5]!r}: rename them, e.g. "
            "data.columns = data.columns.map(str)"
        )
    duplicated = data.columns[data.columns.duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"duplicate column names in data: {duplicated}")
    return data


def check_columns(data: pd.DataFrame, columns: Hashable | Iterable[Hashable],
                  role: str) -> list[Hashable]:
    """Return ``columns`` as a list, raising a ValueError that names any unknown one.

    Parameters
    ----------
    data : pandas.DataFrame
        The frame the columns should be in.
    columns : Hashable or Iterable[Hashable]
        One column label or several.
    role : str
        What the columns are for, for the message (``"cluster column"``, ``"columns"``).

    Returns
    -------
    list
        The column labels.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesimpute.validation import check_columns
    >>> check_columns(pd.DataFrame({"x": [1.0], "y": [2.0]}), "y", "column")
    ['y']
    """
    if isinstance(columns, (str, bytes)) or not isinstance(columns, Iterable):
        columns = [columns]
    columns = list(columns)
    unknown = [c for c in columns if c not in data.columns]
    if unknown:
        raise ValueError(
            f"{role} {', '.join(repr(c) for c in unknown)} is not a column of data; "
            f"columns are {list(data.columns)}"
        )
    return columns


def check_cluster(data: pd.DataFrame, cluster: Hashable) -> pd.Series:
    """Return the cluster column, raising unless it is a column of ``data`` and complete.

    Parameters
    ----------
    data : pandas.DataFrame
        The data.
    cluster : Hashable
        The cluster column's label.

    Returns
    -------
    pandas.Series
        ``data[cluster]``.

    Raises
    ------
    ValueError
        If ``cluster`` is not a column, or has missing values (cluster identifiers are
        never imputed).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesimpute.validation import check_cluster
    >>> check_cluster(pd.DataFrame({"g": [1, 1, 2], "y": [0.5, None, 1.0]}), "g").nunique()
    2
    """
    check_columns(data, [cluster], "cluster column")
    n_missing = int(data[cluster].isna().sum())
    if n_missing:
        raise ValueError(
            f"cluster column {cluster!r} has {n_missing} missing values; every row must "
            "belong to a cluster, and cluster identifiers cannot be imputed: drop or recode "
            "those rows"
        )
    return data[cluster]


def check_one_of(value: Any, choices: Sequence[Any], *, name: str) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise a ValueError naming them.

    Parameters
    ----------
    value : Any
        What the user passed.
    choices : Sequence
        The accepted values.
    name : str
        The argument's name, for the message.

    Returns
    -------
    Any
        ``value`` itself.

    Examples
    --------
    >>> from bayesimpute.validation import check_one_of
    >>> check_one_of("last", ("all", "last"), name="keep")
    'last'
    >>> check_one_of("some", ("all", "last"), name="keep")
    Traceback (most recent call last):
    ...
    ValueError: keep must be one of 'all', 'last', got 'some'
    """
    try:
        accepted = value in choices
    except TypeError:  # an unhashable value against a set of choices
        accepted = False
    if not accepted:
        listed = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value


def _outside_package(filename: str) -> bool:
    return not str(Path(filename).resolve()).startswith(_PACKAGE_DIR)


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised here point at the first caller outside
    the package, whichever entry point led here.

    Examples
    --------
    >>> from bayesimpute.validation import user_stacklevel
    >>> user_stacklevel() >= 1
    True
    """
    # level 1 is the function that calls user_stacklevel, as for warnings.warn there
    frame, level = sys._getframe(1), 1
    while frame is not None and not _outside_package(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level


def warn_user(message: str | Warning, category: type[Warning] = UserWarning) -> None:
    """Issue a warning attributed to the user's line: the first frame outside the package.

    Parameters
    ----------
    message : str or Warning
        The warning's text, or a warning instance.
    category : type[Warning]
        Its category (ignored when ``message`` is a Warning instance).

    Examples
    --------
    >>> import warnings
    >>> from bayesimpute.validation import warn_user
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_user("a note")
    >>> str(caught[0].message)
    'a note'
    """
    # user_stacklevel counts frames from this one, as warnings.warn's stacklevel does
    warnings.warn(message, category, stacklevel=user_stacklevel())
