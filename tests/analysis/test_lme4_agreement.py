"""bayesimpute's mixed models against lme4 / lmerTest / glmer on the reference models.

Reference values: tests/reference/*.csv, written by benchmarks/r/reference_fits.R (lme4 1.1-31,
lmerTest 3.1-3; tight optimiser tolerances, see the script). Criteria (issue 12): estimates,
standard errors, variance components and log-likelihood equal lme4's to 1e-4 relative for
linear mixed models and 1e-3 for glmer. "Relative" for an estimate near zero is taken
relative to its standard error (a coefficient of -0.02 with s.e. 0.06 is judged on the
s.e.'s scale, not its own), for a covariance relative to the product of the two s.d.s.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import bayesimpute as bi
import lme4_reference as ref

GAUSSIAN = [m for m in ref.fits().index if ref.fits().loc[m, "family"] == "gaussian"]
GENERALIZED = [m for m in ref.fits().index if ref.fits().loc[m, "family"] != "gaussian"]
#: the relative tolerances of issue 12
TOLERANCE = {"gaussian": 1e-4, "binomial": 1e-3, "poisson": 1e-3}


@pytest.fixture(scope="module")
def fitted():
    cache: dict[str, tuple[bi.ModelFit, list[str]]] = {}

    def fit(model: str) -> bi.ModelFit:
        if model not in cache:
            data, formula, family, reml = ref.spec(model)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = bi.analyze([data], formula, family=family, reml=reml)[0]
            cache[model] = (result, [str(w.message) for w in caught])
        return cache[model][0]

    fit.warnings = lambda model: cache[model][1]  # type: ignore[attr-defined]
    return fit


def _family(model: str) -> str:
    return ref.fits().loc[model, "family"]


@pytest.mark.parametrize("model", GAUSSIAN + GENERALIZED)
def test_fixed_effects_and_standard_errors(fitted, model):
    fit, expected = fitted(model), ref.fixed(model)
    tol = TOLERANCE[_family(model)]
    assert list(fit.params.index) == list(expected.index)
    scale = np.maximum(expected["estimate"].abs(), expected["std_error"])
    np.testing.assert_array_less(np.abs(fit.params - expected["estimate"]), tol * scale)
    np.testing.assert_allclose(fit.std_errors, expected["std_error"], rtol=tol)


@pytest.mark.parametrize("model", GAUSSIAN + GENERALIZED)
def test_variance_components(fitted, model):
    fit, expected = fitted(model), ref.components(model)
    tol = TOLERANCE[_family(model)]
    ours = fit.variance_components
    for name, value in expected.items():
        if "corr(" in name:
            if math.isnan(value):  # lme4 gives no correlation for a zero-variance effect
                assert math.isnan(ours[name]) or fit.is_singular, name
            else:
                assert ours[name] == pytest.approx(value, abs=tol), name
        elif "cov(" in name:
            group, pair = name.split(": cov(")
            a, b = pair[:-1].split(", ")
            sd = math.sqrt(expected[f"{group}: {a}"] * expected[f"{group}: {b}"])
            assert abs(ours[name] - value) <= tol * max(sd, 1e-12), name
        else:
            assert ours[name] == pytest.approx(value, rel=tol, abs=1e-10), name


@pytest.mark.parametrize("model", GAUSSIAN + GENERALIZED)
def test_loglik_singularity_and_levels(fitted, model):
    fit, row = fitted(model), ref.fits().loc[model]
    tol = TOLERANCE[_family(model)]
    # Well inside "1e-4 relative" (which would allow 1 unit at logLik -10,000).
    assert fit.loglik == pytest.approx(row["loglik"], abs=10 * tol)
    assert fit.is_singular == bool(row["is_singular"])
    assert fit.nobs == row["nobs"]
    levels = dict(item.split("=") for item in row["n_groups"].split(";"))
    assert {g: str(n) for g, n in fit.n_groups.items()} == levels
    assert fit.converged
    singular_warnings = [w for w in fitted.warnings(model) if "singular" in w]
    assert bool(singular_warnings) == fit.is_singular  # one aggregated warning, only then


@pytest.mark.parametrize("model", GAUSSIAN)
def test_satterthwaite_df_match_lmertest(fitted, model):
    fit, expected = fitted(model), ref.fixed(model)
    # Both sides differentiate numerically (numDeriv's Richardson there, central differences
    # here) at the same optimum; the 1e-4 holds.
    np.testing.assert_allclose(fit.term_df, expected["df"], rtol=1e-4)


@pytest.mark.parametrize("model", GAUSSIAN)
def test_criterion_at_lme4s_theta_is_lme4s(model):
    """The profiled criterion itself, free of any optimiser: at lme4's theta it is lme4's."""
    from bayesimpute.analysis.formula import build_design, parse_formula
    from bayesimpute.analysis.lmm import ProfiledDeviance

    data, formula, _, reml = ref.spec(model)
    deviance = ProfiledDeviance(build_design(parse_formula(formula), data), reml=reml)
    assert deviance(ref.theta(model)) == pytest.approx(ref.fits().loc[model, "criterion"],
                                                       rel=1e-10)
