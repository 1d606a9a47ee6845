"""The Dask backend on a real local cluster (2 worker processes): the same imputations as
n_jobs=1, the plan scattered once, chains streamed back as they finish, a lost worker costing
its chain only (rerun from its checkpoint), and analyses on the same client."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest
import xarray as xr

distributed = pytest.importorskip("distributed", reason="needs the bayesimpute[dask] extra")

import bayesimpute as bi  # noqa: E402
from bayesimpute.engine.checkpoint import read_progress  # noqa: E402
from bayesimpute.engine.dask_backend import DaskBackend  # noqa: E402
from bayesimpute.engine.sampler import chain_seeds, make_plan  # noqa: E402
from bayesimpute.engine.spec import build_spec  # noqa: E402
from bayesimpute.engine.tasks import ChainTask  # noqa: E402
from two_variables import two_incomplete_variables  # noqa: E402

ARGUMENTS = dict(cluster="g", method={"x": "2l.norm", "y": "2l.pmm"}, m=2, maxit=5, seed=4)


def make_data() -> pd.DataFrame:
    return two_incomplete_variables(seed=0)


def assert_same_run(got: bi.MultipleImputation, expected: bi.MultipleImputation) -> None:
    pd.testing.assert_frame_equal(got.complete("long"), expected.complete("long"))
    xr.testing.assert_equal(got.idata.posterior, expected.idata.posterior)
    xr.testing.assert_equal(got.idata.sample_stats, expected.idata.sample_stats)
    for variable in expected.variables:
        np.testing.assert_array_equal(got.idata.posterior_predictive[variable].values,
                                      expected.idata.posterior_predictive[variable].values)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as connected:
        connected.run(lambda: __import__("bayesimpute"))  # import once, before any timing
        yield connected


@pytest.fixture(scope="module")
def reference() -> bi.MultipleImputation:
    return bi.impute(make_data(), n_jobs=1, **ARGUMENTS)


def test_local_cluster_gives_the_serial_imputations(client, reference):
    assert len(client.scheduler_info()["workers"]) == 2
    assert_same_run(bi.impute(make_data(), client=client, **ARGUMENTS), reference)
    assert_same_run(bi.impute(make_data(), backend="dask", **ARGUMENTS), reference)  # current


def test_the_plan_is_scattered_once_and_tasks_get_a_reference(client, monkeypatch):
    scattered, submitted = [], []
    scatter, submit = client.scatter, client.submit

    def spy_scatter(data, **kwargs):
        scattered.append((type(data).__name__, kwargs.get("broadcast")))
        return scatter(data, **kwargs)

    def spy_submit(function, *args, **kwargs):
        submitted.append(args)
        return submit(function, *args, **kwargs)

    monkeypatch.setattr(client, "scatter", spy_scatter)
    monkeypatch.setattr(client, "submit", spy_submit)
    bi.impute(make_data(), client=client, **{**ARGUMENTS, "m": 4})
    assert scattered == [("SamplerPlan", True)]
    assert len(submitted) == 4
    assert all(isinstance(args[0], distributed.Future) for args in submitted)


def test_chains_come_back_as_they_finish(client):
    spec = build_spec(make_data(), **ARGUMENTS)
    plan, seeds = make_plan(spec), chain_seeds(spec.seed, 2)
    # chain 1 is quick; chain 0 runs long enough (seconds) that scheduling jitter on a loaded
    # machine (another test process, the two dask workers on two cores) cannot reorder them
    tasks = [ChainTask(0, seeds[0], 400), ChainTask(1, seeds[1], 1)]
    order = [outcome.chain for outcome in DaskBackend(client).map_chains(plan, tasks,
                                                                          lambda k: None)]
    assert order == [1, 0]


def test_keep_last_and_store_on_the_cluster(client, reference, tmp_path):
    last = bi.impute(make_data(), client=client, keep="last", **ARGUMENTS)
    pd.testing.assert_frame_equal(last.complete("long"), reference.complete("long"))
    stored = bi.impute(make_data(), client=client, store=tmp_path / "draws", **ARGUMENTS)
    assert_same_run(stored, reference)


def test_analyze_and_iterate_on_the_same_client(client, reference):
    formula = "y ~ x"
    pooled = bi.pool(reference.analyze(formula, client=client)).summary()
    pd.testing.assert_frame_equal(pooled, bi.pool(reference.analyze(formula)).summary())
    assert_same_run(reference.iterate(2, client=client), reference.iterate(2))


def test_sampler_errors_come_back_with_their_message(client):
    def bad_post(values):
        return values.iloc[:1]  # wrong length: the engine refuses it

    with pytest.raises(ValueError, match=r"post\['y'\] returned"):
        bi.impute(make_data(), client=client, post={"y": bad_post}, **ARGUMENTS)


def test_a_client_takes_no_n_jobs(client):
    with pytest.raises(ValueError, match="n_jobs has no meaning"):
        bi.impute(make_data(), client=client, n_jobs=2, **ARGUMENTS)
    with pytest.raises(ValueError, match="contradicts"):
        bi.impute(make_data(), client=client, backend="joblib", **ARGUMENTS)
    with pytest.raises(TypeError, match="dask.distributed.Client"):
        bi.impute(make_data(), client="tcp://127.0.0.1:1", **ARGUMENTS)


def _slow(values):
    time.sleep(0.4)  # slow enough to kill a worker mid-chain; values unchanged
    return values


def _worker_running(client, chain: int) -> str | None:
    for worker, keys in client.processing().items():
        if any(str(key).startswith(f"bayesimpute-chain-{chain + 1}-") for key in keys):
            return worker
    return None


def test_a_lost_worker_reruns_its_chain_from_its_checkpoint(client, reference, tmp_path):
    folder = tmp_path / "run"
    result: dict = {}

    def run() -> None:
        try:
            result["imp"] = bi.impute(make_data(), client=client, checkpoint=folder,
                                      post={"y": _slow}, **ARGUMENTS)
        except BaseException as error:  # noqa: BLE001 - re-raised in the test below
            result["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and thread.is_alive():
        if (folder / "header.pkl").exists():
            done = read_progress(folder)
            for chain, count in enumerate(done):
                worker = _worker_running(client, chain)
                if 2 <= count < 4 and worker is not None:
                    pid = client.run(os.getpid, workers=[worker])[worker]
                    os.kill(pid, signal.SIGKILL)
                    killed = (chain, count)
                    break
        time.sleep(0.05)
    thread.join(timeout=240)
    assert killed is not None, "no chain was caught mid-run"
    if "error" in result:
        raise result["error"]
    imp = result["imp"]
    assert_same_run(imp, reference)
    events = imp.logged_events
    restarted = events[events["event"].str.contains("restarted from its checkpoint")]
    chain, count = killed
    assert restarted["chain"].tolist() == [chain + 1]  # the other chain ran undisturbed
    assert restarted["iteration"].iloc[0] >= count  # from its last record, not from scratch
    client.wait_for_workers(2, timeout=120)  # the nanny brings the worker back
