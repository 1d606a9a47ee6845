"""The InferenceData of a run: the one place its layout is defined.

``posterior``: every conditional model's parameters, ``(chain, draw, ...)`` with chain =
imputation stream and draw = FCS iteration; ``sample_stats``: chain means / variances of the
imputed values and the samplers' own statistics; ``posterior_predictive``: the imputed values,
``(chain, draw, <variable>_missing)`` with the row labels as coordinates; ``observed_data``: the
incomplete data (categoricals as codes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayesimpute.design.coding import ColumnCodec
from bayesimpute.engine.sampler import ChainTrace, SamplerPlan

__all__ = ["build_inference_data"]


def _stack(per_chain: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    return np.stack([np.stack(list(chain)) for chain in per_chain])


def _posterior(traces: list[ChainTrace], variables: list[str]) -> xr.Dataset:
    data_vars, coords = {}, {}
    for variable in variables:
        for param in traces[0].parameters.get(variable, {}):
            values = _stack([t.parameters[variable][param] for t in traces])
            dims = traces[0].parameter_dims.get(variable, {}).get(param, ())
            names = []
            for axis, (dim, labels) in enumerate(dims):
                name = f"{variable}_{dim}"
                names.append(name)
                if len(labels) == values.shape[2 + axis]:
                    coords[name] = np.asarray(labels)
            extra = [f"{variable}_{param}_dim_{i}" for i in range(len(names), values.ndim - 2)]
            data_vars[f"{variable}_{param}"] = (("chain", "draw", *names, *extra), values)
    return xr.Dataset(data_vars, coords=coords)


def _sample_stats(traces: list[ChainTrace], variables: list[str]) -> xr.Dataset:
    data_vars = {
        "chain_mean": (("chain", "draw", "variable"), np.array([t.chain_mean for t in traces])),
        "chain_var": (("chain", "draw", "variable"), np.array([t.chain_var for t in traces])),
    }
    for variable in variables:
        for stat in traces[0].stats.get(variable, {}):
            data_vars[f"{variable}_{stat}"] = (
                ("chain", "draw"), np.array([t.stats[variable][stat] for t in traces])
            )
    return xr.Dataset(data_vars, coords={"variable": variables})


def _posterior_predictive(traces, plan: SamplerPlan) -> xr.Dataset:
    data_vars, coords = {}, {}
    for variable in plan.visit_sequence:
        dim = f"{variable}_missing"
        data_vars[variable] = (("chain", "draw", dim), _stack([t.imputations[variable] for t in traces]))
        coords[dim] = np.asarray(plan.index[plan.where[variable]])
    return xr.Dataset(data_vars, coords=coords)


def _observed(data: pd.DataFrame, codecs: dict[str, ColumnCodec]) -> xr.Dataset:
    data_vars = {}
    for column, codec in codecs.items():
        attrs = {"kind": str(codec.kind), "dtype": str(codec.dtype)}
        if codec.categories is not None:
            attrs["categories"] = json.dumps([str(c) for c in codec.categories])
        data_vars[column] = xr.DataArray(codec.encode(data[column]), dims="row", attrs=attrs)
    return xr.Dataset(data_vars, coords={"row": np.asarray(data.index)})


def build_inference_data(traces: list[ChainTrace], plan: SamplerPlan, data: pd.DataFrame, *,
                         last_draw: int | None = None,
                         posterior_predictive: xr.Dataset | None = None) -> az.InferenceData:
    """Lay the chains out as the module docstring says: chain = stream, draw = iteration.

    Parameters
    ----------
    last_draw : int, optional
        The traces kept only their last imputations (``keep="last"``): that one draw of
        ``posterior_predictive`` gets this iteration number (0-based) as its coordinate.
    posterior_predictive : xarray.Dataset, optional
        The imputations read from disk (:mod:`bayesimpute.engine.storage`) instead of the
        traces'.
    """
    variables = plan.visit_sequence
    if posterior_predictive is None:
        posterior_predictive = _posterior_predictive(traces, plan)
        if last_draw is not None and variables:
            posterior_predictive = posterior_predictive.assign_coords(
                chain=np.arange(len(traces)), draw=[last_draw])
    return az.InferenceData(
        posterior=_posterior(traces, variables),
        sample_stats=_sample_stats(traces, variables),
        posterior_predictive=posterior_predictive,
        observed_data=_observed(data, plan.codecs),
    )
