"""Imputations on disk: ``posterior_predictive`` streamed to netCDF for large runs.

With ``impute(..., store=FOLDER)`` no process holds more than one iteration of one chain's
imputations (O(n)) at a time:

- each chain task writes its draws to its own file as it goes, ``chain-<c>-<token>.nc``
  (one draw per iteration with ``keep="all"``, the last one with ``keep="last"``): HDF5 files
  take one writer each, so chains never share a file;
- the process that started the run copies each chain's file, one draw at a time, into
  ``posterior_predictive-<token>.nc`` as the chain finishes, and removes the chain's file;
- the run's ``idata.posterior_predictive`` is that file opened lazily (xarray without Dask,
  no cache): ``complete(i)`` reads one draw of one chain.

A draw file has the layout of :mod:`bayesimpute.engine.inference`: variables
``(chain, draw, <variable>_missing)`` with the row labels as coordinates. The folder must be reachable under the same path from every
worker (a shared file system on a cluster). A continued run writes a new combined file, so
an earlier result keeps reading its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5netcdf
import numpy as np
import xarray as xr

__all__ = ["missing_dim", "chain_file", "combined_file", "new_token", "create_draw_file",
           "write_draw", "copy_draws", "write_dataset", "open_draws"]


def missing_dim(variable: str) -> str:
    """The dimension of ``variable``'s imputed cells."""
    return f"{variable}_missing"


def new_token() -> str:
    """A short unique name part, so that files of different runs never collide."""
    return uuid.uuid4().hex[:12]


def chain_file(folder: str | os.PathLike, chain: int, token: str) -> Path:
    return Path(folder) / f"chain-{chain + 1}-{token}.nc"


def combined_file(folder: str | os.PathLike, token: str) -> Path:
    return Path(folder) / f"posterior_predictive-{token}.nc"


def create_draw_file(path: str | os.PathLike, row_labels: Mapping[str, np.ndarray],
                     chains: Sequence[int], draws: Sequence[int] | None, *,
                     group: str | None = None, mode: str = "w") -> None:
    """Create an empty draw file (or group of a file) for the given chains and draws.

    Parameters
    ----------
    row_labels : mapping variable -> array
        The labels of each variable's imputed rows.
    chains : sequence of int
        Chain coordinates.
    draws : sequence of int or None
        Draw coordinates; None makes ``draw`` an unlimited dimension, grown by
        :func:`write_draw`.
    group, mode
        Write into this netCDF group; ``mode="a"`` adds to an existing file.
    """
    coords: dict[str, Any] = {"chain": np.asarray(chains, dtype=np.int64),
                              "draw": np.asarray([] if draws is None else draws, dtype=np.int64)}
    for variable, labels in row_labels.items():
        coords[missing_dim(variable)] = np.asarray(labels)
    skeleton = xr.Dataset(coords=coords)
    skeleton.to_netcdf(path, mode=mode, engine="h5netcdf", group=group,
                       unlimited_dims=["draw"] if draws is None else None)
    with h5netcdf.File(path, "a") as handle:
        target = handle[group] if group else handle
        for variable, labels in row_labels.items():
            n = len(labels)
            # one chunk = one draw of one chain: what a writer or complete(i) touches
            chunks = (1, 1, n) if n else None
            target.create_variable(variable, ("chain", "draw", missing_dim(variable)), "f8",
                                   chunks=chunks, fillvalue=np.nan)


def write_draw(path: str | os.PathLike, chain_position: int, draw_position: int,
               values: Mapping[str, np.ndarray], draw_label: int | None = None,
               group: str | None = None) -> None:
    """Write one draw of one chain; an unlimited ``draw`` dimension grows to fit it."""
    with h5netcdf.File(path, "a") as handle:
        target = handle[group] if group else handle
        dimension = target.dimensions["draw"]
        if dimension.isunlimited() and dimension.size != draw_position + 1:
            # also shrinks: a chain restarted from its checkpoint overwrites what followed
            target.resize_dimension("draw", draw_position + 1)
        if draw_label is not None:
            target.variables["draw"][draw_position] = draw_label
        for variable, array in values.items():
            target.variables[variable][chain_position, draw_position, :] = array


def copy_draws(source: xr.Dataset, path: str | os.PathLike, chain_positions: Sequence[int],
               draw_positions: Sequence[int], group: str | None = None) -> None:
    """Copy every draw of ``source`` (dims chain, draw, ...) one at a time into ``path``.

    ``source``'s chain ``i`` goes to ``chain_positions[i]``, its draw ``j`` to
    ``draw_positions[j]``; at most one draw of one variable is in memory at once.
    """
    variables = list(source.data_vars)
    with h5netcdf.File(path, "a") as handle:
        target = handle[group] if group else handle
        for i, chain in enumerate(chain_positions):
            for j, draw in enumerate(draw_positions):
                for variable in variables:
                    target.variables[variable][chain, draw, :] = (
                        source[variable].isel(chain=i, draw=j).values)


def write_dataset(source: xr.Dataset, path: str | os.PathLike, group: str | None = None,
                  mode: str = "a") -> None:
    """Write a (possibly lazily read) draw dataset into ``path`` one draw at a time."""
    def labels(dim: str) -> np.ndarray:  # coordinates, or positions where there are none
        return source[dim].values if dim in source.coords else np.arange(source.sizes[dim])

    row_labels = {v: labels(missing_dim(v)) for v in source.data_vars}
    chains, draws = labels("chain"), labels("draw")
    create_draw_file(path, row_labels, chains, draws, group=group, mode=mode)
    copy_draws(source, path, range(len(chains)), range(len(draws)), group=group)


def open_draws(path: str | os.PathLike, group: str | None = None) -> xr.Dataset:
    """Open a draw file lazily; values are read on access and not cached."""
    return xr.open_dataset(path, engine="h5netcdf", group=group, cache=False)

