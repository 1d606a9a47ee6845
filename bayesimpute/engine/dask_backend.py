"""The Dask backend: chains (and analyses) as tasks on a Dask cluster.

Needs the optional extra ``pip install 'bayesimpute[dask]'`` (dask + distributed); nothing
else in the package imports this module, so without the extra nothing imports Dask.

- The plan (the encoded data and designs) is scattered to the workers once, with
  ``broadcast=True``: every worker holds a replica, so a lost worker does not lose it.
- Each chain is one task (:func:`bayesimpute.engine.tasks.run_chain_task`); outcomes come
  back with ``as_completed``, as the chains finish, and each task is released once its
  outcome is here.
- A worker lost mid-run costs the chains it was running only: the scheduler reruns those
  tasks on another worker, and a checkpointed chain reads its record when it starts, so it
  continues from its last saved iteration (without a checkpoint it starts again from its
  seed). Either way the imputations are those of an uninterrupted run.

Workers must import the same bayesimpute (methods registered at run time are not known
there) and, for ``checkpoint=`` / ``store=``, reach those folders under the same path.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from bayesimpute.engine.sampler import SamplerPlan
from bayesimpute.engine.tasks import ChainOutcome, ChainTask, run_chain_task

__all__ = ["INSTALL_HINT", "import_distributed", "DaskBackend", "dask_backend", "connect",
           "map_ordered"]

INSTALL_HINT = ("the Dask backend needs the optional extra: pip install 'bayesimpute[dask]' "
                "(it installs dask and distributed)")


def import_distributed():
    """``dask.distributed``, or an ImportError that says how to install it."""
    try:
        import distributed
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return distributed


def connect(address: str):
    """A client of the scheduler at ``address`` (``tcp://host:8786``)."""
    distributed = import_distributed()
    return distributed.Client(address)


class DaskBackend:
    """Chain tasks on the cluster of ``client``."""

    def __init__(self, client: Any):
        distributed = import_distributed()
        if not isinstance(client, distributed.Client):
            raise TypeError(f"client must be a dask.distributed.Client, got "
                            f"{type(client).__name__}")
        self.client = client
        self._distributed = distributed

    def map_chains(self, plan: SamplerPlan, tasks: list[ChainTask],
                   advance: Callable[[int], None]) -> Iterator[ChainOutcome]:
        client, distributed = self.client, self._distributed
        shared = client.scatter(plan, broadcast=True, hash=False)  # once, not once per task
        token = uuid.uuid4().hex[:8]
        futures = [client.submit(run_chain_task, shared, task, pure=False,
                                 key=f"bayesimpute-chain-{task.chain + 1}-{token}")
                   for task in tasks]
        try:
            for future in distributed.as_completed(futures):
                try:
                    outcome = future.result()
                except distributed.KilledWorker as error:
                    raise RuntimeError(_lost_message(tasks, error)) from error
                future.release()
                advance(tasks[0].n_iterations)
                yield outcome
        finally:
            client.cancel(futures)
            client.cancel([shared])


def _lost_message(tasks: list[ChainTask], error: Exception) -> str:
    hint = (f" Every completed iteration is saved: continue with "
            f"bayesimpute.resume({tasks[0].checkpoint!r})." if tasks[0].checkpoint else
            " Pass checkpoint=FOLDER so that a rerun chain continues from its last iteration.")
    return (f"a chain's task was lost with the workers that ran it, more often than the "
            f"scheduler retries ({error}).{hint}")


@contextlib.contextmanager
def dask_backend(client: Any, n_workers: int) -> Iterator[DaskBackend]:
    """A backend on ``client``; without one, on the current client or a temporary local
    cluster of ``n_workers`` processes (-1: one per core) closed afterwards."""
    distributed = import_distributed()
    if client is not None:
        if n_workers != 1:
            raise ValueError("n_jobs has no meaning with a Dask client: the cluster's workers "
                             "run the chains (leave n_jobs at 1)")
        yield DaskBackend(client)
        return
    try:
        current = distributed.get_client()
    except ValueError:  # no current client
        current = None
    if current is not None:
        yield DaskBackend(current)
        return
    n = None if n_workers < 0 else n_workers
    with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as local:
        yield DaskBackend(local)


def map_ordered(client: Any, function: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """``[function(item) for item in items]`` as Dask tasks, results in order.

    Each item is scattered once as it is produced, so a generator of large items (completed
    datasets) is never held here all at once.
    """
    backend = DaskBackend(client)  # checks the client
    futures = []
    for item in items:
        shared = backend.client.scatter(item, hash=False)
        futures.append(backend.client.submit(function, shared, pure=False))
    try:
        return backend.client.gather(futures)
    finally:
        backend.client.cancel(futures)
