"""Bounded memory: keep="last" and imputations streamed to disk (store=) change what is held,
never what is drawn; everything that works on a keep="all" result works on these, or says
clearly that it needs keep="all"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesimpute as bi
from bayesimpute.engine.run import KEEP_ALL_LIMIT_BYTES, choose_keep
from bayesimpute.engine.sampler import chain_seeds, make_plan
from bayesimpute.engine.spec import build_spec
from bayesimpute.engine.tasks import ChainTask, run_chain_task
from two_variables import two_incomplete_variables

ARGUMENTS = dict(cluster="g", method={"x": "2l.norm", "y": "2l.pmm"}, m=2, maxit=4, seed=11)


def make_data() -> pd.DataFrame:
    return two_incomplete_variables(seed=2)


@pytest.fixture(scope="module")
def full() -> bi.MultipleImputation:
    return bi.impute(make_data(), keep="all", **ARGUMENTS)


def assert_same_last(got: bi.MultipleImputation, expected: bi.MultipleImputation) -> None:
    """Same completed data, parameters, chain summaries and last imputations."""
    pd.testing.assert_frame_equal(got.complete("long"), expected.complete("long"))
    xr.testing.assert_equal(got.idata.posterior, expected.idata.posterior)
    xr.testing.assert_equal(got.idata.sample_stats, expected.idata.sample_stats)
    for variable in expected.variables:
        np.testing.assert_array_equal(
            got.idata.posterior_predictive[variable].isel(draw=-1).values,
            expected.idata.posterior_predictive[variable].isel(draw=-1).values)


def test_keep_last_holds_one_draw_of_the_same_run(full):
    last = bi.impute(make_data(), keep="last", **ARGUMENTS)
    assert last.keep == "last" and full.keep == "all"
    assert_same_last(last, full)
    draws = last.idata.posterior_predictive
    assert draws.sizes["draw"] == 1 and draws["draw"].values.tolist() == [ARGUMENTS["maxit"] - 1]
    assert full.idata.posterior_predictive.sizes["draw"] == ARGUMENTS["maxit"]


def test_store_streams_every_draw_to_disk(tmp_path, full):
    stored = bi.impute(make_data(), keep="all", store=tmp_path / "draws", **ARGUMENTS)
    assert_same_last(stored, full)
    for variable in full.variables:  # every iteration, not only the last
        np.testing.assert_array_equal(stored.idata.posterior_predictive[variable].values,
                                      full.idata.posterior_predictive[variable].values)
    files = sorted(p.name for p in (tmp_path / "draws").iterdir())
    assert len(files) == 1 and files[0].startswith("posterior_predictive-"), files
    # read lazily: nothing loaded until asked
    variable = stored.idata.posterior_predictive["x"].variable
    assert not isinstance(variable._data, np.ndarray)


def test_store_with_keep_last_in_worker_processes(tmp_path, full):
    stored = bi.impute(make_data(), keep="last", store=tmp_path / "draws", n_jobs=2,
                       **ARGUMENTS)
    assert_same_last(stored, full)
    assert stored.idata.posterior_predictive.sizes["draw"] == 1


def test_a_chain_task_holds_one_iteration_at_most(tmp_path):
    spec = build_spec(make_data(), **{k: v for k, v in ARGUMENTS.items()})
    plan, seed = make_plan(spec), chain_seeds(spec.seed, spec.m)[0]
    last = run_chain_task(plan, ChainTask(0, seed, 4, keep="last"))
    assert all(len(draws) == 1 for draws in last.trace.imputations.values())
    streamed = run_chain_task(plan, ChainTask(0, seed, 4, draws_file=str(tmp_path / "c.nc")))
    assert streamed.trace.imputations == {}
    assert "imputations" not in streamed.trace.state  # they are the last draw
    every = run_chain_task(plan, ChainTask(0, seed, 4))
    np.testing.assert_array_equal(every.trace.imputations["x"][-1],
                                  last.trace.imputations["x"][0])


@pytest.mark.parametrize("keep", ["last", "stored"])
def test_iterate_continues_bounded_runs_exactly(tmp_path, full, keep):
    options = {"keep": "last"} if keep == "last" else {"store": tmp_path / "draws"}
    bounded = bi.impute(make_data(), **options, **ARGUMENTS)
    longer, reference = bounded.iterate(3), full.iterate(3)
    assert_same_last(longer, reference)
    assert longer.iterations == 7 and longer.keep == bounded.keep
    if keep == "stored":
        np.testing.assert_array_equal(longer.idata.posterior_predictive["y"].values,
                                      reference.idata.posterior_predictive["y"].values)
        assert_same_last(bounded, full)  # the earlier result still reads its own file


@pytest.mark.parametrize("keep", ["last", "stored"])
def test_netcdf_round_trip_of_bounded_runs(tmp_path, full, keep):
    options = {"keep": "last"} if keep == "last" else {"store": tmp_path / "draws"}
    bounded = bi.impute(make_data(), **options, **ARGUMENTS)
    back = bi.MultipleImputation.from_netcdf(bounded.to_netcdf(tmp_path / "run.nc"))
    pd.testing.assert_frame_equal(back.complete("long"), full.complete("long"))
    assert back.keep == bounded.keep
    assert_same_last(back.iterate(2), full.iterate(2))


def test_diagnostics_and_plots_work_on_bounded_runs(tmp_path):
    imp = bi.impute(make_data(), keep="last", store=tmp_path / "d", **ARGUMENTS)
    assert bi.convergence(imp).notna().all().all()
    assert imp.plot_trace() is not None
    assert imp.plot_trace(parameters=True) is not None
    assert bi.plot_imputed(imp, "x") is not None
    fits = imp.analyze("y ~ x")
    assert len(bi.pool(fits).summary()) == 2


def test_earlier_draws_need_keep_all():
    imp = bi.impute(make_data(), keep="last", **ARGUMENTS)
    assert len(imp.imputed_values("x", chain=1)) == imp.where["x"].sum()
    assert len(imp.imputed_values("x", chain=1, draw=ARGUMENTS["maxit"] - 1)) > 0
    with pytest.raises(ValueError, match="keep='all'"):
        imp.imputed_values("x", chain=0, draw=0)


def test_default_keep_follows_the_size_of_the_imputations():
    spec = build_spec(make_data(), **ARGUMENTS)
    cells = int(spec.where[["x", "y"]].to_numpy().sum())
    assert choose_keep(None, spec) == "all"
    n_bytes = spec.m * spec.maxit * cells * 8
    with bi.rc_context({"keep.all_limit_bytes": n_bytes}):
        assert choose_keep(None, spec) == "all"  # at the limit: still all
    with bi.rc_context({"keep.all_limit_bytes": n_bytes - 1}):
        assert choose_keep(None, spec) == "last"
        assert bi.impute(make_data(), **ARGUMENTS).keep == "last"
    assert KEEP_ALL_LIMIT_BYTES == 256 * 2**20  # the documented default
    with pytest.raises(ValueError, match="keep must be one of"):
        bi.impute(make_data(), keep="every", **ARGUMENTS)


def test_far_out_imputations_are_found_in_any_iteration_under_keep_last(monkeypatch):
    """The plausibility check sees every iteration, not only the kept one."""
    calls = {"n": 0}

    def runaway_once(values):  # post of chain 1, iteration 2 only
        calls["n"] += 1
        if calls["n"] == 2:
            values = values.copy()
            values.iloc[0] = 1e6
        return values

    events = {}
    for keep in ("all", "last"):
        calls["n"] = 0
        imp = bi.impute(make_data(), keep=keep, post={"x": runaway_once}, **ARGUMENTS)
        flagged = imp.logged_events[imp.logged_events["event"].str.contains("outside")]
        events[keep] = flagged.reset_index(drop=True)
    assert len(events["all"]) == 1 and events["all"].loc[0, "iteration"] == 2
    pd.testing.assert_frame_equal(events["last"], events["all"])


def test_checkpointed_stored_run_resumes_exactly(tmp_path, full):
    calls = {"n": 0}
    armed = tmp_path / "armed"  # the checkpoint keeps a copy of post: switch it by a file
    armed.touch()

    def interrupt(values):
        calls["n"] += 1
        if calls["n"] == 7 and armed.exists():  # chain 2, iteration 3
            raise KeyboardInterrupt
        return values

    options = dict(checkpoint=tmp_path / "ckpt", store=tmp_path / "draws")
    with pytest.raises(KeyboardInterrupt, match="resume"):
        bi.impute(make_data(), post={"y": interrupt}, **options, **ARGUMENTS)
    armed.unlink()
    resumed = bi.resume(tmp_path / "ckpt")
    assert_same_last(resumed, full)
    np.testing.assert_array_equal(resumed.idata.posterior_predictive["x"].values,
                                  full.idata.posterior_predictive["x"].values)
    restarted = resumed.logged_events["event"].str.contains("restarted from its checkpoint")
    assert resumed.logged_events.loc[restarted, "chain"].tolist() == [2]
