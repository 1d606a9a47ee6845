"""Checkpoint folders: a long run loses nothing when it is interrupted.

A checkpointed run keeps a folder::

    run.ckpt/
        header.pkl      the validated specification, the chains' seeds, maxit, keep, store
                        (written once)
        chain-1.pkl     chain 1's record so far (rewritten after every iteration)
        chain-2.pkl     ...

A chain record holds everything the chain has recorded (its ``ChainTrace``), the number
of iterations done, the chain's state (imputations, method parameters, generator state:
:meth:`bayesimpute.engine.sampler.ChainRunner.snapshot`) and its out-of-range tally. Every
file is written to a temporary name and moved into place with :func:`os.replace`, so a
process killed mid-write leaves the previous version intact.

This module knows the folder's format only. The chain task
(:func:`bayesimpute.engine.tasks.run_chain_task`) reads its own record when it starts, so a
chain that is restarted, by :func:`bayesimpute.resume` or by a Dask scheduler after its
worker was lost, continues from its last saved iteration; because every chain draws only
from its own generator, whose state is saved, the restarted run reproduces the
uninterrupted one exactly, for the exact (Gibbs) samplers and NUTS alike (a method's
saved state holds its step's PyMC ``sampling_state``). Starting and resuming a run lives
in :mod:`bayesimpute.engine.run`.

Files are pickles (via cloudpickle, so ``post`` lambdas survive): open only checkpoints
you wrote yourself. Methods registered at run time must be registered again before
resuming.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import uuid
from pathlib import Path
from typing import Any

import cloudpickle  # a dependency of pymc: pickles post lambdas by value

__all__ = ["create_checkpoint", "read_header", "read_record", "write_record", "read_progress"]

_FORMAT = "bayesimpute-checkpoint-2"  # 2: method states hold their steps' sampling_state
_HEADER = "header.pkl"


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


def create_checkpoint(path: str | os.PathLike, spec: Any, seeds: list, *, keep: str,
                      store: str | None, token: str) -> dict[str, Any]:
    """Create the folder ``path`` and write its header; returns the header.

    ``keep``, ``store`` and ``token`` (the name part of the chains' draw files) are what
    a resumed run needs besides the specification and the seeds.

    Raises
    ------
    FileExistsError
        When ``path`` already holds a checkpoint: resume it or remove it first.
    TypeError
        When the specification does not pickle (a ``post`` callable that cannot be saved).
    """
    folder = Path(path)
    if (folder / _HEADER).exists():
        raise FileExistsError(
            f"checkpoint {str(folder)!r} already exists: continue it with "
            f"bayesimpute.resume({str(folder)!r}) or remove it to start afresh"
        )
    folder.mkdir(parents=True, exist_ok=True)
    header = {"format": _FORMAT, "run_id": uuid.uuid4().hex, "spec": spec, "seeds": seeds,
              "maxit": spec.maxit, "m": spec.m, "keep": keep, "store": store, "token": token}
    try:
        _write_atomic(folder / _HEADER, header)
    except (TypeError, AttributeError, pickle.PicklingError) as error:
        raise TypeError(
            f"the run cannot be checkpointed: its specification does not pickle ({error}); "
            "post callables and method options must be picklable"
        ) from error
    return header


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The header of the checkpoint folder ``path``."""
    folder = Path(path)
    header_path = folder / _HEADER
    if not header_path.is_file():
        raise FileNotFoundError(f"{str(folder)!r} is not a bayesimpute checkpoint (no {_HEADER})")
    header = _read(header_path)
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise ValueError(f"{str(folder)!r} was not written by this version of bayesimpute")
    header.setdefault("keep", "all")  # folders written before keep= existed
    header.setdefault("store", None)
    header.setdefault("token", "")
    return header


def read_record(path: str | os.PathLike, chain: int, run_id: str) -> dict[str, Any] | None:
    """Chain ``chain``'s (0-based) record, or None when it has saved nothing yet."""
    record_path = _chain_file(Path(path), chain)
    if not record_path.is_file():
        return None
    record = _read(record_path)
    if record.get("run_id") != run_id:
        raise ValueError(f"{str(record_path)!r} belongs to another run than "
                         f"{str(Path(path) / _HEADER)!r}")
    return record


def write_record(path: str | os.PathLike, chain: int, record: dict[str, Any]) -> None:
    """Replace chain ``chain``'s record atomically (``record`` carries the run's id)."""
    _write_atomic(_chain_file(Path(path), chain), record)


def read_progress(path: str | os.PathLike) -> list[int]:
    """Iterations completed by each chain of the checkpoint at ``path``."""
    header = read_header(path)
    return [(read_record(path, c, header["run_id"]) or {}).get("done", 0)
            for c in range(header["m"])]
