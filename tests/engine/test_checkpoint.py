"""Checkpoints: an interrupted run resumes to exactly the imputations of an uninterrupted one."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesimpute as bi
from bayesimpute import resume
from bayesimpute.engine.checkpoint import read_progress
from two_variables import two_incomplete_variables

ARGUMENTS = dict(cluster="g", method={"x": "2l.norm", "y": "2l.pmm"}, m=2, maxit=5, seed=4)


def make_data() -> pd.DataFrame:
    return two_incomplete_variables(seed=0)


@pytest.fixture(scope="module")
def reference() -> bi.MultipleImputation:
    return bi.impute(make_data(), **ARGUMENTS)


def assert_same_run(got: bi.MultipleImputation, expected: bi.MultipleImputation) -> None:
    pd.testing.assert_frame_equal(got.complete("long"), expected.complete("long"))
    xr.testing.assert_equal(got.idata.posterior, expected.idata.posterior)
    xr.testing.assert_equal(got.idata.sample_stats, expected.idata.sample_stats)


def test_checkpointed_run_equals_plain_run(tmp_path, reference):
    imp = bi.impute(make_data(), checkpoint=tmp_path / "run", **ARGUMENTS)
    assert_same_run(imp, reference)
    assert read_progress(tmp_path / "run") == [5, 5]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "chain-1.pkl", "chain-2.pkl", "header.pkl"]  # no temporary file left behind


def test_resume_after_interrupt(tmp_path, reference):
    calls = {"n": 0}

    def interrupt_on_eighth_call(values):
        calls["n"] += 1
        if calls["n"] == 8:  # chain 2, iteration 3 (post runs once per iteration and chain)
            raise KeyboardInterrupt
        return values

    folder = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt, match="resume"):
        bi.impute(make_data(), checkpoint=folder,
                               post={"y": interrupt_on_eighth_call}, **ARGUMENTS)
    assert read_progress(folder) == [5, 2]
    calls["n"] = -1000
    assert_same_run(resume(folder), reference)
    assert read_progress(folder) == [5, 5]
    assert_same_run(resume(folder), reference)  # a finished checkpoint just rebuilds


def test_existing_checkpoint_is_not_overwritten(tmp_path):
    bi.impute(make_data(), checkpoint=tmp_path / "run", **{**ARGUMENTS, "maxit": 1})
    with pytest.raises(FileExistsError, match="resume"):
        bi.impute(make_data(), checkpoint=tmp_path / "run", **ARGUMENTS)


def test_resume_refuses_other_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a bayesimpute checkpoint"):
        resume(tmp_path)
    (tmp_path / "header.pkl").write_bytes(pickle.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not written by"):
        resume(tmp_path)


def test_maxit_zero_checkpoint(tmp_path):
    arguments = {**ARGUMENTS, "maxit": 0}
    imp = bi.impute(make_data(), checkpoint=tmp_path / "run", **arguments)
    pd.testing.assert_frame_equal(imp.complete("long"),
                                  bi.impute(make_data(), **arguments).complete("long"))


SCRIPT = """
import sys, time
import pandas as pd
import bayesimpute as bi

def slow(values):
    time.sleep(0.15)  # slow enough to be killed mid-run; values unchanged
    return values

data = pd.read_pickle(sys.argv[1])
bi.impute(data, checkpoint=sys.argv[2], post={{"x": slow}}, **{arguments!r})
print("finished")
"""


def _wait_for(folder: Path, chain_done: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read()
            raise AssertionError(f"the run ended before it could be killed: {output}")
        try:
            if (folder / "header.pkl").exists() and read_progress(folder)[0] >= chain_done:
                return
        except (EOFError, FileNotFoundError):  # cannot happen with atomic writes; be safe
            pass
        time.sleep(0.05)
    raise AssertionError("no checkpoint progress within the time limit")


def test_killed_process_resumes_to_the_same_imputations(tmp_path, reference):
    data_path, folder = tmp_path / "data.pkl", tmp_path / "run"
    make_data().to_pickle(data_path)
    script = tmp_path / "run_imputation.py"
    script.write_text(textwrap.dedent(SCRIPT.format(arguments=ARGUMENTS)))
    env = {**os.environ, "PYTHONPATH": str(Path(bi.__file__).parents[1])}
    process = subprocess.Popen([sys.executable, str(script), str(data_path), str(folder)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=env)
    try:
        _wait_for(folder, 2, process, timeout=120)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    done = read_progress(folder)
    assert 2 <= done[0] < 5 and done[1] == 0, done
    assert_same_run(resume(folder), reference)


# --- 2l.heckman: continued and resumed chains equal one unbroken chain --------------------------
def make_selection_data(binary: bool) -> pd.DataFrame:
    """y missing not at random (selection on its own error, rho 0.6), t selection-only,
    x incomplete and imputed too, so the Heckman design moves with x's imputations."""
    rng = np.random.default_rng(11)
    n, clusters = 240, 8
    g = np.repeat(np.arange(clusters), n // clusters)
    x, t = rng.normal(size=n), rng.normal(size=n)
    e_sel = rng.normal(size=n)
    e_out = 0.6 * e_sel + 0.8 * rng.normal(size=n)
    y = 0.5 + x + rng.normal(0, 0.3, clusters)[g] + e_out
    data = pd.DataFrame({"g": g, "x": x, "t": t, "y": (y > 0.5).astype(float) if binary else y})
    data.loc[0.3 + 0.5 * x + t + e_sel < 0, "y"] = np.nan
    data.loc[rng.random(n) < 0.15, "x"] = np.nan
    return data


def heckman_arguments(pmm: bool = False) -> dict:
    pred = pd.DataFrame(0, index=["g", "x", "t", "y"], columns=["g", "x", "t", "y"])
    pred.loc["x", ["g", "t", "y"]] = [-2, 1, 1]
    pred.loc["y", ["g", "x", "t"]] = [-2, 1, -3]
    options = {"y": {"burn": 5, "pmm": pmm}}
    return dict(method={"x": "2l.norm", "y": "2l.heckman"}, predictor_matrix=pred, m=2,
                maxit=4, seed=9, method_options=options)


HECKMAN_VARIANTS = {"continuous": (False, False), "binary": (True, False), "pmm": (False, True)}


@pytest.mark.parametrize("variant", list(HECKMAN_VARIANTS))
def test_heckman_run_continued_by_iterate_equals_one_longer_run(variant):
    binary, pmm = HECKMAN_VARIANTS[variant]
    data, arguments = make_selection_data(binary), heckman_arguments(pmm)
    longer = bi.impute(data, **arguments)
    continued = bi.impute(data, **{**arguments, "maxit": 2}).iterate(2)
    pd.testing.assert_frame_equal(continued.complete("long"), longer.complete("long"))
    for group in ("posterior", "sample_stats", "posterior_predictive"):
        # iterate() numbers the chain and draw dims (0..), a plain run leaves them bare
        got = getattr(continued.idata, group)
        got = got.drop_vars([c for c in ("chain", "draw") if c not in getattr(longer.idata, group).coords])
        xr.testing.assert_equal(got, getattr(longer.idata, group))


@pytest.mark.parametrize("variant", list(HECKMAN_VARIANTS))
def test_heckman_run_resumed_from_a_checkpoint_equals_the_unbroken_run(tmp_path, variant):
    binary, pmm = HECKMAN_VARIANTS[variant]
    data, arguments = make_selection_data(binary), heckman_arguments(pmm)
    calls = {"n": 0}

    def interrupt_on_sixth_call(values):
        calls["n"] += 1
        if calls["n"] == 6:  # chain 2, iteration 2 (post runs once per iteration and chain)
            raise KeyboardInterrupt
        return values

    folder = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt, match="resume"):
        bi.impute(data, checkpoint=folder, post={"y": interrupt_on_sixth_call}, **arguments)
    assert read_progress(folder) == [4, 1]
    calls["n"] = -1000
    assert_same_run(bi.resume(folder), bi.impute(data, **arguments))
