"""MultipleImputation: the completed datasets, their InferenceData, and what to do next."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayesimpute.engine import io
from bayesimpute.engine.run import Run, continue_run
from bayesimpute.engine.sampler import SamplerPlan
from bayesimpute.engine.spec import ImputationSpec, check_run_arguments
from bayesimpute.methods import get_method
from bayesimpute.methods.compatible.smc import ANALYSIS_PREFIX, analysis_response

__all__ = ["MultipleImputation", "AnalysisPosterior"]

#: residual variance of the standard logistic distribution (latent-scale ICC of a logit)
_LOGISTIC_RESIDUAL_VARIANCE = float(np.pi**2 / 3)


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
    def analyze(self, model: str | Callable[[pd.DataFrame], Any] | None = None, *,
                family: str = "gaussian", client: Any = None, **fit_kwargs):
        """Fit ``model`` (an lme4-style formula or a callable) to each completed dataset.

        Without ``model``, the run's analysis model (``impute(analysis_model=...)``) is
        fitted, with ``family="binomial"`` when its outcome is binary.

        With a Dask ``client`` each fit is a task on its cluster: every completed dataset is
        made here one at a time and scattered once, so only one is held here at a time (a
        callable ``model`` must pickle; cloudpickle takes lambdas).
        """
        from bayesimpute.analysis import AnalysisResults, analyze

        if model is None:
            model = self.analysis_model
            if model is None:
                raise TypeError("analyze() needs a model: this run has no analysis_model")
            if self.plan.codecs[self._analysis_variables()[0][1]].kind == "binary":
                family = "binomial"
        if client is None:
            return analyze([self.complete(i) for i in range(self.m)], model, family=family,
                           **fit_kwargs)
        from bayesimpute.engine.dask_backend import map_ordered

        fits = map_ordered(client, _AnalysisTask(model, family, fit_kwargs),
                           (self.complete(i) for i in range(self.m)))
        return AnalysisResults(fits, model, family)

    @property
    def analysis_model(self) -> str | None:
        """The analysis model the compatible methods imputed from (None if none did)."""
        found = self._analysis_variables()
        return self.spec.method_options[found[0][0]]["analysis_model"] if found else None

    def _analysis_variables(self) -> list[tuple[str, str]]:
        """(variable, analysis model's response) of each variable imputed by a method that
        records an analysis model, in visit order."""
        found = []
        for variable in self.variables:
            name = self.spec.method[variable]
            if name.startswith("~") or not get_method(name).uses_analysis_model:
                continue
            formula = self.spec.method_options.get(variable, {}).get("analysis_model")
            if formula and f"{variable}_{ANALYSIS_PREFIX}beta" in self.idata.posterior:
                found.append((variable, analysis_response(formula)))
        return found

    def analysis_posterior(self, variable: str | None = None,
                           burn: int | None = None) -> AnalysisPosterior:
        """The posterior of the analysis model's parameters (compatible methods only).

        The compatible methods (``2l.smc``, ``smc``) draw the analysis model's parameters in
        the same Gibbs loop as the imputations; their draws after burn-in are the analysis
        model's posterior given the incomplete data, read directly (credible intervals of
        the random-slope variance, say) beside the pooled analysis of the completed data.

        Parameters
        ----------
        variable : str, optional
            Whose chain of the analysis model to read (each compatible variable keeps one);
            default: the last one visited in an iteration, which has seen every other
            variable's latest imputations.
        burn : int, optional
            Iterations dropped at the start of every chain; default half of them.

        Returns
        -------
        AnalysisPosterior
            ``.summary()`` (mean, sd, 2.5% / 97.5% quantiles, R-hat per parameter, named as
            ``pool().summary()`` and ``variance_components()`` name them) and ``.idata``
            (ArviZ; chain = imputation stream, draw = iteration).
        """
        found = dict(self._analysis_variables())
        if not found:
            raise ValueError("analysis_posterior() needs a variable imputed by a compatible "
                             "method (2l.smc, smc) with an analysis_model")
        if variable is None:
            variable = list(found)[-1]
        if variable not in found:
            raise ValueError(f"{variable!r} was not imputed by a compatible method; those "
                             f"are {list(found)}")
        if burn is None:
            burn = self.iterations // 2
        if isinstance(burn, bool) or not isinstance(burn, (int, np.integer)) or not (
                0 <= burn < self.iterations):
            raise ValueError(f"burn must be an integer in [0, {self.iterations - 1}], got {burn!r}")
        return AnalysisPosterior.from_posterior(self.idata.posterior, variable, self.cluster,
                                                int(burn), binary=self.plan.codecs[
                                                    found[variable]].kind == "binary")

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
        run writes a new draw file, so this result keeps reading its own). Warns
        (``NotConvergedWarning``) when the continued run has still not converged, as
        :func:`bayesimpute.impute` does.
        """
        from bayesimpute.diagnostics import warn_if_not_converged

        check_run_arguments(n_jobs=n_jobs, client=client, backend=backend)
        result = MultipleImputation(continue_run(self.run, maxit, n_jobs=n_jobs, client=client,
                                                 backend=backend, progress=progress))
        warn_if_not_converged(result)
        return result

    # --- files ---------------------------------------------------------------------------------
    def to_netcdf(self, path) -> str:
        """Write the InferenceData, with what is needed to rebuild this object, to ``path``."""
        return io.write_netcdf(self.run, path)

    @classmethod
    def from_netcdf(cls, path) -> MultipleImputation:
        """Read a file written by :meth:`to_netcdf` (``post`` callables are not stored)."""
        return cls(io.read_netcdf(path))


class AnalysisPosterior:
    """The analysis model's posterior draws, named as the pooled analysis names them.

    Attributes
    ----------
    idata : arviz.InferenceData
        ``posterior`` with ``fixed`` (dim ``term``) and ``variance`` (dim ``component``:
        ``"g: Intercept"``, ``"g: x"``, ``"g: cov(Intercept, x)"``, ``"g: corr(Intercept, x)"``,
        ``"residual"``, and ``"icc"`` for a random intercept alone), dims
        ``(chain, draw, ...)``.
    """

    def __init__(self, idata: az.InferenceData):
        self.idata = idata

    @classmethod
    def from_posterior(cls, posterior, variable: str, group: str | None, burn: int,
                       binary: bool) -> AnalysisPosterior:
        kept = posterior.isel(draw=slice(burn, None))
        beta = kept[f"{variable}_{ANALYSIS_PREFIX}beta"]
        fixed = beta.rename({beta.dims[2]: "term"})
        components = {}
        psi_name = f"{variable}_{ANALYSIS_PREFIX}psi"
        sigma_name = f"{variable}_{ANALYSIS_PREFIX}sigma2"
        if psi_name in kept:
            psi = kept[psi_name].values
            names = [str(n) for n in kept[psi_name].coords[kept[psi_name].dims[2]].values]
            for a, first in enumerate(names):
                components[f"{group}: {first}"] = psi[..., a, a]
            for a, first in enumerate(names):
                for b in range(a + 1, len(names)):
                    pair = f"{first}, {names[b]}"
                    components[f"{group}: cov({pair})"] = psi[..., a, b]
                    components[f"{group}: corr({pair})"] = psi[..., a, b] / np.sqrt(
                        psi[..., a, a] * psi[..., b, b])
        if sigma_name in kept:
            components["residual"] = kept[sigma_name].values
        if psi_name in kept and len(names) == 1 and names[0] == "Intercept":
            residual = components.get("residual", _LOGISTIC_RESIDUAL_VARIANCE if binary else np.nan)
            components["icc"] = psi[..., 0, 0] / (psi[..., 0, 0] + residual)
        data = {"fixed": fixed.drop_vars(fixed.dims[2], errors="ignore").assign_coords(
            term=[str(t) for t in beta.coords[beta.dims[2]].values])}
        if components:
            stacked = np.stack(list(components.values()), axis=-1)
            data["variance"] = (("chain", "draw", "component"), stacked)
        dataset = xr.Dataset(data, coords={"component": list(components)} if components else None)
        return cls(az.InferenceData(posterior=dataset))

    def draws(self) -> pd.DataFrame:
        """One row per (chain, draw), one column per parameter."""
        posterior = self.idata.posterior
        columns = {str(t): posterior["fixed"].sel(term=t).values.ravel()
                   for t in posterior["fixed"].coords["term"].values}
        if "variance" in posterior:
            for c in posterior["variance"].coords["component"].values:
                columns[str(c)] = posterior["variance"].sel(component=c).values.ravel()
        return pd.DataFrame(columns)

    def summary(self, prob: float = 0.95) -> pd.DataFrame:
        """Per parameter: posterior mean, sd, equal-tailed ``prob`` interval, R-hat, ESS."""
        draws = self.draws()
        low, high = (1 - prob) / 2, (1 + prob) / 2
        posterior = self.idata.posterior
        rhat = az.rhat(posterior) if posterior.sizes["chain"] > 1 else None
        ess = az.ess(posterior)
        table = pd.DataFrame({
            "mean": draws.mean(), "sd": draws.std(ddof=1),
            f"q{100 * low:g}": draws.quantile(low), f"q{100 * high:g}": draws.quantile(high),
        })
        table["r_hat"] = _per_parameter(rhat, table.index) if rhat is not None else np.nan
        table["ess_bulk"] = _per_parameter(ess, table.index)
        table.index.name = "parameter"
        return table

    def __repr__(self) -> str:
        sizes = self.idata.posterior.sizes
        return (f"AnalysisPosterior(chains={sizes['chain']}, draws={sizes['draw']})\n"
                f"{self.summary()}")


def _per_parameter(stat, names) -> list[float]:
    values = {str(t): float(v) for t, v in zip(stat["fixed"].coords["term"].values,
                                               stat["fixed"].values)}
    if "variance" in stat:
        values.update({str(c): float(v) for c, v in zip(
            stat["variance"].coords["component"].values, stat["variance"].values)})
    return [values.get(n, np.nan) for n in names]
