"""Fit an analysis model to every completed dataset (mice's ``with()`` step).

``analyze(datasets, "y ~ x + (1 + x | g)")`` fits, on each dataset, a linear mixed model as
lme4's ``lmer`` (profiled REML by default, :mod:`.lmm`) or, with ``family="binomial"`` /
``"poisson"``, a generalised linear mixed model as ``glmer`` (Laplace, :mod:`.glmm`), with any
number of grouping factors, nested or crossed. Each fit becomes a :class:`~.fit.ModelFit` with
what pooling needs: fixed effects and their covariance, per-term Satterthwaite df (linear
models, lmerTest's), variance components per grouping factor with standard errors on their
pooling scales (:mod:`.variance_inference`), and whether the fit converged or is singular. A
fit that did not converge or is singular says so in the fit, and ``analyze`` warns once for
all of them. A formula without bars is an ordinary linear or generalised linear model (statsmodels).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayesimpute.analysis.families import FAMILIES, check_family
from bayesimpute.analysis.fit import (
    AnalysisResults,
    ModelFit,
    _from_generic,
    from_mixed_fit,
    warn_problems,
)
from bayesimpute.analysis.formula import DesignMatrices, MixedFormula, build_design, parse_formula
from bayesimpute.analysis.glmm import fit_glmm
from bayesimpute.analysis.variance_inference import (
    component_inference,
    glmm_components,
    lmm_components,
    natural_values,
    satterthwaite,
)
from bayesimpute.analysis.lmm import fit_lmm
from bayesimpute.analysis.optimize import one_blas_thread

__all__ = ["analyze", "fit_formula", "FAMILIES"]



def analyze(
    datasets: Sequence[pd.DataFrame] | pd.DataFrame,
    model: str | Callable[[pd.DataFrame], Any],
    *,
    family: str = "gaussian",
    reml: bool = True,
) -> AnalysisResults:
    """Fit an analysis model to each completed dataset.

    Parameters
    ----------
    datasets : sequence of pandas.DataFrame
        The completed datasets (a single DataFrame is treated as m = 1).
    model : str or callable
        An lme4 formula (``"popular ~ texp + sex + (1 | school)"``; see
        :mod:`bayesimpute.analysis.formula` for the syntax) or a function that takes a
        DataFrame and returns a fitted model (kept as returned).
    family : {"gaussian", "binomial", "poisson"}
        Formula route only: linear mixed model as ``lmer``, or logistic / Poisson mixed model
        by Laplace as ``glmer`` (nAGQ = 1).
    reml : bool
        Gaussian mixed models: REML (default, as ``lmer``) or maximum likelihood.

    Returns
    -------
    AnalysisResults

    Raises
    ------
    TypeError
        If ``datasets`` holds something other than DataFrames or ``model`` is neither a str
        nor callable.
    ValueError
        An unknown ``family``, a formula naming something that is not a column, a response
        that does not suit the family, a rank-deficient fixed-effects design.

    Warns
    -----
    RuntimeWarning
        Once, naming the imputations whose fit did not converge or is singular.
    """
    frames = _as_frames(datasets)
    if isinstance(model, str):
        check_family(family)
        parsed = parse_formula(model)
        for frame in frames:
            parsed.variables(list(frame.columns))  # every name checked before any fit
        fits = [fit_formula(parsed, frame, family=family, reml=reml) for frame in frames]
        warn_problems(fits)
    elif callable(model):
        fits = [model(frame) for frame in frames]
    else:
        raise TypeError(f"model must be a formula string or a callable, got {type(model).__name__}")
    return AnalysisResults(fits, model, family)


def _as_frames(datasets: Sequence[pd.DataFrame] | pd.DataFrame) -> list[pd.DataFrame]:
    if isinstance(datasets, pd.DataFrame):
        return [datasets]
    frames = list(datasets)
    if not frames:
        raise ValueError("datasets is empty: need at least one completed DataFrame")
    for i, frame in enumerate(frames):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"datasets[{i}] is a {type(frame).__name__}, not a pandas DataFrame")
    return frames


def fit_formula(parsed: MixedFormula | str, data: pd.DataFrame, *, family: str = "gaussian",
                reml: bool = True) -> ModelFit:
    """Fit one dataset with a formula; see :func:`analyze`."""
    parsed = parse_formula(parsed) if isinstance(parsed, str) else parsed
    design = build_design(parsed, data)
    design.response = _response(design.response, parsed.response, family)
    # Small dense problems: BLAS threads cost more than they save, and on a shared machine
    # they stall. One thread for the whole fit.
    with one_blas_thread():
        if not design.terms:
            return _fit_without_random_effects(design, family)
        if family == "gaussian":
            return _gaussian_fit(design, reml)
        return _generalized_fit(design, family)


def _response(column: pd.Series, name: str, family: str) -> np.ndarray:
    if family == "binomial" and isinstance(column.dtype, pd.CategoricalDtype):
        levels = column.cat.categories
        if len(levels) != 2:
            raise ValueError(
                f"binomial response {name!r} must have 2 categories, has {len(levels)}")
        return (column == levels[1]).to_numpy(dtype=float)  # as R: the second level is success
    if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
        raise ValueError(f"response {name!r} must be numeric for family={family!r}")
    values = column.to_numpy(dtype=float)
    if family == "binomial" and not np.isin(values, [0.0, 1.0]).all():
        raise ValueError(f"binomial response {name!r} must be 0/1, boolean or a 2-level category")
    if family == "poisson" and (np.any(values < 0) or np.any(values != np.round(values))):
        raise ValueError(f"poisson response {name!r} must hold non-negative whole numbers")
    return values


def _fit_without_random_effects(design: DesignMatrices, family: str) -> ModelFit:
    import statsmodels.api as sm

    y, X = design.response, design.fixed
    if family == "gaussian":
        result = sm.OLS(y, X).fit()
    else:
        sm_family = sm.families.Binomial() if family == "binomial" else sm.families.Poisson()
        result = sm.GLM(y, X, family=sm_family).fit()
    fit = _from_generic(result)
    fit.family = family
    return fit


def _gaussian_fit(design: DesignMatrices, reml: bool) -> ModelFit:
    fit = fit_lmm(design, reml=reml)
    spec = lmm_components(design.terms, fit.deviance.layout)
    df, cov_var, messages = satterthwaite(fit.deviance, fit.theta, fit.sigma)
    varpar = np.concatenate([fit.theta, [fit.sigma]])
    inference = component_inference(spec, varpar, cov_var)
    messages += _missing_se_messages(inference)
    names = list(fit.params.index)
    return from_mixed_fit(
        fit, dfcom=float(fit.nobs - len(names)), variance_components=natural_values(spec, varpar),
        variance_inference=inference, term_df=pd.Series(df, index=names),
        messages=fit.messages + messages, family="gaussian",
    )


def _generalized_fit(design: DesignMatrices, family: str) -> ModelFit:
    fit = fit_glmm(design, family)
    spec = glmm_components(design.terms, fit.layout, family)
    cov_theta = fit.theta_cov if np.all(np.isfinite(fit.theta_cov)) else None
    inference = component_inference(spec, fit.theta, cov_theta)
    messages = _missing_se_messages(inference)
    return from_mixed_fit(
        fit, dfcom=float(fit.nobs - len(fit.params)),
        variance_components=natural_values(spec, fit.theta), variance_inference=inference,
        messages=fit.messages + messages,
    )


def _missing_se_messages(inference: pd.DataFrame) -> list[str]:
    missing = [name for name, row in inference.iterrows()
               if row["scale"] != "fixed" and not math.isfinite(row["std_error"])]
    if not missing:
        return []
    return [f"no standard error on the pooling scale for {missing} (a variance estimated as "
            "zero, a correlation of +-1, or no positive-definite information matrix)"]
