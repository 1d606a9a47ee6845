"""ml.norm / ml.pmm / ml.bin / ml.polyreg: several cluster identifiers, the level a target
lives at, systematic missingness, the one-level special case, continuing a run."""

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi
from bayesimpute.design.levels import make_level, row_levels
from bayesimpute.methods.logistic.polya_gamma import LogisticMixedGibbs, build_pymc_model as logit_model
from bayesimpute.methods.multilevel.sweeps import EffectLevel, make_chain
from bayesimpute.methods.gaussian.linear_mixed import LinearMixedGibbs, build_pymc_model as lmm_model
from bayesimpute.methods.multilevel.ml_model import (
    GaussianSweep,
    MultilevelLogitState,
    MultilevelState,
    logit_sweep,
)
from bayesimpute.methods.logistic.polya_gamma import LogitPriors

CLUSTERS = ["school", "klass"]


def three_level(seed=0, schools=20, classes=3, pupils=8):
    """Pupils in classes in schools: y (pupil), x (pupil), w (class level), t (school level)."""
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(schools), classes * pupils)
    klass = np.repeat(np.arange(schools * classes), pupils)
    w = rng.normal(size=schools * classes)[klass]
    t = rng.normal(size=schools)[school]
    x = rng.normal(size=len(school)) + 0.3 * w
    y = (0.5 * x + 0.4 * w + 0.3 * t + rng.normal(0, 0.45, schools)[school]
         + rng.normal(0, 0.3, schools * classes)[klass] + rng.normal(0, 0.8, len(x)))
    return pd.DataFrame({"school": school, "klass": klass, "y": y, "x": x, "w": w, "t": t})


def with_missing(frame, seed=1):
    rng = np.random.default_rng(seed)
    df = frame.copy()
    df.loc[rng.random(len(df)) < 0.25, "x"] = np.nan
    missing_classes = rng.random(df["klass"].max() + 1) < 0.25
    df.loc[missing_classes[df["klass"]], "w"] = np.nan
    missing_schools = rng.random(df["school"].max() + 1) < 0.25
    df.loc[missing_schools[df["school"]], "t"] = np.nan
    df.loc[df["school"] < 2, "y"] = np.nan  # systematically missing in two schools
    return df


@pytest.fixture(scope="module")
def data():
    return with_missing(three_level())


def test_default_methods_and_matrix_for_several_clusters(data):
    method = bi.make_method(data, cluster=CLUSTERS)
    assert method[["y", "x", "w", "t"]].tolist() == ["ml.pmm"] * 4
    assert method["school"] == "" and method["klass"] == ""
    matrix = bi.make_predictor_matrix(data, cluster=CLUSTERS)
    assert (matrix.loc[["y", "x"], CLUSTERS] == -2).all().all()
    assert (matrix.loc[CLUSTERS] == 0).all().all()


def test_predictor_matrix_form_equals_named_form(data):
    named = bi.impute(data, cluster=CLUSTERS, method="ml.norm", m=1, maxit=2, seed=3)
    matrix = bi.make_predictor_matrix(data)
    matrix[CLUSTERS] = -2
    matrix.loc[CLUSTERS, :] = 0
    coded = bi.impute(data, predictor_matrix=matrix, method="ml.norm", m=1, maxit=2, seed=3)
    pd.testing.assert_frame_equal(named.complete(0), coded.complete(0))


def test_levels_of_targets_are_found_and_respected(data):
    imp = bi.impute(data, cluster=CLUSTERS, method="ml.pmm", m=2, maxit=2, seed=4)
    for k in range(2):
        done = imp.complete(k)
        assert not done.isna().any().any()
        assert done.groupby("klass")["w"].nunique().max() == 1
        assert done.groupby("school")["t"].nunique().max() == 1
        assert done.groupby("klass")["x"].nunique().min() > 1
    events = " ".join(imp.logged_events["event"])
    assert "'w' imputed at the level of 'klass'" in events
    assert "'t' imputed at the level of 'school'" in events
    assert "'x' imputed at row level" in events
    # a school-level target has no level above it: a single-level regression
    assert "t_u_school" not in imp.idata.posterior
    assert "w_u_school" in imp.idata.posterior and "w_u_klass" not in imp.idata.posterior


def test_explicit_level_that_varies_is_an_error(data):
    with pytest.raises(Exception, match="'x' varies within clusters of 'klass'"):
        bi.impute(data, cluster=CLUSTERS, method="ml.norm",
                  method_options={"x": {"level": "klass"}}, m=1, maxit=1, seed=1)


def test_two_level_method_refuses_several_levels(data):
    with pytest.raises(ValueError, match=r"more than one cluster code.*use ml\.pmm"):
        bi.impute(data, cluster=CLUSTERS, method="2l.pmm", m=1, maxit=1)


def test_cluster_means_at_every_level(data):
    matrix = bi.make_predictor_matrix(data, cluster=CLUSTERS)
    matrix.loc["y", "x"] = 3
    matrix.loc["w", "x"] = 3
    imp = bi.impute(data, predictor_matrix=matrix, method={"y": "ml.norm", "x": "ml.norm",
                                                           "w": "ml.norm", "t": "ml.norm"},
                    m=1, maxit=1, seed=2)
    names = list(imp.idata.posterior["y_x"].values)
    assert "x.mean[school]" in names and "x.mean[klass]" in names
    # w lives at class level: x aggregated to classes is x.mean[klass], kept once
    w_names = list(imp.idata.posterior["w_x"].values)
    assert "x.mean[school]" in w_names and "x.mean[klass]" not in w_names and "x" in w_names


def test_crossed_levels_are_logged():
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame({"primary": rng.integers(0, 15, n), "secondary": rng.integers(0, 10, n),
                          "x": rng.normal(size=n)})
    frame["y"] = frame["x"] + rng.normal(0, 1, 15)[frame["primary"]] + rng.normal(size=n)
    frame.loc[rng.random(n) < 0.3, "y"] = np.nan
    imp = bi.impute(frame, cluster=["primary", "secondary"], m=1, maxit=2, seed=1)
    assert any("not all nested" in e for e in imp.logged_events["event"])
    assert {"y_u_primary", "y_u_secondary"} <= set(imp.idata.posterior.data_vars)


def test_systematically_missing_schools_get_effects_from_the_population(data):
    imp = bi.impute(data, cluster=CLUSTERS, method="ml.norm", m=1, maxit=30, seed=5)
    post = imp.idata.posterior
    u = post["y_u_school"].values[0, 10:, :, 0]  # draws x schools
    psi = post["y_psi_school"].values[0, 10:, 0, 0]
    # schools 0 and 1 never observe y: their effects are prior draws, N(0, psi), centred
    # at zero and as spread as psi says (z^2 averages 1; 40 draws give a s.e. of ~0.22)
    z2 = (u[:, :2] ** 2 / psi[:, None]).mean()
    assert 0.4 < z2 < 1.9
    # observed schools' effects are pinned down by their data: less spread across draws than
    # the prior's. A school is seen through its 3 class means (8 pupils each), so its
    # posterior s.d. is about sqrt(1 / (3 / (psi_class + sigma2 / 8) + 1 / psi)) ~ 0.7 of the
    # prior s.d. here; a prior draw would give a ratio of 1
    assert u[:, 5:].std(axis=0).mean() < 0.9 * np.sqrt(psi.mean())


def test_continuing_a_run_equals_an_uninterrupted_run(data):
    method = {"y": "ml.norm", "x": "ml.pmm", "w": "ml.norm", "t": "ml.pmm"}
    whole = bi.impute(data, cluster=CLUSTERS, method=method, m=2, maxit=4, seed=9)
    half = bi.impute(data, cluster=CLUSTERS, method=method, m=2, maxit=2, seed=9).iterate(2)
    for k in range(2):
        pd.testing.assert_frame_equal(whole.complete(k), half.complete(k))


def test_netcdf_round_trip_keeps_both_cluster_columns(data, tmp_path):
    imp = bi.impute(data, cluster=CLUSTERS, m=1, maxit=1, seed=1)
    back = bi.MultipleImputation.from_netcdf(imp.to_netcdf(tmp_path / "run.nc"))
    pd.testing.assert_frame_equal(back.complete(0), imp.complete(0), check_dtype=False)


# --- one level: the ml model is the 2l model ------------------------------------------------------------
def one_level_data(seed=7, clusters=10, per=10):
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(clusters), per)
    x = rng.normal(size=len(cluster))
    y = 0.3 + 0.8 * x + rng.normal(0, 0.6, clusters)[cluster] + rng.normal(0, 0.7, len(x))
    return np.column_stack([np.ones_like(x), x]), y, cluster, clusters


def _compare(a, b, names):
    """Means within 5 Monte Carlo s.e. (an effective size of a tenth of the draws, cautious
    for both chains) and s.d.s within 15%."""
    for k, name in enumerate(names):
        se = np.sqrt(a[:, k].var() / (len(a) / 10) + b[:, k].var() / (len(b) / 10))
        assert abs(a[:, k].mean() - b[:, k].mean()) < 5 * se, name
        assert np.isclose(a[:, k].std(), b[:, k].std(), rtol=0.15), name


def test_one_level_gaussian_is_the_two_level_model():
    X, y, cluster, J = one_level_data()
    model = lmm_model(X, y, cluster, J, np.array([0]), x_names=["Intercept", "x"])
    step = LinearMixedGibbs(model=model, rng=1)
    point, ref = step.initial_point(), []
    for i in range(5000):
        point, _ = step.step(point)
        s = step.point_to_state(point)
        ref.append([*s.beta, np.log(s.sigma2[0]), np.log(s.psi[0, 0])])
    chains = [make_chain([EffectLevel("g", cluster, J, np.array([0]))])]
    sweep, state, rng, ours = GaussianSweep(X, y, chains), MultilevelState.start(2, chains), \
        np.random.default_rng(2), []
    for i in range(5000):
        state = sweep(state, rng)
        ours.append([*state.beta, np.log(state.sigma2), np.log(state.psi[0][0][0, 0])])
    _compare(np.array(ours[500:]), np.array(ref[500:]), ["b0", "b1", "log sigma2", "log psi"])


def test_one_level_logistic_is_the_two_level_model():
    rng = np.random.default_rng(8)
    J, per = 15, 12
    cluster = np.repeat(np.arange(J), per)
    x = rng.normal(size=J * per)
    eta = -0.3 + 0.9 * x + rng.normal(0, 0.9, J)[cluster]
    y = (rng.random(J * per) < 1 / (1 + np.exp(-eta))).astype(float)
    X = np.column_stack([np.ones_like(x), x])
    model = logit_model(X, y, cluster, J, np.array([0]), 2, x_names=["Intercept", "x"])
    step = LogisticMixedGibbs(model=model, rng=3)
    point, ref = step.initial_point(), []
    for i in range(6000):
        point, _ = step.step(point)
        s = step.point_to_state(point)
        ref.append([*s.beta[0], np.log(s.psi[0, 0, 0])])
    chains = [make_chain([EffectLevel("g", cluster, J, np.array([0]))])]
    state, ours, rng = MultilevelLogitState.start(1, 2, chains), [], np.random.default_rng(4)
    for i in range(6000):
        state = logit_sweep(X, y, chains, state, LogitPriors(), rng)
        ours.append([*state.beta[0], np.log(state.psi[0][0][0][0, 0])])
    _compare(np.array(ours[500:]), np.array(ref[500:]), ["b0", "b1", "log psi"])


def test_nested_logistic_recovers_level_variances():
    """Binary target, 3 levels, many clusters: the posterior means of the level variances
    lie within 3 posterior s.d. of the truth (school 0.5, class 0.3 on the logit scale)."""
    rng = np.random.default_rng(11)
    S, C, P = 60, 4, 25
    school, klass = np.repeat(np.arange(S), C * P), np.repeat(np.arange(S * C), P)
    x = rng.normal(size=len(school))
    eta = 0.2 + 0.8 * x + rng.normal(0, np.sqrt(0.5), S)[school] \
        + rng.normal(0, np.sqrt(0.3), S * C)[klass]
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-eta))).astype(float)
    X = np.column_stack([np.ones_like(x), x])
    chains = [make_chain([EffectLevel("klass", klass, S * C, np.array([0])),
                          EffectLevel("school", school, S, np.array([0]))])]
    state, draws = MultilevelLogitState.start(1, 2, chains), []
    for i in range(1500):
        state = logit_sweep(X, y, chains, state, LogitPriors(), rng)
        if i >= 300:
            draws.append([state.beta[0][1], state.psi[0][0][1][0, 0], state.psi[0][0][0][0, 0]])
    draws = np.array(draws)
    for k, truth in enumerate([0.8, 0.5, 0.3]):
        assert abs(draws[:, k].mean() - truth) < 3 * draws[:, k].std(), (k, draws[:, k].mean())


def test_row_levels_sets_parents():
    frame = three_level()
    levels = row_levels([make_level(frame["school"]), make_level(frame["klass"])])
    assert [lv.name for lv in levels] == ["klass", "school"]
    assert levels[0].parent == "school" and levels[1].parent is None


def test_binary_and_categorical_targets_at_several_levels(data):
    rng = np.random.default_rng(12)
    frame = data.copy()
    frame["b"] = (frame["y"] + rng.normal(size=len(frame)) > 0).astype(float)
    frame["c"] = pd.Categorical(np.digitize(frame["x"].fillna(0), [-0.5, 0.5]),
                                categories=[0, 1, 2]).rename_categories(["lo", "mid", "hi"])
    class_flag = (rng.random(frame["klass"].max() + 1) < 0.5).astype(float)
    frame["k"] = class_flag[frame["klass"]]  # a binary class-level variable
    for column in ("b", "c"):
        frame.loc[rng.random(len(frame)) < 0.2, column] = np.nan
    frame.loc[(rng.random(frame["klass"].max() + 1) < 0.3)[frame["klass"]], "k"] = np.nan
    frame = frame.drop(columns=["x", "w", "t"])
    method = {"y": "ml.norm", "b": "ml.bin", "c": "ml.polyreg", "k": "ml.bin"}
    imp = bi.impute(frame, cluster=CLUSTERS, method=method, m=1, maxit=3, seed=2)
    done = imp.complete(0)
    assert set(done["b"].unique()) <= {0.0, 1.0} and done["b"].notna().all()
    assert done["c"].dtype == frame["c"].dtype and done["c"].notna().all()
    assert done.groupby("klass")["k"].nunique().max() == 1
    post = imp.idata.posterior
    assert post["c_u_school"].sizes["c_category"] == 2  # K - 1 sets of effects
    assert "k_u_school" in post and "k_u_klass" not in post  # class level: school above


def test_random_slope_at_the_chosen_level(data):
    matrix = bi.make_predictor_matrix(data, cluster=CLUSTERS)
    matrix.loc["y", "x"] = 2
    method = {"y": "ml.norm", "x": "ml.norm", "w": "ml.norm", "t": "ml.norm"}
    imp = bi.impute(data, predictor_matrix=matrix, method=method,
                    method_options={"y": {"slope_level": "school"}}, m=1, maxit=1, seed=3)
    post = imp.idata.posterior
    assert list(post["y_re_school"].values) == ["Intercept", "x"]
    assert list(post["y_re_klass"].values) == ["Intercept"]
    default = bi.impute(data, predictor_matrix=matrix, method=method, m=1, maxit=1, seed=3)
    assert list(default.idata.posterior["y_re_klass"].values) == ["Intercept", "x"]
    with pytest.raises(Exception, match="slope_level='district'"):
        bi.impute(data, predictor_matrix=matrix, method=method,
                  method_options={"y": {"slope_level": "district"}}, m=1, maxit=1, seed=3)


# --- start values: the first iteration is already a posterior draw -----------------------------
def two_rows_per_class(seed=5, schools=100, classes=4, pupils=2, sd=1.5):
    """Pupils two per class, classes in schools, large class and school variances: from a
    start at beta = 0 and Psi = 0.2 (standardised) the level variances need many sweeps."""
    rng = np.random.default_rng(seed)
    klass = np.repeat(np.arange(schools * classes), pupils)
    school = klass // classes
    x = rng.normal(size=klass.size)
    y = (3 + 0.5 * x + rng.normal(0, sd, schools)[school]
         + rng.normal(0, sd, schools * classes)[klass] + rng.normal(size=klass.size))
    data = pd.DataFrame({"school": school, "klass": klass, "x": x, "y": y})
    data.loc[rng.random(klass.size) < 0.2, "y"] = np.nan
    return data


def rare_binary(seed=5):
    """A binary outcome with 10% of ones (intercept far from 0) in 5 pupils per class: with
    two per class the logistic chain itself mixes too slowly to give a reference run."""
    data = two_rows_per_class(seed, pupils=5, sd=0.8)
    return data.assign(y=(data["y"] > data["y"].quantile(0.9)).astype(float)
                       .where(data["y"].notna()))


@pytest.mark.parametrize("method", ["ml.norm", "ml.bin"])
def test_first_iteration_draws_are_posterior_draws(method, assert_first_draws_in_the_bulk):
    """Across 12 chains the first iteration's parameter draws rank among a long run's draws
    as posterior draws do (fails with the start at beta = 0 and no burn-in)."""
    data = two_rows_per_class() if method == "ml.norm" else rare_binary()
    arguments = dict(method={"y": method}, cluster=["school", "klass"], seed=6)
    first = bi.impute(data, m=12, maxit=1, **arguments).idata.posterior
    # four chains: one chain of 350 draws need not reach the tails of the level variances
    long_run = bi.impute(data, m=4, maxit=400, **arguments).idata.posterior.isel(
        draw=slice(50, None))
    names = ["y_psi_school", "y_psi_klass"] + (["y_sigma2"] if method == "ml.norm" else [])
    for name in names:
        assert_first_draws_in_the_bulk(first[name].values.ravel(), long_run[name].values.ravel())
    intercept = {"y_x": "Intercept"}
    assert_first_draws_in_the_bulk(first["y_beta"].sel(**intercept).values.ravel(),
                                   long_run["y_beta"].sel(**intercept).values.ravel())


def test_binary_at_the_top_level_starts_without_levels_above():
    """A school-level binary in pupils-in-classes-in-schools is imputed at school level,
    where no random effects are left: the start must not need a level (it raised
    IndexError), and every school gets one value."""
    rng = np.random.default_rng(1)
    school, klass = np.repeat(np.arange(30), 20), np.repeat(np.arange(120), 5)
    b = (rng.random(30) < 0.4).astype(float)[school]
    data = pd.DataFrame({"school": school, "klass": klass, "y": rng.normal(size=600) + b,
                         "b": b})
    data.loc[np.isin(school, [1, 5, 9, 13]), "b"] = np.nan
    imp = bi.impute(data, method={"b": "ml.bin"}, cluster=["school", "klass"], m=2, maxit=2,
                    seed=1)
    for i in range(imp.m):
        assert (imp.complete(i).groupby("school")["b"].nunique() == 1).all()
