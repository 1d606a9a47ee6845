"""Sensitivity analysis for data missing not at random.

Two ways of asking "how much do the conclusions depend on the MNAR assumption?":

- :func:`rho_prior_sweep`: impute with ``2l.heckman`` under a series of priors on the
  selection-outcome error correlation ``rho`` (including fixed values), and pool the
  analysis under each;
- :func:`delta_sweep`: shift (or scale) the imputed values of a variable by ``delta``
  through the engine's ``post`` hook, mice's delta adjustment, over a grid of deltas;
  :func:`tipping_point` then finds the delta at which the conclusion about a term changes.

Both return a tidy DataFrame, one row per setting and term, with the pooled estimate, its
standard error and 95% interval, the fraction of missing information and the mean of the
imputed values; :func:`plot_sensitivity` draws estimate and interval against the setting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["rho_prior_sweep", "delta_sweep", "tipping_point", "plot_sensitivity"]

_COLUMNS = ["estimate", "std_error", "conf_low", "conf_high", "df", "p_value", "fmi"]


def rho_prior_sweep(
    data: pd.DataFrame,
    *,
    variable: str,
    priors: Mapping[str, Any] | Sequence[Any],
    analysis: str | Callable[[pd.DataFrame], Any],
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    family: str = "gaussian",
    **impute_kwargs: Any,
) -> pd.DataFrame:
    """Impute and analyse once per prior on rho for ``variable`` (a ``2l.heckman`` target).

    Parameters
    ----------
    data : DataFrame
        The incomplete data.
    variable : str
        The column imputed by ``2l.heckman``.
    priors : dict label -> prior, or sequence of priors
        Any ``rho_prior`` form (``("normal_atanh", mu, sd)``, ``("uniform", lo, hi)``,
        ``("beta", a, b)``, ``("fixed", value)`` or a number); labels default to ``str``.
    analysis : str or callable
        Passed to :meth:`MultipleImputation.analyze` (an lme4-style formula or a callable).
    method_options : dict, optional
        Other method options; the ``rho_prior`` of ``variable`` is set per setting.
    family : str
        Family of the analysis model.
    **impute_kwargs
        Passed to :func:`bayesimpute.impute` (``method``, ``predictor_matrix``, ``m``,
        ``maxit``, ``seed``, ...). The same seed is used for every setting.

    Returns
    -------
    DataFrame
        Columns ``setting, prior, term, estimate, std_error, conf_low, conf_high, df,
        p_value, fmi, mean_imputed``.
    """
    labelled = _labelled(priors)
    rows = []
    for label, prior in labelled.items():
        options = {k: dict(v) for k, v in (method_options or {}).items()}
        options.setdefault(variable, {})["rho_prior"] = prior
        table = _impute_and_pool(data, variable, analysis, family,
                                 {**impute_kwargs, "method_options": options})
        rows.append(table.assign(setting=label, prior=str(prior)))
    return _tidy(rows, ["setting", "prior"])


def delta_sweep(
    data: pd.DataFrame,
    *,
    variable: str,
    deltas: Sequence[float],
    analysis: str | Callable[[pd.DataFrame], Any],
    scale: str = "additive",
    post: Mapping[str, Callable[[pd.Series], pd.Series]] | None = None,
    family: str = "gaussian",
    **impute_kwargs: Any,
) -> pd.DataFrame:
    """Delta adjustment: impute with the imputed ``variable`` shifted by each ``delta``.

    The shift is applied through ``post`` after every draw (mice's delta adjustment), so
    variables imputed later in the chain (and passive ones) see the shifted values.

    Parameters
    ----------
    variable : str
        The column whose imputed values are adjusted.
    deltas : sequence of float
        The grid; include 0 (the unadjusted imputation) for reference.
    scale : {"additive", "multiplicative"}
        ``values + delta`` or ``values * delta``.
    post : dict, optional
        Other ``post`` callables; one given for ``variable`` runs before the shift.
    analysis, family, **impute_kwargs
        As in :func:`rho_prior_sweep`.

    Returns
    -------
    DataFrame
        Columns ``delta, term, estimate, std_error, conf_low, conf_high, df, p_value, fmi,
        mean_imputed``.
    """
    if scale not in ("additive", "multiplicative"):
        raise ValueError(f"scale must be 'additive' or 'multiplicative', got {scale!r}")
    rows = []
    for delta in deltas:
        adjusted = dict(post or {})
        adjusted[variable] = _shift(float(delta), scale, adjusted.get(variable))
        table = _impute_and_pool(data, variable, analysis, family,
                                 {**impute_kwargs, "post": adjusted})
        rows.append(table.assign(delta=float(delta)))
    return _tidy(rows, ["delta"])


def tipping_point(
    table: pd.DataFrame, term: str, *, setting: str = "delta", null: float = 0.0
) -> float:
    """The setting at which the conclusion about ``term`` changes.

    The conclusion is whether the 95% interval excludes ``null``. Starting from the setting
    closest to 0 (the unadjusted analysis), the grid is walked outwards in each direction
    until the conclusion flips (the interval reaches ``null``, or leaves it); the crossing
    is interpolated linearly between the two grid points that bracket it. Returns the
    crossing nearest to the reference, or NaN if the conclusion holds over the whole grid.
    """
    rows = table[table["term"] == term].sort_values(setting)
    if rows.empty:
        raise KeyError(f"term {term!r} not in the table; terms: {sorted(table['term'].unique())}")
    values = rows[setting].to_numpy(dtype=float)
    # signed distance of the interval from the null: > 0 while the interval excludes it
    gap = np.maximum(rows["conf_low"].to_numpy() - null, null - rows["conf_high"].to_numpy())
    start = int(np.argmin(np.abs(values)))
    crossings = [_crossing(values, gap, start, step) for step in (1, -1)]
    crossings = [c for c in crossings if np.isfinite(c)]
    if not crossings:
        return float("nan")
    return float(min(crossings, key=lambda c: abs(c - values[start])))


def _crossing(values: np.ndarray, gap: np.ndarray, start: int, step: int) -> float:
    i = start
    while 0 <= i + step < len(values):
        j = i + step
        if (gap[j] > 0) != (gap[start] > 0):
            return float(values[i] + (values[j] - values[i]) * gap[i] / (gap[i] - gap[j]))
        i = j
    return float("nan")


def plot_sensitivity(
    table: pd.DataFrame,
    terms: str | Sequence[str] | None = None,
    *,
    setting: str | None = None,
    null: float | None = None,
    reference: Mapping[str, float] | None = None,
):
    """Estimate and 95% interval of each term against the setting, one panel per term.

    Parameters
    ----------
    table : DataFrame
        From :func:`rho_prior_sweep` or :func:`delta_sweep`.
    terms : str or sequence, optional
        Terms to draw (default: all but the intercept).
    setting : str, optional
        The column on the x axis (default ``delta`` when present, else ``setting``).
    null : float, optional
        A horizontal reference line (e.g. 0 for a tipping-point plot).
    reference : dict term -> value, optional
        Another horizontal line per term (e.g. the complete-case estimate).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    setting = setting or ("delta" if "delta" in table.columns else "setting")
    terms = _terms(table, terms)
    fig, axes = plt.subplots(1, len(terms), figsize=(3.6 * len(terms), 3.2), squeeze=False)
    for ax, term in zip(axes[0], terms):
        rows = table[table["term"] == term]
        x = rows[setting].to_numpy()
        numeric = pd.api.types.is_numeric_dtype(rows[setting])
        pos = x if numeric else np.arange(len(x))
        if numeric:
            ax.fill_between(pos, rows["conf_low"], rows["conf_high"], alpha=0.25, color="C0",
                            label="95% interval")
        else:
            ax.vlines(pos, rows["conf_low"], rows["conf_high"], color="C0", label="95% interval")
        ax.plot(pos, rows["estimate"], "o-" if numeric else "o", color="C0", label="estimate")
        if not numeric:
            ax.set_xticks(pos, [str(v) for v in x], rotation=30, ha="right")
        if null is not None:
            ax.axhline(null, color="k", lw=0.8, ls=":")
        if reference and term in reference:
            ax.axhline(reference[term], color="C3", lw=1, ls="--", label="reference")
        ax.set_title(term)
        ax.set_xlabel(setting)
    axes[0][0].set_ylabel("pooled estimate")
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    return fig


# --- helpers ---------------------------------------------------------------------------------
def _labelled(priors: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    if isinstance(priors, Mapping):
        return dict(priors)
    return {_label(p): p for p in priors}


def _label(prior: Any) -> str:
    if isinstance(prior, (int, float)):
        return f"rho = {prior:g}"
    if isinstance(prior, (tuple, list)) and prior and prior[0] == "fixed":
        return f"rho = {float(prior[1]):g}"
    if isinstance(prior, (tuple, list)):
        return f"{prior[0]}({', '.join(f'{float(v):g}' for v in prior[1:])})"
    return str(prior)


def _shift(delta: float, scale: str, before: Callable | None) -> Callable[[pd.Series], pd.Series]:
    def adjust(values: pd.Series) -> pd.Series:
        values = before(values) if before is not None else values
        return values + delta if scale == "additive" else values * delta

    return adjust


def _impute_and_pool(data, variable, analysis, family, impute_kwargs) -> pd.DataFrame:
    import bayesimpute as bi

    imp = bi.impute(data, **impute_kwargs)
    summary = bi.pool(imp.analyze(analysis, family=family)).summary()
    table = summary[[c for c in _COLUMNS if c in summary.columns]].copy()
    table.index.name = "term"
    table = table.reset_index()
    missing = data[variable].isna().to_numpy()
    imputed = [imp.complete(i)[variable].to_numpy(dtype=float)[missing].mean()
               for i in range(imp.m)]
    return table.assign(mean_imputed=float(np.mean(imputed)))


def _tidy(tables: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    out = pd.concat(tables, ignore_index=True)
    first = keys + ["term"]
    return out[first + [c for c in out.columns if c not in first]]


def _terms(table: pd.DataFrame, terms: str | Sequence[str] | None) -> list[str]:
    if terms is None:
        return [t for t in table["term"].unique() if t not in ("Intercept", "(Intercept)")]
    return [terms] if isinstance(terms, str) else list(terms)
