"""The user-facing entry points: impute() and the helpers that prepare its arguments."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import joblib
import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from bayesimpute.defaults import find_default_method
from bayesimpute.plausibility import out_of_range_events
from bayesimpute.quickpred import quickpred
from bayesimpute.results import MultipleImputation, build_inference_data
from bayesimpute.sampler import ChainTrace, SamplerPlan, chain_seeds, make_plan, run_chain
from bayesimpute.spec import ImputationSpec, build_spec, make_method, make_predictor_matrix

__all__ = ["impute", "make_method", "make_predictor_matrix", "quickpred", "find_default_method"]


def impute(
    data: pd.DataFrame,
    *,
    method: pd.Series | Mapping[str, str] | str | None = None,
    predictor_matrix: pd.DataFrame | np.ndarray | None = None,
    cluster: str | None = None,
    m: int = 5,
    maxit: int = 10,
    seed: int | np.random.Generator | None = None,
    n_jobs: int = 1,
    post: Mapping[str, Callable] | None = None,
    where: pd.DataFrame | np.ndarray | None = None,
    visit_sequence: list[str] | None = None,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = False,
    checkpoint: str | os.PathLike | None = None,
) -> MultipleImputation:
    """Multiple imputation by chained equations with Bayesian (PyMC) conditional models.

    Parameters
    ----------
    data : pandas.DataFrame
        The incomplete data; never modified.
    method : Series, dict or str, optional
        Method per column (mice names: ``"2l.pmm"``, ``"2l.norm"``, ``"pmm"``, ...;
        ``""`` = not imputed; ``"~ formula"`` = passive). Default: :func:`make_method`.
    predictor_matrix : DataFrame, optional
        Rows = imputed variables, columns = predictors, mice/micemd integer codes
        (0, 1, 2, 3, 4, -2, -3, -4) or role names. Default: :func:`make_predictor_matrix`.
    cluster : str, optional
        The cluster column, if not given as -2 in ``predictor_matrix``.
    m, maxit : int
        Number of imputations (chains) and of FCS iterations.
    seed : int or numpy.random.Generator, optional
        The same seed gives the same imputations for any ``n_jobs``.
    n_jobs : int
        Chains run in parallel processes (joblib) when > 1.
    post : dict column -> callable, optional
        Applied to the imputed values of a column (a pandas Series indexed by row label)
        after each draw; returns the adjusted values (e.g. ``lambda v: v + 2`` for a
        delta adjustment).
    where : boolean DataFrame, optional
        Cells to impute (default: the missing cells).
    visit_sequence : list of str, optional
        Order in which the variables are visited.
    method_options : dict column -> dict, optional
        Options of each column's method (e.g. ``{"popular": {"donors": 3}}``).
    progress : bool
        Show a progress bar.
    checkpoint : path, optional
        A folder where every chain's state is saved after every iteration; an interrupted
        run is continued by :func:`bayesimpute.resume` to the same result.

    Returns
    -------
    MultipleImputation
    """
    spec = build_spec(
        data, method=method, predictor_matrix=predictor_matrix, cluster=cluster, m=m,
        maxit=maxit, seed=seed, where=where, visit_sequence=visit_sequence, post=post,
        method_options=method_options,
    )
    if not spec.imputed:
        warnings.warn("nothing to impute: the result holds m copies of the data", UserWarning,
                      stacklevel=2)
    plan = make_plan(spec)
    seeds = chain_seeds(spec.seed, spec.m)
    if checkpoint is not None:
        from bayesimpute.checkpoint import run_checkpointed

        traces = run_checkpointed(spec, plan, seeds, checkpoint, n_jobs=n_jobs, progress=progress)
    else:
        traces = _run_chains(plan, seeds, spec.maxit, None, n_jobs=n_jobs, progress=progress,
                             offset=0)
    idata = build_inference_data(traces, plan, spec.data)
    return _assemble(spec, plan, traces, idata, seeds)


def _run_chains(plan: SamplerPlan, seeds, n_iterations: int, starts, *, n_jobs: int,
                progress: bool, offset: int) -> list[ChainTrace]:
    m = len(seeds)
    starts = starts or [None] * m
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero integer, got {n_jobs!r}")
    if n_jobs == 1 or m == 1:
        bar = tqdm(total=m * n_iterations, disable=not progress, desc="imputing")
        traces = [
            run_chain(plan, c, seeds[c], n_iterations, starts[c], bar.update, offset)
            for c in range(m)
        ]
        bar.close()
        return traces
    jobs = (joblib.delayed(run_chain)(plan, c, seeds[c], n_iterations, starts[c], None, offset)
            for c in range(m))
    runner = joblib.Parallel(n_jobs=n_jobs, return_as="generator")
    return list(tqdm(runner(jobs), total=m, disable=not progress, desc="chains"))


def _events(spec: ImputationSpec, traces: list[ChainTrace]) -> pd.DataFrame:
    rows = [{"iteration": 0, "chain": 0, "variable": getattr(note, "variable", ""), "event": str(note)}
            for note in spec.warnings]
    for trace in traces:
        rows.extend(trace.events)
    return pd.DataFrame(rows, columns=["iteration", "chain", "variable", "event"])


def _warn_divergences(traces: list[ChainTrace]) -> None:
    found = []
    for c, trace in enumerate(traces):
        for variable, stats in trace.stats.items():
            for it, count in enumerate(stats.get("diverging", [])):
                if count:
                    found.append(f"{variable} (iteration {it + 1}, chain {c + 1}): {int(count)}")
    if found:
        warnings.warn(
            "divergent transitions in the imputation models — " + "; ".join(found[:20])
            + (" ..." if len(found) > 20 else "")
            + ". Check the parameters' traces (imp.idata.posterior) and consider simpler "
            "random-effect structures or target_accept closer to 1.",
            RuntimeWarning, stacklevel=3,
        )


def _assemble(spec, plan, traces, idata, seeds, offset: int = 0) -> MultipleImputation:
    _warn_divergences(traces)
    events = _events(spec, traces)
    flagged = out_of_range_events(plan, traces, offset=offset)
    if flagged:
        events = pd.concat([events, pd.DataFrame(flagged)], ignore_index=True)
    return MultipleImputation(spec.data.copy(), spec, plan, idata,
                              [t.state for t in traces], events, seeds)


def _continue_run(imp: MultipleImputation, maxit: int, *, n_jobs: int, progress: bool):
    """mice.mids: more iterations from the saved chain states."""
    if isinstance(maxit, bool) or not isinstance(maxit, (int, np.integer)) or maxit < 1:
        raise ValueError(f"maxit must be a positive integer, got {maxit!r}")
    offset = imp.iterations
    traces = _run_chains(imp.plan, imp._seeds, int(maxit), imp._chain_states, n_jobs=n_jobs,
                         progress=progress, offset=offset)
    more = build_inference_data(traces, imp.plan, imp.data)
    idata = imp.idata.copy()
    for group in ("posterior", "sample_stats", "posterior_predictive"):
        old, new = getattr(idata, group), getattr(more, group)
        old = old.assign_coords(draw=np.arange(offset), chain=np.arange(old.sizes["chain"]))
        new = new.assign_coords(draw=np.arange(offset, offset + maxit),
                                chain=np.arange(new.sizes["chain"]))
        combined = xr.concat([old, new], dim="draw", coords="minimal", compat="override",
                             join="outer") if old.data_vars else new
        setattr(idata, group, combined)
    new_events = [_events(imp.spec, traces).iloc[len(imp.spec.warnings):]]
    flagged = out_of_range_events(imp.plan, traces, offset=offset)
    if flagged:
        new_events.append(pd.DataFrame(flagged))
    events = pd.concat([imp.logged_events, *new_events], ignore_index=True)
    _warn_divergences(traces)
    spec = imp.spec
    return MultipleImputation(imp.data, spec, imp.plan, idata, [t.state for t in traces],
                              events, imp._seeds)
