"""Convergence trace plots of the FCS chains, through ArviZ."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import arviz as az
import numpy as np
import xarray as xr

__all__ = ["plot_trace", "trace_dataset"]

MAX_PARAMETER_ROWS = 24  # more scalar parameters than this: pass variables= to choose


def _check_variables(imp, variables: Sequence[str] | None) -> list[str]:
    if isinstance(variables, str):
        variables = [variables]
    chosen = list(imp.variables if variables is None else variables)
    unknown = [v for v in chosen if v not in imp.variables]
    if unknown:
        raise ValueError(f"not imputed variables: {unknown}; imputed: {imp.variables}")
    if not chosen:
        raise ValueError("variables= is empty; name at least one imputed variable")
    return chosen


def _owner(name: str, variables: list[str]) -> str | None:
    """The imputed variable a posterior entry belongs to (longest matching prefix)."""
    owners = [v for v in variables if name.startswith(f"{v}_")]
    return max(owners, key=len) if owners else None


def _scalar_parameters(imp, variables: list[str]) -> xr.Dataset:
    """Every scalar parameter of the chosen variables' models, one data variable each.

    Vector parameters become ``name[label]`` (``popular_beta[texp]``); symmetric matrices
    (random-effect covariances) keep their lower triangle only. Per-cluster random effects
    (``*_u``) are left out: there are as many as clusters.
    """
    posterior = imp.idata.posterior
    data_vars: dict[str, xr.DataArray] = {}
    for name in posterior.data_vars:
        if name.endswith("_u") or _owner(name, imp.variables) not in variables:
            continue
        array = posterior[name]
        extra = [d for d in array.dims if d not in ("chain", "draw")]
        if not extra:
            data_vars[name] = array
            continue
        labels = [array[d].values if d in array.coords else np.arange(array.sizes[d])
                  for d in extra]
        square = (len(extra) == 2 and array.sizes[extra[0]] == array.sizes[extra[1]]
                  and np.allclose(array.values, np.swapaxes(array.values, -1, -2),
                                  equal_nan=True))
        for index in itertools.product(*(range(array.sizes[d]) for d in extra)):
            if square and index[1] > index[0]:
                continue
            label = ",".join(str(labels[k][i]) for k, i in enumerate(index))
            data_vars[f"{name}[{label}]"] = array.isel(dict(zip(extra, index))).drop_vars(
                extra, errors="ignore")
    return xr.Dataset(data_vars)


def trace_dataset(imp, variables: Sequence[str] | None = None, *,
                  parameters: bool = False) -> xr.Dataset:
    """The chains :func:`plot_trace` draws, as a Dataset of scalar variables (chain, draw).

    ``parameters=False``: ``mean(<variable>)`` and ``sd(<variable>)`` of the imputed values
    (mice's chainMean / chainVar); ``parameters=True``: each scalar model parameter.
    """
    from bayesimpute.diagnostics import imputation_summaries

    chosen = _check_variables(imp, variables)
    if parameters:
        dataset = _scalar_parameters(imp, chosen)
        if not dataset.data_vars:
            raise ValueError(f"the models of {chosen} record no parameters (e.g. passive "
                             f"variables); use parameters=False")
        return dataset
    summaries = imputation_summaries(imp)
    return summaries[[n for v in chosen for n in (f"mean({v})", f"sd({v})")]]


def plot_trace(imp, variables: Sequence[str] | None = None, *, parameters: bool = False,
               **kwargs):
    """Trace plot of the FCS chains: one line per imputation stream (chain), R-hat in titles.

    Parameters
    ----------
    imp : MultipleImputation
    variables : str or list of str, optional
        Imputed variables to show (default: all).
    parameters : bool
        ``False`` (default): the mean and s.d. of the imputed values per iteration, as
        mice's ``plot(imp)``. ``True``: the conditional models' parameters
        (``imp.idata.posterior``), one row per scalar (``popular_beta[texp]``,
        ``popular_psi[sex,Intercept]``...), cluster random effects left out.
    **kwargs
        Passed to :func:`arviz.plot_trace` (default ``compact=True, legend=False,
        chain_prop="color"``: each chain its own colour; ``trace_kwargs`` alpha 0.85).

    Returns
    -------
    matplotlib.figure.Figure
        One row per quantity: left the per-chain densities, right the per-chain traces
        (m lines each). Titles carry ArviZ's rank-normalised split R-hat across the m chains
        (shown from 4 iterations and 2 chains on).

    Raises
    ------
    ValueError
        Unknown or non-imputed variables; more than 24 parameter rows without ``variables=``.
    """
    dataset = trace_dataset(imp, variables, parameters=parameters)
    names = list(dataset.data_vars)
    if len(names) > MAX_PARAMETER_ROWS and variables is None:
        raise ValueError(f"{len(names)} quantities to plot; choose some with variables=... "
                         f"(imputed: {imp.variables})")
    options = {"compact": True, "legend": False, "chain_prop": "color",
               "trace_kwargs": {"alpha": 0.85, "linewidth": 1.1}}
    options.update(kwargs)
    axes = az.plot_trace(dataset, var_names=names, **options)
    axes = np.atleast_2d(axes)
    enough = dataset.sizes.get("draw", 0) >= 4 and dataset.sizes.get("chain", 0) >= 2
    rhat = az.rhat(dataset) if enough else None
    for row, name in zip(axes, names):
        title = name
        if rhat is not None and np.all(np.isfinite(dataset[name].values)):
            title = f"{name}   R-hat {float(rhat[name]):.3f}"
        for ax in row:
            ax.set_title(title, fontsize="medium")
    axes[-1, -1].set_xlabel("iteration")
    figure = axes.flat[0].figure
    figure.tight_layout()
    return figure
