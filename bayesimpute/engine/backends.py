"""Execution backends: where the chains of a run execute.

A backend runs :func:`bayesimpute.engine.tasks.run_chain_task` for a list of chain tasks
that share one plan and yields the outcomes *as the chains finish*, so the caller can store
each one and let it go. Three backends:

- :class:`SerialBackend`: one chain after another in this process;
- :class:`JoblibBackend`: ``n_jobs`` local processes (joblib / loky);
- :class:`bayesimpute.engine.dask_backend.DaskBackend`: tasks on a Dask cluster (the
  optional extra ``bayesimpute[dask]``; that module is imported only when asked for).

Each chain draws only from its own seed, so every backend and worker count gives the same
imputations. :func:`make_backend` turns the user's ``n_jobs`` / ``client`` / ``backend``
arguments into one of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import joblib

from bayesimpute.engine.sampler import SamplerPlan
from bayesimpute.engine.spec import BACKENDS, check_backend, check_n_jobs
from bayesimpute.engine.tasks import ChainOutcome, ChainTask, run_chain_task

__all__ = ["ChainBackend", "SerialBackend", "JoblibBackend", "BACKENDS", "check_n_jobs",
           "make_backend"]



class ChainBackend(Protocol):
    """Runs chain tasks; ``advance(k)`` is called as ``k`` more iterations are done."""

    def map_chains(self, plan: SamplerPlan, tasks: list[ChainTask],
                   advance: Callable[[int], None]) -> Iterator[ChainOutcome]: ...


class SerialBackend:
    """Every chain in this process, one after another."""

    def map_chains(self, plan: SamplerPlan, tasks: list[ChainTask],
                   advance: Callable[[int], None]) -> Iterator[ChainOutcome]:
        for task in tasks:
            yield run_chain_task(plan, task, advance)


class JoblibBackend:
    """Chains in ``n_jobs`` local worker processes (joblib's loky; -1 = all cores)."""

    def __init__(self, n_jobs: int):
        self.n_jobs = check_n_jobs(n_jobs)

    def map_chains(self, plan: SamplerPlan, tasks: list[ChainTask],
                   advance: Callable[[int], None]) -> Iterator[ChainOutcome]:
        jobs = (joblib.delayed(run_chain_task)(plan, task) for task in tasks)
        runner = joblib.Parallel(n_jobs=self.n_jobs, return_as="generator_unordered")
        for outcome in runner(jobs):
            advance(tasks[0].n_iterations)
            yield outcome


@contextlib.contextmanager
def make_backend(n_jobs: Any = 1, client: Any = None, backend: str | None = None,
                 n_chains: int | None = None) -> Iterator[ChainBackend]:
    """The backend the arguments ask for, as a context (a temporary cluster is closed after).

    Parameters
    ----------
    n_jobs : int
        Local processes (``-1``: all cores). With ``backend="dask"`` and no client: the
        number of workers of the temporary local cluster. Must stay 1 with a client.
    client : dask.distributed.Client, optional
        Run the chains on this Dask cluster.
    backend : {"serial", "joblib", "dask"}, optional
        Default: ``"dask"`` with a client, ``"joblib"`` when ``n_jobs`` is not 1, else
        ``"serial"``. ``"dask"`` without a client uses the current Dask client, or starts
        a local cluster of ``n_jobs`` worker processes for the call.
    n_chains : int, optional
        With one chain, joblib is not worth its start-up: the chain runs here.

    Raises
    ------
    ImportError
        For the Dask backend without the extra (``pip install 'bayesimpute[dask]'``).
    """
    # the arguments are the user's, checked by engine.spec; checked again here for callers
    # of the engine that skip the facade
    n_jobs = check_n_jobs(n_jobs)
    check_backend(backend, client)
    if client is not None or backend == "dask":
        from bayesimpute.engine import dask_backend  # only now: Dask is an optional extra

        with dask_backend.dask_backend(client, n_jobs) as chosen:
            yield chosen
        return
    if backend == "serial" or (backend is None and n_jobs == 1) or n_chains == 1:
        yield SerialBackend()
    else:
        yield JoblibBackend(n_jobs)
