"""Every bad input is refused before sampling, with a message naming the column or argument.

Each case builds a small two-level frame, breaks one thing, and checks the exception type
and that the message names what is wrong. Cases that the engine accepts with a change
(pruned predictors, zeroed diagonal, few clusters) check the warning or logged event.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi
from bayesimpute.engine.spec import build_spec

N_CLUSTERS, PER_CLUSTER = 12, 5


@pytest.fixture
def frame() -> pd.DataFrame:
    """12 clusters of 5 rows; x missing on 6 rows, y complete."""
    rng = np.random.default_rng(7)
    n = N_CLUSTERS * PER_CLUSTER
    data = pd.DataFrame({
        "g": np.repeat(np.arange(N_CLUSTERS), PER_CLUSTER),
        "x": rng.normal(size=n),
        "y": rng.normal(size=n),
    })
    data.loc[[1, 7, 20, 33, 41, 55], "x"] = np.nan
    return data


def run(data: pd.DataFrame, **kwargs) -> bi.MultipleImputation:
    options = {"cluster": "g", "method": {"x": "2l.pmm"}, "m": 2, "maxit": 1, "seed": 1}
    options.update(kwargs)
    return bi.impute(data, **options)


def events(imp: bi.MultipleImputation) -> str:
    return " | ".join(imp.logged_events["event"])


# --- the frame itself ----------------------------------------------------------------------------
@pytest.mark.parametrize("data, fragment", [
    (np.zeros((3, 2)), "DataFrame"),
    ([[1.0, 2.0]], "DataFrame"),
    (pd.Series([1.0, np.nan]), "DataFrame"),
])
def test_not_a_dataframe(data, fragment):
    with pytest.raises(TypeError, match=fragment):
        bi.impute(data)


@pytest.mark.parametrize("data", [pd.DataFrame(), pd.DataFrame({"x": []}, dtype=float),
                                  pd.DataFrame(index=range(3))])
def test_empty_frame(data):
    with pytest.raises(ValueError, match="empty"):
        bi.impute(data)


def test_duplicate_column_names(frame):
    data = frame.copy()
    data.columns = ["g", "x", "x"]
    with pytest.raises(ValueError, match="duplicate column names.*'x'"):
        run(data)


@pytest.mark.parametrize("label", [3, 2.5, ("a", "b")])
def test_non_string_column_labels(frame, label):
    data = frame.rename(columns={"y": label})
    with pytest.raises(ValueError, match="column labels must be strings"):
        run(data)


# --- values and dtypes ---------------------------------------------------------------------------
@pytest.mark.parametrize("column, value", [("y", np.inf), ("y", -np.inf), ("x", np.inf)])
def test_infinite_values_are_an_error(frame, column, value):
    data = frame.copy()
    data.loc[[3, 4], column] = value
    with pytest.raises(ValueError, match=rf"column '{column}' has 2 infinite value"):
        run(data)


def test_infinite_values_in_nullable_float(frame):
    data = frame.astype({"y": "Float64"})
    data.loc[5, "y"] = np.inf
    with pytest.raises(ValueError, match="column 'y' has 1 infinite"):
        run(data)


def _as_marker(frame: pd.DataFrame, marker: str) -> pd.DataFrame:
    data = frame.copy()
    if marker == "nan":
        return data
    if marker == "Float64":
        return data.astype({"x": "Float64"})
    if marker == "pd.NA":
        return data.assign(x=pd.array(data["x"].tolist(), dtype="Float64")).assign(
            x=lambda d: d["x"].where(d["x"].notna(), pd.NA))
    if marker == "None":
        return data.assign(x=pd.Series([None if np.isnan(v) else v for v in data["x"]],
                                       dtype=object, index=data.index))
    raise AssertionError(marker)


@pytest.mark.parametrize("marker", ["Float64", "pd.NA", "None"])
def test_missing_markers_give_identical_imputations(frame, marker):
    reference = run(frame, maxit=2)
    other = run(_as_marker(frame, marker), maxit=2)
    for i in range(2):
        expected = reference.complete(i)["x"].astype(float).to_numpy()
        got = other.complete(i)["x"].astype(float).to_numpy()
        np.testing.assert_array_equal(got, expected)
    assert other.complete(0)["x"].dtype == _as_marker(frame, marker)["x"].dtype


def test_nullable_integer_missing_like_nan(frame):
    counts = frame.assign(k=np.arange(len(frame)) % 7)
    counts.loc[[2, 9, 30], "k"] = np.nan
    nullable = counts.astype({"k": "Int64"})
    method = {"x": "2l.pmm", "k": "2l.pmm"}
    a, b = run(counts, method=method), run(nullable, method=method)
    np.testing.assert_array_equal(a.complete(1)["k"].to_numpy(float),
                                  b.complete(1)["k"].to_numpy(float))
    assert b.complete(1)["k"].dtype == "Int64"


@pytest.mark.parametrize("dtype", [object, "string"])
def test_free_text_column_is_an_error(frame, dtype):
    data = frame.assign(s=pd.Series(["a", "b", "c"] * 20, dtype=dtype))
    with pytest.raises(TypeError, match=r"column 's'.*free text.*category.*drop"):
        run(data)


def test_text_column_with_missing_values_is_an_error(frame):
    data = frame.assign(s=pd.Series(["a", None, "c"] * 20, dtype="string"))
    with pytest.raises(TypeError, match=r"column 's'.*category"):
        run(data)


def test_unused_text_column_passes_through(frame):
    data = frame.assign(label=[f"row {i}" for i in range(len(frame))])
    matrix = bi.make_predictor_matrix(data, cluster="g")
    matrix["label"] = 0
    imp = run(data, predictor_matrix=matrix)
    pd.testing.assert_series_equal(imp.complete(0)["label"], data["label"])
    assert "'label'" in events(imp)


@pytest.mark.parametrize("values", [
    pd.date_range("2020-01-01", periods=60),
    pd.to_timedelta(np.arange(60), unit="D"),
    pd.period_range("2020-01", periods=60, freq="M"),
])
def test_datetime_column_is_an_error(frame, values):
    data = frame.assign(t=values)
    with pytest.raises(TypeError, match=r"column 't'.*dates/times"):
        run(data)


@pytest.mark.parametrize("container, method", [
    ("boolean", "2l.pmm"), ("object", "2l.pmm"), ("boolean", "2l.bin"), ("object", "logreg"),
])
def test_boolean_column_imputed_as_binary_and_returned_as_bool(frame, container, method):
    from bayesimpute.methods import available_methods

    if method not in available_methods():
        pytest.skip(f"{method} is not registered yet")
    flags = (frame["y"] > 0).tolist()
    if container == "boolean":
        column = pd.array(flags, dtype="boolean")
        column[[2, 9, 31]] = pd.NA
    else:
        column = pd.Series(flags, dtype=object)
        column[[2, 9, 31]] = None
    data = frame.assign(b=column)
    imp = run(data, method={"x": "2l.pmm", "b": method})
    completed = imp.complete(0)["b"]
    assert completed.dtype == data["b"].dtype
    assert completed.notna().all()
    assert set(completed.tolist()) <= {True, False}
    assert all(isinstance(v, (bool, np.bool_)) for v in completed)
    assert imp.spec.codecs["b"].kind == "binary"


@pytest.mark.parametrize("ordered", [False, True])
def test_categorical_keeps_levels_order_and_orderedness(frame, ordered):
    levels = ["low", "mid", "high", "never used"]
    column = pd.Categorical(np.array(levels[:3])[np.arange(len(frame)) % 3],
                            categories=levels, ordered=ordered)
    data = frame.assign(c=column)
    data.loc[[4, 13, 27], "c"] = np.nan
    imp = run(data, method={"x": "2l.pmm", "c": "2l.pmm" if ordered else ""})
    completed = imp.complete(1)["c"]
    assert completed.dtype == data["c"].dtype
    assert list(completed.cat.categories) == levels
    assert completed.cat.ordered is ordered
    if ordered:
        assert completed.notna().all()


# --- the cluster column --------------------------------------------------------------------------
def test_cluster_column_absent(frame):
    with pytest.raises(ValueError, match="cluster column 'school' is not a column"):
        run(frame, cluster="school")


def test_cluster_column_with_missing_values(frame):
    data = frame.astype({"g": float})
    data.loc[[0, 10], "g"] = np.nan
    with pytest.raises(ValueError, match="cluster column 'g' has 2 missing"):
        run(data)


@pytest.mark.parametrize("convert", [
    lambda g: "school-" + g.astype(str),
    lambda g: pd.Categorical("s" + g.astype(str)),
    lambda g: g.astype(float) + 0.5,
])
def test_cluster_ids_of_any_type_keep_their_labels(frame, convert):
    data = frame.assign(g=convert(frame["g"]))
    imp = run(data, method={"x": "2l.norm"})
    labels = set(imp.idata.posterior["x_cluster"].values.tolist())
    assert labels == set(pd.unique(data["g"]).tolist())
    pd.testing.assert_series_equal(imp.complete(0)["g"], data["g"])


def test_single_cluster_is_an_error(frame):
    with pytest.raises(ValueError, match="cluster column 'g' has a single cluster"):
        run(frame.assign(g=1))


def test_single_cluster_is_fine_for_single_level_methods(frame):
    imp = run(frame.assign(g=1), method={"x": "pmm"})
    assert imp.complete(0)["x"].notna().all()


def test_few_clusters_warn(frame):
    data = frame.assign(g=np.arange(len(frame)) % 4)
    with pytest.warns(UserWarning, match="'g' has only 4 clusters.*weakly identified"):
        imp = run(data)
    assert "weakly identified" in events(imp)


def test_one_row_clusters_work(frame):
    data = frame.assign(g=np.arange(len(frame)))
    imp = run(data, method={"x": "2l.norm"})
    assert imp.complete(0)["x"].notna().all()


def test_cluster_level_variable_varying_within_clusters(frame):
    data = frame.copy()
    data.loc[[2, 3], "y"] = np.nan  # y varies within every cluster
    with pytest.raises(ValueError, match=r"column 'y'.*varies within cluster\(s\) \[0, 1"):
        run(data, method={"x": "2l.pmm", "y": "2lonly.pmm"})


# --- columns -------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", [{"x": "2l.pmm", "z": "2l.pmm"}, {"x": "2l.pmm"}])
def test_column_without_observed_values(frame, method):
    data = frame.assign(z=np.nan)
    with pytest.raises(ValueError, match="column 'z' has no observed values"):
        run(data, method=method)


def test_nothing_missing_returns_m_copies_with_a_warning(frame):
    data = frame.dropna()
    with pytest.warns(UserWarning, match="nothing to impute"):
        imp = bi.impute(data, cluster="g", m=3, seed=1)
    for i in range(3):
        pd.testing.assert_frame_equal(imp.complete(i), data)


def test_mostly_missing_column_warns(frame):
    data = frame.copy()
    data.loc[5:, "x"] = np.nan
    with pytest.warns(UserWarning, match=r"column 'x' is 9\d% missing"):
        run(data)


def test_incomplete_predictor_without_method(frame):
    data = frame.copy()
    data.loc[[1, 2], "y"] = np.nan  # row 1: x is to be imputed and y stays missing
    with pytest.raises(ValueError, match="predictor 'y' of 'x' is missing and not imputed"):
        run(data)


# --- predictors the models cannot use ------------------------------------------------------------
def _with_bad_predictor(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    data = frame.assign(w=np.random.default_rng(3).normal(size=len(frame)))
    if kind == "constant":
        return data.assign(c=3.0)
    if kind == "collinear":
        return data.assign(c=2 * data["y"] - 1)
    return data.assign(c=data["y"] + 3 * data["w"])


@pytest.mark.parametrize("kind, reason", [
    ("constant", r"predictor 'c' removed from the model of 'x': constant"),
    ("collinear", r"predictor 'c' removed from the model of 'x': collinear with \['y'\]"),
    ("combination", r"predictor 'c' removed from the model of 'x': a linear combination"),
])
def test_unusable_predictors_removed_with_logged_event(frame, kind, reason):
    imp = run(_with_bad_predictor(frame, kind))
    assert imp.predictor_matrix.at["x", "c"] == 0
    assert imp.predictor_matrix.at["x", "y"] == 1
    assert re.search(reason, events(imp))


def test_no_predictor_remaining_is_an_error(frame):
    data = frame.assign(c=1.0)
    matrix = bi.make_predictor_matrix(data, cluster="g")
    matrix.loc["x", ["y"]] = 0
    with pytest.raises(ValueError, match=r"no predictor remains in the model of 'x': \['c'\]"):
        run(data, predictor_matrix=matrix)


def test_intercept_only_two_level_model_is_legitimate(frame):
    matrix = bi.make_predictor_matrix(frame, cluster="g")
    matrix.loc["x", "y"] = 0
    imp = run(frame, predictor_matrix=matrix, method={"x": "2l.norm"})
    assert imp.complete(0)["x"].notna().all()
    assert list(imp.idata.posterior["x_beta"].coords["x_x"].values) == ["Intercept"]


def test_more_predictors_than_observed_rows_is_logged(frame):
    data = frame.iloc[:12].copy()
    rng = np.random.default_rng(5)
    for k in range(12):
        data[f"p{k}"] = rng.normal(size=len(data))
    data.loc[2:, "x"] = np.nan
    data.loc[0:1, "x"] = [0.3, -0.2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # few clusters, mostly missing
        imp = run(data, method={"x": "pmm"})
    assert "design columns but 2 observed rows" in events(imp)
    assert imp.complete(0)["x"].notna().all()


# --- predictor matrix ----------------------------------------------------------------------------
def test_predictor_matrix_not_square(frame):
    matrix = bi.make_predictor_matrix(frame, cluster="g").iloc[:2]
    with pytest.raises(ValueError, match="predictor_matrix must be square"):
        run(frame, predictor_matrix=matrix)


def test_predictor_matrix_array_of_wrong_shape(frame):
    with pytest.raises(ValueError, match=r"predictor_matrix has shape \(2, 2\)"):
        run(frame, predictor_matrix=np.zeros((2, 2), dtype=int))


def test_predictor_matrix_unknown_names(frame):
    matrix = bi.make_predictor_matrix(frame, cluster="g").rename(columns={"y": "A"},
                                                                 index={"y": "A"})
    with pytest.raises(ValueError, match=r"row label\(s\) not in data: 'A'"):
        run(frame, predictor_matrix=matrix)


@pytest.mark.parametrize("code", [5, -1, 7, 0.5])
def test_predictor_matrix_illegal_code(frame, code):
    matrix = bi.make_predictor_matrix(frame, cluster="g").astype(float)
    matrix.at["x", "y"] = code
    with pytest.raises(ValueError, match=r"illegal code.*\('x', 'y'\)"):
        run(frame, predictor_matrix=matrix)


def test_predictor_matrix_two_cluster_codes_in_a_row(frame):
    data = frame.assign(h=frame["g"] // 2)
    matrix = bi.make_predictor_matrix(data, cluster="g")
    matrix.at["x", "h"] = -2
    with pytest.raises(ValueError, match=r"row 'x' has more than one cluster code"):
        bi.impute(data, predictor_matrix=matrix, method={"x": "2l.pmm"}, m=1, maxit=1)


def test_predictor_matrix_nonzero_diagonal_zeroed_with_warning(frame):
    matrix = bi.make_predictor_matrix(frame, cluster="g")
    matrix.at["x", "x"] = 1
    with pytest.warns(UserWarning, match=r"diagonal set to 0 for \['x'\]"):
        imp = run(frame, predictor_matrix=matrix)
    assert imp.predictor_matrix.at["x", "x"] == 0


# --- methods -------------------------------------------------------------------------------------
def test_unknown_method_lists_valid_names(frame):
    with pytest.raises(ValueError, match=r"unknown imputation method '2l\.magic'.*2l\.pmm"):
        run(frame, method={"x": "2l.magic"})


@pytest.mark.parametrize("name, column, kind", [
    ("norm", "b", "binary"),
    ("2l.norm", "c", "categorical"),
    ("2l.bin", "x", "continuous"),
])
def test_method_not_fitting_the_type(frame, name, column, kind):
    from bayesimpute.methods import available_methods

    if name not in available_methods():
        pytest.skip(f"{name} is not registered yet")
    data = frame.assign(b=(frame["y"] > 0).astype(float),
                        c=pd.Categorical(np.arange(len(frame)) % 3))
    data.loc[[3, 8], ["b", "c"]] = np.nan
    with pytest.raises(ValueError, match=rf"'{name}' cannot impute column '{column}'.*{kind}"):
        run(data, method={column: name})


# --- scalar arguments ----------------------------------------------------------------------------
@pytest.mark.parametrize("name, value, error", [
    ("m", 0, ValueError), ("m", -1, ValueError), ("m", 2.5, TypeError), ("m", True, TypeError),
    ("m", "5", TypeError), ("maxit", -1, ValueError), ("maxit", 1.0, TypeError),
    ("maxit", False, TypeError), ("seed", 1.5, TypeError), ("seed", "abc", TypeError),
    ("seed", True, TypeError), ("seed", -3, ValueError),
    ("seed", np.random.RandomState(1), TypeError),
])
def test_bad_scalar_arguments(frame, name, value, error):
    with pytest.raises(error, match=name):
        run(frame, **{name: value})


@pytest.mark.parametrize("seed", [np.int64(4), np.random.default_rng(4)])
def test_numpy_ints_and_generators_accepted_as_seed(frame, seed):
    assert run(frame, seed=seed).complete(0)["x"].notna().all()


def test_maxit_zero_only_fills_starting_values(frame):
    imp = run(frame, maxit=0)
    observed = set(frame["x"].dropna())
    for i in range(2):
        filled = imp.complete(i)["x"][frame["x"].isna()]
        assert set(filled) <= observed  # mice's start: random observed values
    assert imp.iterations == 1
    # no model was fitted, so there are no parameters to record
    assert "posterior" not in imp.idata.groups() or "x_beta" not in imp.idata.posterior


# --- where and post ------------------------------------------------------------------------------
@pytest.mark.parametrize("make_where, error, fragment", [
    (lambda d: d.isna().iloc[:5], ValueError, "where must have the same shape"),
    (lambda d: d.isna().to_numpy()[:, :2], ValueError, "where has shape"),
    (lambda d: d.isna().astype(int), TypeError, "where must be boolean"),
    (lambda d: d.isna().astype(float).replace(0.0, np.nan), TypeError, "where must be boolean"),
    (lambda d: d.isna().to_dict(), TypeError, "where must be a boolean DataFrame"),
])
def test_bad_where(frame, make_where, error, fragment):
    with pytest.raises(error, match=fragment):
        run(frame, where=make_where(frame))


@pytest.mark.parametrize("function, fragment", [
    (lambda v: v.iloc[:1], r"post\['x'\] returned \(1,\) values"),
    (lambda v: v * np.nan, r"post\['x'\] must return finite numbers"),
    (lambda v: v.astype(str), r"post\['x'\] must return finite numbers"),
    (lambda v: v + np.inf, r"post\['x'\] must return finite numbers"),
])
def test_bad_post_callable(frame, function, fragment):
    with pytest.raises(ValueError, match=fragment):
        run(frame, post={"x": function})


@pytest.mark.parametrize("post, error, fragment", [
    ({"x": 3}, TypeError, r"post\['x'\] must be callable"),
    ({"nope": abs}, ValueError, "post names column 'nope'"),
    ([abs], TypeError, "post must be a dict"),
])
def test_bad_post_argument(frame, post, error, fragment):
    with pytest.raises(error, match=fragment):
        build_spec(frame, cluster="g", method={"x": "2l.pmm"}, post=post)
