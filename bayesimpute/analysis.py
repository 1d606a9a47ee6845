"""Fit an analysis model to every completed dataset (mice's ``with()`` step).

``analyze(datasets, "y ~ x + (1 | g)")`` fits a linear mixed model by REML (statsmodels
``MixedLM``) or, with ``family="binomial"``, a logistic mixed model by Laplace maximum
likelihood as ``lme4::glmer`` (:mod:`bayesimpute.glmm`) to each dataset, and wraps every fit in a
:class:`ModelFit` that carries what :func:`bayesimpute.pooling.pool` needs: the fixed effects,
their covariance, the complete-data degrees of freedom and the variance components.

Standard errors of variance components
--------------------------------------
For a Gaussian fit the variance parameters are re-expressed as
``theta = (log residual variance, log random-effect variances, Fisher-z correlations)`` and
the observed information is the numerical Hessian (central differences) of the REML (or ML,
matching the fit) log-likelihood in ``theta``, computed here from per-cluster sufficient
statistics. Its inverse is the covariance of ``theta``; covariances and the ICC get theirs by
the delta method (numerical Jacobian). For a binomial fit the standard error of the log
variance comes from the numerical Hessian of the Laplace log-likelihood. Where a fit sits
on the boundary (a variance estimated as zero) no standard error exists and it is NaN.

Degrees of freedom of the fixed effects
---------------------------------------
A Gaussian mixed-model fit also carries Satterthwaite degrees of freedom per fixed effect
(``ModelFit.term_df``), as R's lmerTest reports them: with ``c_k(theta)`` the variance of
the k-th estimate as a function of the variance parameters (``(X' V^-1 X)^-1`` evaluated at
``theta``), ``df_k = 2 c_k^2 / (grad c_k' Cov(theta) grad c_k)``, the gradient by central
differences and ``Cov(theta)`` the inverse REML information above. With few clusters the
fixed effects that vary between clusters (the intercept, cluster-level predictors, terms with
a random slope) get about ``J - 1`` df rather than ``n - p``: Wald intervals on ``n - p`` (or
normal) quantiles under-cover there. :func:`bayesimpute.pooling.pool` uses them as the
complete-data df of each term.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayesimpute._numdiff import hessian, jacobian
from bayesimpute.formula import (
    INTERCEPT,
    ParsedFormula,
    check_columns,
    design_matrix,
    parse_formula,
)
from bayesimpute.glmm import fit_logistic_mixed

__all__ = ["ModelFit", "AnalysisResults", "analyze", "as_model_fit"]

# Residual variance of the standard logistic distribution: the latent-scale level-1
# variance used for the ICC of a logistic random-intercept model.
LOGISTIC_RESIDUAL_VARIANCE = math.pi**2 / 3
_FAMILIES = ("gaussian", "binomial")


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
        ``"residual"`` and, for random-intercept models, ``"icc"``.
    nobs : int
        Number of rows used.
    raw : object
        The underlying statsmodels result (or whatever the analysis returned).
    variance_inference : pandas.DataFrame or None
        Per component: ``scale`` ("log", "fisher_z", "logit", "identity" or "fixed"),
        ``transformed`` (the estimate on that scale) and ``std_error`` on that scale
        (NaN where unavailable). Used for pooled intervals.
    draws : pandas.DataFrame or None
        Posterior draws of the parameters (one column per term) for ``pool(method="mixing")``.
    term_df : pandas.Series or None
        Per-term complete-data degrees of freedom (Satterthwaite, for linear mixed models; see
        the module docstring); ``None`` where not available, and then ``dfcom`` applies.
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

    @property
    def std_errors(self) -> pd.Series:
        """Square roots of the diagonal of :attr:`cov`."""
        return pd.Series(np.sqrt(np.diag(self.cov.to_numpy())), index=self.params.index)


class AnalysisResults(Sequence):
    """The m complete-data fits of one analysis (mice's ``mira``), list-like.

    Indexing, ``len`` and iteration give the per-dataset fit objects (:class:`ModelFit` for a
    formula, whatever the callable returned otherwise).

    Attributes
    ----------
    fits : list
        The fits, one per completed dataset.
    model : str or callable
        The analysis that produced them.
    family : str
        ``"gaussian"`` or ``"binomial"`` (formula route; informational for callables).
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

    def pool(self, dfcom: Any = None, **kwargs: Any):
        """Shortcut for :func:`bayesimpute.pooling.pool` on these fits."""
        from bayesimpute.pooling import pool

        return pool(self, dfcom, **kwargs)


def analyze(
    datasets: Sequence[pd.DataFrame] | pd.DataFrame,
    model: str | Callable[[pd.DataFrame], Any],
    *,
    family: str = "gaussian",
    **fit_kwargs: Any,
) -> AnalysisResults:
    """Fit an analysis model to each completed dataset.

    Parameters
    ----------
    datasets : sequence of pandas.DataFrame
        The completed datasets (a single DataFrame is treated as m = 1).
    model : str or callable
        An lme4-style formula (``"popular ~ texp + sex + (1 | school)"``) or a function that
        takes a DataFrame and returns a fitted model (kept as returned).
    family : {"gaussian", "binomial"}
        Formula route only: linear mixed model by REML (statsmodels ``MixedLM``), or logistic
        random-effects model by Laplace maximum likelihood, as ``lme4::glmer`` with its
        default ``nAGQ = 1`` (:func:`bayesimpute.glmm.fit_logistic_mixed`). A formula
        without random-effect bars gives OLS / logistic GLM.
    **fit_kwargs
        Passed to the statsmodels ``fit`` call (``reml``, ``method``...) or, for a binomial
        mixed model, to :func:`~bayesimpute.glmm.fit_logistic_mixed` (``maxiter``).

    Returns
    -------
    AnalysisResults

    Raises
    ------
    TypeError
        If ``datasets`` holds something other than DataFrames or ``model`` is neither a str
        nor callable.
    ValueError
        If ``family`` is unknown or the formula uses a name that is not a column.
    """
    frames = _as_frames(datasets)
    if isinstance(model, str):
        if family not in _FAMILIES:
            raise ValueError(f"family must be one of {_FAMILIES}, got {family!r}")
        parsed = parse_formula(model)
        for frame in frames:
            check_columns(parsed, frame)
        fits = [fit_formula(parsed, frame, family=family, **fit_kwargs) for frame in frames]
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


# --------------------------------------------------------------------------- formula fits


def fit_formula(
    parsed: ParsedFormula | str, data: pd.DataFrame, *, family: str = "gaussian", **fit_kwargs: Any
) -> ModelFit:
    """Fit one dataset with a parsed formula; see :func:`analyze`."""
    parsed = parse_formula(parsed) if isinstance(parsed, str) else parsed
    check_columns(parsed, data)
    # Rows with a missing value in a model variable are dropped, as R's na.omit does;
    # a completed dataset has none. Work on a copy so the caller's frame is untouched.
    rows = data.loc[:, list(parsed.variables)].dropna()
    if len(parsed.groups) > 1:
        raise ValueError(
            f"formula {parsed.formula!r} has several grouping factors {list(parsed.groups)}; "
            "only one grouping factor is supported"
        )
    exog = design_matrix(rows, parsed.fixed, parsed.intercept)
    endog = _response(rows[parsed.response], parsed.response, family)
    if family == "binomial":
        return _fit_binomial(parsed, rows, endog, exog, fit_kwargs)
    return _fit_gaussian(parsed, rows, endog, exog, fit_kwargs)


def _response(column: pd.Series, name: str, family: str) -> pd.Series:
    if family == "gaussian":
        if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            raise ValueError(f"response {name!r} must be numeric for family='gaussian'")
        return column.astype(float)
    levels = column.cat.categories if isinstance(column.dtype, pd.CategoricalDtype) else None
    if levels is not None:
        if len(levels) != 2:
            raise ValueError(
                f"binomial response {name!r} must have 2 categories, has {len(levels)}"
            )
        # As R's glm: the first level is failure, the second success.
        return (column == levels[1]).astype(float)
    values = column.astype(float)
    if not values.isin([0.0, 1.0]).all():
        raise ValueError(f"binomial response {name!r} must be 0/1, boolean or a 2-level category")
    return values


def _random_design(
    parsed: ParsedFormula, rows: pd.DataFrame
) -> tuple[pd.DataFrame, list[list[int]]]:
    """Random-effects design (all bars side by side) and the column blocks of each bar."""
    pieces, blocks, start = [], [], 0
    for bar in parsed.random:
        piece = design_matrix(rows, bar.slopes, bar.intercept)
        pieces.append(piece)
        blocks.append(list(range(start, start + piece.shape[1])))
        start += piece.shape[1]
    design = pd.concat(pieces, axis=1)
    duplicated = design.columns[design.columns.duplicated()].tolist()
    if duplicated:
        raise ValueError(f"formula {parsed.formula!r} repeats random effects {duplicated}")
    return design, blocks


def _fit_gaussian(parsed, rows, endog, exog, fit_kwargs) -> ModelFit:
    import statsmodels.api as sm

    if not parsed.random:
        result = sm.OLS(endog, exog).fit(**fit_kwargs)
        return _from_generic(result)
    group = parsed.groups[0]
    exog_re, blocks = _random_design(parsed, rows)
    model = sm.MixedLM(endog, exog, groups=rows[group].to_numpy(), exog_re=exog_re)
    kwargs = {"reml": True, **fit_kwargs}
    if len(blocks) > 1 and "free" not in kwargs:
        # Separate bars for one group are uncorrelated in lme4: constrain the cross-bar
        # covariances to zero.
        kwargs["free"] = _block_pattern(exog.shape[1], exog_re.shape[1], blocks)
    result = model.fit(**kwargs)
    return _from_mixedlm(result, group_name=group, blocks=blocks)


def _block_pattern(k_fe: int, k_re: int, blocks: list[list[int]]):
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    mask = np.zeros((k_re, k_re))
    for block in blocks:
        mask[np.ix_(block, block)] = 1.0
    return MixedLMParams.from_components(fe_params=np.ones(k_fe), cov_re=mask)


def _fit_binomial(parsed, rows, endog, exog, fit_kwargs) -> ModelFit:
    import statsmodels.api as sm

    if not parsed.random:
        result = sm.GLM(endog, exog, family=sm.families.Binomial()).fit(**fit_kwargs)
        return _from_generic(result)
    group = parsed.groups[0]
    exog_re, blocks = _random_design(parsed, rows)
    if any(len(block) > 1 for block in blocks):
        raise ValueError(
            f"formula {parsed.formula!r}: family='binomial' supports uncorrelated random effects "
            "only; write each one as its own bar, e.g. (1 | g) + (0 + x | g)"
        )
    result = fit_logistic_mixed(endog, exog, exog_re, rows[group], **fit_kwargs)
    return _logistic_model_fit(
        params=result.params, cov=result.cov.to_numpy(), nobs=result.nobs,
        vc_names=[f"{group}: {c}" for c in exog_re.columns],
        log_var=np.log(result.variances.to_numpy()),
        log_var_se=result.log_variance_se.to_numpy(), raw=result,
    )


# --------------------------------------------------------------------------- conversions


def as_model_fit(fit: Any) -> ModelFit:
    """Convert one complete-data fit to a :class:`ModelFit`.

    Accepted: a :class:`ModelFit`; a statsmodels ``MixedLMResults`` (fixed effects only, with
    variance components); a ``BayesMixedGLMResults`` (posterior mode, fixed effects); any
    statsmodels-like result with ``params`` and ``cov_params()`` (``df_resid`` as dfcom); an
    ``(estimates, covariance)`` pair; any object with a ``draws`` DataFrame of posterior draws
    (posterior mean and covariance, draws kept for mixing).

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
    if hasattr(fit, "fe_mean") and hasattr(fit, "vcp_mean"):
        names = getattr(fit.model, "exog_names", None) or [f"x{i}" for i in range(len(fit.fe_mean))]
        vc_names = getattr(fit.model, "vcp_names", None)
        vc_names = vc_names or [f"vc{i}" for i in range(len(fit.vcp_mean))]
        return _from_bayes_mixed_glm(fit, names, list(vc_names))
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
    return ModelFit(
        params=params,
        cov=pd.DataFrame(cov, index=params.index, columns=params.index),
        dfcom=dfcom,
        nobs=int(nobs) if nobs is not None else None,
        raw=result,
    )


def _from_bayes_mixed_glm(result: Any, names: Sequence[str], vc_names: Sequence[str]) -> ModelFit:
    k_fe = len(result.fe_mean)
    # vcp_mean / vcp_sd are the posterior mode and sd of log(standard deviation).
    return _logistic_model_fit(
        params=pd.Series(np.asarray(result.fe_mean, dtype=float), index=[str(n) for n in names]),
        cov=np.asarray(result.cov_params())[:k_fe, :k_fe], nobs=len(result.model.endog),
        vc_names=list(vc_names), log_var=2.0 * np.asarray(result.vcp_mean, dtype=float),
        log_var_se=2.0 * np.asarray(result.vcp_sd, dtype=float), raw=result,
    )


def _logistic_model_fit(params: pd.Series, cov: np.ndarray, nobs: int, vc_names: list[str],
                        log_var: np.ndarray, log_var_se: np.ndarray, raw: Any) -> ModelFit:
    """A logistic mixed fit as ModelFit: latent-scale residual pi^2/3 and, for a random
    intercept alone, the latent ICC."""
    names = list(params.index)
    k_fe = len(names)
    rows = {name: ("log", lv, se) for name, lv, se in zip(vc_names, log_var, log_var_se)}
    rows["residual"] = ("fixed", math.log(LOGISTIC_RESIDUAL_VARIANCE), 0.0)
    if len(vc_names) == 1 and vc_names[0].endswith(f": {INTERCEPT}"):
        rows["icc"] = ("logit", log_var[0] - math.log(LOGISTIC_RESIDUAL_VARIANCE), log_var_se[0])
    inference = pd.DataFrame.from_dict(
        rows, orient="index", columns=["scale", "transformed", "std_error"]
    )
    return ModelFit(
        params=params,
        cov=pd.DataFrame(cov, index=names, columns=names),
        dfcom=float(nobs - k_fe),
        variance_components=_back_transform(inference),
        nobs=nobs,
        raw=raw,
        variance_inference=inference,
    )


def _back_transform(inference: pd.DataFrame) -> dict[str, float]:
    return {
        name: float(_INVERSE[row.scale](row.transformed)) for name, row in inference.iterrows()
    }


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


_INVERSE: dict[str, Callable[[float], float]] = {
    "log": math.exp,
    "fixed": math.exp,
    "fisher_z": math.tanh,
    "logit": _expit,
    "identity": float,
}


# --------------------------------------------------------------------------- MixedLM


def _from_mixedlm(
    result: Any, group_name: str | None = None, blocks: list[list[int]] | None = None
) -> ModelFit:
    k_fe = int(result.k_fe)
    fe = result.fe_params
    names = [str(n) for n in getattr(fe, "index", result.model.exog_names[:k_fe])]
    cov = np.asarray(result.cov_params())[:k_fe, :k_fe]
    nobs = int(result.model.nobs)
    re_names, group_name = _re_names(result, group_name)
    if blocks is None:
        blocks = _blocks_from_fit(result)
    try:
        inference, term_df = _mixedlm_inference(result, group_name, re_names, blocks)
    except (np.linalg.LinAlgError, ValueError, FloatingPointError) as err:
        warnings.warn(
            f"no standard errors for the variance components of this MixedLM fit: {err}",
            RuntimeWarning,
            stacklevel=3,
        )
        inference, term_df = None, None
    components = _mixedlm_components(result, group_name, re_names, blocks)
    return ModelFit(
        params=pd.Series(np.asarray(fe, dtype=float), index=names),
        cov=pd.DataFrame(cov, index=names, columns=names),
        dfcom=float(nobs - k_fe),
        variance_components=components,
        nobs=nobs,
        raw=result,
        variance_inference=inference,
        term_df=None if term_df is None else pd.Series(term_df, index=names),
    )


def _re_names(result: Any, group_name: str | None) -> tuple[list[str], str]:
    """Random-effect names, with statsmodels' habit of naming the intercept after the group
    undone (``smf.mixedlm(..., groups="school")`` calls the random intercept ``school``)."""
    names = [str(n) for n in getattr(result.cov_re, "index", range(result.k_re))]
    if group_name is None:
        frame = getattr(result.model.data, "frame", None)
        first = names[0] if names else None
        if frame is not None and first in frame.columns and _is_group_column(frame[first], result):
            group_name, names[0] = first, INTERCEPT
        else:
            group_name = "group"
    return names, group_name


def _is_group_column(column: pd.Series, result: Any) -> bool:
    groups = np.asarray(result.model.groups)
    return len(column) == len(groups) and bool(np.all(column.to_numpy() == groups))


def _blocks_from_fit(result: Any) -> list[list[int]]:
    """Blocks of correlated random effects, from a fit's free-parameter pattern if any."""
    k_re = int(result.k_re)
    free = getattr(result, "freepat", None) or getattr(result.model, "_freepat", None)
    if free is None:
        return [list(range(k_re))]
    mask = np.asarray(free.cov_re) != 0
    blocks, seen = [], set()
    for j in range(k_re):
        if j not in seen:
            block = [i for i in range(k_re) if mask[i, j] or i == j]
            seen.update(block)
            blocks.append(block)
    return blocks


def _pairs(blocks: list[list[int]]) -> list[tuple[int, int]]:
    return [(a, b) for block in blocks for i, a in enumerate(block) for b in block[i + 1 :]]


def _mixedlm_components(result, group, names, blocks) -> dict[str, float]:
    cov_re = np.asarray(result.cov_re, dtype=float)
    out = {f"{group}: {name}": float(cov_re[j, j]) for j, name in enumerate(names)}
    for a, b in _pairs(blocks):
        denom = math.sqrt(cov_re[a, a] * cov_re[b, b])
        out[f"{group}: cov({names[a]}, {names[b]})"] = float(cov_re[a, b])
        corr = float(cov_re[a, b] / denom) if denom > 0 else math.nan
        out[f"{group}: corr({names[a]}, {names[b]})"] = corr
    vc_names = getattr(result.model, "_vc_names", None) or []
    for name, value in zip(vc_names, np.atleast_1d(result.vcomp)):
        out[f"{group}: {name}"] = float(value)
    out["residual"] = float(result.scale)
    if names == [INTERCEPT] and not result.model.k_vc:
        out["icc"] = float(cov_re[0, 0] / (cov_re[0, 0] + result.scale))
    return out


class _ReLikelihood:
    """(RE)ML log-likelihood of a one-factor linear mixed model in (sigma2, G), evaluated from
    per-cluster sufficient statistics so that each call is a few batched q x q solves."""

    def __init__(self, endog, exog, exog_re, groups, reml: bool):
        y, x, z = (np.asarray(a, dtype=float) for a in (endog, exog, exog_re))
        z = z.reshape(len(y), -1)
        codes, _ = pd.factorize(pd.Series(np.asarray(groups)), sort=False)
        n_groups = codes.max() + 1
        self.n, self.p, self.q = len(y), x.shape[1], z.shape[1]
        self.n_groups, self.reml = n_groups, reml
        self.ztz = _group_sums(np.einsum("ni,nj->nij", z, z), codes, n_groups)
        self.ztx = _group_sums(np.einsum("ni,nj->nij", z, x), codes, n_groups)
        self.zty = _group_sums(z * y[:, None], codes, n_groups)
        self.xtx, self.xty, self.yty = x.T @ x, x.T @ y, y @ y

    def _m_and_k(self, sigma2: float, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = sigma2 * np.eye(self.q) + g @ self.ztz  # (groups, q, q)
        k = np.linalg.solve(m, np.broadcast_to(g, m.shape))  # (sigma2 G^-1 + Z'Z)^-1
        return m, k

    def _xvx(self, sigma2: float, k: np.ndarray) -> np.ndarray:
        """X' V^-1 X by Woodbury, from the per-cluster cross-products."""
        kzx = k @ self.ztx
        return (self.xtx - np.einsum("gki,gkj->ij", self.ztx, kzx)) / sigma2

    def fixed_effects_cov(self, sigma2: float, g: np.ndarray) -> np.ndarray:
        """(X' V^-1 X)^-1: the covariance of the GLS fixed effects at (sigma2, G)."""
        return np.linalg.inv(self._xvx(sigma2, self._m_and_k(sigma2, g)[1]))

    def __call__(self, sigma2: float, g: np.ndarray) -> float:
        m, k = self._m_and_k(sigma2, g)
        kzy = np.einsum("gij,gj->gi", k, self.zty)
        xvx = self._xvx(sigma2, k)
        xvy = (self.xty - np.einsum("gki,gk->i", self.ztx, kzy)) / sigma2
        yvy = (self.yty - np.einsum("gk,gk->", self.zty, kzy)) / sigma2
        sign, logdet_m = np.linalg.slogdet(m)
        if np.any(sign <= 0):
            raise FloatingPointError("random-effects covariance not positive definite")
        logdet_v = (self.n - self.n_groups * self.q) * math.log(sigma2) + logdet_m.sum()
        beta = np.linalg.solve(xvx, xvy)
        quad = yvy - beta @ xvy
        value = logdet_v + quad + (self.n - self.p * self.reml) * math.log(2 * math.pi)
        if self.reml:
            value += np.linalg.slogdet(xvx)[1]
        return -0.5 * float(value)


def _group_sums(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.zeros((n_groups,) + values.shape[1:])
    np.add.at(out, codes, values)
    return out


def _theta_to_cov(
    theta: np.ndarray, q: int, pairs: list[tuple[int, int]]
) -> tuple[float, np.ndarray]:
    """theta = (log sigma2, log variances (q), Fisher-z correlations (pairs))."""
    sd = np.exp(0.5 * theta[1 : 1 + q])
    g = np.diag(sd**2)
    for (a, b), z in zip(pairs, theta[1 + q :]):
        g[a, b] = g[b, a] = math.tanh(z) * sd[a] * sd[b]
    return math.exp(theta[0]), g


def _theta_hat(result: Any, q: int, pairs: list[tuple[int, int]]) -> np.ndarray:
    return _theta_from(np.asarray(result.cov_re, dtype=float), float(result.scale), pairs)


def _theta_from(cov_re: np.ndarray, scale: float, pairs: list[tuple[int, int]]) -> np.ndarray:
    variances = np.diag(cov_re)
    if np.any(variances <= _BOUNDARY * scale):
        raise ValueError("a random-effect variance is on the boundary (zero)")
    corr = [cov_re[a, b] / math.sqrt(variances[a] * variances[b]) for a, b in pairs]
    if any(abs(r) >= 1 - 1e-8 for r in corr):
        raise ValueError("a random-effect correlation is on the boundary (+-1)")
    return np.concatenate([[math.log(scale)], np.log(variances), np.arctanh(corr)])


#: a random-effect variance below this share of the residual variance is a boundary estimate
_BOUNDARY = 1e-10


def _transformed(theta: np.ndarray, q: int, pairs, icc: bool) -> np.ndarray:
    """Components on their pooling scale, as a function of theta (order = _component_rows)."""
    sigma2, g = _theta_to_cov(theta, q, pairs)
    values = list(theta[1 : 1 + q])
    for (a, b), z in zip(pairs, theta[1 + q :]):
        values += [g[a, b], z]
    values.append(theta[0])
    if icc:
        values.append(theta[1] - theta[0])  # logit ICC = log tau2 - log sigma2
    return np.asarray(values)


def _component_rows(group: str, names: list[str], pairs, icc: bool) -> list[tuple[str, str]]:
    rows = [(f"{group}: {n}", "log") for n in names]
    for a, b in pairs:
        rows += [
            (f"{group}: cov({names[a]}, {names[b]})", "identity"),
            (f"{group}: corr({names[a]}, {names[b]})", "fisher_z"),
        ]
    rows.append(("residual", "log"))
    if icc:
        rows.append(("icc", "logit"))
    return rows


def _mixedlm_inference(result, group, names, blocks) -> tuple[pd.DataFrame | None,
                                                               np.ndarray | None]:
    """Standard errors of the variance components and Satterthwaite df of the fixed effects.

    For a boundary fit the standard errors do not exist (``None``) and the df come from
    the same model without its zero-variance effects (:func:`_boundary_term_df`).
    """
    model = result.model
    if model.k_vc:
        raise ValueError("variance components (vc_formula) are not covered")
    q = int(result.k_re)
    pairs = _pairs(blocks)
    icc = names == [INTERCEPT]
    rows = _component_rows(group, names, pairs, icc)
    loglik = _ReLikelihood(
        model.endog, model.exog, model.exog_re, model.groups, reml=bool(model.reml)
    )
    try:
        theta = _theta_hat(result, q, pairs)
    except ValueError:
        # Boundary fit: estimates exist, standard errors on the log / z scale do not.
        return None, _boundary_term_df(result, blocks)
    cov_theta = _theta_covariance(loglik, theta, q, pairs)
    jac = jacobian(lambda t: _transformed(t, q, pairs, icc), theta)
    var = np.diag(jac @ cov_theta @ jac.T)
    se = np.where(var > 0, np.sqrt(np.abs(var)), np.nan)
    inference = pd.DataFrame(
        {
            "scale": [s for _, s in rows],
            "transformed": _transformed(theta, q, pairs, icc),
            "std_error": se,
        },
        index=[r for r, _ in rows],
    )
    return inference, _satterthwaite_df(loglik, theta, cov_theta, q, pairs)


def _theta_covariance(loglik: _ReLikelihood, theta: np.ndarray, q: int, pairs) -> np.ndarray:
    """Inverse of the observed (RE)ML information in theta (numerical Hessian)."""
    objective = lambda t: loglik(*_theta_to_cov(t, q, pairs))  # noqa: E731
    return np.linalg.inv(-hessian(objective, theta))


def _boundary_term_df(result: Any, blocks: list[list[int]]) -> np.ndarray | None:
    """Satterthwaite df of a fit with zero-variance random effects.

    An effect with zero variance adds nothing to V, so the fit is also the fit of the model
    without it; its df are those of that smaller model (n - p when no effect is left).
    ``None`` when a correlation of the remaining effects is at +-1 too.
    """
    model = result.model
    n, p = len(model.endog), model.exog.shape[1]
    cov_re = np.asarray(result.cov_re, dtype=float)
    keep = np.flatnonzero(np.diag(cov_re) > _BOUNDARY * result.scale)
    if not len(keep):
        return np.full(p, float(n - p))
    position = {old: new for new, old in enumerate(keep)}
    pairs = _pairs([[position[i] for i in block if i in position] for block in blocks])
    try:
        theta = _theta_from(cov_re[np.ix_(keep, keep)], float(result.scale), pairs)
    except ValueError:
        return None
    z = np.asarray(model.exog_re, dtype=float).reshape(n, -1)[:, keep]
    loglik = _ReLikelihood(model.endog, model.exog, z, model.groups, reml=bool(model.reml))
    cov_theta = _theta_covariance(loglik, theta, len(keep), pairs)
    return _satterthwaite_df(loglik, theta, cov_theta, len(keep), pairs)


def _satterthwaite_df(loglik, theta, cov_theta, q: int, pairs) -> np.ndarray:
    """df_k = 2 c_k^2 / (grad c_k' Cov(theta) grad c_k), c_k = Var(beta_k)(theta)."""
    def variances(t: np.ndarray) -> np.ndarray:
        return np.diag(loglik.fixed_effects_cov(*_theta_to_cov(t, q, pairs)))

    c = variances(theta)
    grad = jacobian(variances, theta, step=1e-4)  # (p, len(theta))
    spread = np.einsum("pi,ij,pj->p", grad, cov_theta, grad)
    most = float(loglik.n - loglik.p)
    with np.errstate(divide="ignore"):
        df = np.where(spread > 0, 2.0 * c**2 / spread, most)
    return np.clip(df, 1.0, most)
