"""Column kinds and the encoding between user columns and the sampler's numeric arrays.

The sampler works on one float array per column: numbers as they are, binaries and
booleans as 0/1, categoricals as integer codes (missing = NaN). A :class:`ColumnCodec`
remembers how to turn imputed values back into the user's dtype and categories.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
import pandas as pd

__all__ = ["VariableKind", "ColumnCodec", "variable_kind", "make_codec", "object_content",
           "are_counts", "is_count_column"]


class VariableKind(str, Enum):
    """What kind of values a column holds; methods declare which kinds they accept."""

    CONTINUOUS = "continuous"
    BINARY = "binary"
    CATEGORICAL = "categorical"
    ORDERED = "ordered"

    def __str__(self) -> str:  # so messages read "binary", not "VariableKind.BINARY"
        return self.value


def _is_categorical(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.CategoricalDtype)


def _is_datetime_like(dtype) -> bool:
    return (pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype)
            or isinstance(dtype, pd.PeriodDtype))


def object_content(series: pd.Series) -> str | None:
    """What an ``object`` column holds: ``"bool"``, ``"number"``, or None for anything else.

    Columns built from Python lists with ``None`` for missing values arrive as ``object``;
    when every non-missing value is a bool (or every one a number) the column is usable
    and ``None`` is just another missing-value marker.
    """
    if series.dtype != object:
        return None
    present = series[series.notna()]
    if all(isinstance(v, (bool, np.bool_)) for v in present):
        return "bool"
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in present):
        return "number"
    return None


def are_counts(values) -> bool:
    """Whether every value is a non-negative whole number.

    Examples
    --------
    >>> are_counts([0, 3.0, 7]), are_counts([1, 2.5]), are_counts([-1])
    (True, False, False)
    """
    values = np.asarray(values, dtype=float)
    return not np.any((values < 0) | (values != np.round(values)))


def is_count_column(series: pd.Series) -> bool:
    """Whether a column holds counts: an integer (not boolean) dtype, as R's integers are
    counts to micemd, with non-negative observed values of more than two distinct values
    (two would be a binary variable).

    Examples
    --------
    >>> import pandas as pd
    >>> is_count_column(pd.Series([0, 2, 5, None], dtype="Int64"))
    True
    >>> is_count_column(pd.Series([0.0, 2.0, 5.0]))
    False
    """
    dtype = series.dtype
    if not (pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)):
        return False
    observed = series.dropna()
    return bool(are_counts(observed) and observed.nunique() > 2)


def _unusable_dtype_error(series: pd.Series) -> TypeError:
    name, dtype = series.name, series.dtype
    if _is_datetime_like(dtype):
        return TypeError(
            f"column {name!r} has dtype {dtype} (dates/times), which cannot be imputed or used "
            "as a predictor: convert it to a number (e.g. days since a reference date) or drop "
            "the column"
        )
    return TypeError(
        f"column {name!r} has dtype {dtype} and holds free text, which cannot be imputed or "
        f"used as a predictor: convert it to category (data[{name!r}].astype('category')) "
        "or drop the column"
    )


def variable_kind(series: pd.Series) -> VariableKind:
    """Classify a column: binary (two values, or bool), categorical, ordered or continuous.

    Raises
    ------
    TypeError
        For text (``object`` / ``string``) and date-time columns, naming the column.
    """
    if _is_categorical(series):
        if series.cat.ordered and len(series.cat.categories) > 2:
            return VariableKind.ORDERED
        return VariableKind.BINARY if len(series.cat.categories) == 2 else VariableKind.CATEGORICAL
    content = object_content(series)
    if pd.api.types.is_bool_dtype(series.dtype) or content == "bool":
        return VariableKind.BINARY
    if (pd.api.types.is_numeric_dtype(series.dtype) and not _is_datetime_like(series.dtype)) or (
        content == "number"
    ):
        # binary when every observed value is 0 or 1: one vectorised pass (a set of the
        # distinct values would hash every value of a continuous column)
        observed = np.asarray(series.dropna(), dtype=float)
        if np.all((observed == 0.0) | (observed == 1.0)):
            return VariableKind.BINARY
        return VariableKind.CONTINUOUS
    raise _unusable_dtype_error(series)


@dataclass(frozen=True)
class ColumnCodec:
    """How one user column maps to the sampler's float array and back."""

    name: str
    kind: VariableKind
    dtype: object
    categories: tuple | None = None  # for categoricals, in code order
    content: str | None = None  # for object columns: "bool" or "number" (see object_content)

    @property
    def n_categories(self) -> int:
        return len(self.categories) if self.categories is not None else 0

    def encode(self, series: pd.Series) -> np.ndarray:
        """User column -> float array with NaN for missing values."""
        if self.categories is not None:
            codes = series.cat.codes.to_numpy().astype(float)
            codes[codes < 0] = np.nan
            return codes
        if self.content is not None:
            # None / pd.NA in an object column become NaN like any other missing marker
            return series.where(series.notna(), np.nan).to_numpy(dtype=float)
        return series.astype("float64").to_numpy(dtype=float, na_value=np.nan)

    def decode(self, values: np.ndarray, index: pd.Index) -> pd.Series:
        """Float array (no NaN where imputed) -> column in the user's dtype and categories."""
        if self.categories is not None:
            codes = np.where(np.isnan(values), -1, values).astype(int)
            cat = pd.Categorical.from_codes(codes, dtype=self.dtype)
            return pd.Series(cat, index=index, name=self.name)
        series = pd.Series(values, index=index, name=self.name)
        if self.content is not None:  # object columns: Python values, None where missing
            content = series.map({0.0: False, 1.0: True}) if self.content == "bool" else series
            return content.astype(object).where(series.notna(), None)
        return _cast_back(series, self.dtype)


def _cast_back(series: pd.Series, dtype) -> pd.Series:
    """Return imputed numbers in the original dtype where that loses nothing."""
    if pd.api.types.is_bool_dtype(dtype):
        if series.isna().any():
            return series.map({0.0: False, 1.0: True}).astype("boolean")
        return series.astype(dtype)
    if pd.api.types.is_integer_dtype(dtype):
        finite = series.dropna()
        if np.all(np.equal(np.mod(finite, 1), 0)):
            if series.isna().any():
                nullable = isinstance(dtype, pd.api.extensions.ExtensionDtype)
                return series.astype(dtype if nullable else pd.Int64Dtype())
            return series.astype(dtype)
        # imputed values are not whole numbers (e.g. norm on a count): keep them as floats
        nullable = isinstance(dtype, pd.api.extensions.ExtensionDtype)
        return series.astype("Float64" if nullable else "float64")
    return series.astype(dtype)


def make_codec(series: pd.Series) -> ColumnCodec:
    """Build the codec of one column (raises TypeError for text or datetime columns)."""
    kind = variable_kind(series)
    if _is_categorical(series):
        return ColumnCodec(str(series.name), kind, series.dtype, tuple(series.cat.categories))
    return ColumnCodec(str(series.name), kind, series.dtype, content=object_content(series))
