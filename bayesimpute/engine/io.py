"""Writing a run to netCDF and reading it back (``MultipleImputation.to_netcdf``).

The file is the run's InferenceData. What is needed to rebuild the object — the original
dtypes and categories, the cluster column, the methods and predictor matrix, and each
chain's state for continuing the run — travels as JSON in the root attributes.
``post`` callables cannot be stored; a run read back continues without them. A run whose
imputations are on disk (``store=``) is written one draw at a time, never loaded whole.
"""

from __future__ import annotations

import importlib
import json
import warnings
from dataclasses import fields
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
from pymc.step_methods.state import DataClassState
from pymc.util import RandomGeneratorState

from bayesimpute.engine.run import EVENT_COLUMNS, Run
from bayesimpute.engine.sampler import chain_seeds, make_plan
from bayesimpute.engine.spec import build_spec
from bayesimpute.engine.storage import write_dataset
from bayesimpute.validation import warn_user

__all__ = ["write_netcdf", "read_netcdf"]

_FORMAT = "bayesimpute-2"  # 2: method states hold their steps' PyMC sampling_state
_EARLIER_FORMATS = ("bayesimpute-1",)


def _jsonable(value):
    """``value`` (a chain state: arrays, numbers, dicts, lists, PyMC's sampling states and
    generator states) as JSON-ready objects that :func:`_from_jsonable` turns back."""
    if isinstance(value, DataClassState):  # a step's sampling_state (PyMC's dataclasses)
        kind = type(value)
        return {"__state__": f"{kind.__module__}:{kind.__qualname__}",
                "fields": {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}}
    if isinstance(value, RandomGeneratorState):  # a namedtuple: before the tuple case
        return {"__generator__": _jsonable(value._asdict())}
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_jsonable(value):
    if isinstance(value, dict):
        if "__array__" in value:
            return np.asarray(value["__array__"], dtype=value["dtype"])
        if "__state__" in value:
            kind = _state_class(value["__state__"])
            return kind(**{k: _from_jsonable(v) for k, v in value["fields"].items()})
        if "__generator__" in value:
            return RandomGeneratorState(**_from_jsonable(value["__generator__"]))
        return {k: _from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_jsonable(v) for v in value]
    return value


def _state_class(name: str) -> type:
    """The sampling-state class ``module:qualname``, from PyMC or this package only (a file
    names classes, it does not get to import arbitrary code)."""
    module_name, _, qualname = name.partition(":")
    if module_name.split(".")[0] not in ("pymc", "bayesimpute"):
        raise ValueError(f"a saved chain state names {name!r}, not a PyMC or bayesimpute state")
    found: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part)
    if not (isinstance(found, type) and issubclass(found, DataClassState)):
        raise ValueError(f"a saved chain state names {name!r}, which is not a sampling state")
    return found


def _column_meta(series: pd.Series) -> dict:
    meta = {"dtype": str(series.dtype)}
    if isinstance(series.dtype, pd.CategoricalDtype):
        meta["categories"] = series.cat.categories.tolist()
        meta["ordered"] = bool(series.cat.ordered)
    return meta


def write_netcdf(run: Run, path) -> str:
    """Write ``run`` to ``path`` (netCDF4 via h5netcdf); returns the path."""
    spec = run.spec
    data = spec.data
    header = {
        "format": _FORMAT,
        "columns": {c: _column_meta(data[c]) for c in data.columns},
        "index": data.index.tolist(),
        "index_name": data.index.name,
        "cluster": spec.cluster,
        "cluster_values": data[spec.cluster].astype(str).tolist() if spec.cluster else None,
        "clusters": {c: data[c].astype(str).tolist() for c in spec.clusters},
        "method": spec.method.to_dict(),
        "predictor_matrix": spec.predictor_matrix.to_dict(orient="split"),
        "visit_sequence": spec.visit_sequence,
        "where": {v: np.flatnonzero(spec.where[v].to_numpy()).tolist() for v in spec.where.columns
                  if spec.where[v].any()},
        "method_options": spec.method_options,
        "m": spec.m,
        "seed": spec.seed if isinstance(spec.seed, (int, type(None))) else None,
        "had_post": sorted(spec.post),
        "chain_states": [
            {"rng": s["rng"], "methods": _jsonable(s["methods"])} for s in run.chain_states
        ],
        "events": run.events.to_dict(orient="records"),
        "keep": run.keep,
    }
    path = str(Path(path))
    if run.store is None:
        idata = run.idata.copy()
        idata.posterior.attrs["bayesimpute"] = json.dumps(header)
        idata.to_netcdf(path, engine="h5netcdf")
        return path
    # imputations read from disk: copied one draw at a time, never loaded whole
    groups = {g: getattr(run.idata, g) for g in run.idata.groups() if g != "posterior_predictive"}
    groups["posterior"] = groups["posterior"].copy()
    groups["posterior"].attrs["bayesimpute"] = json.dumps(header)
    az.InferenceData(**groups).to_netcdf(path, engine="h5netcdf")
    if "posterior_predictive" in run.idata.groups():
        write_dataset(run.idata.posterior_predictive, path, group="posterior_predictive")
    return path


def _rebuild_data(idata, header) -> pd.DataFrame:
    observed = idata.observed_data
    index = pd.Index(header["index"], name=header.get("index_name"))
    columns = {}
    cluster_values = header.get("clusters") or {}
    if header["cluster"] is not None:
        cluster_values.setdefault(header["cluster"], header["cluster_values"])
    for column, meta in header["columns"].items():
        if column in cluster_values:
            values = pd.Series(cluster_values[column], index=index)
            if meta["dtype"] == "category":
                values = pd.Categorical(values, categories=[str(c) for c in meta["categories"]])
            elif meta["dtype"] != "object":
                values = values.astype(meta["dtype"])
            columns[column] = values
            continue
        codes = observed[column].values
        if "categories" in meta:
            dtype = pd.CategoricalDtype(meta["categories"], ordered=meta["ordered"])
            codes = np.where(np.isnan(codes), -1, codes).astype(int)
            columns[column] = pd.Categorical.from_codes(codes, dtype=dtype)
        else:
            series = pd.Series(codes, index=index)
            dtype = meta["dtype"]
            if dtype in ("bool", "boolean"):
                columns[column] = series.map({0.0: False, 1.0: True}).astype("boolean" if series.isna().any() else "bool")
            elif series.isna().any() and dtype.startswith("int"):
                columns[column] = series.astype("float64")
            else:
                columns[column] = series.astype(dtype)
    return pd.DataFrame(columns, index=index)[list(header["columns"])]


def read_netcdf(path) -> Run:
    """Read a file written by :func:`write_netcdf` back into a :class:`Run`."""
    idata = az.from_netcdf(str(path), engine="h5netcdf")
    header = json.loads(idata.posterior.attrs.pop("bayesimpute"))
    if header.get("format") in _EARLIER_FORMATS:
        warn_user(f"{path} was written by an earlier version of bayesimpute: its results "
                  "read back as they were; continuing it restarts each method's parameter "
                  "chain from the last imputations, with its burn-in")
        for saved in header["chain_states"]:
            saved["methods"] = {}
    elif header.get("format") != _FORMAT:
        raise ValueError(f"{path} was not written by bayesimpute's to_netcdf")
    data = _rebuild_data(idata, header)
    where = pd.DataFrame(False, index=data.index, columns=data.columns)
    for variable, rows in header["where"].items():
        where.iloc[rows, where.columns.get_loc(variable)] = True
    matrix = pd.DataFrame(**header["predictor_matrix"])
    with warnings.catch_warnings():
        # the run warned when it was made; reading it back should not warn again
        warnings.simplefilter("ignore")
        spec = build_spec(
            data, method=pd.Series(header["method"], dtype=object), predictor_matrix=matrix,
            cluster=list(header.get("clusters") or []) or header["cluster"], m=header["m"], maxit=int(idata.sample_stats.sizes["draw"]),
            seed=header["seed"], where=where, visit_sequence=header["visit_sequence"],
            method_options=header["method_options"],
        )
    plan = make_plan(spec)
    # a chain's last imputations are its last draw in posterior_predictive (Run.start_states)
    states = [{"rng": saved["rng"], "methods": _from_jsonable(saved["methods"])}
              for saved in header["chain_states"]]
    events = pd.DataFrame(header["events"], columns=EVENT_COLUMNS)
    return Run(spec, plan, chain_seeds(header["seed"], header["m"]), idata, states, events,
               keep=header.get("keep", "all"))
