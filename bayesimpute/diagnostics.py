"""Convergence of the FCS chains: R-hat of the mean and variance of the imputed values."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["convergence", "imputation_summaries"]


def imputation_summaries(imp) -> xr.Dataset:
    """Per variable, the mean and s.d. of its imputed values, dims (chain, draw)."""
    stats = imp.idata.sample_stats
    data_vars = {}
    for variable in imp.variables:
        mean = stats["chain_mean"].sel(variable=variable).drop_vars("variable")
        var = stats["chain_var"].sel(variable=variable).drop_vars("variable")
        data_vars[f"mean({variable})"] = mean
        data_vars[f"sd({variable})"] = np.sqrt(var)
    return xr.Dataset(data_vars)


def convergence(imp, *, method: str = "rank") -> pd.DataFrame:
    """R-hat of the chain means and variances of the imputed values, per variable.

    The m imputation streams are the chains and the FCS iterations the draws, as in
    mice's ``convergence()`` and miceadds' ``Rhat.mice``; ArviZ's rank-normalised split
    R-hat is used (``method="rank"``). Values near 1 (below about 1.05) indicate that the
    streams have mixed; with fewer than 4 iterations R-hat is not computed (NaN).

    Returns
    -------
    pandas.DataFrame
        Index = imputed variables; columns ``rhat_mean``, ``rhat_var``, ``ess_mean``.
    """
    rows = {}
    stats = imp.idata.sample_stats
    enough = stats.sizes["draw"] >= 4 and stats.sizes["chain"] >= 2
    for variable in imp.variables:
        mean = stats["chain_mean"].sel(variable=variable).values
        var = stats["chain_var"].sel(variable=variable).values
        if enough and np.all(np.isfinite(mean)):
            rows[variable] = {
                "rhat_mean": float(az.rhat(mean, method=method)),
                "rhat_var": float(az.rhat(var, method=method)) if np.all(np.isfinite(var)) else np.nan,
                "ess_mean": float(az.ess(mean)),
            }
        else:
            rows[variable] = {"rhat_mean": np.nan, "rhat_var": np.nan, "ess_mean": np.nan}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["rhat_mean", "rhat_var", "ess_mean"])
