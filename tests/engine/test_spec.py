"""build_spec, make_method and make_predictor_matrix: defaults and argument checks."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi
from bayesimpute.engine.spec import (
    build_spec,
    check_run_arguments,
    is_passive,
    make_method,
    make_predictor_matrix,
    passive_inputs,
)


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 60
    frame = pd.DataFrame({
        "school": np.repeat(np.arange(12), 5),
        "score": rng.normal(size=n),
        "female": rng.integers(0, 2, n).astype(float),
        "texp": np.repeat(rng.normal(10, 3, 12), 5),
        "grade": pd.Categorical(rng.choice(["a", "b", "c"], n), ordered=True),
    })
    frame.loc[[0, 7, 13], "score"] = np.nan
    frame.loc[[2, 30], "female"] = np.nan
    frame.loc[frame["school"] == 3, "texp"] = np.nan
    frame.loc[[5], "grade"] = np.nan
    return frame


def test_make_method_defaults_by_kind_and_level(data):
    method = make_method(data, cluster="school")
    assert method.to_dict() == {"school": "", "score": "2l.pmm", "female": "2l.bin",
                                "texp": "2lonly.pmm", "grade": "2l.polr"}
    single = make_method(data.drop(columns="school"))
    assert single.to_dict() == {"score": "pmm", "female": "logreg", "texp": "pmm",
                                "grade": "polr"}


def test_make_predictor_matrix(data):
    matrix = make_predictor_matrix(data, cluster="school")
    assert (np.diag(matrix) == 0).all()
    assert (matrix.loc[matrix.index != "school", "school"] == -2).all()
    assert (matrix.loc["school"] == 0).all()
    assert matrix.at["score", "texp"] == 1


def test_passive_helpers():
    assert is_passive(" ~ a / b**2") and not is_passive("pmm") and not is_passive(None)
    inputs = passive_inputs("~ Weight / Height**2", ["Height", "Weight", "BMI"])
    assert inputs == ["Height", "Weight"]


def _spec(data, **kwargs):
    options = {"cluster": "school", "method": {"score": "2l.pmm", "texp": "2lonly.norm"}}
    options.update(kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return build_spec(data, **options)


def test_spec_basics(data):
    spec = _spec(data)
    assert spec.cluster == "school"
    assert spec.imputed == ["score", "texp"]
    assert "school" not in spec.codecs
    assert spec.where["score"].sum() == 3


def test_role_names_accepted(data):
    matrix = make_predictor_matrix(data, cluster="school").astype(object)
    matrix.loc["score", ["female", "texp", "school"]] = ["random", "fixed+mean", "cluster"]
    spec = _spec(data, predictor_matrix=matrix, cluster=None)
    assert spec.cluster == "school"
    assert spec.predictor_matrix.loc["score", ["female", "texp", "school"]].tolist() == [2, 3, -2]


def test_method_as_a_single_string(data):
    spec = _spec(data, method="pmm")
    assert spec.method.to_dict() == {"school": "", "score": "pmm", "female": "pmm", "texp": "pmm",
                                     "grade": "pmm"}


@pytest.mark.parametrize("method, error, fragment", [
    ({"nope": "pmm"}, ValueError, r"method names columns not found in data: \['nope'\]"),
    ({"score": 3}, TypeError, "method for column 'score' must be a string"),
    (["pmm"], TypeError, "method must be a pandas Series"),
    ({"school": "2l.pmm"}, ValueError, "the cluster column 'school' cannot be imputed"),
    ({"score": "~ nothing_here"}, ValueError, "passive formula for 'score'"),
])
def test_bad_method_argument(data, method, error, fragment):
    with pytest.raises(error, match=fragment):
        _spec(data, method=method)


def test_multilevel_method_needs_a_cluster(data):
    with pytest.raises(ValueError, match="method '2l.pmm' for column 'score' needs a cluster"):
        build_spec(data.drop(columns="school"), method={"score": "2l.pmm"})


def test_heckman_codes_need_a_heckman_method(data):
    matrix = make_predictor_matrix(data, cluster="school")
    matrix.at["score", "female"] = -3
    with pytest.raises(ValueError, match=r"row 'score' uses codes -3/-4.*'female'"):
        _spec(data, predictor_matrix=matrix)


@pytest.mark.parametrize("sequence, fragment", [
    (["score", "nope"], r"visit_sequence names columns not found in data: \['nope'\]"),
    (["score", "female"], r"visit_sequence lists columns without a method: \['female'\]"),
])
def test_bad_visit_sequence(data, sequence, fragment):
    with pytest.raises(ValueError, match=fragment):
        _spec(data, visit_sequence=sequence)


def test_visit_sequence_order_is_kept(data):
    assert _spec(data, visit_sequence=["texp", "score"]).imputed == ["texp", "score"]


@pytest.mark.parametrize("options, error, fragment", [
    ({"score": {"donors": 3, "colour": 1}}, ValueError, r"unknown option\(s\) \['colour'\]"),
    ({"female": {"donors": 3}}, ValueError, "method_options given for 'female'"),
    ({"nope": {}}, ValueError, "method_options names column 'nope'"),
    ({"score": 3}, TypeError, r"method_options\['score'\] must be a dict"),
    ([("score", {})], TypeError, "method_options must be a dict"),
])
def test_bad_method_options(data, options, error, fragment):
    with pytest.raises(error, match=fragment):
        _spec(data, method_options=options)


def test_cluster_given_twice_must_agree(data):
    data = data.assign(other=data["school"] // 2)
    matrix = make_predictor_matrix(data, cluster="school")
    with pytest.raises(ValueError,
                       match=r"cluster='other' but the predictor_matrix codes \['school'\]"):
        _spec(data, predictor_matrix=matrix, cluster="other")


def test_notes_collect_what_the_engine_changed(data):
    spec = _spec(data.assign(const=1.0))
    assert any("predictor 'const' removed" in note for note in spec.warnings)


def test_input_frame_untouched(data):
    before = data.copy(deep=True)
    _spec(data.assign(const=1.0))
    _spec(data)
    pd.testing.assert_frame_equal(data, before)


def test_unknown_role_name_is_an_illegal_code(data):
    matrix = make_predictor_matrix(data, cluster="school").astype(object)
    matrix.at["score", "female"] = "slope"
    with pytest.raises(ValueError, match=r"illegal code.*\('score', 'female'\).*'slope'"):
        _spec(data, predictor_matrix=matrix)


# --- inputs other than pandas -------------------------------------------------------------------
def test_polars_frame_is_converted(data):
    pl = pytest.importorskip("polars")
    import bayesimpute as bi

    # polars has no ordered Categorical: an ordered factor is an Enum there
    frame = pl.from_pandas(data).with_columns(pl.col("grade").cast(pl.Enum(["a", "b", "c"])))
    assert make_method(frame, cluster="school").equals(make_method(data, cluster="school"))
    assert make_predictor_matrix(frame, cluster="school").equals(
        make_predictor_matrix(data, cluster="school"))
    assert bi.find_default_method(frame, cluster="school").equals(
        bi.find_default_method(data, cluster="school"))
    kwargs = {"cluster": "school", "method": {"score": "2l.pmm", "texp": "2lonly.norm"},
              "m": 1, "maxit": 1, "seed": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        from_polars = bi.impute(frame, where=pl.from_pandas(data.isna()), **kwargs)
        from_pandas = bi.impute(data, **kwargs)
    completed = from_polars.complete(0)
    assert isinstance(completed, pd.DataFrame)  # results are pandas objects
    pd.testing.assert_frame_equal(completed, from_pandas.complete(0))
    assert completed["grade"].cat.ordered  # the Enum arrived as an ordered categorical


def test_polars_nulls_and_categoricals():
    pl = pytest.importorskip("polars")
    from bayesimpute.engine.spec import to_pandas_frame

    frame = pl.DataFrame({
        "g": [1, 1, 2, 2],
        "x": [1.0, None, 3.0, 4.0],
        "n": [1, None, 3, 4],
        "f": pl.Series(["a", None, "b", "a"], dtype=pl.Categorical),
        "e": pl.Series(["lo", "hi", None, "lo"], dtype=pl.Enum(["lo", "hi"])),
    })
    converted = to_pandas_frame(frame)
    assert converted.isna().sum().to_dict() == {"g": 0, "x": 1, "n": 1, "f": 1, "e": 1}
    assert isinstance(converted["f"].dtype, pd.CategoricalDtype)
    assert not converted["f"].cat.ordered and converted["e"].cat.ordered
    assert list(converted["e"].cat.categories) == ["lo", "hi"]


@pytest.mark.parametrize("make, fragment", [
    (lambda d: d.to_numpy(), r"data is a numpy array.*pd.DataFrame\(array, columns="),
    (lambda d: d["score"], r"data is a pandas Series.*to_frame\(\)"),
    (lambda d: d.to_dict(), r"must be a pandas DataFrame or a frame that converts.*got "
                            r"builtins.dict"),
])
def test_inputs_that_are_not_frames_name_the_conversion(data, make, fragment):
    for function in (make_method, make_predictor_matrix, build_spec):
        with pytest.raises(TypeError, match=fragment):
            function(make(data))


def test_lazy_polars_frame_needs_collect(data):
    pl = pytest.importorskip("polars")
    with pytest.raises(TypeError, match=r"lazy frame.*collect\(\)"):
        make_method(pl.from_pandas(data).lazy())


def test_stray_predictor_matrix_label_is_named(data):
    matrix = make_predictor_matrix(data, cluster="school")
    matrix.loc["score", "texpp"] = 3  # a typo adds a column (and NaN in the other rows)
    with pytest.raises(ValueError, match=r"column label\(s\) not in data: 'texpp' \(did you "
                                         r"mean 'texp'\?\)"):
        _spec(data, predictor_matrix=matrix)
    matrix = make_predictor_matrix(data, cluster="school")
    matrix.loc["scor", "texp"] = 1  # ... or a row
    with pytest.raises(ValueError, match=r"row label\(s\) not in data: 'scor' \(did you "
                                         r"mean 'score'\?\)"):
        _spec(data, predictor_matrix=matrix)


def test_quickpred_converts_and_exploration_names_the_conversion(data):
    pl = pytest.importorskip("polars")
    import bayesimpute as bi

    frame = pl.from_pandas(data.drop(columns="grade"))
    assert bi.quickpred(frame).equals(bi.quickpred(data.drop(columns="grade")))
    with pytest.raises(TypeError, match=r"got polars.DataFrame: convert it with "
                                        r"data.to_pandas\(\)"):
        bi.md_pattern(frame)


# --- several cluster identifiers ---------------------------------------------------------------
def test_cluster_list_is_checked(data):
    frame = data.assign(klass=data["school"] * 2 + np.arange(len(data)) % 2)
    with pytest.raises(TypeError, match="cluster must be a column name or a list"):
        build_spec(frame, cluster=["school", 3])
    with pytest.raises(ValueError, match="cluster lists a column twice"):
        build_spec(frame, cluster=["school", "school"])
    with pytest.raises(ValueError, match="cluster column 'nope' is not a column"):
        build_spec(frame, cluster=["school", "nope"])
    spec = build_spec(frame, cluster=["school", "klass"], m=1, maxit=1)
    assert spec.clusters == ["school", "klass"] and spec.cluster == "school"
    assert "school" not in spec.codecs and "klass" not in spec.codecs


def test_each_row_may_code_its_own_levels(data):
    from bayesimpute.engine.spec import model_clusters

    frame = data.assign(klass=data["school"] * 2 + np.arange(len(data)) % 2)
    matrix = make_predictor_matrix(frame, cluster="school")
    incomplete = [c for c in frame.columns if frame[c].isna().any()]
    row = incomplete[0]
    matrix.at[row, "klass"] = -2
    matrix.loc[row, incomplete[1:]] = 0  # only the clusters: the others are not imputed
    method = {c: "ml.norm" if c == row else "" for c in frame.columns}
    spec = build_spec(frame, predictor_matrix=matrix, method=method, m=1, maxit=1)
    assert spec.clusters == ["school", "klass"]
    assert model_clusters(spec, row) == ["school", "klass"]


# --- where and how the chains run: checked with everything else, before sampling -----------------
@pytest.mark.parametrize("arguments, error, message", [
    (dict(keep="every"), ValueError, "keep must be one of 'all', 'last', None, got 'every'"),
    (dict(n_jobs=0), ValueError, "n_jobs must be a non-zero integer, got 0"),
    (dict(n_jobs=True), ValueError, "n_jobs must be a non-zero integer, got True"),
    (dict(n_jobs=2.0), ValueError, "n_jobs must be a non-zero integer, got 2.0"),
    (dict(backend="threads"), ValueError,
     "backend must be one of 'serial', 'joblib', 'dask', None, got 'threads'"),
    (dict(client=object(), backend="joblib"), ValueError, "contradicts"),
    (dict(store=3), TypeError, "store must be a folder path, got int"),
])
def test_bad_run_arguments(arguments, error, message):
    with pytest.raises(error, match=re.escape(message)):
        check_run_arguments(**arguments)


def test_run_arguments_are_normalised(tmp_path):
    checked = check_run_arguments(n_jobs=np.int64(-1), keep="last", store=tmp_path / "new")
    assert checked.n_jobs == -1 and type(checked.n_jobs) is int
    assert checked.keep == "last" and checked.store == str((tmp_path / "new").resolve())
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_a_store_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "draws.nc"
    path.write_text("")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        check_run_arguments(store=path)


def test_run_arguments_are_checked_before_the_problem(data):
    # the data would fail build_spec (no cluster column 'nope'); the keep typo is said first,
    # so each entry point refuses a bad run argument before building or sampling anything
    with pytest.raises(ValueError, match="keep must be one of"):
        bi.impute(data, cluster="nope", keep="every")
    with pytest.raises(ValueError, match="n_jobs must be"):
        bi.resume("/no/such/checkpoint", n_jobs=0)
    incomplete = data[["score", "female"]].copy()
    incomplete.loc[0, "score"] = np.nan
    imp = bi.impute(incomplete, method={"score": "norm"}, m=1, maxit=1, seed=1)
    with pytest.raises(ValueError, match="backend must be one of"):
        imp.iterate(1, backend="threads")
