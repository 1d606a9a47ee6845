"""Running, assembling, checkpointing and continuing an imputation run.

:func:`start_run` takes a validated :class:`~bayesimpute.engine.spec.ImputationSpec`, runs its
m chains on an execution backend (:mod:`bayesimpute.engine.backends`: in this process, in
joblib processes or on a Dask cluster), optionally checkpointed
(:mod:`bayesimpute.engine.checkpoint`) and with the imputations streamed to disk
(:mod:`bayesimpute.engine.storage`), and returns a :class:`Run`: the InferenceData, each
chain's final state (to continue it), the seeds and the logged events. :func:`resume_run`
finishes an interrupted checkpointed run; :func:`continue_run` adds iterations to a run
(mice's ``mice.mids``). The results layer (:class:`bayesimpute.MultipleImputation`) wraps a
:class:`Run`; this module knows nothing of it.

Memory: ``keep="all"`` keeps every iteration's imputations (O(m x maxit x n)), ``keep="last"``
only the last one of each chain (O(m x n) here, O(n) per worker). The default,
:func:`choose_keep`, keeps all iterations while they take at most
:data:`KEEP_ALL_LIMIT_BYTES`. With ``store=FOLDER`` the imputations never collect in memory
at all: each chain writes them to disk as it draws them, and ``posterior_predictive`` is
read from there lazily.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from bayesimpute.engine import checkpoint, storage
from bayesimpute.engine.backends import make_backend
from bayesimpute.engine.inference import build_inference_data
from bayesimpute.engine.plausibility import order_events
from bayesimpute.engine.sampler import SamplerPlan, chain_seeds, make_plan
from bayesimpute.engine.spec import ImputationSpec, check_keep, check_n_jobs, check_store
from bayesimpute.engine.tasks import (
    ChainOutcome,
    ChainTask,
    draws_file_for,
    row_labels,
)
from bayesimpute.settings import settings
from bayesimpute.validation import warn_user

__all__ = ["Run", "start_run", "resume_run", "continue_run", "assemble", "choose_keep",
           "check_n_jobs", "KEEP_ALL_LIMIT_BYTES", "EVENT_COLUMNS"]

EVENT_COLUMNS = ["iteration", "chain", "variable", "event"]

#: the default of ``bi.settings["keep.all_limit_bytes"]``: ``keep=None`` keeps every
#: iteration's imputations while they take at most this much
KEEP_ALL_LIMIT_BYTES = settings.default("keep.all_limit_bytes")


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
        Parameters, imputations and diagnostics of every iteration (laid out as in
        :mod:`bayesimpute.engine.inference`);
        with ``keep="last"`` ``posterior_predictive`` holds the last iteration only.
    chain_states : list of dict
        Each chain's state after its last iteration (method states, generator state); with
        the last draw of ``posterior_predictive`` (its imputations) it is what continuing
        the chain starts from.
    events : pandas.DataFrame
        What the engine changed or noticed (columns :data:`EVENT_COLUMNS`).
    keep : {"all", "last"}
        Which iterations' imputations ``posterior_predictive`` holds.
    store : str, optional
        The folder ``posterior_predictive`` is read from (None: it is in memory).
    """

    spec: ImputationSpec
    plan: SamplerPlan
    seeds: list[np.random.SeedSequence]
    idata: az.InferenceData
    chain_states: list[dict[str, Any]]
    events: pd.DataFrame
    keep: str = "all"
    store: str | None = None

    @property
    def iterations(self) -> int:
        return int(self.idata.sample_stats.sizes["draw"])

    def start_states(self) -> list[dict[str, Any]]:
        """Each chain's full state (imputations included) to continue it from."""
        variables = self.plan.visit_sequence
        draws = self.idata.posterior_predictive if variables else None
        return [{**state, "imputations": {v: draws[v].isel(chain=c, draw=-1).values
                                          for v in variables}}
                for c, state in enumerate(self.chain_states)]


@dataclass
class _Execution:
    """How to run: the backend arguments and the progress bar."""

    n_jobs: int = 1
    client: Any = None
    backend: str | None = None
    progress: bool = False


def choose_keep(keep: str | None, spec: ImputationSpec, iterations: int | None = None) -> str:
    """``keep`` checked (:func:`~bayesimpute.engine.spec.check_keep`), or the default for
    the run's size.

    The default is ``"all"`` while ``m x iterations x imputed cells x 8`` bytes stay at most
    ``bi.settings["keep.all_limit_bytes"]`` (:data:`KEEP_ALL_LIMIT_BYTES`, 256 MiB: e.g.
    m = 5, maxit = 10 and 670,000 imputed cells), ``"last"`` beyond.
    """
    if check_keep(keep) is not None:
        return keep
    cells = int(sum(spec.where[v].sum() for v in spec.imputed))
    n_bytes = spec.m * max(iterations if iterations is not None else spec.maxit, 1) * cells * 8
    return "all" if n_bytes <= settings["keep.all_limit_bytes"] else "last"


def _make_store(store: str | os.PathLike | None) -> str | None:
    """The checked store folder (:func:`~bayesimpute.engine.spec.check_store`), created."""
    folder = check_store(store)
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
    return folder


# --- running chains ------------------------------------------------------------------------------
class _DrawCollector:
    """Copies each chain's draw file into the run's combined file as the chain finishes."""

    def __init__(self, plan: SamplerPlan, m: int, draws: np.ndarray, store: str | None,
                 remove_chain_files: bool):
        self.path = None
        self.remove = remove_chain_files
        self.draw_positions: list[int] = []
        if store is not None and plan.visit_sequence:
            self.path = storage.combined_file(store, storage.new_token())
            storage.create_draw_file(self.path, row_labels(plan), range(m), draws)

    def add(self, outcome: ChainOutcome, draw_positions: list[int]) -> None:
        if self.path is None or outcome.draws_file is None:
            return
        with storage.open_draws(outcome.draws_file) as chain_draws:
            storage.copy_draws(chain_draws, self.path, [outcome.chain], draw_positions)
        if self.remove:
            os.unlink(outcome.draws_file)

    def add_previous(self, previous: xr.Dataset, n: int) -> None:
        """Copy the first ``n`` draws of an earlier run's draws (a continued run)."""
        if self.path is not None:
            storage.copy_draws(previous, self.path, range(previous.sizes["chain"]), range(n))

    def dataset(self) -> xr.Dataset | None:
        return None if self.path is None else storage.open_draws(self.path)


def _run_tasks(plan: SamplerPlan, tasks: list[ChainTask], execution: _Execution,
               on_outcome: Callable[[ChainOutcome], None]) -> list[ChainOutcome]:
    """Run the tasks on the chosen backend; outcomes in chain order."""
    total = sum(task.n_iterations for task in tasks)
    outcomes: dict[int, ChainOutcome] = {}
    with make_backend(execution.n_jobs, execution.client, execution.backend,
                      n_chains=len(tasks)) as backend, \
            tqdm(total=total, disable=not execution.progress, desc="imputing") as bar:
        for outcome in backend.map_chains(plan, tasks, bar.update):
            on_outcome(outcome)
            outcomes[outcome.chain] = outcome
    return [outcomes[task.chain] for task in tasks]


def _tasks(seeds: list, n_iterations: int, keep: str, store: str | None, token: str, *,
           offset: int = 0, starts: list | None = None, header: dict | None = None,
           folder: str | None = None) -> list[ChainTask]:
    return [ChainTask(chain=c, seed=seed, n_iterations=n_iterations, offset=offset,
                      start=None if starts is None else starts[c], keep=keep,
                      draws_file=draws_file_for(store, c, token),
                      checkpoint=folder, run_id=None if header is None else header["run_id"],
                      out_of_range_sds=settings["plausibility.out_of_range_sds"])
            for c, seed in enumerate(seeds)]


def _draw_labels(keep: str, offset: int, n_iterations: int) -> np.ndarray:
    total = offset + max(n_iterations, 1)
    return np.arange(total) if keep == "all" else np.array([total - 1])


def _execute(spec: ImputationSpec, plan: SamplerPlan, seeds: list, keep: str,
             store: str | None, execution: _Execution, *, header: dict | None = None,
             folder: str | None = None) -> Run:
    token = header["token"] if header is not None else storage.new_token()
    tasks = _tasks(seeds, spec.maxit, keep, store, token, header=header, folder=folder)
    draws = _draw_labels(keep, 0, spec.maxit)
    collector = _DrawCollector(plan, spec.m, draws, store, remove_chain_files=folder is None)
    positions = list(range(len(draws)))
    outcomes = _run_tasks(plan, tasks, execution, lambda o: collector.add(o, positions))
    return assemble(spec, plan, seeds, outcomes, keep=keep, store=store,
                    posterior_predictive=collector.dataset())


def start_run(spec: ImputationSpec, *, n_jobs: int = 1, client: Any = None,
              backend: str | None = None, keep: str | None = None,
              store: str | os.PathLike | None = None,
              checkpoint_path: str | os.PathLike | None = None, progress: bool = False) -> Run:
    """Run the m chains of ``spec`` for ``spec.maxit`` iterations.

    Parameters
    ----------
    n_jobs, client, backend
        Where the chains run (:func:`bayesimpute.engine.backends.make_backend`).
    keep : {"all", "last"}, optional
        Which iterations' imputations to keep (default: :func:`choose_keep`).
    store : path, optional
        A folder to stream the imputations to (:mod:`bayesimpute.engine.storage`).
    checkpoint_path : path, optional
        A new checkpoint folder: every chain is saved after every iteration.
    """
    keep, store = choose_keep(keep, spec), _make_store(store)
    plan = make_plan(spec)
    seeds = chain_seeds(spec.seed, spec.m)
    execution = _Execution(n_jobs, client, backend, progress)
    if checkpoint_path is None:
        return _execute(spec, plan, seeds, keep, store, execution)
    header = checkpoint.create_checkpoint(checkpoint_path, spec, seeds, keep=keep, store=store,
                                          token=storage.new_token())
    return _checkpointed(spec, plan, header, checkpoint_path, execution)


def resume_run(path: str | os.PathLike, *, n_jobs: int = 1, client: Any = None,
               backend: str | None = None, progress: bool = False) -> Run:
    """Continue an interrupted checkpointed run; see :func:`bayesimpute.resume`."""
    header = checkpoint.read_header(path)
    spec = header["spec"]
    return _checkpointed(spec, make_plan(spec), header, path,
                         _Execution(n_jobs, client, backend, progress))


def _checkpointed(spec, plan, header, path, execution: _Execution) -> Run:
    folder = str(Path(path).resolve())
    try:
        return _execute(spec, plan, header["seeds"], header["keep"], header["store"],
                        execution, header=header, folder=folder)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"imputation interrupted; every completed iteration is saved in {str(path)!r}: "
            f"continue with bayesimpute.resume({str(path)!r})"
        ) from None


def assemble(spec: ImputationSpec, plan: SamplerPlan, seeds: list[np.random.SeedSequence],
             outcomes: list[ChainOutcome], *, keep: str = "all", store: str | None = None,
             posterior_predictive: xr.Dataset | None = None) -> Run:
    """Lay the chains' outcomes out as InferenceData and collect what they logged."""
    traces = [outcome.trace for outcome in outcomes]
    _warn_divergences(traces)
    events = _spec_events(spec)
    new = _chain_events(plan, outcomes)
    if len(new):
        events = pd.concat([events, new], ignore_index=True)
    last = None if keep == "all" else spec.maxit - 1 if spec.maxit else 0
    idata = build_inference_data(traces, plan, spec.data, last_draw=last,
                                 posterior_predictive=posterior_predictive)
    return Run(spec, plan, seeds, idata, [t.state for t in traces], events, keep, store)


def continue_run(run: Run, maxit: int, *, n_jobs: int = 1, client: Any = None,
                 backend: str | None = None, progress: bool = False) -> Run:
    """``maxit`` more iterations of every chain from its saved state (mice's ``mice.mids``).

    For the exact Gibbs methods the result is identical to one uninterrupted run of the
    combined length with the same seed. A stored run writes a new combined draw file.
    """
    if isinstance(maxit, bool) or not isinstance(maxit, (int, np.integer)) or maxit < 1:
        raise ValueError(f"maxit must be a positive integer, got {maxit!r}")
    offset, maxit = run.iterations, int(maxit)
    token = storage.new_token()
    tasks = _tasks(run.seeds, maxit, run.keep, run.store, token, offset=offset,
                   starts=run.start_states())
    draws = _draw_labels(run.keep, offset, maxit)
    collector = _DrawCollector(run.plan, len(run.seeds), draws, run.store,
                               remove_chain_files=True)
    previous = run.idata.posterior_predictive if run.plan.visit_sequence else None
    if run.keep == "all" and previous is not None:
        collector.add_previous(previous, offset)
    positions = list(range(len(draws) - (maxit if run.keep == "all" else 1), len(draws)))
    outcomes = _run_tasks(run.plan, tasks, _Execution(n_jobs, client, backend, progress),
                          lambda o: collector.add(o, positions))
    traces = [outcome.trace for outcome in outcomes]
    _warn_divergences(traces)
    more = build_inference_data(traces, run.plan, run.spec.data,
                                last_draw=None if run.keep == "all" else offset + maxit - 1,
                                posterior_predictive=collector.dataset())
    groups = {group: _append_draws(getattr(run.idata, group), getattr(more, group), offset)
              for group in ("posterior", "sample_stats")}
    if run.plan.visit_sequence:
        stored_or_last = run.store is not None or run.keep == "last"
        groups["posterior_predictive"] = (more.posterior_predictive if stored_or_last else
                                          _append_draws(previous, more.posterior_predictive,
                                                        offset))
    idata = az.InferenceData(**groups, observed_data=run.idata.observed_data)
    new = _chain_events(run.plan, outcomes)
    events = pd.concat([run.events, new], ignore_index=True) if len(new) else run.events
    return Run(run.spec, run.plan, run.seeds, idata, [t.state for t in traces], events,
               run.keep, run.store)


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


def _chain_events(plan: SamplerPlan, outcomes: list[ChainOutcome]) -> pd.DataFrame:
    """What the chains logged, then imputations far outside the observed range."""
    rows = [event for outcome in outcomes for event in outcome.trace.events]
    rows += order_events([outcome.range_events for outcome in outcomes], plan.visit_sequence)
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def _warn_divergences(traces) -> None:
    found = []
    for c, trace in enumerate(traces):
        for variable, stats in trace.stats.items():
            for it, count in enumerate(stats.get("diverging", [])):
                if count:
                    found.append(f"{variable} (iteration {it + 1}, chain {c + 1}): {int(count)}")
    if found:
        warn_user(
            "divergent transitions in the imputation models — " + "; ".join(found[:20])
            + (" ..." if len(found) > 20 else "")
            + ". Check the parameters' traces (imp.idata.posterior) and consider simpler "
            "random-effect structures or target_accept closer to 1.",
            RuntimeWarning,
        )
