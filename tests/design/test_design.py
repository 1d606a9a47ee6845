"""Predictor roles -> design columns, and the pruning of predictors the models cannot use."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesimpute.design.coding import make_codec
from bayesimpute.design.matrix import TargetDesign, cluster_means, prune_predictors


def codecs_of(data: pd.DataFrame) -> dict:
    return {c: make_codec(data[c]) for c in data.columns}


# --- design structure ----------------------------------------------------------------------------
def test_design_columns_follow_the_codes():
    data = pd.DataFrame({"y": [1.0, 2.0], "a": [0.5, 1.5], "b": [1.0, 3.0],
                         "f": pd.Categorical(["u", "v"], categories=["u", "v", "w"])})
    design = TargetDesign("y", {"a": 2, "b": 3, "f": 1, "g": -2}, codecs_of(data), multilevel=True)
    assert design.names == ["Intercept", "a", "b", "b.cluster_mean", "f[v]", "f[w]"]
    assert design.random.tolist() == [0, 1]  # random intercept + slope of a
    single = TargetDesign("y", {"a": 2}, codecs_of(data), multilevel=False)
    assert single.random.tolist() == []


def test_design_build_fills_dummies_and_cluster_means():
    data = pd.DataFrame({"y": [0.0] * 4, "a": [1.0, 3.0, np.nan, 5.0],
                         "f": pd.Categorical(["u", "v", None, "v"])})
    codecs = codecs_of(data)
    design = TargetDesign("y", {"a": 3, "f": 1}, codecs, multilevel=True)
    values = {c: codecs[c].encode(data[c]) for c in data.columns}
    X = design.build(values, np.array([0, 0, 1, 1]), 2)
    np.testing.assert_array_equal(X[:, 0], 1.0)
    np.testing.assert_array_equal(X[:, 2], [2.0, 2.0, 5.0, 5.0])  # means ignore NaN
    np.testing.assert_array_equal(X[[0, 1, 3], 3], [0.0, 1.0, 1.0])
    assert np.isnan(X[2, 3])  # a missing factor stays missing in its dummies


def test_cluster_means_with_an_empty_cluster():
    means = cluster_means(np.array([1.0, np.nan, 4.0]), np.array([0, 1, 0]), 2)
    np.testing.assert_array_equal(means[[0, 2]], [2.5, 2.5])
    assert np.isnan(means[1])


# --- pruning -------------------------------------------------------------------------------------
def _matrix(columns: list[str], rows: list[str]) -> pd.DataFrame:
    matrix = pd.DataFrame(0, index=columns, columns=columns)
    for row in rows:
        matrix.loc[row, [c for c in columns if c != row]] = 1
    return matrix


def _prune(data: pd.DataFrame, rows: dict[str, bool], matrix: pd.DataFrame | None = None):
    matrix = _matrix(list(data.columns), list(rows)) if matrix is None else matrix
    notes: list[str] = []
    pruned = prune_predictors(data, codecs_of(data), rows, matrix, data.isna(), notes)
    return pruned, notes


@pytest.fixture
def base() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"y": rng.normal(size=50), "a": rng.normal(size=50),
                         "b": rng.normal(size=50)})
    data.loc[:4, "y"] = np.nan
    return data


def test_constant_predictor_leaves_every_model(base):
    data = base.assign(k=np.where(np.arange(50) < 3, np.nan, 2.0))
    pruned, notes = _prune(data, {"y": False, "a": False})
    assert pruned.loc[["y", "a"], "k"].tolist() == [0, 0]
    assert notes == ["predictor 'k' removed from the models of ['y', 'a']: constant "
                     "(a single observed value)"]


def test_pairwise_collinear_drops_the_later_column(base):
    pruned, notes = _prune(base.assign(c=-3 * base["a"] + 1), {"y": False})
    assert pruned.at["y", "c"] == 0 and pruned.at["y", "a"] == 1
    assert "predictor 'c' removed from the model of 'y': collinear with ['a']" in notes[0]


def test_correlation_on_too_few_shared_rows_is_not_trusted(base):
    twin = base["a"] * 2
    data = base.assign(a=base["a"].where(np.arange(50) < 8), c=twin.where(np.arange(50) >= 2))
    pruned, notes = _prune(data, {"y": False})
    assert pruned.at["y", "c"] == 1 and notes == []  # only 6 shared rows


def test_linear_combination_removed_per_model(base):
    data = base.assign(c=base["a"] - 2 * base["b"])
    pruned, notes = _prune(data, {"y": False})
    assert pruned.loc["y"].to_dict() == {"y": 0, "a": 1, "b": 1, "c": 0}
    assert "a linear combination of ['a', 'b']" in notes[0]


def test_linear_combination_needs_enough_complete_cases(base):
    data = base.iloc[:15].assign(c=lambda d: d["a"] - 2 * d["b"])
    pruned, notes = _prune(data, {"y": False})
    assert pruned.at["y", "c"] == 1
    assert not any("linear combination" in n for n in notes)


def test_categorical_with_an_empty_level_is_kept(base):
    factor = pd.Categorical(np.where(base["a"] > 0, "pos", "neg"), categories=["neg", "pos", "nil"])
    pruned, notes = _prune(base.assign(f=factor), {"y": False})
    assert pruned.at["y", "f"] == 1 and notes == []


def test_target_collinear_with_a_predictor_is_kept(base):
    # a predictor that determines the target is information, not a numerical problem
    pruned, notes = _prune(base.assign(a=base["y"] * 2), {"y": False})
    assert pruned.at["y", "a"] == 1 and notes == []


def test_cluster_code_is_left_alone(base):
    data = base.assign(g=np.repeat(np.arange(5), 10))
    matrix = _matrix(list(data.columns), ["y"])
    matrix.at["y", "g"] = -2
    pruned, _ = _prune(data, {"y": True}, matrix)
    assert pruned.at["y", "g"] == -2


def test_error_when_every_given_predictor_is_removed(base):
    data = base.assign(k=1.0)
    matrix = _matrix(list(data.columns), ["y"])
    matrix.loc["y", ["a", "b"]] = 0
    with pytest.raises(ValueError, match=r"no predictor remains in the model of 'y': \['k'\]"):
        _prune(data, {"y": False}, matrix)


def test_intercept_only_model_is_legitimate(base):
    matrix = pd.DataFrame(0, index=base.columns, columns=base.columns)
    pruned, notes = _prune(base, {"y": True}, matrix)
    assert (pruned == 0).all().all() and notes == []


def test_more_design_columns_than_observed_rows_is_noted(base):
    data = base.copy()
    data.loc[2:, "y"] = np.nan
    data.loc[:1, "y"] = [0.4, -1.1]
    _, notes = _prune(data, {"y": False})
    assert notes == ["the model of 'y' has 3 design columns but 2 observed rows: the "
                     "coefficients are identified only through their prior; consider fewer "
                     "predictors"]


def test_input_matrix_is_not_modified(base):
    matrix = _matrix(list(base.columns) + ["k"], ["y"])
    before = matrix.copy()
    _prune(base.assign(k=1.0), {"y": False}, matrix)
    pd.testing.assert_frame_equal(matrix, before)


def test_notes_know_their_variable_and_pickle(base):
    import pickle

    _, notes = _prune(base.assign(c=-3 * base["a"] + 1), {"y": False})
    assert isinstance(notes[0], str) and notes[0].variable == "y"
    copy = pickle.loads(pickle.dumps(notes[0]))
    assert copy == notes[0] and copy.variable == "y"
    _, notes = _prune(base.assign(k=1.0), {"y": False, "a": False})
    assert notes[0].variable == "k"  # one note for several models: about the predictor


def test_no_predictor_error_gives_the_reasons(base):
    data = base.assign(k=1.0)
    matrix = _matrix(list(data.columns), ["y"])
    matrix.loc["y", ["a", "b"]] = 0
    with pytest.raises(ValueError, match=r"removed \(predictor 'k' removed .*constant"):
        _prune(data, {"y": False}, matrix)


def test_cluster_means_at_every_level_with_several_levels():
    from bayesimpute.design.levels import make_level

    data = pd.DataFrame({"y": [0.0] * 6, "a": [1.0, 3.0, 5.0, 7.0, 2.0, np.nan],
                         "school": [0, 0, 0, 0, 1, 1], "klass": [0, 0, 1, 1, 2, 2]})
    codecs = codecs_of(data[["y", "a"]])
    design = TargetDesign("y", {"a": 3}, codecs, multilevel=True,
                          mean_levels=["klass", "school"])
    assert design.names == ["Intercept", "a", "a.mean[klass]", "a.mean[school]"]
    levels = {name: make_level(data[name]) for name in ("school", "klass")}
    X = design.build({c: codecs[c].encode(data[c]) for c in codecs}, None, 0, levels)
    np.testing.assert_allclose(X[:, 2], [2.0, 2.0, 6.0, 6.0, 2.0, 2.0])  # NaN ignored
    np.testing.assert_allclose(X[:, 3], [4.0, 4.0, 4.0, 4.0, 2.0, 2.0])
