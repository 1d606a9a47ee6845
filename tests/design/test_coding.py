"""Column kinds and the round trip user dtype -> float array -> user dtype."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesimpute.design.coding import (
    VariableKind,
    are_counts,
    is_count_column,
    make_codec,
    object_content,
    variable_kind,
)


@pytest.mark.parametrize("series, kind", [
    (pd.Series([1.5, np.nan, 2.0]), VariableKind.CONTINUOUS),
    (pd.Series([0.0, 1.0, np.nan]), VariableKind.BINARY),
    (pd.Series([0, 1, 1]), VariableKind.BINARY),
    (pd.Series([1, 2, 2]), VariableKind.CONTINUOUS),  # two values but not 0/1: a number
    (pd.Series([True, False]), VariableKind.BINARY),
    (pd.Series([True, None], dtype="boolean"), VariableKind.BINARY),
    (pd.Series([True, None, False], dtype=object), VariableKind.BINARY),
    (pd.Series([1.5, None, 3], dtype=object), VariableKind.CONTINUOUS),
    (pd.Series([1, pd.NA, 5], dtype="Int64"), VariableKind.CONTINUOUS),
    (pd.Series([1.5, pd.NA], dtype="Float64"), VariableKind.CONTINUOUS),
    (pd.Series(pd.Categorical(["a", "b"])), VariableKind.BINARY),
    (pd.Series(pd.Categorical(["a", "b"], categories=["a", "b", "c"])), VariableKind.CATEGORICAL),
    (pd.Series(pd.Categorical(["a"], categories=list("abc"), ordered=True)), VariableKind.ORDERED),
])
def test_variable_kind(series, kind):
    assert variable_kind(series) is kind


@pytest.mark.parametrize("series, fragment", [
    (pd.Series(["a", "b"], name="city"), r"column 'city'.*free text.*category.*drop"),
    (pd.Series(["a", None], dtype="string", name="city"), r"column 'city'.*free text"),
    (pd.Series([1.0, "a"], dtype=object, name="mixed"), r"column 'mixed'.*free text"),
    (pd.Series(pd.date_range("2020", periods=2), name="when"), r"column 'when'.*dates/times"),
    (pd.Series(pd.date_range("2020", periods=2, tz="UTC"), name="when"), r"'when'.*dates"),
    (pd.Series(pd.to_timedelta([1, 2], unit="s"), name="lag"), r"column 'lag'.*dates/times"),
])
def test_unusable_dtypes_name_the_column(series, fragment):
    with pytest.raises(TypeError, match=fragment):
        make_codec(series)


@pytest.mark.parametrize("values, content", [
    ([True, None, np.False_], "bool"), ([1, None, 2.5], "number"), (["a", None], None),
    ([None, None], "bool"),
])
def test_object_content(values, content):
    assert object_content(pd.Series(values, dtype=object)) == content


ROUND_TRIPS = [
    pd.Series([1.5, np.nan, -2.0, 4.0]),
    pd.Series([1, 3, 2, 9]),
    pd.Series([1, pd.NA, 2, 9], dtype="Int64"),
    pd.Series([1.5, pd.NA, 2.0, 9.0], dtype="Float64"),
    pd.Series([True, pd.NA, False, True], dtype="boolean"),
    pd.Series([True, None, False, True], dtype=object),
    pd.Series([1.5, None, 2, 3], dtype=object),
    pd.Series(pd.Categorical(["lo", None, "hi", "lo"], categories=["lo", "hi", "never"],
                             ordered=True)),
]


@pytest.mark.parametrize("series", ROUND_TRIPS, ids=lambda s: str(s.dtype))
def test_round_trip_keeps_values_and_dtype(series):
    series = series.rename("v")
    codec = make_codec(series)
    encoded = codec.encode(series)
    assert encoded.dtype == float
    np.testing.assert_array_equal(np.isnan(encoded), series.isna().to_numpy())
    decoded = codec.decode(encoded, series.index)
    pd.testing.assert_series_equal(decoded, series, check_dtype=True)


@pytest.mark.parametrize("series, filled, expected_dtype", [
    (pd.Series([True, pd.NA], dtype="boolean"), 1.0, "boolean"),
    (pd.Series([True, None], dtype=object), 0.0, object),
    (pd.Series([1, pd.NA, 3], dtype="Int64"), 2.0, "Int64"),
    (pd.Series([1, pd.NA, 3], dtype="Int64"), 2.5, "Float64"),  # norm on a count
    (pd.Series(pd.Categorical(["a", None, "c"], categories=list("cab"))), 2.0, "category"),
])
def test_imputed_values_decode_to_the_user_dtype(series, filled, expected_dtype):
    codec = make_codec(series.rename("v"))
    values = codec.encode(series)
    values[np.isnan(values)] = filled
    decoded = codec.decode(values, series.index)
    assert decoded.dtype == expected_dtype
    assert decoded.notna().all()
    if codec.categories is not None:
        assert list(decoded.cat.categories) == list("cab")
        assert decoded.iloc[1] == "b"


def test_encode_is_identical_for_every_missing_marker():
    as_nan = pd.Series([1.5, np.nan, 3.0])
    markers = [pd.Series([1.5, pd.NA, 3.0], dtype="Float64"),
               pd.Series([1.5, None, 3.0], dtype=object),
               pd.Series([1.5, pd.NA, 3.0], dtype=object)]
    expected = make_codec(as_nan).encode(as_nan)
    for series in markers:
        np.testing.assert_array_equal(make_codec(series).encode(series), expected)


def test_counts_are_non_negative_whole_numbers():
    assert are_counts(np.array([0.0, 1.0, 7.0]))
    assert not are_counts(np.array([0.0, 1.5])) and not are_counts(np.array([-1.0, 2.0]))


def test_a_count_column_is_an_integer_column_of_more_than_two_non_negative_values():
    assert is_count_column(pd.Series([0, 3, 5, None], dtype="Int64"))
    assert not is_count_column(pd.Series([0, 1, 1, 0]))  # two values: binary
    assert not is_count_column(pd.Series([-1, 3, 5]))
    assert not is_count_column(pd.Series([0.0, 3.0, 5.0]))  # a float column is continuous
    assert not is_count_column(pd.Series([True, False, True]))
