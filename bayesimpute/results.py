"""MultipleImputation: the completed datasets, their InferenceData, and what to do next."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Literal

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayesimpute.coding import ColumnCodec
from bayesimpute.sampler import ChainTrace, SamplerPlan

__all__ = ["MultipleImputation", "build_inference_data"]


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


def build_inference_data(traces: list[ChainTrace], plan: SamplerPlan, data: pd.DataFrame) -> az.InferenceData:
    """Lay the chains out as DESIGN.md says: chain = imputation stream, draw = iteration."""
    variables = plan.visit_sequence
    return az.InferenceData(
        posterior=_posterior(traces, variables),
        sample_stats=_sample_stats(traces, variables),
        posterior_predictive=_posterior_predictive(traces, plan),
        observed_data=_observed(data, plan.codecs),
    )


class MultipleImputation:
    """The result of :func:`bayesimpute.impute`: m completed datasets and their traces.

    Attributes
    ----------
    idata : arviz.InferenceData
        ``posterior``: the conditional models' parameters (chain = imputation stream,
        draw = FCS iteration); ``sample_stats``: ``chain_mean`` / ``chain_var`` of the
        imputed values per variable (mice's chainMean / chainVar) and the samplers' own
        statistics; ``posterior_predictive``: the imputed values, dims
        ``(chain, draw, <variable>_missing)`` with the row labels as coordinates;
        ``observed_data``: the incomplete data as given (categoricals as codes).
    logged_events : pandas.DataFrame
        What the engine changed or dropped, and why (iteration, chain, variable, event).
    """

    def __init__(self, data: pd.DataFrame, spec, plan: SamplerPlan, idata: az.InferenceData,
                 chain_states: list[dict], events: pd.DataFrame, seeds: list):
        self.data = data
        self.spec = spec
        self.plan = plan
        self.idata = idata
        self.logged_events = events
        self._chain_states = chain_states
        self._seeds = seeds

    # --- basic facts ---------------------------------------------------------------------------
    @property
    def m(self) -> int:
        # ArviZ drops an empty posterior_predictive group (nothing to impute)
        group = getattr(self.idata, "posterior_predictive", None)
        return int(group.sizes.get("chain", self.spec.m)) if group is not None else self.spec.m

    @property
    def iterations(self) -> int:
        return int(self.idata.sample_stats.sizes["draw"])

    @property
    def method(self) -> pd.Series:
        return self.spec.method.copy()

    @property
    def predictor_matrix(self) -> pd.DataFrame:
        return self.spec.predictor_matrix.copy()

    @property
    def where(self) -> pd.DataFrame:
        return self.spec.where.copy()

    @property
    def cluster(self) -> str | None:
        return self.spec.cluster

    @property
    def variables(self) -> list[str]:
        """Imputed variables, in visit order."""
        return list(self.plan.visit_sequence)

    def __repr__(self) -> str:
        methods = ", ".join(f"{v}: {self.spec.method[v]}" for v in self.variables)
        return (f"MultipleImputation(m={self.m}, iterations={self.iterations}, "
                f"cluster={self.cluster!r}, methods={{{methods}}})")

    # --- completed data ------------------------------------------------------------------------
    def imputed_values(self, variable: str, chain: int, draw: int = -1) -> pd.Series:
        """Imputed values of one variable in one chain, decoded to the column's dtype."""
        values = self.idata.posterior_predictive[variable].isel(chain=chain, draw=draw).values
        rows = self.plan.where[variable]
        column = self.plan.values[variable].copy()
        column[rows] = values
        return self.plan.codecs[variable].decode(column, self.data.index)[rows]

    def complete(self, action: int | Literal["long"] = 0, include: bool = False) -> pd.DataFrame:
        """Completed data, as mice's ``complete()``.

        Parameters
        ----------
        action : int or "long"
            ``i`` returns the (i+1)-th completed dataset (0-based, same index, columns and
            dtypes as the input); ``"long"`` stacks all m with ``.imp`` (1..m) and ``.id``
            (the row label) as the first columns.
        include : bool
            With ``"long"``, also stack the original data as ``.imp == 0``.
        """
        if action == "long":
            frames = [self.data] if include else []
            frames += [self.complete(i) for i in range(self.m)]
            first = 0 if include else 1
            long = pd.concat(
                [f.assign(**{".imp": k, ".id": f.index}) for k, f in enumerate(frames, first)],
                ignore_index=True,
            )
            return long[[".imp", ".id", *self.data.columns]]
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
            raise TypeError(f"action must be an imputation number or 'long', got {action!r}")
        if not 0 <= action < self.m:
            raise ValueError(f"action must be between 0 and m - 1 = {self.m - 1}, got {action}")
        completed = self.data.copy()
        for variable in self.variables:
            column = self.plan.values[variable].copy()
            rows = self.plan.where[variable]
            column[rows] = self.idata.posterior_predictive[variable].isel(chain=action, draw=-1).values
            completed[variable] = self.plan.codecs[variable].decode(column, completed.index)
        return completed

    # --- analysis ------------------------------------------------------------------------------
    def analyze(self, model: str | Callable[[pd.DataFrame], Any], *, family: str = "gaussian",
                **fit_kwargs):
        """Fit ``model`` (an lme4-style formula or a callable) to each completed dataset."""
        from bayesimpute.analysis import analyze

        return analyze([self.complete(i) for i in range(self.m)], model, family=family, **fit_kwargs)

    # --- diagnostics ---------------------------------------------------------------------------
    def plot_trace(self, variables: Sequence[str] | None = None, **kwargs):
        """Trace plot of the mean and s.d. of the imputed values (one line per chain)."""
        from bayesimpute.plots.trace import plot_trace

        return plot_trace(self, variables=variables, **kwargs)

    # --- continuing ----------------------------------------------------------------------------
    def iterate(self, maxit: int, *, n_jobs: int = 1, progress: bool = False) -> MultipleImputation:
        """Run ``maxit`` more iterations from where this run stopped (mice's ``mice.mids``).

        For the exact Gibbs steps the continued run is identical to one uninterrupted run
        of the combined length with the same seed.
        """
        from bayesimpute.api import _continue_run

        return _continue_run(self, maxit, n_jobs=n_jobs, progress=progress)

    # --- files ---------------------------------------------------------------------------------
    def to_netcdf(self, path) -> str:
        """Write the InferenceData, with what is needed to rebuild this object, to ``path``."""
        from bayesimpute.io import write_netcdf

        return write_netcdf(self, path)

    @classmethod
    def from_netcdf(cls, path) -> MultipleImputation:
        """Read a file written by :meth:`to_netcdf` (``post`` callables are not stored)."""
        from bayesimpute.io import read_netcdf

        return read_netcdf(path)
