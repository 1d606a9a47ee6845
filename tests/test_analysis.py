"""Fitting analysis models to completed datasets."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import bayesimpute as bi
from bayesimpute.analysis import AnalysisResults, ModelFit, _ReLikelihood, analyze, as_model_fit
from bayesimpute.pooling import pool

# R lme4::glmer on the complete IMPACT data (data/README.md), reference levels OBS, 1/2, Both, I/II.
GLMER_IMPACT = {
    "Intercept": (-2.292, 0.171),
    "type[T.RCT]": (-0.338, 0.172),
    "age": (0.032, 0.002),
    "motor_score[T.3]": (-0.593, 0.070),
    "motor_score[T.4]": (-0.904, 0.071),
    "motor_score[T.5/6]": (-1.290, 0.073),
    "pupil[T.None]": (1.317, 0.062),
    "pupil[T.One]": (0.626, 0.071),
    "ct[T.III]": (0.810, 0.070),
    "ct[T.IV/V]": (0.832, 0.059),
}
IMPACT_FORMULA = "mort ~ type + age + motor_score + pupil + ct + (1 | name)"


@pytest.fixture(scope="module")
def popmis_complete() -> pd.DataFrame:
    return bi.datasets.load_popmis().dropna(subset=["popular"])


@pytest.fixture(scope="module")
def popmis_fit(popmis_complete) -> ModelFit:
    return analyze([popmis_complete], "popular ~ texp + sex + (1 | school)")[0]


def test_gaussian_random_intercept_matches_statsmodels(popmis_complete, popmis_fit):
    direct = smf.mixedlm("popular ~ texp + sex", popmis_complete, groups="school").fit(reml=True)
    fit = popmis_fit
    assert list(fit.params.index) == ["Intercept", "texp", "sex"]
    np.testing.assert_allclose(fit.params, direct.fe_params, rtol=1e-5)
    np.testing.assert_allclose(fit.cov, direct.cov_params().iloc[:3, :3], rtol=1e-4)
    assert fit.nobs == 1152 and fit.dfcom == 1152 - 3
    tau2, sigma2 = float(direct.cov_re.iloc[0, 0]), float(direct.scale)
    vc = fit.variance_components
    assert vc["school: Intercept"] == pytest.approx(tau2, rel=1e-4)
    assert vc["residual"] == pytest.approx(sigma2, rel=1e-4)
    assert vc["icc"] == pytest.approx(tau2 / (tau2 + sigma2), rel=1e-4)


def test_variance_standard_errors_come_from_the_fitted_likelihood(popmis_fit):
    raw = popmis_fit.raw
    model = raw.model
    loglik = _ReLikelihood(model.endog, model.exog, model.exog_re, model.groups, reml=True)
    # Our REML log-likelihood reproduces statsmodels' at the estimate ...
    cov_re = np.asarray(raw.cov_re)
    assert loglik(raw.scale, cov_re) == pytest.approx(raw.llf, abs=1e-6)
    # ... and the estimate is its maximum (up to the optimiser's tolerance).
    for factor in (0.9, 1.1):
        assert loglik(raw.scale * factor, cov_re) < raw.llf
        assert loglik(raw.scale, cov_re * factor) < raw.llf
    table = popmis_fit.variance_inference
    assert list(table.index) == ["school: Intercept", "residual", "icc"]
    # 100 schools: SE of log(tau2) is about sqrt(2 / 99) = 0.14 plus within-school noise.
    assert 0.12 < table.loc["school: Intercept", "std_error"] < 0.2
    # logit(ICC) = log tau2 - log sigma2: its SE exceeds that of log tau2 alone.
    assert table.loc["icc", "std_error"] > table.loc["school: Intercept", "std_error"]


# R lmerTest 3.1-3 (Satterthwaite), REML, on the complete popmis rows:
#   coef(summary(lmer(popular ~ texp + sex + (1 | school), d)))[, "df"]
#   coef(summary(lmer(popular ~ texp + sex + (1 + sex | school), d)))[, "df"]
LMERTEST_DF = {
    "popular ~ texp + sex + (1 | school)": [101.478743, 98.117532, 1064.974544],
    "popular ~ texp + sex + (1 + sex | school)": [98.490232, 98.227508, 97.079499],
}


@pytest.mark.parametrize("formula", list(LMERTEST_DF))
def test_satterthwaite_df_match_lmertest(popmis_complete, formula):
    fit = analyze([popmis_complete], formula)[0]
    assert list(fit.term_df.index) == ["Intercept", "texp", "sex"]
    # Both sides differentiate numerically at slightly different optima: 0.5% is ample.
    np.testing.assert_allclose(fit.term_df, LMERTEST_DF[formula], rtol=5e-3)


def test_boundary_fit_takes_the_df_of_the_model_without_the_zero_variance_effect():
    from types import SimpleNamespace

    from bayesimpute.analysis import _boundary_term_df

    rng = np.random.default_rng(9)
    g = np.repeat(np.arange(8), 25)
    x = rng.normal(size=200)
    y = 1 + 0.5 * x + rng.normal(0, 0.7, 8)[g] + rng.normal(size=200)
    frame = pd.DataFrame({"y": y, "x": x, "g": g})
    with_slope = analyze([frame], "y ~ x + (1 | g) + (0 + x | g)")[0].raw
    intercept_only = analyze([frame], "y ~ x + (1 | g)")[0]
    tau2 = intercept_only.variance_components["g: Intercept"]
    # The slope model at a boundary estimate: slope variance exactly zero, the rest equal to
    # the intercept-only fit, which is then the same model.
    boundary = SimpleNamespace(model=with_slope.model, cov_re=np.diag([tau2, 0.0]),
                               scale=intercept_only.variance_components["residual"])
    df = _boundary_term_df(boundary, [[0], [1]])
    np.testing.assert_allclose(df, intercept_only.term_df, rtol=1e-6)
    assert df[0] == pytest.approx(7, abs=0.5)  # 8 clusters
    everything_zero = SimpleNamespace(model=with_slope.model, cov_re=np.zeros((2, 2)), scale=1.0)
    assert list(_boundary_term_df(everything_zero, [[0], [1]])) == [198.0, 198.0]


def test_fixed_effects_cov_of_the_likelihood_is_statsmodels_cov(popmis_fit):
    raw = popmis_fit.raw
    model = raw.model
    loglik = _ReLikelihood(model.endog, model.exog, model.exog_re, model.groups, reml=True)
    cov = loglik.fixed_effects_cov(raw.scale, np.asarray(raw.cov_re))
    np.testing.assert_allclose(cov, popmis_fit.cov, rtol=1e-4, atol=1e-7)


def test_random_slope_matches_statsmodels_re_formula(popmis_complete):
    fit = analyze([popmis_complete], "popular ~ texp + sex + (1 + sex | school)")[0]
    direct = smf.mixedlm(
        "popular ~ texp + sex", popmis_complete, groups="school", re_formula="~sex"
    ).fit(reml=True)
    np.testing.assert_allclose(fit.params, direct.fe_params, rtol=1e-4)
    vc = fit.variance_components
    assert vc["school: sex"] == pytest.approx(direct.cov_re.iloc[1, 1], rel=1e-3)
    covariance = direct.cov_re.iloc[0, 1]
    assert vc["school: cov(Intercept, sex)"] == pytest.approx(covariance, rel=1e-3, abs=1e-6)
    assert -1 < vc["school: corr(Intercept, sex)"] < 1
    assert "icc" not in vc
    # Separate bars for the same group: uncorrelated, as lme4.
    formula = "popular ~ texp + sex + (1 | school) + (0 + sex | school)"
    split = analyze([popmis_complete], formula)[0]
    assert np.asarray(split.raw.cov_re)[0, 1] == 0.0
    assert "school: cov(Intercept, sex)" not in split.variance_components


def test_binomial_reproduces_glmer_on_complete_impact():
    data = bi.datasets.load_impact("complete")
    fit = analyze([data], IMPACT_FORMULA, family="binomial")[0]
    assert set(fit.params.index) == set(GLMER_IMPACT)
    # Same Laplace approximation as glmer: agreement to the published 3 decimals.
    for term, (estimate, std_error) in GLMER_IMPACT.items():
        assert fit.params[term] == pytest.approx(estimate, abs=0.0015), term
        assert fit.std_errors[term] == pytest.approx(std_error, abs=0.0015), term
    vc = fit.variance_components
    assert vc["residual"] == pytest.approx(math.pi**2 / 3)
    tau2 = vc["name: Intercept"]
    assert vc["icc"] == pytest.approx(tau2 / (tau2 + math.pi**2 / 3))
    assert math.sqrt(vc["name: Intercept"]) == pytest.approx(0.277, abs=0.003)
    again = analyze([data], IMPACT_FORMULA, family="binomial")[0]
    pd.testing.assert_series_equal(fit.params, again.params)  # deterministic


# R lme4 1.1 glmer(mort ~ type + age + motor_score + pupil + ct + (1 | name), binomial) on the
# complete cases of impact_incomplete.csv (3,808 rows; study s.d. 0.28044). statsmodels'
# BinomialBayesMixedGLM.fit_map, used before, collapsed the study variance to 1e-52 here.
GLMER_IMPACT_CC = {
    "Intercept": (-2.525, 0.240), "type[T.RCT]": (-0.322, 0.218), "age": (0.034, 0.003),
    "motor_score[T.3]": (-0.408, 0.124), "motor_score[T.4]": (-0.783, 0.128),
    "motor_score[T.5/6]": (-1.260, 0.129), "pupil[T.One]": (0.623, 0.122),
    "pupil[T.None]": (1.278, 0.108), "ct[T.III]": (0.895, 0.122), "ct[T.IV/V]": (0.763, 0.102),
}


def test_binomial_reproduces_glmer_on_impact_complete_cases():
    data = bi.datasets.load_impact("incomplete").dropna()
    fit = analyze([data], IMPACT_FORMULA, family="binomial")[0]
    for term, (estimate, std_error) in GLMER_IMPACT_CC.items():
        assert fit.params[term] == pytest.approx(estimate, abs=0.0015), term
        assert fit.std_errors[term] == pytest.approx(std_error, abs=0.0015), term
    assert fit.variance_components["name: Intercept"] == pytest.approx(0.28044**2, rel=0.01)
    se = fit.variance_inference.loc["name: Intercept", "std_error"]
    assert 0.3 < se < 1.0  # log-variance s.e. with 15 studies: about sqrt(2 / 14) and more


def test_callable_route_pools_like_formula_route(popmis_complete):
    rng = np.random.default_rng(7)
    # Three "completed" datasets: popular perturbed so that the fits differ.
    popular = popmis_complete["popular"]
    frames = [
        popmis_complete.assign(popular=popular + rng.normal(0, 0.3, len(popular)))
        for _ in range(3)
    ]
    before = [f.copy() for f in frames]
    by_formula = analyze(frames, "popular ~ texp + sex + (1 | school)")
    by_callable = analyze(
        frames, lambda d: smf.mixedlm("popular ~ texp + sex", d, groups="school").fit(reml=True)
    )
    for frame, copy in zip(frames, before):
        pd.testing.assert_frame_equal(frame, copy)
    assert isinstance(by_formula, AnalysisResults) and len(by_formula) == 3
    assert all(hasattr(f, "fe_params") for f in by_callable)
    assert isinstance(as_model_fit(by_callable[0]), ModelFit)
    left, right = pool(by_formula).summary(), by_callable.pool().summary()
    np.testing.assert_allclose(left["estimate"], right["estimate"], rtol=1e-4)
    np.testing.assert_allclose(left["std_error"], right["std_error"], rtol=1e-3)
    components = pool(by_formula).variance_components()
    assert list(components.index) == ["school: Intercept", "residual", "icc"]
    assert (components["conf_low"] < components["estimate"]).all()
    assert (components["estimate"] < components["conf_high"]).all()
    np.testing.assert_allclose(
        components["estimate"], pool(by_callable).variance_components()["estimate"], rtol=1e-3
    )


def test_fixed_only_formula_is_ols(popmis_complete):
    fit = analyze([popmis_complete], "popular ~ texp + sex")[0]
    direct = smf.ols("popular ~ texp + sex", popmis_complete).fit()
    np.testing.assert_allclose(fit.params, direct.params)
    assert fit.dfcom == direct.df_resid


def test_bad_input(popmis_complete):
    with pytest.raises(ValueError, match="'teachers'"):
        analyze([popmis_complete], "popular ~ teachers + (1 | school)")
    with pytest.raises(ValueError, match="family"):
        analyze([popmis_complete], "popular ~ sex + (1 | school)", family="poisson")
    with pytest.raises(TypeError, match=r"datasets\[1\]"):
        analyze([popmis_complete, "x"], "popular ~ sex")
    with pytest.raises(TypeError, match="model"):
        analyze([popmis_complete], 3)
    with pytest.raises(ValueError, match="binomial response"):
        analyze([popmis_complete], "popular ~ sex + (1 | school)", family="binomial")
    with pytest.raises(ValueError, match="grouping factors"):
        analyze([popmis_complete], "popular ~ sex + (1 | school) + (1 | pupil)")
