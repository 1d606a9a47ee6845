"""Checkpoints: a long run loses nothing when it is interrupted.

A checkpointed run keeps a folder::

    run.ckpt/
        header.pkl      the validated specification, the chains' seeds, maxit (written once)
        chain-1.pkl     chain 1's record so far (rewritten after every iteration)
        chain-2.pkl     ...

A chain record holds everything the chain has recorded (its ``ChainTrace``), the number
of iterations done and the chain's state (imputations, method parameters, generator
state: :meth:`bayesimpute.engine.sampler.ChainRunner.snapshot`). Every file is written to a temporary
name and moved into place with :func:`os.replace`, so a process killed mid-write leaves
the previous version intact.

:func:`resume` rebuilds the plan from the header, restores each chain from its record and
runs the iterations that were missing. Because every chain draws only from its own
generator, whose state is saved, the resumed run reproduces the uninterrupted one exactly
for the exact (Gibbs) samplers.

Files are pickles (via cloudpickle, so ``post`` lambdas survive): open only checkpoints
you wrote yourself. Methods registered at run time must be registered again before
:func:`resume`.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import uuid
from pathlib import Path
from typing import Any

import cloudpickle  # a dependency of pymc: pickles post lambdas by value
import joblib
import numpy as np
from tqdm.auto import tqdm

from bayesimpute.engine.run import Run, assemble, check_n_jobs
from bayesimpute.engine.sampler import (
    ChainRunner,
    ChainTrace,
    SamplerPlan,
    chain_seeds,
    make_plan,
    run_chain,
)
from bayesimpute.engine.spec import ImputationSpec

__all__ = ["start_checkpointed_run", "run_checkpointed", "resume_run", "read_progress"]

_FORMAT = "bayesimpute-checkpoint-1"
_HEADER = "header.pkl"


# --- files ---------------------------------------------------------------------------------------
def _write_atomic(path: Path, payload: Any) -> None:
    """Pickle ``payload`` to ``path`` so that readers only ever see a complete file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            cloudpickle.dump(payload, stream, protocol=5)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _read(path: Path) -> Any:
    with open(path, "rb") as stream:
        return cloudpickle.load(stream)


def _chain_file(folder: Path, chain: int) -> Path:
    return folder / f"chain-{chain + 1}.pkl"


def _read_header(folder: Path) -> dict[str, Any]:
    header_path = folder / _HEADER
    if not header_path.is_file():
        raise FileNotFoundError(f"{str(folder)!r} is not a bayesimpute checkpoint (no {_HEADER})")
    header = _read(header_path)
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise ValueError(f"{str(folder)!r} was not written by this version of bayesimpute")
    return header


def _read_record(folder: Path, chain: int, run_id: str) -> dict[str, Any] | None:
    path = _chain_file(folder, chain)
    if not path.is_file():
        return None
    record = _read(path)
    if record.get("run_id") != run_id:
        raise ValueError(f"{str(path)!r} belongs to another run than {str(folder / _HEADER)!r}")
    return record


def read_progress(path: str | os.PathLike) -> list[int]:
    """Iterations completed by each chain of the checkpoint at ``path``."""
    folder = Path(path)
    header = _read_header(folder)
    return [
        (record or {}).get("done", 0)
        for record in (_read_record(folder, c, header["run_id"]) for c in range(header["m"]))
    ]


# --- one chain -----------------------------------------------------------------------------------
def _checkpointed_chain(plan: SamplerPlan, chain: int, seed: np.random.SeedSequence,
                        maxit: int, folder: Path, run_id: str,
                        record: dict[str, Any] | None) -> ChainTrace:
    """Run (or finish) one chain, saving its record after every iteration."""
    if record is not None and record["finished"]:
        return record["trace"]
    if maxit == 0:  # only starting values: nothing worth checkpointing along the way
        trace = run_chain(plan, chain, seed, 0)
        _write_atomic(_chain_file(folder, chain),
                      {"run_id": run_id, "done": 0, "finished": True, "trace": trace})
        return trace
    runner = ChainRunner(plan, chain, np.random.default_rng(seed))
    runner.initial_fill()  # also fills passive columns; a restored state overwrites the rest
    done = 0
    if record is not None:
        runner.restore(record["state"])
        runner.trace = record["trace"]
        done = int(record["done"])
    for iteration in range(done, maxit):
        runner.iterate(iteration)
        finished = iteration + 1 == maxit
        if finished:
            runner.trace.state = runner.snapshot()
        _write_atomic(_chain_file(folder, chain), {
            "run_id": run_id, "done": iteration + 1, "finished": finished,
            "state": runner.snapshot(), "trace": runner.trace,
        })
    return runner.trace


def _run_all(plan: SamplerPlan, header: dict[str, Any], folder: Path, *, n_jobs: int,
             progress: bool) -> list[ChainTrace]:
    seeds, maxit, run_id = header["seeds"], header["maxit"], header["run_id"]
    records = [_read_record(folder, c, run_id) for c in range(len(seeds))]
    n_jobs = check_n_jobs(n_jobs)
    try:
        if n_jobs == 1 or len(seeds) == 1:
            chains = tqdm(range(len(seeds)), disable=not progress, desc="chains")
            return [_checkpointed_chain(plan, c, seeds[c], maxit, folder, run_id, records[c])
                    for c in chains]
        jobs = (joblib.delayed(_checkpointed_chain)(plan, c, seeds[c], maxit, folder, run_id,
                                                    records[c]) for c in range(len(seeds)))
        return list(joblib.Parallel(n_jobs=n_jobs)(jobs))
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"imputation interrupted; every completed iteration is saved in {str(folder)!r}: "
            f"continue with bayesimpute.resume({str(folder)!r})"
        ) from None


# --- entry points --------------------------------------------------------------------------------
def run_checkpointed(spec: ImputationSpec, plan: SamplerPlan, seeds: list, path: str | os.PathLike,
                     *, n_jobs: int = 1, progress: bool = False) -> list[ChainTrace]:
    """Run all chains of a validated spec, checkpointing into the folder ``path``.

    This is the hook :func:`bayesimpute.impute` calls for ``checkpoint=path``; it returns
    the chains' traces, exactly those of an uninterrupted run with the same seed.

    Raises
    ------
    FileExistsError
        When ``path`` already holds a checkpoint: resume it or remove it first.
    """
    folder = Path(path)
    if (folder / _HEADER).exists():
        raise FileExistsError(
            f"checkpoint {str(folder)!r} already exists: continue it with "
            f"bayesimpute.resume({str(folder)!r}) or remove it to start afresh"
        )
    folder.mkdir(parents=True, exist_ok=True)
    header = {"format": _FORMAT, "run_id": uuid.uuid4().hex, "spec": spec, "seeds": seeds,
              "maxit": spec.maxit, "m": spec.m}
    try:
        _write_atomic(folder / _HEADER, header)
    except (TypeError, AttributeError, pickle.PicklingError) as error:
        raise TypeError(
            f"the run cannot be checkpointed: its specification does not pickle ({error}); "
            "post callables and method options must be picklable"
        ) from error
    return _run_all(plan, header, folder, n_jobs=n_jobs, progress=progress)


def start_checkpointed_run(spec: ImputationSpec, path: str | os.PathLike, *, n_jobs: int = 1,
                           progress: bool = False) -> Run:
    """:func:`~bayesimpute.engine.run.start_run` with every chain saved after every iteration."""
    plan = make_plan(spec)
    seeds = chain_seeds(spec.seed, spec.m)
    traces = run_checkpointed(spec, plan, seeds, path, n_jobs=n_jobs, progress=progress)
    return assemble(spec, plan, seeds, traces)


def resume_run(path: str | os.PathLike, *, n_jobs: int = 1, progress: bool = False) -> Run:
    """Continue an interrupted checkpointed run; see :func:`bayesimpute.resume`."""
    folder = Path(path)
    header = _read_header(folder)
    spec = header["spec"]
    plan = make_plan(spec)
    traces = _run_all(plan, header, folder, n_jobs=n_jobs, progress=progress)
    return assemble(spec, plan, header["seeds"], traces)
