"""Inference on the variance parameters: Satterthwaite df and variance-component standard errors.

Linear mixed models, as lmerTest 3.1: with ``varpar = (theta, sigma)`` and ``D(varpar)`` the
(RE)ML criterion with ``beta`` profiled out but ``sigma`` not (lmerTest's ``devfun_vp``,
:meth:`ProfiledDeviance.deviance_at`), the asymptotic covariance of the variance parameters is
``A = 2 H^-1`` with H the Hessian of D at the estimate; for fixed effect k with variance
``c_k(varpar)`` (a diagonal entry of ``sigma^2 (R_X'R_X)^-1``)::

    df_k = 2 c_k^2 / (grad c_k' A grad c_k)

Derivatives are central differences, steps 1e-3 max(|x|, 0.1) (lmerTest uses numDeriv's Richardson
extrapolation; the df agree to 3e-5 on the reference models).
GLMMs: ``A`` is the theta block of ``2 H^-1`` of the Laplace deviance (:mod:`.glmm`).

The variance components are functions of the same parameters; on the scales where pooling
combines them (log for variances, Fisher z for correlations, logit for the ICC, identity for
covariances) their covariance follows by the delta method, ``J A J'``. A variance estimated as
zero (a singular fit) has no log, a correlation of +-1 no Fisher z: their standard errors are
NaN and the fit says why.
"""

from __future__ import annotations

import math
import numpy as np
import pandas as pd

from bayesimpute.analysis import numdiff
from bayesimpute.analysis.formula import INTERCEPT

__all__ = ["LOGISTIC_RESIDUAL_VARIANCE", "ComponentSpec", "satterthwaite",
           "component_inference", "lmm_components", "glmm_components", "natural_values"]

#: latent-scale level-1 variance of the logistic distribution (ICC of a logistic model)
LOGISTIC_RESIDUAL_VARIANCE = math.pi**2 / 3


class ComponentSpec:
    """Names, pooling scales and values of a fit's variance components as functions of the
    variance parameters."""

    def __init__(self, groups: list[tuple[str, list[str], int]], layout, residual: str):
        # groups: (group name, effect names, theta offset) per term; residual: "sigma" (the
        # last parameter is sigma), "logistic" (fixed pi^2/3) or "none".
        self.groups, self.layout, self.residual = groups, layout, residual
        self.rows = self._rows()

    def _rows(self) -> list[tuple[str, str]]:
        rows = []
        for group, effects, _ in self.groups:
            rows += [(f"{group}: {e}", "log") for e in effects]
            for i, a in enumerate(effects):
                for b in effects[i + 1:]:
                    rows += [(f"{group}: cov({a}, {b})", "identity"),
                             (f"{group}: corr({a}, {b})", "fisher_z")]
        if self.residual == "sigma":
            rows.append(("residual", "log"))
        elif self.residual == "logistic":
            rows.append(("residual", "fixed"))
        if self.has_icc:
            rows.append(("icc", "logit"))
        return rows

    @property
    def has_icc(self) -> bool:
        return (len(self.groups) == 1 and self.groups[0][1] == [INTERCEPT]
                and self.residual in ("sigma", "logistic"))

    def values(self, params: np.ndarray) -> np.ndarray:
        """Components on their natural scale (variances, covariances, correlations)."""
        scale, residual = self._scale(params)
        out = []
        factors = self.layout.factors(params)
        for (group, effects, _), t in zip(self.groups, factors):
            cov = scale * t @ t.T
            out += list(np.diag(cov))
            for i in range(len(effects)):
                for j in range(i + 1, len(effects)):
                    denom = math.sqrt(cov[i, i] * cov[j, j])
                    out += [cov[i, j], cov[i, j] / denom if denom > 0 else math.nan]
        if residual is not None:
            out.append(residual)
        if self.has_icc:
            tau2 = out[0]
            out.append(tau2 / (tau2 + residual))
        return np.asarray(out, dtype=float)

    def _scale(self, params: np.ndarray) -> tuple[float, float | None]:
        if self.residual == "sigma":
            sigma2 = float(params[-1]) ** 2
            return sigma2, sigma2
        if self.residual == "logistic":
            return 1.0, LOGISTIC_RESIDUAL_VARIANCE
        return 1.0, None

    def transformed(self, params: np.ndarray) -> np.ndarray:
        return np.array([_forward(scale, v) for (_, scale), v in zip(self.rows,
                                                                      self.values(params))])

    def on_boundary(self, params: np.ndarray) -> np.ndarray:
        """Components at (or numerically at) their boundary: a variance below 1e-8 of the
        scale (a relative factor below lme4's singularity tolerance 1e-4), a correlation within
        1e-6 of +-1. Their log / Fisher-z standard errors mean nothing."""
        scale, _ = self._scale(params)
        out = []
        for (name, kind), value in zip(self.rows, self.values(params)):
            if kind == "log" and name != "residual":
                out.append(value < 1e-8 * scale)
            elif kind == "fisher_z":
                out.append(not math.isfinite(value) or abs(value) > 1 - 1e-6)
            else:
                out.append(False)
        return np.array(out, dtype=bool)


def _forward(scale: str, value: float) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        if scale in ("log", "fixed"):
            return math.log(value) if value > 0 else -math.inf
        if scale == "fisher_z":
            if not math.isfinite(value):
                return math.nan
            return math.atanh(value) if abs(value) < 1 else math.copysign(math.inf, value)
        if scale == "logit":
            return math.log(value / (1 - value)) if 0 < value < 1 else math.nan
        return value


def lmm_components(design_terms, layout) -> ComponentSpec:
    groups = [(t.group, t.effects, off) for t, off in zip(design_terms, layout.offsets)]
    return ComponentSpec(groups, _ThetaOnly(layout), "sigma")


def glmm_components(design_terms, layout, family: str) -> ComponentSpec:
    groups = [(t.group, t.effects, off) for t, off in zip(design_terms, layout.offsets)]
    return ComponentSpec(groups, _ThetaOnly(layout), "logistic" if family == "binomial" else "none")


class _ThetaOnly:
    """The layout, reading theta from the front of a longer parameter vector."""

    def __init__(self, layout):
        self.layout = layout

    def factors(self, params: np.ndarray) -> list[np.ndarray]:
        return self.layout.factors(np.asarray(params)[: self.layout.n_theta])


def covariance_from_hessian(hessian: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """``2 H^-1`` when H is positive definite, else None and why."""
    if not np.all(np.isfinite(hessian)):
        return None, "the Hessian of the criterion is not finite"
    eigen = np.linalg.eigvalsh(hessian)
    if eigen.min() <= 1e-10 * max(eigen.max(), 1.0):
        return None, ("the Hessian of the criterion in the variance parameters is not positive "
                      "definite")
    return 2.0 * np.linalg.inv(hessian), None


#: step floor of the Hessian in (theta, sigma): steps 1e-3 max(|x|, FLOOR), so that a small
#: theta (a variance near zero) gets a step small against itself
FLOOR = 0.1


def satterthwaite(deviance, theta: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray | None,
                                                                      list[str]]:
    """Per-term Satterthwaite df (lmerTest's) and the covariance ``A`` of (theta, sigma)."""
    varpar = np.concatenate([theta, [sigma]])
    criterion = lambda v: deviance.deviance_at(v[:-1], v[-1])  # noqa: E731
    hessian = numdiff.hessian(criterion, varpar, step=1e-3, relative=True, floor=FLOOR)
    cov, problem = covariance_from_hessian(hessian)
    most = float(deviance.n - deviance.p)
    if cov is None:
        return np.full(deviance.p, most), None, [
            f"{problem}: Satterthwaite df replaced by the residual df n - p = {most:g}"]
    variances = lambda v: np.diag(deviance.beta_covariance(v[:-1], v[-1]))  # noqa: E731
    c = variances(varpar)
    grad = numdiff.jacobian(variances, varpar, step=1e-4)
    spread = np.einsum("pi,ij,pj->p", grad, cov, grad)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(spread > 0, 2.0 * c**2 / spread, most)
    return np.clip(df, 1.0, most), cov, []


def component_inference(spec: ComponentSpec, params: np.ndarray,
                        cov: np.ndarray | None) -> pd.DataFrame:
    """Per component: ``scale``, ``transformed`` estimate and its ``std_error`` (delta method)."""
    transformed = spec.transformed(params)
    se = np.full(len(transformed), np.nan)
    if cov is not None:
        k = cov.shape[0]
        finite = np.isfinite(transformed) & ~spec.on_boundary(params)

        def on_scale(v: np.ndarray) -> np.ndarray:
            full = params.copy()
            full[:k] = v
            out = spec.transformed(full)
            return np.where(finite, out, 0.0)

        jac = numdiff.jacobian(on_scale, params[:k], step=1e-6)
        var = np.einsum("ci,ij,cj->c", jac, cov, jac)
        se = np.where(finite & (var > 0), np.sqrt(np.abs(var)), np.nan)
    for i, (_, scale) in enumerate(spec.rows):
        if scale == "fixed":
            se[i] = 0.0
    return pd.DataFrame({"scale": [s for _, s in spec.rows], "transformed": transformed,
                         "std_error": se}, index=[n for n, _ in spec.rows])


def natural_values(spec: ComponentSpec, params: np.ndarray) -> dict[str, float]:
    return {name: float(v) for (name, _), v in zip(spec.rows, spec.values(params))}

