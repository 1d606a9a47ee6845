"""build_spec, make_method and make_predictor_matrix: defaults and argument checks."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from bayesimpute.engine.spec import (
    build_spec,
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
