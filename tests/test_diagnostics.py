"""convergence(): imputation- and parameter-level R-hat; the warning after a run."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesimpute as bi
from bayesimpute.diagnostics import (
    RHAT_FLOOR,
    NotConvergedWarning,
    diagnostics_of,
    parameter_diagnostics,
    rhat_threshold,
    warn_if_not_converged,
)


def two_variables(noise: float, seed: int = 3, n: int = 300) -> pd.DataFrame:
    """x and y missing together in 60% of the rows; y = x + noise.

    With noise 0.05 (correlation 0.999) FCS is the textbook slow case: each variable is
    imputed from the other's imputations, so the imputed pairs drift together from their
    random start and R-hat stays far above 1 for dozens of iterations.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    data = pd.DataFrame({"x": x, "y": x + noise * rng.normal(size=n), "z": rng.normal(size=n)})
    data.loc[rng.random(n) < 0.6, ["x", "y"]] = np.nan
    return data


def one_variable(seed: int = 3, n: int = 300) -> pd.DataFrame:
    """Only y is incomplete (30%), x complete: nothing feeds back, so with enough Gibbs
    transitions per visit each iteration's imputations are close to independent draws.

    (With the default two transitions per visit the parameter chain stays autocorrelated
    over a few iterations: over 40 seeds at maxit = 20, 15% of such runs exceed the R-hat
    that independent draws exceed 5% of the time, and 5% with 20 transitions. The warning
    notices that rightly; the test wants chains that have mixed.)"""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    data = pd.DataFrame({"x": x, "y": x + rng.normal(size=n), "z": rng.normal(size=n)})
    data.loc[rng.random(n) < 0.3, "y"] = np.nan
    return data


def impute(data: pd.DataFrame, maxit: int, **kwargs) -> tuple[bi.MultipleImputation, list]:
    method = {c: "norm" for c in ("x", "y") if data[c].isna().any()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        imp = bi.impute(data, method=method, m=5, maxit=maxit, seed=1, **kwargs)
    return imp, [w for w in caught if issubclass(w.category, NotConvergedWarning)]


# --- the threshold -----------------------------------------------------------------------------
@pytest.mark.parametrize("m, n, k", [(5, 10, 5), (3, 20, 3)])
def test_threshold_keeps_false_alarms_near_five_percent(m, n, k):
    """Runs of k quantities, each m chains of n independent draws: the share of runs with
    some R-hat above the threshold should be about RUN_FALSE_ALARM = 5% (a little less:
    the F approximation is conservative). 400 runs: binomial s.e. 0.011 at 5%, so the
    band is 5% +- 3 s.e. (a threshold of 1.05 would give about 80% at m = 5, n = 10)."""
    rng = np.random.default_rng(20)
    runs = 400
    draws = xr.DataArray(rng.standard_normal((m, n, runs, k)),
                         dims=("chain", "draw", "run", "quantity"))
    rhat = az.rhat(xr.Dataset({"q": draws}))["q"]
    alarms = float((rhat.max("quantity") > rhat_threshold(m, n, k)).mean())
    assert 0.017 <= alarms <= 0.083, alarms
    assert float((rhat.max("quantity") > RHAT_FLOOR).mean()) > 0.3  # why not 1.05


def test_threshold_floor_and_undefined_cases():
    assert rhat_threshold(5, 200, 10) == RHAT_FLOOR  # long runs: the usual 1.05
    assert rhat_threshold(5, 10, 20) > rhat_threshold(5, 20, 20) > RHAT_FLOOR
    assert rhat_threshold(5, 10, 40) > rhat_threshold(5, 10, 2)  # more quantities, higher
    assert np.isnan(rhat_threshold(1, 50)) and np.isnan(rhat_threshold(5, 3))


# --- the warning after a run -------------------------------------------------------------------
def test_run_that_has_not_converged_warns_once_naming_the_variables():
    imp, caught = impute(two_variables(noise=0.05), maxit=10)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "not converged after 10 iterations" in message
    assert "x (" in message and "y (" in message
    assert "imp.iterate(10)" in message
    table = bi.convergence(imp)
    assert (table[["rhat_mean", "rhat_var"]].max(axis=1) > table.attrs["rhat_threshold"]).all()
    # continuing the run checks again
    with pytest.warns(NotConvergedWarning, match="after 15 iterations"):
        imp.iterate(5)


def test_run_that_has_converged_does_not_warn():
    imp, caught = impute(one_variable(), maxit=20, method_options={"y": {"n_steps": 20}})
    assert caught == []
    table = bi.convergence(imp)
    assert (table[["rhat_mean", "rhat_var"]].max(axis=1) <= table.attrs["rhat_threshold"]).all()


def test_too_short_runs_are_not_judged_and_convergence_says_why():
    imp, caught = impute(two_variables(noise=0.05), maxit=3)
    assert caught == []  # nothing measured, nothing claimed
    with pytest.warns(UserWarning, match=r"need at least 2 imputations .* and 4 iterations; "
                                         r"this run has m = 5 and 3 iteration\(s\)"):
        table = bi.convergence(imp)
    assert table[["rhat_mean", "rhat_var", "ess_mean"]].isna().all().all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        single = bi.impute(one_variable(), method={"y": "norm"}, m=1, maxit=8, seed=1)
    with pytest.warns(UserWarning, match="m = 1 and 8 iteration"):
        assert bi.convergence(single)["rhat_mean"].isna().all()


# --- the imputation table ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def mixed_run():
    """popmis with a 3-level factor and a 0/1 variable made incomplete."""
    rng = np.random.default_rng(4)
    data = bi.datasets.load_popmis()[["school", "popular", "sex", "texp"]].copy()
    data["band"] = pd.Categorical(pd.cut(data["texp"] + rng.normal(0, 4, len(data)), 3,
                                         labels=["low", "mid", "high"]))
    data.loc[rng.random(len(data)) < 0.2, "band"] = np.nan
    data.loc[rng.random(len(data)) < 0.1, "sex"] = np.nan
    method = {"popular": "2l.pmm", "band": "2l.polyreg", "sex": "2l.bin"}
    pred = bi.make_predictor_matrix(data, cluster="school")
    pred.loc["popular", "sex"] = 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bi.impute(data, method=method, predictor_matrix=pred, m=3, maxit=6, seed=2)


def test_factor_is_judged_on_the_share_of_each_level(mixed_run):
    table = bi.convergence(mixed_run)
    assert list(table.index) == mixed_run.variables
    assert list(table.columns) == ["rhat_mean", "rhat_var", "ess_mean", "traced",
                                   "rhat_parameters", "ess_parameters", "worst_parameter"]
    assert table.at["band", "traced"] == "shares of 3 levels"
    assert table.at["sex", "traced"] == "share of 1"
    assert table.at["popular", "traced"] == "mean, variance"
    assert np.isnan(table.at["band", "rhat_var"]) and np.isnan(table.at["sex", "rhat_var"])
    # computed here by hand from the imputed values: the largest R-hat of the level shares
    imputed = mixed_run.idata.posterior_predictive["band"].values  # (chain, draw, row)
    by_hand = max(float(az.rhat((imputed == k).mean(axis=-1))) for k in range(3))
    assert table.at["band", "rhat_mean"] == pytest.approx(by_hand, rel=1e-12)
    share_of_girls = (mixed_run.idata.posterior_predictive["sex"].values == 1).mean(axis=-1)
    assert table.at["sex", "rhat_mean"] == pytest.approx(float(az.rhat(share_of_girls)))
    chain_mean = mixed_run.idata.sample_stats["chain_mean"].sel(variable="popular").values
    assert table.at["popular", "rhat_mean"] == pytest.approx(float(az.rhat(chain_mean)))


def test_parameter_table_covers_every_element(mixed_run):
    table = bi.convergence(mixed_run, parameters=True)
    posterior = mixed_run.idata.posterior
    assert set(table["variable"]) == set(mixed_run.variables)
    # popular: beta per design column, sigma2, the lower triangle of psi (intercept, sex),
    # and u summarised over the 100 schools per random effect
    popular = table[table["variable"] == "popular"]
    n_beta = posterior.sizes["popular_x"]
    assert len(popular) == n_beta + 1 + 3 + 2
    assert {"popular_psi[Intercept,Intercept]", "popular_psi[sex,Intercept]",
            "popular_psi[sex,sex]"} <= set(popular.index)
    assert "popular_psi[Intercept,sex]" not in popular.index  # the upper triangle repeats
    u_row = popular.loc["popular_u[*,sex]"]
    assert u_row["elements"] == 100
    u = posterior["popular_u"].sel(popular_re="sex")
    per_school = [float(az.rhat(u.isel(popular_cluster=j).values)) for j in range(100)]
    assert u_row["rhat"] == pytest.approx(max(per_school), rel=1e-12)
    threshold = table.attrs["rhat_threshold"]
    assert u_row["above_threshold"] == sum(r > threshold for r in per_school)
    beta = posterior["popular_beta"].sel(popular_x="texp").values
    assert table.at["popular_beta[texp]", "rhat"] == pytest.approx(float(az.rhat(beta)))
    # the factor's model: one set of coefficients per non-reference level
    assert "band_beta[mid,Intercept]" in table.index and "band_u[high,*,Intercept]" in table.index
    assert table["rhat"].notna().all() and (table["ess_bulk"] > 0).all()


def test_variable_table_shows_each_models_worst_parameter(mixed_run):
    table = bi.convergence(mixed_run)
    by_parameter = parameter_diagnostics(mixed_run)
    popular = by_parameter[by_parameter["variable"] == "popular"]
    assert table.at["popular", "rhat_parameters"] == popular["rhat"].max()
    assert table.at["popular", "ess_parameters"] == popular["ess_bulk"].min()
    assert f"popular_{table.at['popular', 'worst_parameter']}" == popular["rhat"].idxmax()
    assert not any("_u[" in name for name in by_parameter.index)  # per-cluster effects out
    beta = mixed_run.idata.posterior["popular_beta"].sel(popular_x="texp").values
    assert by_parameter.at["popular_beta[texp]", "rhat"] == pytest.approx(float(az.rhat(beta)))


def test_a_parameter_that_has_not_mixed_warns_and_is_named():
    """Imputations that look settled while a variance component's chains disagree: one
    chain's psi shifted away from the others (as a chain stuck near zero would be) must
    warn, naming the parameter and not the variable."""
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(30), 10)
    data = pd.DataFrame({"g": g, "x": rng.normal(size=300)})
    data["y"] = data["x"] + rng.normal(0, 0.5, 30)[g] + rng.normal(size=300)
    data.loc[rng.random(300) < 0.3, "y"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = bi.impute(data, method={"y": "2l.norm"}, cluster="g", m=4, maxit=20, seed=3)
    assert warn_if_not_converged(imp) == []  # this run has mixed
    psi = imp.idata.posterior["y_psi"]
    imp.idata.posterior["y_psi"] = psi + xr.DataArray([5.0, 0, 0, 0], dims="chain") * psi.std()
    with pytest.warns(NotConvergedWarning, match=r"the parameters y_psi\[Intercept,Intercept\]"):
        named = warn_if_not_converged(imp)
    assert named == ["y_psi[Intercept,Intercept]"]
    table = bi.convergence(imp)
    assert table.at["y", "worst_parameter"] == "psi[Intercept,Intercept]"
    assert table.at["y", "rhat_parameters"] > table.attrs["rhat_threshold"]
    assert table.at["y", "rhat_mean"] <= table.attrs["rhat_threshold"]


def test_diagnostics_of_masks_constant_and_short_chains():
    constant = xr.Dataset({"a": (("chain", "draw"), np.ones((3, 10)))})
    assert diagnostics_of(constant)["a"].isnull().all()
    short = xr.Dataset({"a": (("chain", "draw"), np.random.default_rng(1).normal(size=(3, 3)))})
    assert diagnostics_of(short)["a"].isnull().all()


def test_resumed_run_is_checked_too(tmp_path):
    data = two_variables(noise=0.05)
    with pytest.warns(NotConvergedWarning):
        bi.impute(data, method={"x": "norm", "y": "norm"}, m=3, maxit=6, seed=2,
                  checkpoint=tmp_path / "run.ckpt")
    with pytest.warns(NotConvergedWarning, match="after 6 iterations"):
        bi.resume(tmp_path / "run.ckpt")
