"""2l.smc and smc recover the analysis model on data with a known truth, model by model.

Each test simulates one data set, deletes values at random given the outcome, imputes, and
compares the analysis model's posterior (``imp.analysis_posterior()``) with the analysis of
the data before deletion. The posterior given the incomplete data spreads wider than the
complete-data estimate by the missing information, so the difference of the two is within
a few posterior standard deviations when the method is right (tolerance: 3 posterior sd
plus the Monte-Carlo error of the posterior mean). A method that ignored the outcome when
drawing x, or fitted the covariate model to the observed rows only, misses by more: the
validity study (benchmarks/validity/designs/random_slope.py and nonlinear.py) measures the
small biases.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi


def missing_given(rng, driver, rate=0.3):
    z = (driver - driver.mean()) / driver.std()
    p = 1 / (1 + np.exp(-(z - 1.0)))
    return rng.random(len(z)) < p * rate / p.mean()


def assert_recovers(imp, complete_fit: pd.Series, terms, k: float = 3.0):
    summary = imp.analysis_posterior().summary()
    for term in terms:
        post = summary.loc[term]
        mc_error = post["sd"] / np.sqrt(max(post["ess_bulk"], 2.0))
        tolerance = k * post["sd"] + 3 * mc_error
        assert abs(post["mean"] - complete_fit[term]) < tolerance, (
            f"{term}: posterior mean {post['mean']:.3f} vs complete data "
            f"{complete_fit[term]:.3f} (tolerance {tolerance:.3f})")


def assert_imputed_mean(imp, complete: pd.DataFrame, column: str, k: float = 3.0,
                        code: int | None = None):
    """The mean of the imputed values (or the share of category ``code``) is near that of
    the deleted ones: within k sds of its spread over the chains' iterations (second half)."""
    draws = imp.idata.posterior_predictive[column]
    kept = draws.isel(draw=slice(draws.sizes["draw"] // 2, None)).values
    kept = kept if code is None else (kept == code).astype(float)
    means = kept.reshape(-1, kept.shape[-1]).mean(axis=1)
    rows = draws.coords[f"{column}_missing"].values
    truth = complete.loc[rows, column]
    deleted = (truth.cat.codes == code if code is not None else truth).astype(float).mean()
    tolerance = k * means.std(ddof=1) + 3 * means.std(ddof=1) / np.sqrt(len(means) / 4)
    assert abs(means.mean() - deleted) < tolerance, (
        f"{column}: imputed mean {means.mean():.3f} vs deleted {deleted:.3f} (tolerance "
        f"{tolerance:.3f})")


def fixed_effects(data, formula, family="gaussian"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bi.analyze(data, formula, family=family).model_fits()[0]
    return fit.params


def pred_for(data, rows, exclude=("y",)):
    pred = bi.make_predictor_matrix(data, cluster="g")
    for row in rows:
        pred.loc[row, list(exclude)] = 0
    return pred


def test_binary_and_categorical_predictors_with_a_random_slope():
    """b (binary) has a random slope, c (3 categories) shifts y; both incomplete."""
    rng = np.random.default_rng(11)
    J, n = 80, 15
    g = np.repeat(np.arange(J), n)
    b = (rng.random(J * n) < 1 / (1 + np.exp(1.2 - rng.normal(0, 0.7, J)[g]))).astype(float)
    c = rng.choice(3, J * n, p=[0.55, 0.3, 0.15])
    y = (1 + 0.8 * b + np.array([0.0, 0.6, -0.5])[c] + rng.normal(0, 0.7, J)[g]
         + rng.normal(0, 0.5, J)[g] * b + rng.standard_normal(J * n))
    complete = pd.DataFrame({"g": g, "b": b, "c": pd.Categorical.from_codes(c, ["r", "s", "t"]),
                             "y": y})
    data = complete.copy()
    data.loc[missing_given(rng, y), "b"] = np.nan
    data.loc[missing_given(rng, -y, 0.2), "c"] = np.nan
    formula = "y ~ b + c + (1 + b | g)"
    imp = bi.impute(data, method={"b": "2l.smc", "c": "2l.smc"},
                    predictor_matrix=pred_for(data, ["b", "c"]), m=2, maxit=16, seed=5,
                    analysis_model=formula)
    assert set(imp.complete(0)["c"].unique()) <= {"r", "s", "t"}
    assert_recovers(imp, fixed_effects(complete, formula), ["Intercept", "b", "c[T.s]", "c[T.t]"])
    assert_imputed_mean(imp, complete, "b")
    for code in range(3):
        assert_imputed_mean(imp, complete, "c", code=code)


def test_logistic_analysis_model_with_a_continuous_predictor():
    """Binary outcome, x incomplete at random given it: Metropolis draws of x."""
    rng = np.random.default_rng(12)
    J, n = 60, 25
    g = np.repeat(np.arange(J), n)
    x = rng.normal(0, 0.5, J)[g] + rng.normal(0, 0.9, J * n)
    eta = -0.3 + 1.0 * x + rng.normal(0, 0.6, J)[g]
    y = (rng.random(J * n) < 1 / (1 + np.exp(-eta))).astype(float)
    complete = pd.DataFrame({"g": g, "x": x, "y": y})
    data = complete.assign(x=np.where(missing_given(rng, y), np.nan, x))
    formula = "y ~ x + (1 | g)"
    imp = bi.impute(data, method={"x": "2l.smc"}, predictor_matrix=pred_for(data, ["x"]), m=2,
                    maxit=16, seed=6, analysis_model=formula)
    assert "x_mh_acceptance" in imp.idata.sample_stats
    assert float(imp.idata.sample_stats["x_mh_acceptance"].mean()) > 0.2
    assert_recovers(imp, fixed_effects(complete, formula, "binomial"), ["Intercept", "x"])
    assert_imputed_mean(imp, complete, "x")


def test_interaction_of_two_incomplete_predictors_and_incomplete_outcome():
    """x1 * x2, both incomplete, and y itself incomplete: all three by 2l.smc.

    Missing at random by construction: y is deleted given the complete w; x1 and x2 only
    where y stays observed, given y.
    """
    rng = np.random.default_rng(13)
    J, n = 60, 20
    g = np.repeat(np.arange(J), n)
    w = (rng.random(J * n) < 0.5).astype(float)
    x1 = rng.normal(0, 0.4, J)[g] + rng.standard_normal(J * n)
    x2 = 0.4 * x1 + rng.normal(0, 0.4, J)[g] + rng.standard_normal(J * n)
    y = (1 + 0.5 * x1 - 0.3 * x2 + 0.4 * x1 * x2 + 0.5 * w + rng.normal(0, 0.7, J)[g]
         + rng.standard_normal(J * n))
    complete = pd.DataFrame({"g": g, "x1": x1, "x2": x2, "w": w, "y": y})
    data = complete.copy()
    y_missing = rng.random(J * n) < np.where(w == 1, 0.25, 0.05)
    data.loc[y_missing, "y"] = np.nan
    data.loc[missing_given(rng, y, 0.25) & ~y_missing, "x1"] = np.nan
    data.loc[missing_given(rng, -y, 0.25) & ~y_missing, "x2"] = np.nan
    formula = "y ~ x1 * x2 + w + (1 | g)"
    imp = bi.impute(data, method={"x1": "2l.smc", "x2": "2l.smc", "y": "2l.smc"},
                    predictor_matrix=pred_for(data, ["x1", "x2"]), m=2, maxit=16, seed=7,
                    analysis_model=formula)
    assert not imp.complete(1)[["x1", "x2", "y"]].isna().any().any()
    assert_recovers(imp, fixed_effects(complete, formula), ["Intercept", "x1", "x2", "x1:x2"])
    for column in ("x1", "x2", "y"):
        assert_imputed_mean(imp, complete, column)
    # each compatible variable keeps its own chain of the analysis model
    assert imp.analysis_posterior(variable="x1").summary().shape[0] == 8


def test_single_level_quadratic():
    """smc (no clusters): y = 1 + 0.5 x + 0.4 x^2 + e, x missing given y."""
    rng = np.random.default_rng(14)
    n = 1200
    x = rng.standard_normal(n)
    y = 1 + 0.5 * x + 0.4 * x**2 + rng.standard_normal(n)
    complete = pd.DataFrame({"x": x, "y": y, "z": 0.5 * x + rng.standard_normal(n)})
    data = complete.assign(x=np.where(missing_given(rng, y), np.nan, x))
    pred = bi.make_predictor_matrix(data)
    pred.loc["x", "y"] = 0
    imp = bi.impute(data, method={"x": "smc"}, predictor_matrix=pred, m=2, maxit=16, seed=8,
                    analysis_model="y ~ x + I(x**2)")
    truth = fixed_effects(complete, "y ~ x + I(x**2)")
    assert_recovers(imp, truth, ["Intercept", "x", "I(x ** 2)"])
    assert_imputed_mean(imp, complete, "x")


def count_design(seed):
    """x ~ Poisson(exp(0.3 + 0.3 z + v_j)), y = 1 + 0.4 x + 0.5 z + u_j + e; x deleted at
    random given y (the larger y, the larger the missing counts)."""
    rng = np.random.default_rng(seed)
    J, n = 60, 20
    g = np.repeat(np.arange(J), n)
    z = rng.standard_normal(J * n)
    x = rng.poisson(np.exp(0.3 + 0.3 * z + rng.normal(0, 0.55, J)[g])).astype(float)
    y = 1 + 0.4 * x + 0.5 * z + rng.normal(0, 0.7, J)[g] + rng.standard_normal(J * n)
    complete = pd.DataFrame({"g": g, "z": z, "x": x, "y": y})
    return complete, complete.assign(x=np.where(missing_given(rng, y, 0.4), np.nan, x))


def test_count_predictor_with_a_poisson_covariate_model():
    """A count x, incomplete at random given y: exact discrete draws from the Gaussian
    analysis model times the Poisson covariate model (fitted by NUTS)."""
    complete, data = count_design(21)
    formula = "y ~ x + z + (1 | g)"
    imp = bi.impute(data, method={"x": "2l.smc"}, predictor_matrix=pred_for(data, ["x"]), m=2,
                    maxit=12, seed=4, analysis_model=formula,
                    method_options={"x": {"covariate": "poisson"}})
    assert_recovers(imp, fixed_effects(complete, formula), ["Intercept", "x", "z"])
    assert_imputed_mean(imp, complete, "x")


@pytest.mark.parametrize("target", ["x"])
def test_ignoring_the_outcome_would_fail(target, monkeypatch):
    """The tolerance has power: with the analysis likelihood removed from the draws of x
    (x from its covariate model alone), the same check fails on the random-slope design."""
    from bayesimpute.methods.compatible import smc as compatible

    rng = np.random.default_rng(15)
    J, n = 60, 20
    g = np.repeat(np.arange(J), n)
    x = rng.normal(0, 0.45, J)[g] + rng.normal(0, 0.9, J * n)
    y = 1 + 0.8 * x + rng.normal(0, 0.7, J)[g] + rng.normal(0, 0.45, J)[g] * x + rng.normal(
        0, 0.6, J * n)
    complete = pd.DataFrame({"g": g, "x": x, "y": y})
    data = complete.assign(x=np.where(missing_given(rng, y), np.nan, x))
    formula = "y ~ x + (1 + x | g)"
    monkeypatch.setattr(compatible._CompatibleMethod, "_log_likelihood",
                        lambda self, theta, y, eta, has_y: np.zeros_like(eta))
    monkeypatch.setattr(compatible._CompatibleMethod, "_setup", _without_exact_draws(
        compatible._CompatibleMethod._setup))
    imp = bi.impute(data, method={"x": "2l.smc"}, predictor_matrix=pred_for(data, ["x"]), m=2,
                    maxit=12, seed=9, analysis_model=formula)
    with pytest.raises(AssertionError, match="x: posterior mean"):
        assert_recovers(imp, fixed_effects(complete, formula), ["x"])


def _without_exact_draws(setup):
    def patched(self, data, rng):
        setup(self, data, rng)
        self.exact_normal = False  # every draw through the (now blind) Metropolis kernel

    return patched


def test_covariate_model_learns_from_the_imputed_rows_too():
    """x missing strongly given y: the observed x are a selected sample, so a covariate model
    fitted to them alone would centre on their mean; fitted with the imputations (data
    augmentation) it centres on the mean of all x, and so do the imputations."""
    rng = np.random.default_rng(16)
    J, n = 60, 20
    g = np.repeat(np.arange(J), n)
    x = rng.normal(0, 0.45, J)[g] + rng.normal(0, 0.9, J * n)
    y = 1 + 0.8 * x + rng.normal(0, 0.7, J)[g] + rng.normal(0, 0.6, J * n)
    complete = pd.DataFrame({"g": g, "x": x, "y": y})
    z = (y - y.mean()) / y.std()
    missing = rng.random(J * n) < 1 / (1 + np.exp(-2.5 * z))  # about half, the larger y
    data = complete.assign(x=np.where(missing, np.nan, x))
    imp = bi.impute(data, method={"x": "2l.smc"}, predictor_matrix=pred_for(data, ["x"]), m=2,
                    maxit=16, seed=10, analysis_model="y ~ x + (1 | g)")
    intercept = imp.idata.posterior["x_beta"].isel(draw=slice(8, None)).values.ravel()
    observed_mean = data["x"].mean()
    assert complete["x"].mean() - observed_mean > 0.4  # the selection the test is about
    assert abs(intercept.mean() - complete["x"].mean()) < 3 * intercept.std(ddof=1) + 0.05
    assert_imputed_mean(imp, complete, "x")
