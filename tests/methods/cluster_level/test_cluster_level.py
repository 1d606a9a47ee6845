"""Cluster-level methods (2lonly.*): one value per cluster, a single-level model on clusters."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import bayesimpute as bi
from bayesimpute.design.coding import VariableKind
from bayesimpute.methods import get_method
from bayesimpute.methods.base import MethodData
from bayesimpute.methods.cluster_level.two_level_only import cluster_level_method, is_cluster_level

N_CLUSTERS, PER_CLUSTER = 120, 6
LEVELS = ["a", "b", "c"]


def simulate(seed: int = 11, n_clusters: int = N_CLUSTERS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pupils in schools; w is a school covariate, f / b / o / c school-level variables that
    depend strongly on w. Returns the complete data and a copy with whole schools (and a few
    single rows) missing."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_clusters), PER_CLUSTER)
    w = rng.normal(size=n_clusters)
    eta = np.column_stack([np.zeros(n_clusters), 2.5 * w, -2.5 * w])
    f = np.array([rng.choice(3, p=p) for p in special.softmax(eta, axis=1)])
    b = (rng.random(n_clusters) < special.expit(3 * w)).astype(float)
    o = np.digitize(w + rng.normal(0, 0.4, n_clusters), [-0.5, 0.5])
    c = 1.5 * w + rng.normal(0, 0.5, n_clusters)
    complete = pd.DataFrame({
        "g": g,
        "x": w[g] + rng.normal(size=len(g)),  # a pupil-level variable whose school mean is w
        "w": w[g],
        "f": pd.Categorical.from_codes(f[g], LEVELS),
        "b": b[g],
        "o": pd.Categorical.from_codes(o[g], ["lo", "mid", "hi"], ordered=True),
        "c": c[g],
    })
    data = complete.copy()
    for column in ["f", "b", "o", "c"]:
        schools = rng.choice(n_clusters, size=n_clusters // 4, replace=False)
        data.loc[data["g"].isin(schools), column] = np.nan
    whole = data.groupby("g")[["f", "c"]].transform(lambda s: s.notna().all()).all(axis=1)
    partly = data.index[whole & (data.index % PER_CLUSTER == 1)][:2]
    data.loc[partly, ["f", "c"]] = np.nan  # partly missing schools
    data.attrs["partly_missing_rows"] = list(partly)
    return complete, data


@pytest.fixture(scope="module")
def simulated():
    return simulate()


LEVEL2 = ["f", "b", "c"]  # o (2lonly.polr, NUTS: seconds per chain) is run on its own below


@pytest.fixture(scope="module")
def default_run(simulated):
    """The default methods (method=None) on the simulated schools, without o."""
    _, data = simulated
    data = data.drop(columns="o")
    pred = bi.make_predictor_matrix(data, cluster="g")
    pred.loc[LEVEL2, "x"] = 0  # w is the school-level predictor
    return bi.impute(data, cluster="g", predictor_matrix=pred, m=5, maxit=3, seed=4)


def test_defaults_choose_cluster_level_methods(simulated, default_run):
    _, data = simulated
    expected = {"f": "2lonly.polyreg", "b": "2lonly.logreg", "o": "2lonly.polr",
                "c": "2lonly.pmm"}
    assert {v: bi.make_method(data, cluster="g")[v] for v in expected} == expected
    assert {v: bi.find_default_method(data, cluster="g")[v] for v in expected} == expected
    assert {v: default_run.method[v] for v in LEVEL2} == {v: expected[v] for v in LEVEL2}


def test_constant_within_every_cluster_in_every_completed_dataset(simulated, default_run):
    _, data = simulated
    for i in range(default_run.m):
        completed = default_run.complete(i)
        assert not completed[LEVEL2].isna().any().any()
        spread = completed.groupby("g", observed=True)[LEVEL2].nunique()
        assert (spread == 1).all().all(), i
        # a partly missing school takes its observed value; levels and dtypes survive
        for row in data.attrs["partly_missing_rows"]:
            assert completed.loc[row, "f"] == data.loc[row - 1, "f"]
            assert completed.loc[row, "c"] == data.loc[row - 1, "c"]
        assert completed["f"].dtype == data["f"].dtype
    assert "observed on some rows and missing on others" in " ".join(
        default_run.logged_events["event"])


def test_imputations_follow_the_cluster_level_model(simulated, default_run):
    """With a strong school covariate, imputed categories of whole missing schools agree
    with the truth about as often as the true model's probabilities imply, and much more
    often than draws from the marginal shares would.

    Expected agreement of a draw from the true probabilities p_j with the true value:
    sum_k p_jk^2 per school; from the marginal shares q: sum_k q_k p_jk. The threshold is
    halfway between the two averages; with 30 schools x 5 imputations the Monte-Carlo SE
    of the agreement rate is about 0.05 (schools independent), the gap between the two
    expectations about 0.3.
    """
    complete, data = simulated
    rows = data["f"].isna() & data.groupby("g")["f"].transform(lambda s: s.isna().all())
    schools = data.loc[rows, "g"].unique()
    w = complete.groupby("g")["w"].first().loc[schools].to_numpy()
    p = special.softmax(np.column_stack([np.zeros_like(w), 2.5 * w, -2.5 * w]), axis=1)
    truth = complete.groupby("g")["f"].first().loc[schools].cat.codes.to_numpy()
    q = np.bincount(truth, minlength=3) / len(truth)
    model_agreement = float(np.mean(np.sum(p ** 2, axis=1)))
    marginal_agreement = float(np.mean(p @ q))
    assert model_agreement - marginal_agreement > 0.2  # the design has power
    agreement = np.mean([
        (default_run.complete(i).groupby("g")["f"].first().loc[schools].cat.codes.to_numpy()
         == truth).mean() for i in range(default_run.m)
    ])
    assert agreement > (model_agreement + marginal_agreement) / 2, (
        agreement, model_agreement, marginal_agreement)


def _row_data(kind, y, observed, X, cluster, n_categories):
    return MethodData(
        target="v", kind=kind, y=np.where(observed, y, 0.0), observed=observed,
        impute=~observed, X=X, x_names=["Intercept", "x"], random=np.array([0]),
        cluster=cluster, n_clusters=int(cluster.max()) + 1,
        cluster_labels=np.arange(int(cluster.max()) + 1), n_categories=n_categories,
        x_roles=np.array([2, 1]),
    )


@pytest.mark.parametrize("name, single, kind, n_categories", [
    ("2lonly.norm", "norm", VariableKind.CONTINUOUS, 0),
    ("2lonly.pmm", "pmm", VariableKind.CONTINUOUS, 0),
    ("2lonly.logreg", "logreg", VariableKind.BINARY, 2),
    ("2lonly.polyreg", "polyreg", VariableKind.CATEGORICAL, 3),
    ("2lonly.polr", "polr", VariableKind.ORDERED, 3),
])
def test_cluster_level_method_is_the_single_level_method_on_cluster_rows(
        name, single, kind, n_categories):
    """The 2lonly method equals its single-level method fitted to one row per cluster,
    with the cluster means of the predictors (built here independently with pandas), and
    copies each cluster's draw to all its rows."""
    rng = np.random.default_rng(5)
    sizes = rng.integers(1, 7, 40)
    cluster = np.repeat(np.arange(40), sizes)
    x = rng.normal(size=len(cluster))
    level = rng.integers(0, max(n_categories, 2), 40).astype(float) if n_categories else rng.normal(
        size=40)
    y = level[cluster]
    observed = ~np.isin(cluster, np.arange(0, 40, 4))
    X = np.column_stack([np.ones_like(x), x])
    row_data = _row_data(kind, y, observed, X, cluster, n_categories)
    # the cluster means in the implementation's arithmetic (sums in row order, C order):
    # NUTS (polr) amplifies even last-digit differences of its inputs along a trajectory;
    # that they are the cluster means is checked against pandas
    X_clusters = np.column_stack([np.ones(40), np.bincount(cluster, weights=x) / sizes])
    np.testing.assert_allclose(X_clusters[:, 1], pd.Series(x).groupby(cluster).mean(),
                               rtol=1e-12)
    known = pd.Series(np.where(observed, y, np.nan)).groupby(cluster).first().to_numpy()
    cluster_data = MethodData(
        target="v", kind=kind, y=np.nan_to_num(known), observed=~np.isnan(known),
        impute=np.isnan(known), X=X_clusters, x_names=["Intercept", "x"],
        random=np.array([], dtype=int), cluster=None, n_clusters=0, n_categories=n_categories,
        x_roles=np.array([2, 1]),
    )
    options = {"tune": 30} if single == "polr" else None  # NUTS: a short adaptation will do
    draw = get_method(name)("v", options).update(row_data, np.random.default_rng(9))
    reference = get_method(single)("v", options).update(cluster_data, np.random.default_rng(9))
    per_cluster = pd.Series(reference.values, index=np.flatnonzero(np.isnan(known)))
    np.testing.assert_array_equal(draw.values, per_cluster.loc[cluster[~observed]].to_numpy())
    for parameter, value in reference.parameters.items():
        np.testing.assert_array_equal(draw.parameters[parameter], value)


def test_maxit_zero_starts_constant_within_clusters(simulated):
    _, data = simulated
    imp = bi.impute(data, cluster="g", m=2, maxit=0, seed=1)  # no model is run
    spread = imp.complete(1).groupby("g", observed=True)[["f", "b", "o", "c"]].nunique()
    assert (spread == 1).all().all()


def test_ordered_cluster_level_factor_keeps_order_and_levels(simulated):
    complete, data = simulated
    pred = bi.make_predictor_matrix(data, cluster="g")
    pred.loc["o", ["x", "f", "b", "c"]] = 0
    imp = bi.impute(data, cluster="g", method={"o": "2lonly.polr"}, predictor_matrix=pred,
                    method_options={"o": {"tune": 30}}, m=1, maxit=1, seed=2)
    completed = imp.complete(0)
    assert completed["o"].dtype == data["o"].dtype and completed["o"].cat.ordered
    assert (completed.groupby("g", observed=True)["o"].nunique() == 1).all()


def test_row_level_method_on_a_cluster_level_variable_warns(simulated):
    _, data = simulated
    pred = bi.make_predictor_matrix(data, cluster="g")
    pred.loc["f", ["b", "o", "c"]] = 0
    with pytest.warns(UserWarning, match=r"column 'f' is constant within every cluster of "
                      r"'g'.*'2l.polyreg' imputes it row by row.*use '2lonly.polyreg'"):
        imp = bi.impute(data, cluster="g", method={"f": "2l.polyreg"}, predictor_matrix=pred,
                        m=1, maxit=1, seed=1)
    assert "'2l.polyreg' imputes it row by row" in " ".join(imp.logged_events["event"])


def test_row_level_variable_is_refused_by_a_cluster_level_method(simulated):
    _, data = simulated
    with pytest.raises(ValueError, match=r"column 'x' is imputed by a cluster-level"):
        bi.impute(data.assign(x=data["x"].mask(data.index % 9 == 0)), cluster="g",
                  method={"x": "2lonly.pmm"}, m=1, maxit=1, seed=1)


@pytest.mark.parametrize("kind, method", [
    (VariableKind.CONTINUOUS, "2lonly.pmm"), (VariableKind.BINARY, "2lonly.logreg"),
    (VariableKind.CATEGORICAL, "2lonly.polyreg"), (VariableKind.ORDERED, "2lonly.polr"),
])
def test_cluster_level_method_by_kind(kind, method):
    assert cluster_level_method(kind) == method
    assert get_method(method).cluster_level and kind in get_method(method).kinds


def test_is_cluster_level_needs_more_than_chance():
    cluster = pd.Series(np.repeat(np.arange(10), 2))
    level2 = pd.Series(np.repeat(np.arange(10.0), 2))
    assert is_cluster_level(level2, cluster)
    varying = level2.copy()
    varying.iloc[3] = 99.0
    assert not is_cluster_level(varying, cluster)
    # a binary with one value in 90% of rows: 10 agreeing pairs by chance ~ 0.9**10
    mostly_one = pd.Series(np.repeat([0.0] + [1.0] * 9, 2))
    assert not is_cluster_level(mostly_one, cluster)
    assert not is_cluster_level(pd.Series(np.ones(20)), cluster)  # constant, not level-2


def test_brandsma_den_is_a_school_level_factor_with_the_defaults():
    """The issue's case: mice's brandsma, den missing in 13 whole schools."""
    data = bi.datasets.load_brandsma()
    method = bi.make_method(data, cluster="sch")
    assert method["den"] == "2lonly.polyreg" and method["ssi"] == "2lonly.pmm"
    assert bi.find_default_method(data, cluster="sch")["den"] == "2lonly.polyreg"
    pred = bi.make_predictor_matrix(data, cluster="sch")
    pred.loc[:, "pup"] = 0  # the pupil number is an identifier, not a predictor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = bi.impute(data, method=method, predictor_matrix=pred, m=2, maxit=2, seed=3)
    for i in range(imp.m):
        completed = imp.complete(i)
        spread = completed.groupby("sch")[["den", "ssi"]].nunique()
        assert (spread == 1).all().all(), i
        assert list(completed["den"].cat.categories) == [1, 2, 3, 4]
