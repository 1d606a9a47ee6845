"""Convergence of the FCS chains: R-hat and ESS of the imputations and of every parameter.

The m imputation streams are the chains and the FCS iterations the draws, as in mice's
``convergence()`` and miceadds' ``Rhat.mice``. What is traced per imputed variable
(:func:`imputation_summaries`):

* a continuous variable: the mean and the s.d. of its imputed values at each iteration
  (mice's chainMean / chainVar);
* a binary variable: the share of its second value (1, ``True``, the second level);
* a factor with three or more levels: the share of each level among its imputed values
  (means of the 0-based level codes would change with the order of the levels).

Every R-hat here is ArviZ's rank-normalised split R-hat (:func:`diagnostics_of`), the
same computation for the table of :func:`convergence`, the titles of
:func:`~bayesimpute.plots.trace.plot_trace` and the warning after a run
(:func:`warn_if_not_converged`). R-hat needs at least 2 chains (m >= 2) and 4 iterations;
below that it is NaN, as it is for a quantity that never changes.

**The warning threshold** (:func:`rhat_threshold`). R-hat from m chains of n iterations
is noisy: with mice's usual m = 5 and 10 iterations, chains of perfectly independent draws
give R-hat above 1.05 for about 30% of the quantities and above 1.1 for 10%, so "below
1.05" cannot be the test for runs that short. The threshold is the larger of 1.05 and the
R-hat that independent draws would exceed with probability 5% / K, for the K quantities
checked (a run of well-mixed chains warns with probability at most about 5%). That R-hat
follows from the F distribution of the between- to within-half-chain variance ratio of the
2m half-chains (:func:`rhat_threshold`; it matches ArviZ's rank R-hat of simulated
independent chains to about 0.01 from 10 iterations on). It is about 1.26 for m = 5,
10 iterations and 20 quantities, 1.12 for 20 iterations and 1.05 from about 40.
"""

from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Sequence

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from bayesimpute.design.coding import VariableKind
from bayesimpute.settings import settings
from bayesimpute.validation import warn_user

__all__ = [
    "convergence",
    "imputation_summaries",
    "diagnostics_of",
    "summary_diagnostics",
    "parameter_elements",
    "parameter_diagnostics",
    "rhat_threshold",
    "warn_if_not_converged",
    "NotConvergedWarning",
    "RHAT_FLOOR",
    "RUN_FALSE_ALARM",
    "MIN_CHAINS",
    "MIN_ITERATIONS",
]

#: R-hat below this counts as converged whatever the run's length (Vehtari et al. 2021
#: recommend 1.01 for long MCMC runs; FCS runs are short, so the usual mice-era 1.05): the
#: default of ``bi.settings["convergence.rhat_floor"]``, which the code reads
RHAT_FLOOR = settings.default("convergence.rhat_floor")
#: the probability that a run of well-mixed chains warns (spread over the quantities): the
#: default of ``bi.settings["convergence.false_alarm"]``
RUN_FALSE_ALARM = settings.default("convergence.false_alarm")
#: fewest chains and iterations for which R-hat is computed
MIN_CHAINS, MIN_ITERATIONS = 2, 4


class NotConvergedWarning(UserWarning):
    """The imputation chains have not mixed: continue the run with ``imp.iterate(n)``."""


# --- what is traced -----------------------------------------------------------------------------
def _levels(imp, variable: str) -> list[tuple[int, str]] | None:
    """(code, label) of the levels whose share is traced; None for continuous variables."""
    codec = imp.plan.codecs[variable]
    if codec.kind is VariableKind.CONTINUOUS:
        return None
    if codec.categories is not None:
        labels = [str(c) for c in codec.categories]
    elif pd.api.types.is_bool_dtype(codec.dtype) or codec.content == "bool":
        labels = ["False", "True"]
    else:
        labels = ["0", "1"]
    pairs = list(enumerate(labels))
    return pairs[1:] if codec.kind is VariableKind.BINARY else pairs


def _traced(imp, variable: str) -> list[tuple[str, str, xr.DataArray, xr.DataArray]]:
    """(name, statistic, values to plot, values R-hat is computed on), dims (chain, draw)."""
    levels = _levels(imp, variable)
    if levels is None:
        stats_ = imp.idata.sample_stats
        mean = stats_["chain_mean"].sel(variable=variable, drop=True)
        var = stats_["chain_var"].sel(variable=variable, drop=True)
        return [(f"mean({variable})", "mean", mean, mean),
                (f"sd({variable})", "sd", np.sqrt(var), var)]
    imputed = imp.idata.posterior_predictive[variable]
    missing = f"{variable}_missing"
    out = []
    for code, label in levels:
        share = (imputed == code).mean(missing)
        out.append((f"share({variable}={label})", "share", share, share))
    return out


def imputation_summaries(imp, variables: Sequence[str] | None = None) -> xr.Dataset:
    """What the trace plots show per imputed variable, dims (chain, draw).

    ``mean(v)`` and ``sd(v)`` for a continuous variable; ``share(v=level)`` for a binary
    variable (its second value) and for every level of a factor.
    """
    chosen = imp.variables if variables is None else list(variables)
    data_vars = {name: plotted for v in chosen for name, _, plotted, _ in _traced(imp, v)}
    return xr.Dataset(data_vars)


# --- the one R-hat computation --------------------------------------------------------------------
def _enough(dataset: xr.Dataset) -> bool:
    return (dataset.sizes.get("chain", 0) >= MIN_CHAINS
            and dataset.sizes.get("draw", 0) >= MIN_ITERATIONS)


def diagnostics_of(dataset: xr.Dataset, *, method: str = "rank") -> xr.Dataset:
    """R-hat, bulk and tail ESS of every data variable of ``dataset``, element by element.

    ArviZ's split R-hat (``method="rank"``: rank-normalised, the larger of the bulk and
    folded-tail values) and ESS over dims ``(chain, draw)``. NaN where there are fewer than
    2 chains or 4 draws, and where a quantity never changes or is not finite.

    Returns
    -------
    xarray.Dataset
        Dims ``statistic`` (``rhat``, ``ess_bulk``, ``ess_tail``) plus each variable's own
        non-sample dims.
    """
    if not _enough(dataset) or not dataset.data_vars:
        nan = xr.full_like(dataset.isel(chain=0, draw=0, drop=True), np.nan, dtype=float)
        return xr.concat([nan] * 3, dim=pd.Index(["rhat", "ess_bulk", "ess_tail"],
                                                 name="statistic"))
    finite = dataset.map(lambda a: np.isfinite(a).all(("chain", "draw")))
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")  # constant or non-finite chains: NaN, masked below
        clean = dataset.map(lambda a: a.where(np.isfinite(a), 0.0))
        rhat = az.rhat(clean, method=method)
        bulk = az.ess(clean, method="bulk")
        tail = az.ess(clean, method="tail")
    result = xr.concat([rhat, bulk, tail], dim=pd.Index(["rhat", "ess_bulk", "ess_tail"],
                                                       name="statistic"))
    defined = finite & rhat.map(np.isfinite)
    return result.where(defined)


def rhat_threshold(m: int, n_iterations: int, n_quantities: int = 1) -> float:
    """The R-hat above which a run warns: the larger of ``settings["convergence.rhat_floor"]``
    (:data:`RHAT_FLOOR`) and the R-hat that m independent chains of ``n_iterations``
    independent draws exceed with probability ``settings["convergence.false_alarm"] /
    n_quantities`` (:data:`RUN_FALSE_ALARM`).

    For split R-hat the 2m half-chains of N = n // 2 draws give, for independent normal
    draws, R-hat^2 = 1 + (F - 1) / N with F the ratio of between- to within-chain mean
    squares, F ~ F(2m - 1, 2m (N - 1)). The rank version is the larger of a bulk and a
    folded-tail R-hat, roughly independent, so each is taken at the square root of the
    level. NaN where R-hat is not computed.
    """
    if m < MIN_CHAINS or n_iterations < MIN_ITERATIONS:
        return float("nan")
    chains, half = 2 * m, n_iterations // 2
    level = 1.0 - settings["convergence.false_alarm"] / max(int(n_quantities), 1)
    ratio = stats.f.ppf(np.sqrt(level), chains - 1, chains * (half - 1))
    return float(max(settings["convergence.rhat_floor"], np.sqrt(1.0 + (ratio - 1.0) / half)))


# --- the imputations ------------------------------------------------------------------------------
def summary_diagnostics(imp, method: str = "rank") -> pd.DataFrame:
    """R-hat and bulk ESS of every traced quantity (:func:`imputation_summaries`).

    Index = the quantity's name (``mean(y)``, ``sd(y)``, ``share(f=b)``); columns
    ``variable``, ``statistic`` (``mean``, ``sd``, ``share``), ``rhat``, ``ess_bulk``. For
    ``sd(v)`` both are computed on the variance, which :func:`convergence` reports as
    ``rhat_var`` (the rank-normalised R-hat of the s.d. differs only in its folded-tail
    part). :func:`convergence` and the trace plots' titles read this table.
    """
    quantities = [(v, *q) for v in imp.variables for q in _traced(imp, v)]
    dataset = xr.Dataset({name: computed for _, name, _, _, computed in quantities})
    diagnosed = diagnostics_of(dataset, method=method)
    rows = {name: {"variable": v, "statistic": statistic,
                   "rhat": float(diagnosed[name].sel(statistic="rhat", drop=True)),
                   "ess_bulk": float(diagnosed[name].sel(statistic="ess_bulk", drop=True))}
            for v, name, statistic, _, _ in quantities}
    return pd.DataFrame.from_dict(rows, orient="index")


def _per_variable(summary: pd.DataFrame, imp) -> pd.DataFrame:
    rows = {}
    for variable, group in summary.groupby("variable", sort=False):
        by = group.set_index("statistic")
        if "mean" in by.index:
            rows[variable] = {"rhat_mean": by.at["mean", "rhat"], "rhat_var": by.at["sd", "rhat"],
                              "ess_mean": by.at["mean", "ess_bulk"], "traced": "mean, variance"}
        else:
            levels = [name[name.index("=") + 1:-1] for name in group.index]
            traced = (f"share of {levels[0]}" if len(levels) == 1
                      else f"shares of {len(levels)} levels")
            rows[variable] = {"rhat_mean": group["rhat"].max(skipna=False),
                              "rhat_var": np.nan, "ess_mean": group["ess_bulk"].min(skipna=False),
                              "traced": traced}
    table = pd.DataFrame.from_dict(rows, orient="index")
    return table.reindex(imp.variables)[["rhat_mean", "rhat_var", "ess_mean", "traced"]]


def _worst_parameters(by_parameter: pd.DataFrame, imp) -> pd.DataFrame:
    """Per imputed variable: its model's largest parameter R-hat, smallest bulk ESS, and
    the parameter with that R-hat (NaN / None for a model without recorded parameters)."""
    rows = {}
    for variable, group in by_parameter.groupby("variable", sort=False):
        rhat = group["rhat"]
        worst = rhat.idxmax() if rhat.notna().any() else None
        rows[variable] = {
            "rhat_parameters": rhat.max(), "ess_parameters": group["ess_bulk"].min(),
            "worst_parameter": None if worst is None else worst[len(variable) + 1:]}
    columns = ["rhat_parameters", "ess_parameters", "worst_parameter"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns).reindex(imp.variables)


def _explain_missing_rhat(imp) -> None:
    m, n = imp.m, imp.iterations
    if m >= MIN_CHAINS and n >= MIN_ITERATIONS:
        return
    warn_user(
        f"R-hat and ESS need at least {MIN_CHAINS} imputations (chains) and "
        f"{MIN_ITERATIONS} iterations; this run has m = {m} and {n} iteration(s), so they "
        "are NaN (as in a fast or test run). Continue the run (imp.iterate(n)) or impute "
        "with larger m / maxit to check convergence.",
        UserWarning,
    )


def convergence(imp, *, parameters: bool = False, method: str = "rank") -> pd.DataFrame:
    """R-hat and ESS of the imputations per variable, or of every model parameter.

    Parameters
    ----------
    imp : MultipleImputation
    parameters : bool
        ``False`` (default): one row per imputed variable, computed on what
        :func:`imputation_summaries` traces (module docstring). ``True``: one row per
        element of every parameter in ``imp.idata.posterior`` (``popular_beta[texp]``,
        the lower triangle of a random-effect covariance ``popular_psi[sex,Intercept]``,
        ...); a parameter with one value per cluster (random effects ``*_u``,
        cluster-specific residual variances) is summarised over the clusters in one row
        per remaining element (``popular_u[*,sex]``): its largest R-hat, smallest ESS, and
        how many clusters exceed the threshold.
    method : str
        ArviZ's R-hat method (default: rank-normalised split R-hat).

    Returns
    -------
    pandas.DataFrame
        ``parameters=False``: index = imputed variables; ``rhat_mean`` (R-hat of the mean of
        the imputed values; for factors the largest R-hat among the level shares),
        ``rhat_var`` (of their variance; NaN for binary variables and factors, whose
        shares say it all), ``ess_mean`` (bulk ESS of the mean; smallest among the shares),
        ``traced`` (what was computed), and beside them the variable's model parameters
        (:func:`parameter_diagnostics`: fixed effects, variance components and
        correlations, residual variances, cutpoints; not the per-cluster effects):
        ``rhat_parameters`` (the largest R-hat), ``ess_parameters`` (the smallest bulk ESS)
        and ``worst_parameter`` (the one with that R-hat). ``parameters=True``: ``variable``,
        ``parameter``, ``rhat``, ``ess_bulk``, ``ess_tail``, ``elements`` (values
        summarised in the row) and ``above_threshold`` (how many of them exceed it).
        ``attrs["rhat_threshold"]`` holds :func:`rhat_threshold` for the rows shown.

    Notes
    -----
    R-hat is NaN with fewer than 2 imputations or 4 iterations (a warning says so) and
    for a quantity that never changes (e.g. the spread of imputations that all come from
    one cluster of a cluster-level variable, or a fixed parameter).
    """
    _explain_missing_rhat(imp)
    if parameters:
        table = _parameter_table(imp, method)
        n_quantities = int(table["elements"].sum()) if len(table) else 1
    else:
        summary = summary_diagnostics(imp, method)
        by_parameter = parameter_diagnostics(imp, method)
        table = _per_variable(summary, imp).join(_worst_parameters(by_parameter, imp))
        n_quantities = len(summary) + len(by_parameter)
    table.attrs["rhat_threshold"] = rhat_threshold(imp.m, imp.iterations, n_quantities)
    return table


# --- the parameters -------------------------------------------------------------------------------
def _owner(name: str, variables: Sequence[str]) -> str | None:
    """The imputed variable a posterior entry belongs to (longest matching prefix)."""
    owners = [v for v in variables if name.startswith(f"{v}_")]
    return max(owners, key=len) if owners else None


def _is_symmetric(array: xr.DataArray, dims: list[str]) -> bool:
    """Whether the last two extra dims form symmetric matrices (covariances)."""
    if len(dims) < 2 or array.sizes[dims[-1]] != array.sizes[dims[-2]]:
        return False
    values = array.transpose(..., *dims[-2:]).values
    return bool(np.allclose(values, np.swapaxes(values, -1, -2), equal_nan=True))


def _element_index(array: xr.DataArray, dims: list[str]):
    """Index tuples of the elements to report (lower triangle of symmetric matrices)."""
    symmetric = _is_symmetric(array, dims)
    for index in itertools.product(*(range(array.sizes[d]) for d in dims)):
        if symmetric and index[-1] > index[-2]:
            continue
        yield index


def _label(array: xr.DataArray, dims: list[str], index: tuple, stars: Sequence[str] = ()) -> str:
    parts = []
    for dim in array.dims:
        if dim in ("chain", "draw"):
            continue
        if dim in stars:
            parts.append("*")
            continue
        i = index[dims.index(dim)]
        parts.append(str(array[dim].values[i]) if dim in array.coords else str(i))
    return "[" + ",".join(parts) + "]" if parts else ""


def _cluster_dims(array: xr.DataArray) -> list[str]:
    """Dims with one entry per cluster: ``y_cluster``, and ``y_cluster_klass`` of ml.*."""
    return [d for d in array.dims if re.search(r"_cluster(_|$)", str(d))]


def parameter_elements(imp, variables: Sequence[str] | None = None) -> xr.Dataset:
    """Every scalar parameter element of the chosen variables' models, dims (chain, draw).

    Vector parameters become ``name[label]`` (``popular_beta[texp]``); symmetric matrices
    (random-effect covariances) keep their lower triangle. Parameters with one value per
    cluster (``*_u``, cluster-specific variances) are left out: there are as many as
    clusters (:func:`convergence` with ``parameters=True`` summarises them).
    """
    chosen = imp.variables if variables is None else list(variables)
    posterior = imp.idata.posterior
    data_vars: dict[str, xr.DataArray] = {}
    for name, array in posterior.data_vars.items():
        if _owner(name, imp.variables) not in chosen or _cluster_dims(array):
            continue
        dims = [d for d in array.dims if d not in ("chain", "draw")]
        for index in _element_index(array, dims):
            element = array.isel(dict(zip(dims, index))).drop_vars(dims, errors="ignore")
            data_vars[f"{name}{_label(array, dims, index)}"] = element
    return xr.Dataset(data_vars)


def parameter_diagnostics(imp, method: str = "rank") -> pd.DataFrame:
    """R-hat and bulk ESS of every scalar parameter element (:func:`parameter_elements`).

    Index = the element's name (``y_beta[x]``, ``y_psi[Intercept,Intercept]``); columns
    ``variable`` (the imputed variable whose model it belongs to), ``rhat``, ``ess_bulk``.
    The per-cluster effects are left out (:func:`convergence` with ``parameters=True``
    summarises them). The warning after a run and :func:`convergence`'s per-variable table
    read this.

    Examples
    --------
    >>> import bayesimpute as bi
    >>> data = bi.datasets.load_popmis()[["school", "popular", "sex", "texp"]].iloc[:300]
    >>> imp = bi.impute(data, cluster="school", m=2, maxit=5, seed=1)
    >>> sorted(set(parameter_diagnostics(imp)["variable"]))
    ['popular']
    """
    elements = parameter_elements(imp)
    diagnosed = diagnostics_of(elements, method=method)
    rows = {name: {"variable": _owner(name, imp.variables),
                   "rhat": float(diagnosed[name].sel(statistic="rhat", drop=True)),
                   "ess_bulk": float(diagnosed[name].sel(statistic="ess_bulk", drop=True))}
            for name in elements.data_vars}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["variable", "rhat", "ess_bulk"])


def _parameter_table(imp, method: str) -> pd.DataFrame:
    posterior = imp.idata.posterior
    n_draws = posterior.sizes.get("draw", 0)
    rows = {}
    pending = []
    for name, array in posterior.data_vars.items():
        variable = _owner(name, imp.variables)
        if variable is None:
            continue
        diagnosed = diagnostics_of(xr.Dataset({"x": array}), method=method)["x"]
        pending.append((name, variable, array, diagnosed))
    n_elements = sum(int(np.prod([a.sizes[d] for d in a.dims if d not in ("chain", "draw")]))
                     for _, _, a, _ in pending)
    threshold = rhat_threshold(posterior.sizes.get("chain", 0), n_draws, max(n_elements, 1))
    for name, variable, array, diagnosed in pending:
        stars = _cluster_dims(array)
        rhat, bulk, tail = (diagnosed.sel(statistic=s, drop=True)
                            for s in ("rhat", "ess_bulk", "ess_tail"))
        reduced = xr.Dataset({
            "rhat": rhat.max(stars, skipna=False) if stars else rhat,
            "ess_bulk": bulk.min(stars, skipna=False) if stars else bulk,
            "ess_tail": tail.min(stars, skipna=False) if stars else tail,
            "above": (rhat > threshold).sum(stars) if stars else (rhat > threshold),
        })
        rest = [d for d in array.dims if d not in ("chain", "draw", *stars)]
        elements = int(np.prod([array.sizes[d] for d in stars])) if stars else 1
        template = array.isel({d: 0 for d in stars}, drop=True) if stars else array
        for index in _element_index(template, rest):
            point = reduced.isel(dict(zip(rest, index)))
            label = f"{name}{_label(array, [*rest], index, stars)}" if stars else (
                f"{name}{_label(array, rest, index)}")
            rows[label] = {
                "variable": variable, "parameter": name[len(variable) + 1:],
                "rhat": float(point["rhat"]), "ess_bulk": float(point["ess_bulk"]),
                "ess_tail": float(point["ess_tail"]), "elements": elements,
                "above_threshold": int(point["above"]),
            }
    columns = ["variable", "parameter", "rhat", "ess_bulk", "ess_tail", "elements",
               "above_threshold"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


# --- the warning after a run ----------------------------------------------------------------------
def warn_if_not_converged(imp) -> list[str]:
    """Warn once when the run has not converged; return what was named.

    Computed on the traced quantities of every imputed variable (the mean and variance of
    its imputed values, the level shares of a factor: :func:`convergence`'s table) and on
    every scalar parameter of every variable's model (:func:`parameter_diagnostics`: an
    imputation drawn while a variance component still wanders is not a posterior
    predictive draw, however settled the imputed values' mean looks), over all iterations
    of the run, against :func:`rhat_threshold` for the run's m, iterations and number of
    quantities. Returns the variables whose imputations and the parameters (``y_psi[...]``)
    that exceed it. Nothing is said when R-hat cannot be computed (m = 1, fewer than 4
    iterations): :func:`convergence` explains that when asked.
    """
    if imp.m < MIN_CHAINS or imp.iterations < MIN_ITERATIONS or not imp.variables:
        return []
    summary = summary_diagnostics(imp, "rank")
    by_parameter = parameter_diagnostics(imp, "rank")
    n_quantities = len(summary) + len(by_parameter)
    threshold = rhat_threshold(imp.m, imp.iterations, n_quantities)
    worst = summary.groupby("variable", sort=False)["rhat"].max()
    flagged = worst[worst > threshold].sort_values(ascending=False)
    parameters = by_parameter["rhat"][by_parameter["rhat"] > threshold].sort_values(
        ascending=False)
    if flagged.empty and parameters.empty:
        return []
    parts = []
    if not flagged.empty:
        parts.append("the imputations of " + ", ".join(f"{v} ({r:.2f})"
                                                      for v, r in flagged.items()))
    if not parameters.empty:
        parts.append("the parameters " + ", ".join(f"{p} ({r:.2f})"
                                                  for p, r in parameters.items()))
    warn_user(
        f"the imputation chains have not converged after {imp.iterations} iterations: R-hat "
        f"above {threshold:.3f} for {' and '.join(parts)}. R-hat is computed across the "
        f"m = {imp.m} imputations, over all iterations, on what the trace plots show (the "
        "mean and variance of a continuous variable's imputed values, the share of each "
        "level of a factor or of the second value of a binary variable) and on every "
        "parameter of the imputation models (fixed effects, variance components, residual "
        f"variances, cutpoints); {threshold:.3f} is the larger of "
        f"{settings['convergence.rhat_floor']} and what independent draws would exceed "
        f"with probability {settings['convergence.false_alarm']:.0%} over "
        f"the {n_quantities} quantities. Continue the run, e.g. imp = imp.iterate("
        f"{max(imp.iterations, 10)}), and check bi.convergence(imp), imp.plot_trace() and "
        "bi.convergence(imp, parameters=True).",
        NotConvergedWarning,
    )
    return list(flagged.index) + list(parameters.index)
