"""A Dask cluster of separate processes, started as a user would (`dask scheduler`, two
`dask worker`), gives the imputations of n_jobs=1; `bayesimpute run --scheduler` uses it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

distributed = pytest.importorskip("distributed", reason="needs the bayesimpute[dask] extra")

import bayesimpute as bi  # noqa: E402
from bayesimpute.cli import main  # noqa: E402
from two_variables import two_incomplete_variables

ROOT = Path(__file__).resolve().parents[2]
ARGUMENTS = dict(cluster="g", method={"x": "2l.norm", "y": "2l.pmm"}, m=3, maxit=4, seed=9)


def make_data() -> pd.DataFrame:
    return two_incomplete_variables(5, n_clusters=15)


def _wait_for_file(path: Path, processes: list[subprocess.Popen], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.stat().st_size > 0):
        if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
            raise AssertionError("the dask scheduler did not start")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """`dask scheduler` and two `dask worker` processes on the loopback interface."""
    folder = tmp_path_factory.mktemp("dask")
    file = folder / "scheduler.json"
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", "0", "--no-dashboard", "--scheduler-file", str(file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes = [scheduler]
    try:
        _wait_for_file(file, processes, timeout=60)
        for k in range(2):
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                 str(file), "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
                 "--local-directory", str(folder / f"worker-{k}")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        address = json.loads(file.read_text())["address"]
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_separate_processes_give_the_serial_imputations(scheduler):
    reference = bi.impute(make_data(), n_jobs=1, **ARGUMENTS)
    with distributed.Client(scheduler) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        pids = set(client.run(lambda: __import__("os").getpid()).values())
        assert len(pids) == 2  # two worker processes, neither of them this one
        imp = bi.impute(make_data(), client=client, **ARGUMENTS)
    pd.testing.assert_frame_equal(imp.complete("long"), reference.complete("long"))
    xr.testing.assert_equal(imp.idata.posterior, reference.idata.posterior)
    xr.testing.assert_equal(imp.idata.sample_stats, reference.idata.sample_stats)
    np.testing.assert_array_equal(imp.idata.posterior_predictive["y"].values,
                                  reference.idata.posterior_predictive["y"].values)


def test_cli_scheduler_gives_the_local_results(scheduler, tmp_path):
    arguments = ["run", str(ROOT / "models" / "popmis.toml"), "--m", "2", "--maxit", "2"]
    assert main([*arguments, "--out", str(tmp_path / "local"), "--n-jobs", "2"]) == 0
    assert main([*arguments, "--out", str(tmp_path / "dask"), "--scheduler", scheduler]) == 0
    for table in ("pooled.csv", "variance_components.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "dask" / table),
                                      pd.read_csv(tmp_path / "local" / table))
    local = bi.MultipleImputation.from_netcdf(tmp_path / "local" / "imputation.nc")
    remote = bi.MultipleImputation.from_netcdf(tmp_path / "dask" / "imputation.nc")
    pd.testing.assert_frame_equal(remote.complete("long"), local.complete("long"))
