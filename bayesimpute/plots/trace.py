"""Convergence trace plots of the FCS chains, through ArviZ.

What is traced is :mod:`bayesimpute.diagnostics`'s: per imputed variable the mean and s.d.
of its imputed values (continuous), the share of its second value (binary) or of each
level (factors); with ``parameters=True`` every scalar element of the models' parameters.
The R-hat in each title is the one :func:`~bayesimpute.diagnostics.convergence` reports.
"""

from __future__ import annotations

from collections.abc import Sequence

import arviz as az
import numpy as np
import xarray as xr

from bayesimpute.diagnostics import (
    diagnostics_of,
    imputation_summaries,
    parameter_elements,
    summary_diagnostics,
)
from bayesimpute.validation import warn_user

__all__ = ["plot_trace", "trace_dataset", "ROWS_PER_PAGE"]

#: rows (quantities) per figure; ArviZ's own default stops at 20 (``plot.max_subplots``)
ROWS_PER_PAGE = 20


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


def trace_dataset(imp, variables: Sequence[str] | None = None, *,
                  parameters: bool = False) -> xr.Dataset:
    """The chains :func:`plot_trace` draws, as a Dataset of scalar variables (chain, draw).

    ``parameters=False``: :func:`~bayesimpute.diagnostics.imputation_summaries`
    (``mean(y)``, ``sd(y)``, ``share(f=level)``); ``parameters=True``:
    :func:`~bayesimpute.diagnostics.parameter_elements` (each scalar model parameter,
    per-cluster random effects left out).
    """
    chosen = _check_variables(imp, variables)
    if parameters:
        dataset = parameter_elements(imp, chosen)
        if not dataset.data_vars:
            raise ValueError(f"the models of {chosen} record no parameters (e.g. passive "
                             f"variables); use parameters=False")
        return dataset
    return imputation_summaries(imp, chosen)


def _titles(imp, dataset: xr.Dataset, parameters: bool) -> dict[str, str]:
    if parameters:
        rhat = diagnostics_of(dataset).sel(statistic="rhat", drop=True)
        values = {name: float(rhat[name]) for name in dataset.data_vars}
    else:
        values = summary_diagnostics(imp)["rhat"].to_dict()
    return {name: (f"{name}   R-hat {values[name]:.3f}" if np.isfinite(values.get(name, np.nan))
                   else name) for name in dataset.data_vars}


def plot_trace(imp, variables: Sequence[str] | None = None, *, parameters: bool = False,
               page: int = 0, rows_per_page: int = ROWS_PER_PAGE, **kwargs):
    """Trace plot of the FCS chains: one line per imputation stream (chain), R-hat in titles.

    Parameters
    ----------
    imp : MultipleImputation
    variables : str or list of str, optional
        Imputed variables to show (default: all).
    parameters : bool
        ``False`` (default): per iteration, the mean and s.d. of the imputed values of a
        continuous variable (as mice's ``plot(imp)``), the share of the second value of a
        binary variable, the share of each level of a factor (``share(den=2)``).
        ``True``: the conditional models' parameters (``imp.idata.posterior``), one row per
        scalar (``popular_beta[texp]``, ``popular_psi[sex,Intercept]``...), per-cluster
        random effects left out (``bi.convergence(imp, parameters=True)`` summarises them).
    page, rows_per_page : int
        With more quantities than ``rows_per_page``, the figure shows page ``page``
        (0-based) of them; its title says which rows and how many pages there are, and a
        warning says so too. Nothing is cut silently.
    **kwargs
        Passed to :func:`arviz.plot_trace` (default ``compact=True, legend=False,
        chain_prop="color"``: each chain its own colour; ``trace_kwargs`` alpha 0.85).

    Returns
    -------
    matplotlib.figure.Figure
        One row per quantity: left the per-chain densities, right the per-chain traces
        (m lines each). Titles carry the R-hat that :func:`~bayesimpute.diagnostics.convergence`
        reports (the ``sd`` rows: the R-hat of the variance, its ``rhat_var``), shown from
        2 chains and 4 iterations on.

    Raises
    ------
    ValueError
        Unknown or non-imputed variables; a page beyond the last.
    """
    dataset = trace_dataset(imp, variables, parameters=parameters)
    names = list(dataset.data_vars)
    shown, note = _page(names, page, rows_per_page)
    if note:
        warn_user(f"plot_trace shows {note}", UserWarning)
    titles = _titles(imp, dataset[shown], parameters)
    options = {"compact": True, "legend": False, "chain_prop": "color",
               "trace_kwargs": {"alpha": 0.85, "linewidth": 1.1}}
    options.update(kwargs)
    with az.rc_context(rc={"plot.max_subplots": 2 * len(shown) + 2}):
        axes = az.plot_trace(dataset, var_names=shown, **options)
    axes = np.atleast_2d(axes)
    for row, name in zip(axes, shown):
        for ax in row:
            ax.set_title(titles[name], fontsize="medium")
    axes[-1, -1].set_xlabel("iteration")
    figure = axes.flat[0].figure
    if note:
        figure.suptitle(note, fontsize="medium")
    figure.tight_layout()
    return figure


def _page(names: list[str], page: int, rows_per_page: int) -> tuple[list[str], str]:
    """The names on ``page`` and, when not all fit, a note saying which are shown."""
    if isinstance(rows_per_page, bool) or not isinstance(rows_per_page, int) or rows_per_page < 1:
        raise ValueError(f"rows_per_page must be a positive integer, got {rows_per_page!r}")
    pages = -(-len(names) // rows_per_page)
    if isinstance(page, bool) or not isinstance(page, int) or not 0 <= page < pages:
        raise ValueError(f"page must be an integer from 0 to {pages - 1} ({len(names)} "
                         f"quantities, {rows_per_page} per page), got {page!r}")
    shown = names[page * rows_per_page:(page + 1) * rows_per_page]
    if pages == 1:
        return shown, ""
    first = page * rows_per_page + 1
    return shown, (f"rows {first}-{first + len(shown) - 1} of {len(names)} (page {page} of "
                   f"0-{pages - 1}; plot_trace(..., page={(page + 1) % pages}) for "
                   f"{'the next' if page + 1 < pages else 'the first'})")
