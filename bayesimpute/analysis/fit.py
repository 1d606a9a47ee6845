"""Fit objects: one complete-data fit in the form pooling needs, and the m fits of an analysis.

:class:`ModelFit` is what :func:`bayesimpute.pool` consumes; :func:`as_model_fit` converts the
other things an analysis callable may return (statsmodels results, ``(estimates, covariance)``
pairs, objects with posterior draws). This module imports nothing from pooling: pooling
depends on it, not the other way round.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from bayesimpute.analysis.formula import INTERCEPT, DesignMatrices, RandomTermDesign
from bayesimpute.analysis.mixed_core import MixedFit, group_counts

__all__ = ["ModelFit", "AnalysisResults", "as_model_fit", "from_mixed_fit"]


@dataclass
class ModelFit:
    """One complete-data fit, in the form that pooling needs.

    Attributes
    ----------
    params : pandas.Series
        Fixed-effect estimates, indexed by term (``Intercept``, ``texp``, ``type[T.RCT]``...).
    cov : pandas.DataFrame
        Their covariance matrix.
    dfcom : float
        Complete-data residual degrees of freedom (n minus number of fixed effects;
        ``inf`` when unknown).
    variance_components : dict
        Random-effect variances (``"school: Intercept"``), covariances
        (``"school: cov(Intercept, sex)"``), correlations (``"school: corr(Intercept, sex)"``),
        one set per grouping factor, ``"residual"`` and, for a model with a single random
        intercept, ``"icc"``.
    nobs : int
        Number of rows used.
    raw : object
        The underlying fit (:class:`~bayesimpute.analysis.lmm.LinearMixedFit`,
        :class:`~bayesimpute.analysis.glmm.GeneralizedMixedFit`, a statsmodels result...).
    variance_inference : pandas.DataFrame or None
        Per component: ``scale`` ("log", "fisher_z", "logit", "identity" or "fixed"),
        ``transformed`` (the estimate on that scale) and ``std_error`` on that scale (NaN
        where unavailable, e.g. a variance estimated as zero). Used for pooled intervals.
    draws : pandas.DataFrame or None
        Posterior draws of the parameters (one column per term) for ``pool(method="mixing")``.
    term_df : pandas.Series or None
        Per-term complete-data df (Satterthwaite, lmerTest's, for linear mixed models);
        ``None`` where not available, and then ``dfcom`` applies.
    converged : bool
        Whether the fit converged; ``pool()`` refuses fits that did not unless told otherwise.
    is_singular : bool
        A variance estimated as zero or a correlation as +-1 (lme4's ``isSingular``).
    messages : list of str
        What the fitter reports: non-convergence, boundary estimates, missing standard errors.
    loglik : float or None
        Log-likelihood (REML for REML fits, Laplace for GLMMs), as lme4's ``logLik``.
    criterion : float or None
        ``-2 loglik``: the REML criterion or the deviance.
    theta : numpy.ndarray or None
        Relative covariance factor entries (lme4's ``getME(fit, "theta")``).
    random_covariances : dict
        Per grouping factor, the covariance matrix of its random effects (DataFrame).
    n_groups : dict
        Per grouping factor, its number of groups (lme4's ``ngrps``).
    family : str
        ``"gaussian"``, ``"binomial"`` or ``"poisson"``.
    """

    params: pd.Series
    cov: pd.DataFrame
    dfcom: float = math.inf
    variance_components: dict[str, float] = field(default_factory=dict)
    nobs: int | None = None
    raw: Any = None
    variance_inference: pd.DataFrame | None = None
    draws: pd.DataFrame | None = None
    term_df: pd.Series | None = None
    converged: bool = True
    is_singular: bool = False
    messages: list[str] = field(default_factory=list)
    loglik: float | None = None
    criterion: float | None = None
    theta: np.ndarray | None = None
    random_covariances: dict[str, pd.DataFrame] = field(default_factory=dict)
    n_groups: dict[str, int] = field(default_factory=dict)
    family: str = "gaussian"

    @property
    def std_errors(self) -> pd.Series:
        """Square roots of the diagonal of :attr:`cov`."""
        return pd.Series(np.sqrt(np.diag(self.cov.to_numpy())), index=self.params.index)

    def __repr__(self) -> str:
        flags = [] if self.converged else ["NOT CONVERGED"]
        flags += ["singular"] if self.is_singular else []
        head = f"ModelFit(family={self.family!r}, nobs={self.nobs}"
        head += f", loglik={self.loglik:.4f}" if self.loglik is not None else ""
        head += f", {', '.join(flags)})" if flags else ")"
        table = pd.DataFrame({"estimate": self.params, "std_error": self.std_errors})
        return f"{head}\n{table}"


class AnalysisResults(Sequence):
    """The m complete-data fits of one analysis (mice's ``mira``), list-like.

    Indexing, ``len`` and iteration give the per-dataset fit objects (:class:`ModelFit` for a
    formula, whatever the callable returned otherwise). Pool them with
    :func:`bayesimpute.pool`.

    Attributes
    ----------
    fits : list
        The fits, one per completed dataset.
    model : str or callable
        The analysis that produced them.
    family : str
        ``"gaussian"``, ``"binomial"`` or ``"poisson"`` (formula route; informational for
        callables).
    """

    def __init__(self, fits: list[Any], model: str | Callable, family: str = "gaussian"):
        self.fits = list(fits)
        self.model = model
        self.family = family

    def __len__(self) -> int:
        return len(self.fits)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return AnalysisResults(self.fits[index], self.model, self.family)
        return self.fits[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fits)

    def __repr__(self) -> str:
        return f"AnalysisResults(m={len(self)}, model={self.model!r}, family={self.family!r})"

    def model_fits(self) -> list[ModelFit]:
        """The fits converted to :class:`ModelFit` (see :func:`as_model_fit`)."""
        return [as_model_fit(fit) for fit in self.fits]

    def problems(self) -> pd.DataFrame:
        """One row per imputation (1-based, as mice's ``.imp``) whose fit did not converge or
        is singular: ``converged``, ``is_singular``, ``messages``."""
        return fit_problems(self.model_fits())


def fit_problems(fits: Sequence[ModelFit]) -> pd.DataFrame:
    """Imputations (1-based) whose fit failed to converge or is singular, and why."""
    rows = {
        i + 1: {"converged": fit.converged, "is_singular": fit.is_singular,
                "messages": "; ".join(fit.messages)}
        for i, fit in enumerate(fits) if not fit.converged or fit.is_singular
    }
    table = pd.DataFrame.from_dict(rows, orient="index",
                                   columns=["converged", "is_singular", "messages"])
    table.index.name = "imputation"
    return table


def warn_problems(fits: Sequence[ModelFit], stacklevel: int = 3) -> None:
    """One aggregated warning naming the imputations whose fit failed or is singular."""
    failed = [i + 1 for i, fit in enumerate(fits) if not fit.converged]
    singular = [i + 1 for i, fit in enumerate(fits) if fit.is_singular]
    parts = []
    if failed:
        first = next(f for f in fits if not f.converged)
        parts.append(f"{len(failed)} of {len(fits)} fits did not converge (imputations "
                     f"{failed}; first: {'; '.join(first.messages) or 'no message'})")
    if singular:
        parts.append(f"{len(singular)} of {len(fits)} fits are singular, a variance estimated "
                     f"as zero or a correlation as +-1 (imputations {singular})")
    if parts:
        warnings.warn("; ".join(parts) + ". See AnalysisResults.problems().", RuntimeWarning,
                      stacklevel=stacklevel)


# --------------------------------------------------------------------------- conversions


def as_model_fit(fit: Any) -> ModelFit:
    """Convert one complete-data fit to a :class:`ModelFit`.

    Accepted: a :class:`ModelFit`; a statsmodels ``MixedLMResults`` (its estimates, with the
    Satterthwaite df and variance-component standard errors of this package's REML machinery
    evaluated at them); any statsmodels-like result with ``params`` and ``cov_params()``
    (``df_resid`` as dfcom); an ``(estimates, covariance)`` pair; any object with a ``draws``
    DataFrame of posterior draws (posterior mean and covariance, draws kept for mixing).

    Raises
    ------
    TypeError
        If the object is none of these.
    """
    if isinstance(fit, ModelFit):
        return fit
    if isinstance(fit, tuple) and len(fit) == 2:
        return _from_pair(*fit)
    name = type(fit).__name__
    if name == "MixedLMResults" or (hasattr(fit, "fe_params") and hasattr(fit, "cov_re")):
        return _from_mixedlm(fit)
    if hasattr(fit, "params") and hasattr(fit, "cov_params"):
        return _from_generic(fit)
    if isinstance(getattr(fit, "draws", None), pd.DataFrame):
        # A Bayesian fit known only by its posterior draws: moments for Rubin's rules,
        # the draws themselves for pool(method="mixing").
        draws = fit.draws
        return ModelFit(draws.mean(), draws.cov(), nobs=getattr(fit, "nobs", None), raw=fit,
                        draws=draws)
    raise TypeError(
        f"cannot pool a {name}: expected a ModelFit, a statsmodels result with params and "
        "cov_params(), or an (estimates, covariance) pair"
    )


def from_mixed_fit(fit: MixedFit, **analysis: Any) -> ModelFit:
    """The :class:`ModelFit` of a mixed-model fit record, its shared fields taken over by name.

    Every field of :class:`ModelFit` that the record also has (``params``, ``cov``, ``theta``,
    ``loglik``, ``criterion``, ``nobs``, ``n_groups``, ``random_covariances``, ``converged``,
    ``is_singular``, ``messages``, ``family``) comes from it, unless given in ``analysis``,
    which also supplies what the analysis adds (``dfcom``, ``variance_components``...).

    Parameters
    ----------
    fit : MixedFit
        A :class:`~bayesimpute.analysis.lmm.LinearMixedFit` or
        :class:`~bayesimpute.analysis.glmm.GeneralizedMixedFit`; kept as ``raw``.
    **analysis
        Further :class:`ModelFit` fields, and any that override the record's.

    Returns
    -------
    ModelFit

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from bayesimpute.analysis.fit import from_mixed_fit
    >>> from bayesimpute.analysis.mixed_core import MixedFit, group_counts
    >>> record = MixedFit(params=pd.Series([1.0], index=["Intercept"]),
    ...                   cov=pd.DataFrame([[0.1]], index=["Intercept"], columns=["Intercept"]),
    ...                   theta=np.array([0.5]), loglik=-10.0, nobs=20, n_groups={"g": 4},
    ...                   random_covariances={}, converged=True, is_singular=False)
    >>> fit = from_mixed_fit(record, dfcom=19.0)
    >>> fit.criterion, fit.n_groups, fit.raw is record
    (20.0, {'g': 4}, True)
    """
    shared = {f.name: getattr(fit, f.name) for f in fields(ModelFit)
              if f.name not in analysis and hasattr(fit, f.name)}
    return ModelFit(**shared, raw=fit, **analysis)


def _from_pair(estimates: Any, covariance: Any) -> ModelFit:
    est = np.asarray(estimates, dtype=float).ravel()
    if isinstance(estimates, pd.Series):
        names = [str(n) for n in estimates.index]
    elif isinstance(covariance, pd.DataFrame):
        names = [str(n) for n in covariance.columns]
    else:
        names = [f"x{i}" for i in range(est.size)]
    cov = np.asarray(covariance, dtype=float)
    if cov.ndim == 1 and cov.size == est.size:
        cov = np.diag(cov)  # a vector is read as variances, as mice's pool.scalar takes them
    if cov.shape != (est.size, est.size):
        raise ValueError(
            f"covariance must be {est.size} x {est.size} to match the estimates, got {cov.shape}"
        )
    return ModelFit(pd.Series(est, index=names), pd.DataFrame(cov, index=names, columns=names))


def _from_generic(result: Any) -> ModelFit:
    params = pd.Series(np.asarray(result.params, dtype=float).ravel())
    names = getattr(result.params, "index", None)
    if names is None:
        names = getattr(getattr(result, "model", None), "exog_names", None)
    if names is None:
        names = [f"x{i}" for i in range(params.size)]
    params.index = [str(n) for n in names]
    cov = np.asarray(result.cov_params(), dtype=float)
    df_resid = getattr(result, "df_resid", None)
    dfcom = float(df_resid) if df_resid is not None and np.isfinite(df_resid) else math.inf
    nobs = getattr(result, "nobs", None)
    converged = bool(getattr(result, "converged", True))
    return ModelFit(
        params=params,
        cov=pd.DataFrame(cov, index=params.index, columns=params.index),
        dfcom=dfcom, nobs=int(nobs) if nobs is not None else None, raw=result,
        converged=converged,
        messages=[] if converged else ["the statsmodels fit reports converged = False"],
        loglik=float(result.llf) if hasattr(result, "llf") else None,
    )


def _from_mixedlm(result: Any) -> ModelFit:
    """statsmodels MixedLM: its estimates, with this package's inference evaluated at them."""
    from bayesimpute.analysis.variance_inference import (
        component_inference,
        lmm_components,
        natural_values,
        satterthwaite,
    )
    from bayesimpute.analysis.lmm import ProfiledDeviance

    model = result.model
    k_fe = int(result.k_fe)
    names = [str(n) for n in model.exog_names[:k_fe]]
    params = pd.Series(np.asarray(result.fe_params, dtype=float), index=names)
    cov = pd.DataFrame(np.asarray(result.cov_params())[:k_fe, :k_fe], index=names, columns=names)
    nobs = int(model.nobs)
    group, effects = _mixedlm_names(result)
    codes, levels = pd.factorize(pd.Series(np.asarray(model.groups)), sort=True)
    term = RandomTermDesign(group, effects, codes, pd.Index(levels),
                            np.asarray(model.exog_re, dtype=float).reshape(nobs, -1))
    design = DesignMatrices(np.asarray(model.endog, dtype=float),
                            pd.DataFrame(np.asarray(model.exog, dtype=float), columns=names),
                            [term], pd.RangeIndex(nobs))
    deviance = ProfiledDeviance(design, reml=bool(model.reml))
    spec = lmm_components([term], deviance.layout)
    cov_re = np.asarray(result.cov_re, dtype=float)
    sigma = math.sqrt(float(result.scale))
    messages: list[str] = []
    converged = bool(getattr(result, "converged", True))
    if not converged:
        messages.append("the statsmodels MixedLM fit reports converged = False")
    try:
        chol = np.linalg.cholesky(cov_re / sigma**2)
    except np.linalg.LinAlgError:
        chol = None
        messages.append("random-effects covariance not positive definite (boundary fit): no "
                        "Satterthwaite df or variance-component standard errors")
    values = {f"{group}: {e}": float(cov_re[i, i]) for i, e in enumerate(effects)}
    values["residual"] = float(result.scale)
    inference, term_df = None, None
    if chol is not None:
        rows, cols = deviance.layout.lower_triangle(len(effects))
        theta = chol[rows, cols]
        df, cov_var, problems = satterthwaite(deviance, theta, sigma)
        messages += problems
        varpar = np.concatenate([theta, [sigma]])
        inference = component_inference(spec, varpar, cov_var)
        values = natural_values(spec, varpar)
        term_df = pd.Series(df, index=names)
    return ModelFit(
        params=params, cov=cov, dfcom=float(nobs - k_fe), variance_components=values,
        nobs=nobs, raw=result, variance_inference=inference, term_df=term_df,
        converged=converged, is_singular=chol is None, messages=messages,
        loglik=float(result.llf) if np.isfinite(result.llf) else None,
        n_groups=group_counts([term]),
    )


def _mixedlm_names(result: Any) -> tuple[str, list[str]]:
    """Group and effect names, with statsmodels' habit of naming the random intercept after
    the group undone (``smf.mixedlm(..., groups="school")`` calls it ``school``)."""
    names = [str(n) for n in getattr(result.cov_re, "index", range(result.k_re))]
    frame = getattr(result.model.data, "frame", None)
    first = names[0] if names else None
    if frame is not None and first in getattr(frame, "columns", []):
        column = frame[first]
        groups = np.asarray(result.model.groups)
        if len(column) == len(groups) and bool(np.all(column.to_numpy() == groups)):
            return first, [INTERCEPT] + names[1:]
    return "group", names
