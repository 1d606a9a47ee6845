"""One chain as a unit of work: what every execution backend runs.

:func:`run_chain_task` runs (or finishes) one chain of the FCS loop and returns a
:class:`ChainOutcome`. It is a plain module-level function of picklable arguments, so the
same call runs in this process, in a joblib worker or as a Dask task. Everything the chain
draws comes from its own seed, so where it runs changes nothing in what it returns.

Three things it adds to :class:`~bayesimpute.engine.sampler.ChainRunner`'s loop:

- ``keep``: the trace records every iteration's imputations or only the last;
- ``draws_file``: the imputations go to the chain's own netCDF file as they are drawn
  (:mod:`bayesimpute.engine.storage`) and leave memory;
- ``checkpoint``: the chain saves its record after every iteration, and *reads its record
  when it starts*: a chain restarted after an interruption, or rescheduled by Dask after its
  worker was lost, continues from its last saved iteration.

The far-out-imputation check (:class:`~bayesimpute.engine.plausibility.OutOfRangeTally`)
sees every iteration here, whatever ``keep`` says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bayesimpute.engine import checkpoint, storage
from bayesimpute.engine.plausibility import OUT_OF_RANGE_SDS, OutOfRangeTally
from bayesimpute.engine.sampler import ChainRunner, ChainTrace, SamplerPlan
from bayesimpute.engine.spec import KEEP_CHOICES

__all__ = ["KEEP_CHOICES", "ChainTask", "ChainOutcome", "run_chain_task", "row_labels",
           "draws_file_for"]



@dataclass
class ChainTask:
    """What one chain is asked to do.

    Attributes
    ----------
    chain : int
        0-based chain number.
    seed : numpy.random.SeedSequence
        The chain's own seed.
    n_iterations : int
        Iterations to run in this task (after ``offset``).
    offset : int
        Iterations the chain ran before (a continued run); 0 for a new run.
    start : dict, optional
        The state to continue from (:meth:`ChainRunner.snapshot`), for a continued run.
    keep : {"all", "last"}
        Record every iteration's imputations or only the last.
    draws_file : str, optional
        Write the imputations to this netCDF file instead of returning them.
    checkpoint : str, optional
        The checkpoint folder (with ``run_id``): save a record after every iteration and
        continue from the saved one.
    run_id : str, optional
        The checkpoint's run id.
    out_of_range_sds : float
        The far-out margin of :class:`~bayesimpute.engine.plausibility.OutOfRangeTally`,
        read from the settings where the run starts (a worker process has its own).
    """

    chain: int
    seed: np.random.SeedSequence
    n_iterations: int
    offset: int = 0
    start: dict[str, Any] | None = None
    keep: str = "all"
    draws_file: str | None = None
    checkpoint: str | None = None
    run_id: str | None = None
    out_of_range_sds: float = OUT_OF_RANGE_SDS


@dataclass
class ChainOutcome:
    """What a finished chain hands back.

    ``trace.imputations`` is empty when the draws went to ``draws_file``; ``trace.state`` is
    the chain's final state without its imputations (those are the last draw).
    """

    chain: int
    trace: ChainTrace
    range_events: list[dict[str, Any]] = field(default_factory=list)
    draws_file: str | None = None


def _latest(trace: ChainTrace, variables: list[str]) -> dict[str, np.ndarray]:
    return {v: trace.imputations[v][-1] for v in variables}


def _restart_event(task: ChainTask, done: int) -> dict[str, Any]:
    return {"iteration": task.offset + done, "chain": task.chain + 1, "variable": "",
            "event": f"chain {task.chain + 1} restarted from its checkpoint after iteration "
                     f"{task.offset + done}"}


def run_chain_task(plan: SamplerPlan, task: ChainTask,
                   on_iteration: Callable[[int], None] | None = None) -> ChainOutcome:
    """Run one chain as ``task`` says; see the module docstring.

    ``on_iteration`` (in-process runs only) is called with 1 after every iteration.
    """
    record = None
    if task.checkpoint is not None:
        record = checkpoint.read_record(task.checkpoint, task.chain, task.run_id)
        if record is not None and record["finished"]:
            return record["outcome"]
    runner = ChainRunner(plan, task.chain, np.random.default_rng(task.seed))
    runner.trace.keep = task.keep
    runner.initial_fill()  # also fills passive columns; a restored state overwrites the rest
    tally, done = OutOfRangeTally(plan, task.out_of_range_sds), 0
    if record is not None:
        runner.restore(record["state"])
        runner.trace, tally, done = record["trace"], record["tally"], int(record["done"])
        runner.trace.events.append(_restart_event(task, done))
    elif task.start is not None:
        runner.restore(task.start)
    if task.draws_file is not None and record is None:
        storage.create_draw_file(task.draws_file, row_labels(plan), [task.chain], None)
    variables = plan.visit_sequence
    if task.n_iterations == 0:  # only starting values: they are the one draw
        for variable in variables:
            runner.trace.imputations[variable] = [runner.draws[variable].copy()]
        runner.record_summaries()
    for step in range(done, task.n_iterations):
        iteration = task.offset + step
        runner.iterate(iteration)
        latest = _latest(runner.trace, variables)
        for variable, values in latest.items():
            tally.add(variable, iteration, values)
        if task.draws_file is not None and task.keep == "all":
            storage.write_draw(task.draws_file, 0, step, latest, draw_label=iteration)
            runner.trace.imputations.clear()  # on disk now
        if task.checkpoint is not None and step + 1 < task.n_iterations:
            checkpoint.write_record(task.checkpoint, task.chain, {
                "run_id": task.run_id, "done": step + 1, "finished": False,
                "state": runner.snapshot(), "trace": runner.trace, "tally": tally})
        if on_iteration is not None:
            on_iteration(1)
    if task.draws_file is not None and (task.keep == "last" or task.n_iterations == 0):
        label = task.offset + max(task.n_iterations, 1) - 1
        storage.write_draw(task.draws_file, 0, 0, _latest(runner.trace, variables),
                           draw_label=label)
        runner.trace.imputations.clear()
    state = runner.snapshot()
    runner.trace.state = {key: value for key, value in state.items() if key != "imputations"}
    outcome = ChainOutcome(task.chain, runner.trace, tally.events(task.chain), task.draws_file)
    if task.checkpoint is not None:
        checkpoint.write_record(task.checkpoint, task.chain, {
            "run_id": task.run_id, "done": task.n_iterations, "finished": True,
            "state": state, "outcome": outcome})
    return outcome


def row_labels(plan: SamplerPlan) -> dict[str, np.ndarray]:
    """The labels of the rows each variable imputes."""
    return {v: np.asarray(plan.index[plan.where[v]]) for v in plan.visit_sequence}


def draws_file_for(folder: str | Path | None, chain: int, token: str) -> str | None:
    """The path of chain ``chain``'s draw file in the store ``folder`` (None: in memory)."""
    return None if folder is None else str(storage.chain_file(folder, chain, token))

