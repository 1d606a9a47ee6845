"""Convergence trace plots of the FCS chains, through ArviZ."""

from __future__ import annotations

from collections.abc import Sequence

import arviz as az
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_trace"]


def plot_trace(imp, variables: Sequence[str] | None = None, *, parameters: bool = False,
               **kwargs):
    """Mean and s.d. of the imputed values per iteration, one line per chain.

    Parameters
    ----------
    imp : MultipleImputation
    variables : list of str, optional
        Imputed variables to show (default: all).
    parameters : bool
        Plot the conditional models' parameters (``imp.idata.posterior``) instead.
    **kwargs
        Passed to :func:`arviz.plot_trace`.

    Returns
    -------
    matplotlib.figure.Figure
        Panel titles carry the rank-normalised R-hat across the m chains.
    """
    from bayesimpute.diagnostics import imputation_summaries

    chosen = list(imp.variables if variables is None else variables)
    unknown = [v for v in chosen if v not in imp.variables]
    if unknown:
        raise ValueError(f"not imputed variables: {unknown}; imputed: {imp.variables}")
    if parameters:
        names = [n for n in imp.idata.posterior.data_vars
                 if any(n.startswith(f"{v}_") for v in chosen) and not n.endswith("_u")]
        dataset = imp.idata.posterior[names]
    else:
        summaries = imputation_summaries(imp)
        names = [n for v in chosen for n in (f"mean({v})", f"sd({v})")]
        dataset = summaries[names]
    axes = az.plot_trace(dataset, var_names=names, compact=True, legend=False, **kwargs)
    axes = np.atleast_2d(axes)
    if dataset.sizes.get("draw", 0) >= 4 and dataset.sizes.get("chain", 0) >= 2:
        rhat = az.rhat(dataset)
        for row in axes:
            title = row[0].get_title()
            base = title.split("\n")[0]
            if base in rhat and rhat[base].size == 1:
                for ax in row:
                    ax.set_title(f"{base}   R-hat {float(rhat[base]):.3f}", fontsize="small")
    figure = axes.flat[0].figure
    figure.tight_layout()
    return figure
