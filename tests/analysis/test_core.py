"""analyze(): fits per completed dataset, what they carry, and how trouble is surfaced."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import bayesimpute as bi
import lme4_reference as ref
from bayesimpute.analysis import AnalysisResults, ModelFit, analyze, as_model_fit
from bayesimpute.analysis.formula import build_design, parse_formula
from bayesimpute.analysis.lmm import fit_lmm
from bayesimpute.pooling import pool

FORMULA = "popular ~ texp + sex + (1 | school)"


@pytest.fixture(scope="module")
def popmis_complete() -> pd.DataFrame:
    return bi.datasets.load_popmis().dropna(subset=["popular"])


@pytest.fixture(scope="module")
def popmis_fit(popmis_complete) -> ModelFit:
    return analyze([popmis_complete], FORMULA)[0]


def test_fit_carries_what_pooling_and_users_need(popmis_fit):
    fit = popmis_fit
    assert list(fit.params.index) == ["Intercept", "texp", "sex"]
    assert fit.nobs == 1152 and fit.dfcom == 1152 - 3
    assert fit.converged and not fit.is_singular and fit.messages == []
    assert fit.criterion == pytest.approx(-2 * fit.loglik)
    assert list(fit.random_covariances) == ["school"]
    tau2 = fit.random_covariances["school"].loc["Intercept", "Intercept"]
    vc = fit.variance_components
    assert vc["school: Intercept"] == pytest.approx(tau2)
    assert vc["icc"] == pytest.approx(tau2 / (tau2 + vc["residual"]))
    assert fit.theta[0] ** 2 * vc["residual"] == pytest.approx(tau2)
    assert "ModelFit(family='gaussian', nobs=1152" in repr(fit)


def test_variance_standard_errors_on_their_pooling_scales(popmis_fit):
    table = popmis_fit.variance_inference
    assert list(table.index) == ["school: Intercept", "residual", "icc"]
    assert list(table["scale"]) == ["log", "log", "logit"]
    # 100 schools: the s.e. of log(tau2) is about sqrt(2 / 99) = 0.14 plus within-school noise;
    # the residual's about sqrt(2 / (1152 - 100)) = 0.044.
    assert 0.12 < table.loc["school: Intercept", "std_error"] < 0.2
    assert table.loc["residual", "std_error"] == pytest.approx(math.sqrt(2 / 1052), rel=0.1)
    # logit(ICC) = log tau2 - log sigma2: its s.e. exceeds that of log tau2 alone.
    assert table.loc["icc", "std_error"] > table.loc["school: Intercept", "std_error"]


def test_variance_standard_error_matches_the_spread_over_simulated_data_sets():
    """The delta-method s.e. of log tau2 is what the estimates actually scatter by."""
    rng = np.random.default_rng(11)
    estimates, standard_errors = [], []
    g = np.repeat(np.arange(30), 12)
    for _ in range(60):
        y = 1 + rng.normal(0, 0.8, 30)[g] + rng.normal(size=len(g))
        fit = analyze([pd.DataFrame({"y": y, "g": g})], "y ~ 1 + (1 | g)")[0]
        row = fit.variance_inference.loc["g: Intercept"]
        estimates.append(row["transformed"])
        standard_errors.append(row["std_error"])
    spread, mean_se = np.std(estimates, ddof=1), np.mean(standard_errors)
    # 60 replications: the sample s.d. itself is uncertain by about 1 / sqrt(2 * 59) = 9%.
    assert mean_se == pytest.approx(spread, rel=0.3)


def test_ml_and_reml(popmis_complete):
    reml = analyze([popmis_complete], FORMULA)[0]
    ml = analyze([popmis_complete], FORMULA, reml=False)[0]
    assert ml.loglik > reml.loglik  # ML maximises a different (larger) criterion
    assert ml.variance_components["school: Intercept"] < reml.variance_components[
        "school: Intercept"]  # REML corrects ML's downward bias


def test_callable_route_pools_like_formula_route(popmis_complete):
    rng = np.random.default_rng(7)
    popular = popmis_complete["popular"]
    frames = [popmis_complete.assign(popular=popular + rng.normal(0, 0.3, len(popular)))
              for _ in range(3)]
    before = [f.copy() for f in frames]
    by_formula = analyze(frames, FORMULA)
    by_callable = analyze(
        frames, lambda d: smf.mixedlm("popular ~ texp + sex", d, groups="school").fit(reml=True)
    )
    for frame, copy in zip(frames, before):
        pd.testing.assert_frame_equal(frame, copy)
    assert isinstance(by_formula, AnalysisResults) and len(by_formula) == 3
    converted = as_model_fit(by_callable[0])
    assert isinstance(converted, ModelFit)
    # statsmodels finds the same REML optimum here; its fits get this package's df and s.e.s
    np.testing.assert_allclose(converted.term_df, by_formula[0].term_df, rtol=2e-3)
    left, right = pool(by_formula).summary(), pool(by_callable).summary()
    np.testing.assert_allclose(left["estimate"], right["estimate"], rtol=1e-4)
    np.testing.assert_allclose(left["std_error"], right["std_error"], rtol=1e-3)
    components = pool(by_formula).variance_components()
    assert list(components.index) == ["school: Intercept", "residual", "icc"]
    assert list(components["group"]) == ["school", "", ""]
    assert (components["conf_low"] < components["estimate"]).all()
    assert (components["estimate"] < components["conf_high"]).all()
    np.testing.assert_allclose(
        components["estimate"], pool(by_callable).variance_components()["estimate"], rtol=1e-3
    )


def test_several_grouping_factors_pool_per_factor():
    data = ref.dataset("nested")
    rng = np.random.default_rng(5)
    frames = [data.assign(y=data["y"] + rng.normal(0, 0.2, len(data))) for _ in range(3)]
    pooled = pool(analyze(frames, "y ~ x + z + (1 | school/class)"))
    components = pooled.variance_components()
    assert list(components.index) == ["class:school: Intercept", "school: Intercept", "residual"]
    assert list(components["group"]) == ["class:school", "school", ""]
    assert components["interval"].eq("rubin").all()
    assert (components["conf_low"] < components["estimate"]).all()
    # (1 | school/class) is (1 | school) + (1 | school:class): the same model
    explicit = analyze(frames[:1], "y ~ x + z + (1 | school) + (1 | school:class)")[0]
    nested = analyze(frames[:1], "y ~ x + z + (1 | school/class)")[0]
    assert explicit.loglik == pytest.approx(nested.loglik, abs=1e-8)


def test_fixed_only_formula_is_ols(popmis_complete):
    fit = analyze([popmis_complete], "popular ~ texp + sex")[0]
    direct = smf.ols("popular ~ texp + sex", popmis_complete).fit()
    np.testing.assert_allclose(fit.params, direct.params)
    assert fit.dfcom == direct.df_resid


def test_a_fit_that_does_not_converge_says_so_and_is_not_pooled(popmis_complete):
    design = build_design(parse_formula("popular ~ texp + sex + (1 + sex | school)"),
                          popmis_complete)
    failed = fit_lmm(design, maxeval=4)
    assert not failed.converged
    assert any("evaluation limit" in m for m in failed.messages)
    good = analyze([popmis_complete], FORMULA)[0]
    bad = ModelFit(good.params, good.cov, converged=False,
                   messages=["optimiser stopped at the evaluation limit"])
    with pytest.raises(ValueError, match=r"imputations \[2\] did not converge"):
        pool([good, bad])
    with pytest.warns(RuntimeWarning, match="did not converge"):
        pooled = pool([good, bad], allow_nonconverged=True)
    assert list(pooled.problems.index) == [2]
    assert not pooled.problems.loc[2, "converged"]
    assert "did not converge: imputations [2]" in repr(pooled)


def test_singular_fits_warn_once_and_are_named(popmis_complete):
    data = ref.dataset("singular")
    frames = [data, data.assign(y=data["y"] * 1.0)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fits = analyze(frames, "y ~ x + (1 + x | g)")
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1
    assert "2 of 2 fits are singular" in messages[0] and "(imputations [1, 2])" in messages[0]
    assert list(fits.problems().index) == [1, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pooled = pool(fits)
    assert pooled.summary().attrs["singular_imputations"] == [1, 2]
    assert pooled.summary().attrs["nonconverged_imputations"] == []
    assert "singular fits: imputations [1, 2]" in repr(pooled)


def test_bad_input(popmis_complete):
    with pytest.raises(ValueError, match="'teachers'"):
        analyze([popmis_complete], "popular ~ teachers + (1 | school)")
    with pytest.raises(ValueError, match="family"):
        analyze([popmis_complete], "popular ~ sex + (1 | school)", family="gamma")
    with pytest.raises(TypeError, match=r"datasets\[1\]"):
        analyze([popmis_complete, "x"], "popular ~ sex")
    with pytest.raises(TypeError, match="model"):
        analyze([popmis_complete], 3)
    with pytest.raises(ValueError, match="binomial response 'popular'"):
        analyze([popmis_complete], "popular ~ sex + (1 | school)", family="binomial")
    with pytest.raises(ValueError, match="poisson response 'half'"):
        analyze([popmis_complete.assign(half=popmis_complete["popular"] + 0.5)],
                "half ~ sex + (1 | school)", family="poisson")
    with pytest.raises(ValueError, match="rank deficient"):
        analyze([popmis_complete.assign(sex2=popmis_complete["sex"])],
                "popular ~ sex + sex2 + (1 | school)")


def test_the_analysis_subpackage_does_not_import_pooling():
    """Issue 12 item 7: pooling depends on analysis, never the other way round."""
    import ast
    from pathlib import Path

    import bayesimpute.analysis as package

    for path in Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "pooling" not in (node.module or ""), path.name
            elif isinstance(node, ast.Import):
                assert all("pooling" not in alias.name for alias in node.names), path.name
