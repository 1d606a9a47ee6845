"""2l.smc / smc through the public API: set-up checks, outputs, continuing, files."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi

FORMULA = "y ~ x + (1 + x | g)"


def slope_data(seed=0, J=30, n=10, rate=0.3):
    """y = 1 + 0.5 x + u0 + u1 x + e; x missing at random given y."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(J), n)
    x = rng.normal(0, 0.45, J)[g] + rng.normal(0, 0.9, J * n)
    y = (1 + 0.5 * x + rng.normal(0, 0.7, J)[g] + rng.normal(0, 0.45, J)[g] * x
         + rng.standard_normal(J * n))
    z = (y - y.mean()) / y.std()
    missing = rng.random(J * n) < rate * 2 / (1 + np.exp(-z))
    complete = pd.DataFrame({"g": g, "x": x, "y": y})
    return complete.assign(x=np.where(missing, np.nan, x)), complete


def smc_pred(data, target="x", response="y"):
    pred = bi.make_predictor_matrix(data, cluster="g")
    pred.loc[target, response] = 0
    return pred


@pytest.fixture(scope="module")
def slope_run():
    data, _ = slope_data()
    imp = bi.impute(data, method={"x": "2l.smc"}, predictor_matrix=smc_pred(data), m=2, maxit=6,
                    seed=1, analysis_model=FORMULA)
    return data, imp


# --- outputs -----------------------------------------------------------------------------------
def test_imputes_and_records_the_analysis_model(slope_run):
    data, imp = slope_run
    completed = imp.complete(0)
    assert not completed["x"].isna().any()
    assert (completed.loc[data["x"].notna(), "x"] == data.loc[data["x"].notna(), "x"]).all()
    post = imp.idata.posterior
    assert post["x_analysis_beta"].dims == ("chain", "draw", "x_analysis_term")
    assert list(post["x_analysis_term"].values) == ["Intercept", "x"]
    assert post["x_analysis_psi"].shape == (2, 6, 2, 2)
    assert "x_analysis_sigma2" in post and "x_beta" in post and "x_psi" in post
    assert imp.analysis_model == FORMULA
    assert imp.spec.method_options["x"]["analysis_model"] == FORMULA


def test_analysis_posterior_names_and_burn(slope_run):
    _, imp = slope_run
    posterior = imp.analysis_posterior()
    summary = posterior.summary()
    assert list(summary.index) == ["Intercept", "x", "g: Intercept", "g: x",
                                   "g: cov(Intercept, x)", "g: corr(Intercept, x)", "residual"]
    assert list(summary.columns) == ["mean", "sd", "q2.5", "q97.5", "r_hat", "ess_bulk"]
    assert posterior.idata.posterior.sizes["draw"] == 3  # half of 6 iterations burnt
    assert imp.analysis_posterior(burn=0).idata.posterior.sizes["draw"] == 6
    draws = posterior.draws()
    raw = imp.idata.posterior["x_analysis_psi"].isel(draw=slice(3, None)).values
    np.testing.assert_allclose(draws["g: x"], raw[..., 1, 1].ravel())
    np.testing.assert_allclose(draws["g: corr(Intercept, x)"],
                               (raw[..., 0, 1] / np.sqrt(raw[..., 0, 0] * raw[..., 1, 1])).ravel())
    with pytest.raises(ValueError, match="burn"):
        imp.analysis_posterior(burn=6)
    with pytest.raises(ValueError, match="not imputed by a compatible"):
        imp.analysis_posterior(variable="y")


def test_analyze_defaults_to_the_analysis_model(slope_run):
    _, imp = slope_run
    pooled = bi.pool(imp.analyze())
    assert list(pooled.summary().index) == ["Intercept", "x"]


def test_no_analysis_posterior_without_a_compatible_method():
    data, _ = slope_data()
    pred = bi.make_predictor_matrix(data, cluster="g")
    imp = bi.impute(data, method={"x": "2l.norm"}, predictor_matrix=pred, m=1, maxit=1, seed=1)
    assert imp.analysis_model is None
    with pytest.raises(ValueError, match="compatible method"):
        imp.analysis_posterior()
    with pytest.raises(TypeError, match="needs a model"):
        imp.analyze()


# --- continuing and files ------------------------------------------------------------------------
def test_continuing_equals_one_longer_run():
    data, _ = slope_data(seed=2)
    kwargs = dict(method={"x": "2l.smc"}, predictor_matrix=smc_pred(data), m=2, seed=3,
                  analysis_model="y ~ x + I(x**2) + (1 + x | g)")  # Metropolis draws too
    long = bi.impute(data, maxit=4, **kwargs)
    short = bi.impute(data, maxit=2, **kwargs).iterate(2)
    np.testing.assert_array_equal(long.idata.posterior_predictive["x"].values,
                                  short.idata.posterior_predictive["x"].values)
    np.testing.assert_array_equal(long.idata.posterior["x_analysis_psi"].values,
                                  short.idata.posterior["x_analysis_psi"].values)


def test_netcdf_round_trip_keeps_the_analysis_model(slope_run, tmp_path):
    _, imp = slope_run
    path = imp.to_netcdf(tmp_path / "smc.nc")
    back = bi.MultipleImputation.from_netcdf(path)
    assert back.analysis_model == FORMULA
    pd.testing.assert_frame_equal(back.analysis_posterior().summary(),
                                  imp.analysis_posterior().summary())
    assert back.iterate(1).iterations == imp.iterations + 1


# --- checks before sampling ----------------------------------------------------------------------
def impute_with(data, **kwargs):
    options = dict(method={"x": "2l.smc"}, predictor_matrix=smc_pred(data), m=1, maxit=1, seed=1,
                   analysis_model=FORMULA)
    options.update(kwargs)
    return bi.impute(data, **options)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(analysis_model=None), ValueError, "needs the analysis model"),
    (dict(analysis_model=3), TypeError, "formula string"),
    (dict(analysis_model="y ~ x + (1 + x | h)"), ValueError, "not a usable column|cluster"),
    (dict(analysis_model="y ~ x + (1 + w | g)"), ValueError, "w varies by cluster"),
    (dict(analysis_model="y ~ w + (1 | g)"), ValueError, "does not contain 'x'"),
    (dict(predictor_matrix="default"), ValueError, r"predictor_matrix.loc\['x', 'y'\] is 1"),
    (dict(method={"x": "smc"}), ValueError, "single-level"),
    (dict(method_options={"x": {"family": "binomial"}}), ValueError, "needs a binary response"),
    (dict(method_options={"x": {"walk": 1}}), ValueError, "unknown option"),
    (dict(method={"x": "2l.pmm"}), ValueError, "used only by the compatible methods"),
])
def test_bad_set_ups_fail_before_sampling(kwargs, error, message):
    data, _ = slope_data()
    data = data.assign(w=np.arange(len(data)) % 2, h=0)
    if kwargs.get("predictor_matrix") == "default":
        kwargs["predictor_matrix"] = bi.make_predictor_matrix(data, cluster="g")
    if "predictor_matrix" not in kwargs:
        kwargs["predictor_matrix"] = smc_pred(data).assign(w=0, h=0)
        kwargs["predictor_matrix"].loc[["w", "h"]] = 0
    with pytest.raises(error, match=message):
        impute_with(data, **kwargs)


def test_incomplete_formula_variable_must_be_imputed():
    data, _ = slope_data()
    data["z"] = np.where(np.arange(len(data)) % 7 == 0, np.nan, 1.0 + np.arange(len(data)) % 3)
    pred = smc_pred(data)
    pred.loc["x", "z"] = 0
    with pytest.raises(ValueError, match="'z' enters the analysis model .* not imputed"):
        impute_with(data, predictor_matrix=pred, analysis_model="y ~ x + z + (1 + x | g)")


def test_cluster_level_target_is_refused():
    data, _ = slope_data()
    level2 = data.groupby("g")["y"].transform("mean")
    data = data.assign(x=np.where(data.index % 9 == 0, np.nan, level2))
    with pytest.raises(ValueError, match="cluster-level variable"):
        impute_with(data)


def test_incompatible_partner_is_logged():
    """A second predictor of the analysis model imputed by 2l.pmm gets a logged note."""
    data, _ = slope_data()
    rng = np.random.default_rng(5)
    data["z"] = np.where(rng.random(len(data)) < 0.2, np.nan, rng.normal(size=len(data)))
    pred = smc_pred(data)
    pred.loc["z", "y"] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = impute_with(data, method={"x": "2l.smc", "z": "2l.pmm"}, predictor_matrix=pred,
                          analysis_model="y ~ x + z + (1 + x | g)")
    events = imp.logged_events["event"]
    assert events.str.contains("'z' enters the analysis model but is imputed by 2l.pmm").any()


def test_model_file_analysis_formula_is_the_analysis_model(tmp_path):
    from bayesimpute.model_file import load_model_file

    data, _ = slope_data()
    data.to_csv(tmp_path / "slope.csv", index=False)
    (tmp_path / "model.toml").write_text(f"""
[data]
path = "slope.csv"
cluster = "g"

[imputation]
m = 1
maxit = 1
seed = 2

[imputation.method]
x = "2l.smc"

[imputation.predictors.x]
g = -2

[analysis]
formula = "{FORMULA}"
""")
    model = load_model_file(tmp_path / "model.toml")
    assert model.impute_kwargs()["analysis_model"] == FORMULA
    imp = bi.impute(model.data, **model.impute_kwargs())
    assert imp.analysis_model == FORMULA


# --- a count predictor: the Poisson covariate model ----------------------------------------------
def count_data(seed=0, J=30, n=12):
    """x ~ Poisson(exp(0.3 + 0.3 z + v_j)); y = 1 + 0.3 x + 0.5 z + u_j + e; x MAR given y."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(J), n)
    z = rng.standard_normal(J * n)
    x = rng.poisson(np.exp(0.3 + 0.3 * z + rng.normal(0, 0.5, J)[g])).astype(float)
    y = 1 + 0.3 * x + 0.5 * z + rng.normal(0, 0.7, J)[g] + rng.standard_normal(J * n)
    missing = rng.random(J * n) < 0.6 / (1 + np.exp(-(y - y.mean())))
    complete = pd.DataFrame({"g": g, "z": z, "x": x, "y": y})
    return complete.assign(x=np.where(missing, np.nan, x)), complete


def count_run(data, seed=1, **options):
    return bi.impute(data, method={"x": "2l.smc"}, predictor_matrix=smc_pred(data), m=2,
                     maxit=3, seed=seed, analysis_model="y ~ x + z + (1 | g)",
                     method_options={"x": {"covariate": "poisson", "burn": 5,
                                           "covariate_tune": 60, **options}})


def test_count_covariate_imputes_counts_and_records_its_model():
    data, _ = count_data()
    imp = count_run(data)
    missing = data["x"].isna()
    for i in range(imp.m):
        completed = imp.complete(i)
        imputed = completed.loc[missing, "x"]
        assert (imputed >= 0).all() and (imputed == np.round(imputed)).all()
        pd.testing.assert_series_equal(completed.loc[~missing, "x"], data.loc[~missing, "x"])
    post = imp.idata.posterior
    assert list(post["x_beta"].coords["x_x"].values) == ["Intercept", "z"]
    assert "x_psi" in post and "x_sigma2" not in post  # a Poisson model has no residual
    assert "x_analysis_sigma2" in post
    again = count_run(data)
    np.testing.assert_array_equal(imp.idata.posterior_predictive["x"].values,
                                  again.idata.posterior_predictive["x"].values)
    # a continued chain rebuilds the same model and goes on from NUTS's saved state
    # (adaptation and generator): what one unbroken chain of one more iteration draws
    longer = imp.iterate(1)
    assert longer.iterations == imp.iterations + 1
    straight = bi.impute(data, method={"x": "2l.smc"}, predictor_matrix=smc_pred(data), m=2,
                         maxit=4, seed=1, analysis_model="y ~ x + z + (1 | g)",
                         method_options={"x": {"covariate": "poisson", "burn": 5,
                                               "covariate_tune": 60}})
    pd.testing.assert_frame_equal(longer.complete("long"), straight.complete("long"))


@pytest.mark.parametrize("change, message", [
    (lambda d: d.assign(x=d["x"] + 0.5), "non-negative whole numbers"),
    (lambda d: d.assign(x=-d["x"]), "non-negative whole numbers"),
    (lambda d: d.assign(x=(d["x"] > 1).astype(float).where(d["x"].notna())),
     "needs a continuous"),
])
def test_count_covariate_refuses_what_is_not_a_count(change, message):
    data, _ = count_data()
    with pytest.raises(ValueError, match=message):
        count_run(change(data))


def test_covariate_option_is_for_predictors_only():
    data, _ = count_data()
    data.loc[::9, "y"] = np.nan
    with pytest.raises(ValueError, match="covariate option sets the covariate model"):
        bi.impute(data, method={"x": "2l.smc", "y": "2l.smc"}, predictor_matrix=smc_pred(data),
                  m=1, maxit=1, seed=1, analysis_model="y ~ x + z + (1 | g)",
                  method_options={"y": {"covariate": "poisson"}})
    with pytest.raises(ValueError, match="covariate"):
        count_run(data, covariate="gamma")


@pytest.mark.parametrize("options, message", [
    ({"analysis_priors": {"beta_sd": -1}}, "positive number"),
    ({"analysis_priors": {"bogus": 1}}, "unknown prior setting 'bogus'"),
    ({"analysis_priors": [1, 2]}, "prior settings must be"),
    ({"analysis_priors": {"slope_sd": 1.0}}, "gaussian model's priors take"),
    ({"covariate_priors": {"sigma2_rate": 1.0}}, "poisson model's priors take"),
])
def test_prior_settings_are_checked_before_sampling(options, message):
    data, _ = count_data()
    role = next(iter(options))  # the check's prefix: refused by the spec, before sampling
    with pytest.raises(ValueError, match=rf"method_options for 'x' \(2l.smc\): {role}: .*{message}"):
        count_run(data, **options)
