"""Combine m complete-data analyses: Rubin's rules, variance components, multi-parameter tests.

The scalar rules follow R mice 3.x (``pool()`` -> ``pool.vector()`` / ``barnard.rubin()``)
term by term::

    qbar   = mean(Q_l)                       ubar = mean(U_l)
    b      = var(Q_l)   (denominator m - 1)  t    = ubar + (1 + 1/m) b
    riv    = (1 + 1/m) b / ubar              lambda = (1 + 1/m) b / t
    df     = barnard_rubin(m, b, t, dfcom)
    fmi    = (riv + 2 / (df + 3)) / (riv + 1)

with Barnard & Rubin (1999): lambda floored at 1e-4, ``dfold = (m-1)/lambda^2``,
``dfobs = (dfcom+1)/(dfcom+3) dfcom (1-lambda)``, ``df = dfold dfobs/(dfold + dfobs)`` and
``df = dfold`` when ``dfcom`` is infinite. ``dfcom`` may differ by term: by default a linear
mixed model's terms get their Satterthwaite df (``ModelFit.term_df``, lmerTest's), other
fits mice's single residual df. The multi-parameter tests follow mitml's
``testModels`` / ``testConstraints`` (which mice's ``D1()`` and ``D2()`` call).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayesimpute.analysis.fit import AnalysisResults, ModelFit, as_model_fit, fit_problems
from bayesimpute.analysis.formula import INTERCEPT
from bayesimpute.validation import warn_user

__all__ = ["pool", "PooledResult", "barnard_rubin", "d1", "d2", "MultiParameterTest"]

SUMMARY_COLUMNS = ["estimate", "std_error", "statistic", "df", "p_value", "riv", "lambda", "fmi"]
#: what print(pooled) shows, as mice's summary(pool(fit))
COMPACT_COLUMNS = ["estimate", "std_error", "statistic", "df", "p_value"]


def _compact_number(value: float) -> str:
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
        return f"{value:.3g}"
    return f"{value:.4f}"


def barnard_rubin(m: int, b: np.ndarray, t: np.ndarray, dfcom=math.inf) -> np.ndarray:
    """Barnard-Rubin (1999) degrees of freedom, exactly as mice's ``barnard.rubin()``.

    Parameters
    ----------
    m : int
        Number of imputations.
    b, t : array_like
        Between-imputation and total variances.
    dfcom : float or array_like
        Complete-data degrees of freedom (one, or one per term); ``inf`` gives the
        large-sample ``(m-1)/lambda^2``.
    """
    b, t = np.asarray(b, dtype=float), np.asarray(t, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = (1 + 1 / m) * b / t
    # mice floors lambda so that a term without between-imputation variance gets a finite df.
    lam = np.where(lam < 1e-4, 1e-4, lam)
    dfold = (m - 1) / lam**2
    dfcom = np.broadcast_to(np.asarray(dfcom, dtype=float), dfold.shape)
    finite = np.isfinite(dfcom)
    if not finite.any():
        return dfold
    dfc = np.where(finite, dfcom, 1.0)  # placeholder where infinite; replaced below
    dfobs = (dfc + 1) / (dfc + 3) * dfc * (1 - lam)
    return np.where(finite, dfold * dfobs / (dfold + dfobs), dfold)


# --------------------------------------------------------------------------- inputs


def _as_fits(fits: Any, name: str = "fits") -> list[ModelFit]:
    if isinstance(fits, AnalysisResults):
        items = list(fits.fits)
    elif isinstance(fits, Sequence) and not isinstance(fits, str):
        items = list(fits)
    else:
        raise TypeError(
            f"{name} must be an AnalysisResults or a list of fits / (estimates, covariance) "
            f"pairs, got {type(fits).__name__}"
        )
    if len(items) < 2:
        raise ValueError(f"{name} holds {len(items)} fit(s); pooling needs at least 2")
    converted = []
    for i, item in enumerate(items):
        try:
            converted.append(as_model_fit(item))
        except (TypeError, ValueError) as err:
            raise type(err)(f"{name}[{i}]: {err}") from err
    _check_same_terms(converted, name)
    return converted


def _check_same_terms(fits: list[ModelFit], name: str) -> None:
    terms = list(fits[0].params.index)
    for i, fit in enumerate(fits[1:], start=1):
        if list(fit.params.index) != terms:
            raise ValueError(
                f"{name}[{i}] has terms {list(fit.params.index)}, but {name}[0] has {terms}; "
                "every fit must estimate the same terms in the same order"
            )


def _stack(fits: list[ModelFit]) -> tuple[np.ndarray, np.ndarray]:
    """Estimates (m, p) and covariances (m, p, p)."""
    qhat = np.vstack([fit.params.to_numpy(dtype=float) for fit in fits])
    uhat = np.stack([fit.cov.to_numpy(dtype=float) for fit in fits])
    return qhat, uhat


def _dfcom(fits: list[ModelFit], dfcom: float | str | None) -> float:
    """One complete-data df: given, else the first model's residual df (mice's get.dfcom)."""
    if dfcom is None or (isinstance(dfcom, str) and dfcom == "residual"):
        dfcom = fits[0].dfcom if fits[0].dfcom is not None else math.inf
    if isinstance(dfcom, str):
        raise ValueError(f"dfcom must be a number, 'residual' or None, got {dfcom!r}")
    dfcom = float(dfcom)
    if not dfcom > 0:
        raise ValueError(f"dfcom must be positive (or inf), got {dfcom}")
    return dfcom


def _term_dfcom(fits: list[ModelFit], dfcom: Any) -> float | pd.Series:
    """Complete-data df for pool(): per term where the fits carry Satterthwaite df.

    ``None`` (default): the mean over the fits of their per-term df (``ModelFit.term_df``,
    linear mixed models), or mice's residual df where no fit has them; ``"residual"``:
    always mice's; a number: that for every term; a Series or sequence: one per term.
    """
    terms = fits[0].params.index
    if dfcom is None:
        per_term = [fit.term_df for fit in fits if fit.term_df is not None]
        if not per_term:
            return _dfcom(fits, None)
        return pd.concat(per_term, axis=1).mean(axis=1).reindex(terms).astype(float)
    if isinstance(dfcom, str) or np.ndim(dfcom) == 0:
        return _dfcom(fits, dfcom)
    if isinstance(dfcom, pd.Series):
        values = dfcom.reindex(terms)
    else:
        values = pd.Series(np.asarray(dfcom, dtype=float), index=terms)
    values = values.astype(float)
    if values.isna().any() or not (values > 0).all():
        raise ValueError(f"dfcom must give a positive df for every term {list(terms)}")
    return values


# --------------------------------------------------------------------------- pool


def pool(
    fits: AnalysisResults | Sequence[Any],
    dfcom: float | str | Sequence[float] | pd.Series | None = None,
    *,
    method: str = "rubin",
    conf_level: float = 0.95,
    allow_nonconverged: bool = False,
) -> PooledResult:
    """Pool m complete-data analyses.

    Parameters
    ----------
    fits : AnalysisResults or sequence
        From :func:`bayesimpute.analyze`, or a list of statsmodels results, of
        :class:`~bayesimpute.analysis.ModelFit`, or of ``(estimates, covariance)`` pairs
        (array or Series; 2-D array or DataFrame, a 1-D array is read as variances).
    dfcom : float, "residual", sequence or Series, optional
        Complete-data degrees of freedom. Default: for linear mixed models fitted by
        :func:`~bayesimpute.analyze` (or statsmodels MixedLM results), each term's
        Satterthwaite df averaged over the fits, as lmerTest computes them (about ``J - 1``
        for terms that vary between J clusters); otherwise the first fit's residual df (n
        minus number of fixed effects, or statsmodels' ``df_resid``) as mice's
        ``get.dfcom``, else infinite. ``"residual"`` forces mice's choice; a number applies
        to every term; a sequence or Series gives one per term.
    method : {"rubin", "mixing"}
        ``"rubin"``: Rubin's rules with Barnard-Rubin df, as R mice. ``"mixing"``: for Bayesian
        fits carrying posterior draws (``ModelFit.draws``), concatenate the draws of all m fits
        (Zhou & Reiter 2010) and summarise them.
    conf_level : float
        Level of the intervals (default 0.95).
    allow_nonconverged : bool
        Pool fits whose optimiser did not converge (``ModelFit.converged`` False) too, with a
        warning; by default such fits are refused. Singular fits (a variance estimated as
        zero) are pooled either way and listed in ``PooledResult.problems``.

    Returns
    -------
    PooledResult

    Raises
    ------
    ValueError
        Fewer than 2 fits, terms that differ between fits, a bad ``method`` or ``conf_level``,
        a fit that did not converge (unless ``allow_nonconverged``).
    TypeError
        A fit of an unsupported type.
    """
    if method not in ("rubin", "mixing"):
        raise ValueError(f"method must be 'rubin' or 'mixing', got {method!r}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be between 0 and 1, got {conf_level}")
    model_fits = _as_fits(fits)
    _refuse_failed(model_fits, allow_nonconverged)
    if method == "mixing":
        return _pool_mixing(model_fits, conf_level)
    return PooledResult(model_fits, _term_dfcom(model_fits, dfcom), conf_level)


def _mark_problems(table: pd.DataFrame, fits: list[ModelFit]) -> None:
    """Name the imputations with singular / failed fits in the table's attrs (lists, so that
    pandas can still concatenate such tables)."""
    table.attrs["singular_imputations"] = [i + 1 for i, f in enumerate(fits) if f.is_singular]
    table.attrs["nonconverged_imputations"] = [i + 1 for i, f in enumerate(fits)
                                               if not f.converged]


def _refuse_failed(fits: list[ModelFit], allow: bool) -> None:
    failed = [i + 1 for i, fit in enumerate(fits) if not fit.converged]
    if not failed:
        return
    first = fits[failed[0] - 1]
    detail = "; ".join(first.messages) or "no message"
    if not allow:
        raise ValueError(
            f"the fits of imputations {failed} did not converge ({detail}); pooling them would "
            "mix optimiser failures into the estimates. Fix the analysis model, or pass "
            "allow_nonconverged=True to pool anyway (pooled.problems names them)"
        )
    warn_user(f"pooling fits that did not converge: imputations {failed} ({detail})",
              RuntimeWarning)


class PooledResult:
    """Pooled result of m analyses (R mice's ``mipo``).

    Attributes
    ----------
    m : int
        Number of imputations.
    dfcom : float or pandas.Series
        Complete-data degrees of freedom used (a Series when they differ by term).
    fits : list of ModelFit
        The per-imputation fits.
    qbar : pandas.Series
        Pooled estimates.
    ubar, b, t : pandas.DataFrame
        Within, between and total covariance matrices.
    method : str
        ``"rubin"`` or ``"mixing"``.
    """

    method = "rubin"

    def __init__(self, fits: list[ModelFit], dfcom: float | pd.Series,
                 conf_level: float = 0.95):
        self.fits, self.m, self.dfcom, self.conf_level = fits, len(fits), dfcom, conf_level
        terms = fits[0].params.index
        qhat, uhat = _stack(fits)
        frame = lambda a: pd.DataFrame(a, index=terms, columns=terms)  # noqa: E731
        self.qbar = pd.Series(qhat.mean(axis=0), index=terms)
        self.ubar = frame(uhat.mean(axis=0))
        self.b = frame(np.atleast_2d(np.cov(qhat, rowvar=False, ddof=1)))
        self.t = self.ubar + (1 + 1 / self.m) * self.b
        self._table = self._scalar_table()

    def _scalar_table(self) -> pd.DataFrame:
        m, qbar = self.m, self.qbar.to_numpy()
        ubar, b, t = (np.diag(x.to_numpy()) for x in (self.ubar, self.b, self.t))
        with np.errstate(divide="ignore", invalid="ignore"):
            riv = (1 + 1 / m) * b / ubar
            lam = (1 + 1 / m) * b / t
            df = barnard_rubin(m, b, t, np.asarray(self.dfcom, dtype=float))
            fmi = (riv + 2 / (df + 3)) / (riv + 1)
            se = np.sqrt(t)
            statistic = qbar / se
        p_value = 2 * stats.t.sf(np.abs(statistic), df)
        half = stats.t.ppf(0.5 + self.conf_level / 2, df) * se
        table = pd.DataFrame(
            {
                "estimate": qbar, "std_error": se, "statistic": statistic, "df": df,
                "p_value": p_value, "riv": riv, "lambda": lam, "fmi": fmi,
                "ubar": ubar, "b": b, "t": t,
                "conf_low": qbar - half, "conf_high": qbar + half,
            },
            index=self.qbar.index,
        )
        table.index.name = "term"
        return table

    def summary(self, full: bool = False) -> pd.DataFrame:
        """One row per term: ``estimate, std_error, statistic, df, p_value, riv, lambda, fmi,
        conf_low, conf_high`` (mice's ``summary(pool(fit), conf.int = TRUE)`` plus ``riv`` /
        ``lambda`` / ``fmi``); ``full=True`` adds ``ubar, b, t``.

        ``attrs["singular_imputations"]`` and ``attrs["nonconverged_imputations"]`` name the
        imputations (1-based) whose fit is singular or did not converge (:attr:`problems` has
        the details). ``print(pooled)`` shows the compact table of mice's
        ``summary(pool(fit))``.
        """
        columns = SUMMARY_COLUMNS + ["conf_low", "conf_high"]
        table = self._table.copy() if full else self._table[columns].copy()
        _mark_problems(table, self.fits)
        return table

    @property
    def problems(self) -> pd.DataFrame:
        """Imputations (1-based) whose fit is singular or did not converge, and why."""
        return fit_problems(self.fits)

    @property
    def cov(self) -> pd.DataFrame:
        """Total covariance matrix ``T = Ubar + (1 + 1/m) B`` of the pooled estimates."""
        return self.t.copy()

    def variance_components(self) -> pd.DataFrame:
        """Pooled variance components; see :func:`pool_variance_components`."""
        return pool_variance_components(self.fits, self.conf_level)

    def __repr__(self) -> str:
        dfcom = f"{self.dfcom:g}" if np.ndim(self.dfcom) == 0 else "Satterthwaite, per term"
        table = self._table[COMPACT_COLUMNS].rename(columns={"std_error": "std.error",
                                                             "p_value": "p.value"})
        lines = [f"PooledResult: m = {self.m}, complete-data df {dfcom}",
                 table.to_string(float_format=_compact_number)]
        problems = self.problems
        if len(problems):
            singular = problems.index[problems["is_singular"]].tolist()
            failed = problems.index[~problems["converged"]].tolist()
            if singular:
                lines.append(f"singular fits: imputations {singular}")
            if failed:
                lines.append(f"fits that did not converge: imputations {failed}")
        lines.append("summary(): riv, lambda, fmi and intervals; summary(full=True): ubar, b, t")
        return "\n".join(lines)


class MixedPooledResult(PooledResult):
    """Posterior draws of m fits mixed together (Zhou & Reiter 2010).

    ``summary()`` gives, per term, the mean (``estimate``), standard deviation (``std_error``)
    and equal-tailed quantile interval (``conf_low``, ``conf_high``) of the mixed draws, and
    ``n_draws``.
    """

    method = "mixing"

    def __init__(self, fits: list[ModelFit], draws: pd.DataFrame, conf_level: float = 0.95):
        self.fits, self.m, self.dfcom, self.conf_level = fits, len(fits), math.inf, conf_level
        self.draws = draws
        self.qbar = draws.mean()
        self.t = draws.cov()
        alpha = 1 - conf_level
        table = pd.DataFrame(
            {
                "estimate": self.qbar,
                "std_error": draws.std(ddof=1),
                "conf_low": draws.quantile(alpha / 2),
                "conf_high": draws.quantile(1 - alpha / 2),
                "n_draws": len(draws),
            }
        )
        table.index.name = "term"
        self._table = table

    def __repr__(self) -> str:
        return f"MixedPooledResult(m={self.m}, draws={len(self.draws)})\n{self._table}"

    def summary(self, full: bool = False) -> pd.DataFrame:
        """Per term: ``estimate, std_error, conf_low, conf_high, n_draws`` of the mixed draws."""
        table = self._table.copy()
        _mark_problems(table, self.fits)
        return table


def _pool_mixing(fits: list[ModelFit], conf_level: float) -> MixedPooledResult:
    missing = [i for i, fit in enumerate(fits) if fit.draws is None]
    if missing:
        raise ValueError(
            f"method='mixing' needs posterior draws; fits {missing} have none (ModelFit.draws)"
        )
    columns = list(fits[0].draws.columns)
    for i, fit in enumerate(fits):
        if list(fit.draws.columns) != columns:
            raise ValueError(
                f"fits[{i}].draws has columns {list(fit.draws.columns)}, expected {columns}"
            )
    draws = pd.concat([fit.draws for fit in fits], ignore_index=True).astype(float)
    return MixedPooledResult(fits, draws, conf_level)


# --------------------------------------------------------------------------- variance components

_INVERSE = {
    "log": np.exp,
    "fixed": np.exp,
    "fisher_z": np.tanh,
    "logit": lambda x: 1 / (1 + np.exp(-x)),
    "identity": lambda x: x,
}


def pool_variance_components(fits: Sequence[Any], conf_level: float = 0.95) -> pd.DataFrame:
    """Pool the variance components of m fits, per grouping factor.

    ``estimate`` is the plain mean of the m estimates (as mitml's
    ``testEstimates(extra.pars = TRUE)``). The interval applies Rubin's rules on a scale where
    the sampling distribution is closer to normal: log for variances, Fisher z for
    correlations, logit for the ICC, identity for covariances; with the per-fit standard errors
    on that scale (``ModelFit.variance_inference``; see :mod:`bayesimpute.analysis.variance_inference`)
    and Barnard-Rubin df with infinite complete-data df. The bounds are then back-transformed.
    Fixed quantities (the logistic residual variance pi^2/3) get a zero-width interval.

    Where some fit has no standard error for a component, the interval would rest on the
    between-imputation variance alone, ``T = (1 + 1/m) B`` on m - 1 df, which ignores the
    within-imputation uncertainty and is too narrow: it is still given (``interval`` =
    ``"between-only"``) but with a warning naming the component, the imputations and why.
    Where some fit estimates a variance as zero (or a correlation as +-1) there is no value on
    the pooling scale: no interval (``"none"``), with a warning.

    Returns
    -------
    pandas.DataFrame
        Index: component. Columns ``group`` (grouping factor, "" for the residual and ICC),
        ``estimate, conf_low, conf_high, scale, transformed_estimate, transformed_se, riv, df,
        interval``.
    """
    model_fits = [as_model_fit(fit) for fit in fits]
    names = list(dict.fromkeys(n for fit in model_fits for n in fit.variance_components))
    problems: list[str] = []
    rows = {name: _pool_component(name, model_fits, conf_level, problems) for name in names}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.insert(0, "group", [n.split(": ", 1)[0] if ": " in n else "" for n in table.index])
    table.index.name = "component"
    if problems:
        warn_user("variance-component intervals: " + "; ".join(problems), RuntimeWarning)
    return table


def _pool_component(name: str, fits: list[ModelFit], conf_level: float,
                    problems: list[str]) -> dict[str, Any]:
    values = np.array([fit.variance_components.get(name, np.nan) for fit in fits], dtype=float)
    row: dict[str, Any] = {"estimate": float(np.mean(values))}
    inference = [_inference_row(fit, name) for fit in fits]
    scale = _scale_of(name, fits)
    none = {**row, "conf_low": np.nan, "conf_high": np.nan, "scale": scale, "interval": "none"}
    if np.isnan(values).any():
        return none
    if scale == "fixed":
        return {**row, "conf_low": row["estimate"], "conf_high": row["estimate"], "scale": scale,
                "interval": "fixed"}
    m = len(fits)
    q = np.array([r[1] if r is not None else _forward(scale, v) for r, v in zip(inference, values)])
    u = np.array([r[2] ** 2 if r is not None else np.nan for r in inference])
    if not np.isfinite(q).all():
        bad = [int(i) + 1 for i in np.flatnonzero(~np.isfinite(q))]
        problems.append(f"{name}: estimated on the boundary (zero variance or correlation +-1) "
                        f"in imputations {bad}, no interval")
        return none
    qbar, b = q.mean(), q.var(ddof=1)
    if np.isfinite(u).all():
        ubar = u.mean()
        t = ubar + (1 + 1 / m) * b
        df = float(barnard_rubin(m, b, t))
        riv, kind = (1 + 1 / m) * b / ubar if ubar > 0 else np.inf, "rubin"
    else:
        lacking = [int(i) + 1 for i in np.flatnonzero(~np.isfinite(u))]
        why = _why_no_se(fits[lacking[0] - 1])
        problems.append(f"{name}: no standard error in imputations {lacking} ({why}); the "
                        "interval uses the between-imputation variance alone and is too narrow")
        t, df, riv, kind = (1 + 1 / m) * b, float(m - 1), np.inf, "between-only"
    half = stats.t.ppf(0.5 + conf_level / 2, df) * math.sqrt(t)
    inverse = _INVERSE[scale]
    return {
        **row,
        "conf_low": float(inverse(qbar - half)),
        "conf_high": float(inverse(qbar + half)),
        "scale": scale,
        "transformed_estimate": qbar,
        "transformed_se": math.sqrt(t),
        "riv": riv,
        "df": df,
        "interval": kind,
    }


def _why_no_se(fit: ModelFit) -> str:
    if fit.variance_inference is None:
        return f"a {type(fit.raw).__name__} fit carries no variance-component inference"
    return "; ".join(fit.messages) or "the fit gives none"


def _scale_of(name: str, fits: list[ModelFit]) -> str:
    """The pooling scale of a component: as the fits declare it, else from its name."""
    for fit in fits:
        table = fit.variance_inference
        if table is not None and name in table.index:
            return str(table.loc[name, "scale"])
    if "corr(" in name:
        return "fisher_z"
    if "cov(" in name:
        return "identity"
    return "logit" if name == "icc" else "log"


def _inference_row(fit: ModelFit, name: str) -> tuple[str, float, float] | None:
    table = fit.variance_inference
    if table is None or name not in table.index:
        return None
    row = table.loc[name]
    if not np.isfinite(row["std_error"]):
        return None
    return row["scale"], float(row["transformed"]), float(row["std_error"])


def _forward(scale: str, value: float) -> float:
    if scale in ("log", "fixed"):
        return math.log(value) if value > 0 else -np.inf
    if scale == "fisher_z":
        return math.atanh(value) if abs(value) < 1 else math.copysign(np.inf, value)
    if scale == "logit":
        return math.log(value / (1 - value)) if 0 < value < 1 else np.nan
    return value


# --------------------------------------------------------------------------- multi-parameter tests


@dataclass(frozen=True)
class MultiParameterTest:
    """Result of :func:`d1` or :func:`d2` (mitml's ``testModels`` row).

    Attributes
    ----------
    method : str
        ``"D1"`` or ``"D2"``.
    statistic : float
        The F statistic.
    df1, df2 : float
        Numerator (number of constraints k) and denominator degrees of freedom.
    p_value : float
        Upper tail of F(df1, df2).
    riv : float
        Average relative increase in variance due to nonresponse.
    m : int
        Number of imputations.
    hypotheses : tuple of str
        What was tested (term names, or rows of a constraint matrix).
    dfcom : float
        Complete-data df used by D1 (``inf``: none).
    """

    method: str
    statistic: float
    df1: float
    df2: float
    p_value: float
    riv: float
    m: int
    hypotheses: tuple[str, ...]
    dfcom: float = math.inf

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame with columns ``statistic, df1, df2, p_value, riv``."""
        values = [self.statistic, self.df1, self.df2, self.p_value, self.riv]
        return pd.DataFrame([values], columns=["statistic", "df1", "df2", "p_value", "riv"],
                            index=pd.Index([self.method], name="test"))


def d1(
    fits: AnalysisResults | Sequence[Any],
    reduced: Any = None,
    *,
    rhs: Iterable[float] | None = None,
    dfcom: float | None = None,
) -> MultiParameterTest:
    """Multivariate Wald test D1 (Li, Raghunathan & Rubin 1991), as mice ``D1()`` / mitml.

    With ``Q_l`` the k tested quantities and ``U_l`` their covariance in imputation l::

        r  = (1 + 1/m) tr(B Ubar^-1) / k
        D1 = Qbar' ((1 + r) Ubar)^-1 Qbar / k          ~ F(k, v)
        t = k (m - 1);  v = 4 + (t - 4) (1 + (1 - 2/t) / r)^2   (t > 4)
                        v = t (1 + 1/k) (1 + 1/r)^2 / 2         (t <= 4)

    and, with a finite ``dfcom``, Reiter's (2007) small-sample v as in mitml's ``.D1``.

    Parameters
    ----------
    fits : AnalysisResults or sequence
        Fits of the full model (anything :func:`pool` accepts, with full covariances).
    reduced : None, sequence of str, fits, or 2-D array / DataFrame
        What to test. ``None``: every term except ``Intercept`` is zero. Term names: those
        terms are zero. Fits of a nested model (AnalysisResults or list of fits): the terms of
        ``fits`` missing from it are zero (mitml ``testModels``). A k x p matrix L (DataFrame
        columns = term names): ``L beta = rhs``.
    rhs : sequence of float, optional
        Right-hand side for a constraint matrix (default zeros).
    dfcom : float, optional
        Complete-data df of the full model; default the fits' residual df (as mice ``D1``;
        the per-term Satterthwaite df that :func:`pool` uses do not apply to a joint test).
        ``inf`` gives the large-sample df2.

    Returns
    -------
    MultiParameterTest
    """
    model_fits = _as_fits(fits)
    qhat, uhat, labels = _constrained(model_fits, reduced, rhs)
    dfcom = _dfcom(model_fits, dfcom)
    k, m = qhat.shape[1], qhat.shape[0]
    qbar, ubar = qhat.mean(axis=0), uhat.mean(axis=0)
    b = np.atleast_2d(np.cov(qhat, rowvar=False, ddof=1))
    riv = (1 + 1 / m) * np.trace(b @ np.linalg.inv(ubar)) / k
    statistic = float(qbar @ np.linalg.solve((1 + riv) * ubar, qbar) / k)
    df2 = _d1_df(k, m, riv, dfcom)
    p_value = float(stats.f.sf(statistic, k, df2))
    return MultiParameterTest("D1", statistic, float(k), df2, p_value, float(riv), m, labels, dfcom)


def _d1_df(k: int, m: int, riv: float, dfcom: float) -> float:
    t = k * (m - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.float64(riv)
        if math.isinf(dfcom):
            if t > 4:
                return float(4 + (t - 4) * (1 + (1 - 2 / t) / r) ** 2)
            return float(t * (1 + 1 / k) * (1 + 1 / r) ** 2 / 2)
        if t <= 4:
            warn_user(
                "D1 degrees of freedom with dfcom may not be trustworthy because k (m - 1) <= 4; "
                "use more imputations", RuntimeWarning,
            )
        # Reiter (2007), eq. 1-2, term by term as in mitml's .D1 (R semantics for 1/0 = Inf).
        a = r * t / (t - 2)
        vstar = (dfcom + 1) / (dfcom + 3) * dfcom
        c0 = np.float64(1) / np.float64(t - 4)
        c1 = vstar - 2 * (1 + a)
        c2 = vstar - 4 * (1 + a)
        z = (
            1 / c2
            + c0 * (a**2 * c1 / ((1 + a) ** 2 * c2))
            + c0 * (8 * a**2 * c1 / ((1 + a) * c2**2) + 4 * a**2 / ((1 + a) * c2))
            + c0 * (4 * a**2 / (c2 * c1) + 16 * a**2 * c1 / c2**3)
            + c0 * (8 * a**2 / c2**2)
        )
        return float(4 + 1 / z)


def d2(
    fits: AnalysisResults | Sequence[Any],
    reduced: Any = None,
    *,
    rhs: Iterable[float] | None = None,
) -> MultiParameterTest:
    """Combined chi-square test D2 (Li, Meng, Raghunathan & Rubin 1991), as mice ``D2()`` /
    mitml ``testModels(method = "D2", use = "wald")``.

    With ``d_l`` the Wald chi-square statistic of the k constraints in imputation l::

        r  = (1 + 1/m) var(sqrt(d_l))
        D2 = (mean(d_l) / k - (m + 1) / (m - 1) r) / (1 + r)     ~ F(k, v)
        v  = k^(-3/m) (m - 1) (1 + 1/r)^2

    Parameters
    ----------
    fits, reduced, rhs
        As for :func:`d1`.

    Returns
    -------
    MultiParameterTest
    """
    model_fits = _as_fits(fits)
    qhat, uhat, labels = _constrained(model_fits, reduced, rhs)
    m, k = qhat.shape
    chisq = np.array([q @ np.linalg.solve(u, q) for q, u in zip(qhat, uhat)])
    riv = (1 + 1 / m) * np.var(np.sqrt(chisq), ddof=1)
    statistic = float((chisq.mean() / k - (m + 1) / (m - 1) * riv) / (1 + riv))
    with np.errstate(divide="ignore"):
        df2 = float(k ** (-3 / m) * (m - 1) * (1 + 1 / np.float64(riv)) ** 2)
    p_value = float(stats.f.sf(statistic, k, df2))
    return MultiParameterTest("D2", statistic, float(k), df2, p_value, float(riv), m, labels)


def _constrained(
    fits: list[ModelFit], reduced: Any, rhs: Iterable[float] | None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Tested quantities L q_l - rhs (m, k) and their covariances L U_l L' (m, k, k)."""
    terms = list(fits[0].params.index)
    matrix, labels = _constraint_matrix(terms, reduced)
    target = np.zeros(matrix.shape[0]) if rhs is None else np.asarray(list(rhs), dtype=float)
    if target.shape != (matrix.shape[0],):
        raise ValueError(f"rhs must have {matrix.shape[0]} values, got {target.size}")
    qhat, uhat = _stack(fits)
    q = qhat @ matrix.T - target
    u = np.einsum("ki,mij,lj->mkl", matrix, uhat, matrix)
    return q, u, labels


def _constraint_matrix(terms: list[str], reduced: Any) -> tuple[np.ndarray, tuple[str, ...]]:
    if reduced is None:
        tested = [t for t in terms if t != INTERCEPT]
    elif isinstance(reduced, str):
        tested = [reduced]
    elif isinstance(reduced, pd.DataFrame) or isinstance(reduced, np.ndarray):
        return _matrix_from_array(terms, reduced)
    elif isinstance(reduced, AnalysisResults) or (
        isinstance(reduced, Sequence) and reduced and not all(isinstance(r, str) for r in reduced)
    ):
        null_terms = set(_as_fits(reduced, "reduced")[0].params.index)
        tested = [t for t in terms if t not in null_terms]
        if not tested:
            raise ValueError("reduced: the models are not nested or have the same terms")
    else:
        tested = list(reduced)
    unknown = [t for t in tested if t not in terms]
    if unknown or not tested:
        raise ValueError(
            f"reduced: terms {unknown or tested} are not among the fitted terms {terms}"
        )
    matrix = np.zeros((len(tested), len(terms)))
    for row, term in enumerate(tested):
        matrix[row, terms.index(term)] = 1.0
    return matrix, tuple(tested)


def _matrix_from_array(
    terms: list[str], reduced: np.ndarray | pd.DataFrame
) -> tuple[np.ndarray, tuple[str, ...]]:
    if isinstance(reduced, pd.DataFrame):
        unknown = [c for c in reduced.columns if c not in terms]
        if unknown:
            raise ValueError(f"reduced: constraint columns {unknown} are not fitted terms {terms}")
        reduced = reduced.reindex(columns=terms, fill_value=0.0)
    matrix = np.atleast_2d(np.asarray(reduced, dtype=float))
    if matrix.shape[1] != len(terms):
        raise ValueError(
            f"reduced: constraint matrix needs {len(terms)} columns, has {matrix.shape[1]}"
        )
    labels = tuple(
        " + ".join(f"{w:g}*{t}" for w, t in zip(row, terms) if w != 0) for row in matrix
    )
    return matrix, labels
