"""MultipleImputation: the completed datasets, their InferenceData, and what to do next."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import arviz as az
import numpy as np
import pandas as pd

from bayesimpute.engine import io
from bayesimpute.engine.run import Run, continue_run
from bayesimpute.engine.sampler import SamplerPlan
from bayesimpute.engine.spec import ImputationSpec

__all__ = ["MultipleImputation"]


class _AnalysisTask:
    """One completed dataset's fit, as a picklable callable (a Dask task)."""

    def __init__(self, model: Any, family: str, fit_kwargs: dict[str, Any]):
        self.model, self.family, self.fit_kwargs = model, family, fit_kwargs

    def __call__(self, frame: pd.DataFrame) -> Any:
        from bayesimpute.analysis import analyze

        return analyze(frame, self.model, family=self.family, **self.fit_kwargs).fits[0]


class MultipleImputation:
    """The result of :func:`bayesimpute.impute`: m completed datasets and their traces.

    Attributes
    ----------
    idata : arviz.InferenceData
        ``posterior``: the conditional models' parameters (chain = imputation stream,
        draw = FCS iteration); ``sample_stats``: ``chain_mean`` / ``chain_var`` of the
        imputed values per variable (mice's chainMean / chainVar) and the samplers' own
        statistics; ``posterior_predictive``: the imputed values, dims
        ``(chain, draw, <variable>_missing)`` with the row labels as coordinates (only
        the last iteration with ``keep="last"``; read lazily from disk with ``store=``);
        ``observed_data``: the incomplete data as given (categoricals as codes).
    logged_events : pandas.DataFrame
        What the engine changed or dropped, and why (iteration, chain, variable, event).
    keep : {"all", "last"}
        Which iterations' imputations are kept. Everything works on either except
        :meth:`imputed_values` of an earlier iteration, which needs ``keep="all"``.
    """

    def __init__(self, run: Run):
        self.run = run

    # --- what the run holds --------------------------------------------------------------------
    @property
    def data(self) -> pd.DataFrame:
        """The incomplete data as given (a copy taken when the run was specified)."""
        return self.run.spec.data

    @property
    def spec(self) -> ImputationSpec:
        return self.run.spec

    @property
    def plan(self) -> SamplerPlan:
        return self.run.plan

    @property
    def idata(self) -> az.InferenceData:
        return self.run.idata

    @property
    def logged_events(self) -> pd.DataFrame:
        return self.run.events

    @property
    def keep(self) -> str:
        return self.run.keep

    @property
    def store(self) -> str | None:
        """The folder the imputations are read from (None: in memory)."""
        return self.run.store

    # --- basic facts ---------------------------------------------------------------------------
    @property
    def m(self) -> int:
        # ArviZ drops an empty posterior_predictive group (nothing to impute)
        group = getattr(self.idata, "posterior_predictive", None)
        return int(group.sizes.get("chain", self.spec.m)) if group is not None else self.spec.m

    @property
    def iterations(self) -> int:
        return self.run.iterations

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
        """Imputed values of one variable in one chain, decoded to the column's dtype.

        ``draw`` is the iteration (0-based, -1 = last); with ``keep="last"`` only the last
        one is kept.
        """
        if self.keep == "last" and draw not in (-1, self.iterations - 1):
            raise ValueError(
                f"draw {draw} is not kept: this run kept only the last iteration's "
                "imputations (keep='last'); impute with keep='all' to look at earlier ones")
        if self.keep == "last":
            draw = -1
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
                client: Any = None, **fit_kwargs):
        """Fit ``model`` (an lme4-style formula or a callable) to each completed dataset.

        With a Dask ``client`` each fit is a task on its cluster: every completed dataset is
        made here one at a time and scattered once, so only one is held here at a time (a
        callable ``model`` must pickle; cloudpickle takes lambdas).
        """
        from bayesimpute.analysis import AnalysisResults, analyze

        if client is None:
            return analyze([self.complete(i) for i in range(self.m)], model, family=family,
                           **fit_kwargs)
        from bayesimpute.engine.dask_backend import map_ordered

        fits = map_ordered(client, _AnalysisTask(model, family, fit_kwargs),
                           (self.complete(i) for i in range(self.m)))
        return AnalysisResults(fits, model, family)

    # --- diagnostics ---------------------------------------------------------------------------
    def plot_trace(self, variables: Sequence[str] | None = None, **kwargs):
        """Trace plot of the mean and s.d. of the imputed values (one line per chain)."""
        from bayesimpute.plots.trace import plot_trace

        return plot_trace(self, variables=variables, **kwargs)

    # --- continuing ----------------------------------------------------------------------------
    def iterate(self, maxit: int, *, n_jobs: int = 1, progress: bool = False,
                client: Any = None, backend: str | None = None) -> MultipleImputation:
        """Run ``maxit`` more iterations from where this run stopped (mice's ``mice.mids``).

        For the exact Gibbs steps the continued run is identical to one uninterrupted run
        of the combined length with the same seed. ``n_jobs``, ``client`` and ``backend``
        as in :func:`bayesimpute.impute`; ``keep`` and ``store`` stay this run's (a stored
        run writes a new draw file, so this result keeps reading its own).
        """
        return MultipleImputation(continue_run(self.run, maxit, n_jobs=n_jobs, client=client,
                                               backend=backend, progress=progress))

    # --- files ---------------------------------------------------------------------------------
    def to_netcdf(self, path) -> str:
        """Write the InferenceData, with what is needed to rebuild this object, to ``path``."""
        return io.write_netcdf(self.run, path)

    @classmethod
    def from_netcdf(cls, path) -> MultipleImputation:
        """Read a file written by :meth:`to_netcdf` (``post`` callables are not stored)."""
        return cls(io.read_netcdf(path))
