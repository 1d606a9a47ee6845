"""Running, assembling and continuing an imputation run.

:func:`start_run` takes a validated :class:`~bayesimpute.engine.spec.ImputationSpec`, runs its
m chains (one after another, in joblib processes, or checkpointed) and returns a :class:`Run`:
the InferenceData, each chain's final state (to continue it), the seeds and the logged events.
:func:`continue_run` adds iterations to a run (mice's ``mice.mids``). The results layer
(:class:`bayesimpute.MultipleImputation`) wraps a :class:`Run`; this module knows nothing of it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import arviz as az
import joblib
import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from bayesimpute.engine.inference import build_inference_data
from bayesimpute.engine.plausibility import out_of_range_events
from bayesimpute.engine.sampler import ChainTrace, SamplerPlan, chain_seeds, make_plan, run_chain
from bayesimpute.engine.spec import ImputationSpec

__all__ = ["Run", "start_run", "continue_run", "run_chains", "assemble", "check_n_jobs",
           "EVENT_COLUMNS"]

EVENT_COLUMNS = ["iteration", "chain", "variable", "event"]


@dataclass
class Run:
    """Everything a finished run leaves behind.

    Attributes
    ----------
    spec : ImputationSpec
        The validated specification (``spec.data`` is the incomplete data).
    plan : SamplerPlan
        The encoded data and the design of every model variable.
    seeds : list of numpy.random.SeedSequence
        One per chain, derived from the run's seed.
    idata : arviz.InferenceData
        Parameters, imputations and diagnostics of every iteration (DESIGN.md's layout).
    chain_states : list of dict
        Each chain's state after its last iteration (imputations, method states, generator
        state): what continuing the chain starts from.
    events : pandas.DataFrame
        What the engine changed or noticed (columns :data:`EVENT_COLUMNS`).
    """

    spec: ImputationSpec
    plan: SamplerPlan
    seeds: list[np.random.SeedSequence]
    idata: az.InferenceData
    chain_states: list[dict[str, Any]]
    events: pd.DataFrame

    @property
    def iterations(self) -> int:
        return int(self.idata.sample_stats.sizes["draw"])


def check_n_jobs(n_jobs: Any) -> int:
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero integer, got {n_jobs!r}")
    return int(n_jobs)


def run_chains(plan: SamplerPlan, seeds: list[np.random.SeedSequence], n_iterations: int,
               starts: list[dict[str, Any]] | None = None, *, n_jobs: int = 1,
               progress: bool = False, offset: int = 0) -> list[ChainTrace]:
    """Run every chain ``n_iterations`` iterations, from scratch or from ``starts``.

    Each chain draws only from its own seed, so the traces are the same for any ``n_jobs``.
    """
    m = len(seeds)
    starts = starts or [None] * m
    n_jobs = check_n_jobs(n_jobs)
    if n_jobs == 1 or m == 1:
        bar = tqdm(total=m * n_iterations, disable=not progress, desc="imputing")
        traces = [run_chain(plan, c, seeds[c], n_iterations, starts[c], bar.update, offset)
                  for c in range(m)]
        bar.close()
        return traces
    jobs = (joblib.delayed(run_chain)(plan, c, seeds[c], n_iterations, starts[c], None, offset)
            for c in range(m))
    runner = joblib.Parallel(n_jobs=n_jobs, return_as="generator")
    return list(tqdm(runner(jobs), total=m, disable=not progress, desc="chains"))


def start_run(spec: ImputationSpec, *, n_jobs: int = 1, progress: bool = False) -> Run:
    """Run the m chains of ``spec`` for ``spec.maxit`` iterations (see also
    :func:`bayesimpute.engine.checkpoint.start_checkpointed_run`)."""
    plan = make_plan(spec)
    seeds = chain_seeds(spec.seed, spec.m)
    traces = run_chains(plan, seeds, spec.maxit, n_jobs=n_jobs, progress=progress)
    return assemble(spec, plan, seeds, traces)


def assemble(spec: ImputationSpec, plan: SamplerPlan, seeds: list[np.random.SeedSequence],
             traces: list[ChainTrace]) -> Run:
    """Lay the chains' traces out as InferenceData and collect what they logged."""
    _warn_divergences(traces)
    events = _spec_events(spec)
    new = _chain_events(plan, traces, offset=0)
    if len(new):
        events = pd.concat([events, new], ignore_index=True)
    idata = build_inference_data(traces, plan, spec.data)
    return Run(spec, plan, seeds, idata, [t.state for t in traces], events)


def continue_run(run: Run, maxit: int, *, n_jobs: int = 1, progress: bool = False) -> Run:
    """``maxit`` more iterations of every chain from its saved state (mice's ``mice.mids``).

    For the exact Gibbs methods the result is identical to one uninterrupted run of the
    combined length with the same seed.
    """
    if isinstance(maxit, bool) or not isinstance(maxit, (int, np.integer)) or maxit < 1:
        raise ValueError(f"maxit must be a positive integer, got {maxit!r}")
    offset = run.iterations
    traces = run_chains(run.plan, run.seeds, int(maxit), run.chain_states, n_jobs=n_jobs,
                        progress=progress, offset=offset)
    _warn_divergences(traces)
    more = build_inference_data(traces, run.plan, run.spec.data)
    idata = run.idata.copy()
    for group in ("posterior", "sample_stats", "posterior_predictive"):
        setattr(idata, group, _append_draws(getattr(idata, group), getattr(more, group), offset))
    new = _chain_events(run.plan, traces, offset=offset)
    events = pd.concat([run.events, new], ignore_index=True) if len(new) else run.events
    return Run(run.spec, run.plan, run.seeds, idata, [t.state for t in traces], events)


def _append_draws(old: xr.Dataset, new: xr.Dataset, offset: int) -> xr.Dataset:
    if not old.data_vars:
        return new
    old = old.assign_coords(draw=np.arange(offset), chain=np.arange(old.sizes["chain"]))
    new = new.assign_coords(draw=np.arange(offset, offset + new.sizes["draw"]),
                            chain=np.arange(new.sizes["chain"]))
    return xr.concat([old, new], dim="draw", coords="minimal", compat="override", join="outer")


# --- events and warnings ---------------------------------------------------------------------
def _spec_events(spec: ImputationSpec) -> pd.DataFrame:
    rows = [{"iteration": 0, "chain": 0, "variable": getattr(note, "variable", ""),
             "event": str(note)} for note in spec.warnings]
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def _chain_events(plan: SamplerPlan, traces: list[ChainTrace], offset: int) -> pd.DataFrame:
    """What the chains logged, then imputations far outside the observed range."""
    rows = [event for trace in traces for event in trace.events]
    rows += out_of_range_events(plan, traces, offset=offset)
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


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
            RuntimeWarning, stacklevel=4,
        )
