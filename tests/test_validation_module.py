"""bayesimpute.validation: one check and one message per mistake, warnings at the user's line.

(tests/test_validation.py covers every argument of bi.impute; this file the shared module.)
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi
from bayesimpute.diagnostics import NotConvergedWarning
from bayesimpute.validation import (
    check_cluster,
    check_columns,
    check_frame,
    check_imputable_frame,
    check_one_of,
    warn_user,
)


@pytest.fixture
def clustered() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    data = pd.DataFrame({"g": np.repeat(np.arange(12), 5), "x": rng.normal(size=60),
                         "y": rng.normal(size=60)})
    data.loc[[3, 17, 40], "x"] = np.nan
    return data


# --- the checks ------------------------------------------------------------------------------------
def test_check_frame_names_the_conversion():
    with pytest.raises(TypeError, match=re.escape("data must be a pandas DataFrame, got "
                                                  "numpy.ndarray: pd.DataFrame(array")):
        check_frame(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="frame must be a pandas DataFrame, got builtins.dict"):
        check_frame({"x": [1]}, "frame")
    with pytest.raises(ValueError, match="data has no columns"):
        check_frame(pd.DataFrame(index=range(3)))


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"x": []}), "data is empty"),
    (pd.DataFrame({0: [1.0]}), "column labels must be strings; got [0]"),
    (pd.DataFrame([[1.0, 2.0]], columns=["x", "x"]), "duplicate column names in data: ['x']"),
])
def test_check_imputable_frame(frame, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_imputable_frame(frame)


def test_check_columns_names_the_unknown_ones(clustered):
    assert check_columns(clustered, "x", "variable") == ["x"]
    assert check_columns(clustered, ("x", "y"), "variable") == ["x", "y"]
    with pytest.raises(ValueError, match="variable 'z', 'w' is not a column of data"):
        check_columns(clustered, ["x", "z", "w"], "variable")


def test_check_cluster(clustered):
    assert check_cluster(clustered, "g").equals(clustered["g"])
    clustered.loc[0, "g"] = np.nan
    with pytest.raises(ValueError, match="cluster column 'g' has 1 missing values"):
        check_cluster(clustered, "g")


@pytest.mark.parametrize("entry_point", [
    lambda data: bi.impute(data, cluster="school", m=1, maxit=1),
    lambda data: bi.find_default_method(data, cluster="school"),
    lambda data: bi.missingness_summary(data, cluster="school"),
    lambda data: bi.icc(data, cluster="school"),
])
def test_every_entry_point_says_the_same_about_a_wrong_cluster(clustered, entry_point):
    expected = ("cluster column 'school' is not a column of data; columns are "
                "['g', 'x', 'y']")
    with pytest.raises(ValueError, match=re.escape(expected)):
        entry_point(clustered)


@pytest.mark.parametrize("entry_point", [
    lambda data: bi.find_default_method(data, cluster="g"),
    lambda data: bi.missingness_summary(data, cluster="g"),
    lambda data: bi.icc(data, cluster="g"),
])
def test_every_entry_point_says_the_same_about_missing_cluster_ids(clustered, entry_point):
    clustered.loc[[0, 1], "g"] = np.nan
    with pytest.raises(ValueError, match="cluster column 'g' has 2 missing values; every row"):
        entry_point(clustered)


def test_check_one_of_has_one_message():
    assert check_one_of("a", ("a", "b"), name="choice") == "a"
    assert check_one_of(None, ("a", None), name="choice") is None
    with pytest.raises(ValueError, match=re.escape("choice must be one of 'a', 'b', got 'x'")):
        check_one_of("x", ("a", "b"), name="choice")
    with pytest.raises(ValueError, match=re.escape("got ['a']")):  # unhashable: refused, named
        check_one_of(["a"], {"a", "b"}, name="choice")


@pytest.mark.parametrize("call, name", [
    (lambda: bi.datasets.load_impact("some"), "variant"),
    (lambda: bi.datasets.load_scotssec("some"), "variant"),
])
def test_the_choices_outside_the_engine_use_the_message(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must be one of '.*', got 'some'$"):
        call()


# --- warnings point at the user's line -------------------------------------------------------------
def caught(action) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        action()
    return records


def assert_at_this_file(records, category) -> None:
    ours = [r for r in records if issubclass(r.category, category)]
    assert ours, f"no {category.__name__} was raised"
    for record in ours:
        assert record.filename == __file__, (record.filename, str(record.message)[:80])


def test_warn_user_points_at_the_caller():
    assert_at_this_file(caught(lambda: warn_user("a note")), UserWarning)


def test_a_warning_of_impute_points_at_the_user(clustered):
    complete = clustered.fillna(0.0)
    assert_at_this_file(caught(lambda: bi.impute(complete, m=1, maxit=1)), UserWarning)
    few = clustered[clustered["g"] < 4]  # 4 clusters: a warning from the spec's checks
    assert_at_this_file(caught(lambda: bi.impute(few, cluster="g", m=1, maxit=1, seed=1)),
                        UserWarning)


def not_converging(data: pd.DataFrame, **arguments):
    # a floor just above 1 and a false-alarm rate near 1 make any R-hat above 1 warn
    with bi.rc_context({"convergence.rhat_floor": 1.000001, "convergence.false_alarm": 0.999}):
        return bi.impute(data, cluster="g", m=2, seed=3, **arguments)


@pytest.fixture
def any_rhat_warns(monkeypatch):
    """Every R-hat above 1 warns: the test is about where the warning points, and the
    false-alarm setting alone no longer gets there once the parameters count as quantities."""
    from bayesimpute import diagnostics

    monkeypatch.setattr(diagnostics, "rhat_threshold", lambda m, n, k=1: (
        float("nan") if m < 2 or n < 4 else 1.000001))


def test_not_converged_of_impute_iterate_and_resume_points_at_the_user(clustered, tmp_path,
                                                                       any_rhat_warns):
    assert_at_this_file(caught(lambda: not_converging(clustered, maxit=4)), NotConvergedWarning)
    short = not_converging(clustered, maxit=2)  # too short for R-hat: no warning yet
    with bi.rc_context({"convergence.rhat_floor": 1.000001, "convergence.false_alarm": 0.999}):
        assert_at_this_file(caught(lambda: short.iterate(2)), NotConvergedWarning)
        path = tmp_path / "run"
        caught(lambda: bi.impute(clustered, cluster="g", m=2, maxit=4, seed=3, checkpoint=path))
        assert_at_this_file(caught(lambda: bi.resume(path)), NotConvergedWarning)


def test_a_diagnostics_warning_points_at_the_user(clustered):
    imp = bi.impute(clustered, cluster="g", m=1, maxit=1, seed=1)
    assert_at_this_file(caught(lambda: bi.convergence(imp)), UserWarning)
