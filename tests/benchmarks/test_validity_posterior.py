"""The posterior rows of the validity study: what ``PosteriorMethod`` scores is the compatible
model's own posterior, read as ``imp.analysis_posterior().summary()`` reads it."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesimpute as bi
from bayesimpute.results import AnalysisPosterior
from benchmarks.validity.designs import get_design
from benchmarks.validity.methods import PosteriorMethod, Settings, posterior_rows
from benchmarks.validity.runner import replication


def _posterior(rng: np.random.Generator) -> AnalysisPosterior:
    """Two chains of known draws: fixed effects Intercept and x, two variance components."""
    fixed = rng.normal([1.0, 0.5], [0.1, 0.05], size=(2, 400, 2))
    variance = rng.gamma(50.0, [0.01, 0.02], size=(2, 400, 2))
    dataset = xr.Dataset(
        {"fixed": (("chain", "draw", "term"), fixed),
         "variance": (("chain", "draw", "component"), variance)},
        coords={"term": ["Intercept", "x"], "component": ["g: Intercept", "residual"]})
    return AnalysisPosterior(az.InferenceData(posterior=dataset))


def test_posterior_rows_are_the_draws_mean_sd_and_quantiles():
    posterior = _posterior(np.random.default_rng(3))
    rows, scored = posterior_rows(posterior, pd.Index(["x", "residual", "not there"]))
    draws = posterior.draws()
    assert rows["parameter"].tolist() == ["Intercept", "x", "g: Intercept", "residual"]
    assert rows["kind"].tolist() == ["fixed", "fixed", "variance", "variance"]
    by_name = rows.set_index("parameter")
    np.testing.assert_allclose(by_name["estimate"], draws.mean()[by_name.index])
    np.testing.assert_allclose(by_name["std_error"], draws.std(ddof=1)[by_name.index])
    np.testing.assert_allclose(by_name["conf_low"], draws.quantile(0.025)[by_name.index])
    np.testing.assert_allclose(by_name["conf_high"], draws.quantile(0.975)[by_name.index])
    assert by_name["df"].isna().all()
    assert sorted(scored.index) == ["residual", "x"]


def test_posterior_method_scores_the_runs_own_posterior():
    """The rows are those of a run with lengthen x maxit iterations and its burn-in: the same
    seed, read directly, gives the same numbers (a shorter chain or another burn would not)."""
    design = get_design("random_slope")
    method = design.method("bayesimpute 2l.smc posterior")
    assert isinstance(method, PosteriorMethod)
    data, seed = replication(design, 1, 0)
    settings = Settings(m=2, maxit=3, seed=1)
    rows = method.run(design, data, settings, seed)

    iterations = settings.maxit * method.lengthen
    imp = bi.impute(data.data, method=dict(method.method),
                    predictor_matrix=method.predictors(data.data), m=settings.m,
                    maxit=iterations, seed=seed,
                    method_options={k: dict(v) for k, v in method.options.items()})
    expected = imp.analysis_posterior(burn=int(iterations * method.burn_share)).summary()
    got = rows.set_index("parameter")
    for name in ["Intercept", "x", "g: Intercept", "g: x", "residual"]:
        assert got.loc[name, "estimate"] == pytest.approx(expected.loc[name, "mean"], rel=1e-12)
        assert got.loc[name, "conf_low"] == pytest.approx(expected.loc[name, "q2.5"], rel=1e-12)
        assert got.loc[name, "conf_high"] == pytest.approx(expected.loc[name, "q97.5"],
                                                           rel=1e-12)
    assert f"{settings.m} chains x {iterations} iterations" in rows["note"].iloc[0]
    assert (rows["status"] == "ok").all()
