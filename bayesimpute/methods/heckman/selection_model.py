"""The two-level Heckman selection model: priors, the PyMC model, truncated normal draws.

    selection  z_i = xs_i' beta_s + zs_i' us_j + e_s,i       observed  <=>  z_i > 0
    outcome    y_i = xo_i' beta_o + zo_i' uo_j + e_o,i
    (e_s, e_o) ~ N2(0, [[1, rho sigma_j], [rho sigma_j, sigma_j^2]])
    (us_j, uo_j) ~ N(0, Psi),  Psi ~ Huang-Wand(nu = 2, A = 0.5): half-t(2, 0.5) sds,
                               uniform correlations (:mod:`bayesimpute.methods.core.priors`)
    log sigma_j ~ N(mu_s, tau^2),  mu_s ~ N(0, 1),  tau ~ HalfNormal(tau_sd)
    atanh(rho) ~ the user's prior (default N(0, 1))

on the standardised scale of the outcome and the predictors. A binary outcome is
``y = 1(y* > 0)`` with ``sigma_j = 1`` (a bivariate probit with sample selection).
Integrating the latent selection value out gives the likelihood written in PyMC here:
an observed row contributes ``N(y; mu_o, sigma) Phi((mu_s + rho (y - mu_o) / sigma) /
sqrt(1 - rho^2))``, a missing row ``Phi(-mu_s)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.dist_math import normal_lcdf
from scipy import special

from bayesimpute.methods.core.priors import CovariancePrior

__all__ = [
    "RhoPrior",
    "HeckmanPriors",
    "HeckmanDesign",
    "build_heckman_model",
    "truncated_normal",
    "bivariate_normal_cdf",
]

_RHO_FAMILIES = ("normal_atanh", "uniform", "beta", "fixed")


@dataclass(frozen=True)
class RhoPrior:
    """Prior on the error correlation rho, the user's statement about the MNAR mechanism.

    Forms accepted by :meth:`parse` (tuples, lists as written in TOML, or dicts):

    - ``("normal_atanh", mu, sd)``: atanh(rho) ~ N(mu, sd^2) (default ``(0, 1)``);
    - ``("uniform", low, high)``: rho ~ Uniform(low, high), ``-1 <= low < high <= 1``;
    - ``("beta", a, b)``: (rho + 1) / 2 ~ Beta(a, b);
    - ``("fixed", value)``: rho held at ``value`` (a sensitivity-analysis setting);
    - a number: shorthand for ``("fixed", value)``.
    """

    family: str = "normal_atanh"
    params: tuple[float, ...] = (0.0, 1.0)

    @classmethod
    def parse(cls, spec: Any) -> RhoPrior:
        """Validate a user specification and return the prior."""
        if isinstance(spec, RhoPrior):
            return spec
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            spec = ("fixed", float(spec))
        if isinstance(spec, dict):
            spec = (spec.get("family"), *[v for k, v in spec.items() if k != "family"])
        if not isinstance(spec, Sequence) or isinstance(spec, str) or not spec:
            raise ValueError(
                f"rho_prior must be e.g. ('normal_atanh', 0, 1), ('uniform', -1, 1), "
                f"('beta', 2, 2) or ('fixed', 0.5); got {spec!r}"
            )
        family, params = str(spec[0]), tuple(float(v) for v in spec[1:])
        cls._check(family, params)
        return cls(family, params)

    @staticmethod
    def _check(family: str, params: tuple[float, ...]) -> None:
        expected = {"normal_atanh": 2, "uniform": 2, "beta": 2, "fixed": 1}
        if family not in expected:
            raise ValueError(f"rho_prior family must be one of {_RHO_FAMILIES}, got {family!r}")
        if len(params) != expected[family]:
            raise ValueError(
                f"rho_prior {family!r} takes {expected[family]} number(s), got {list(params)}"
            )
        if family == "normal_atanh" and params[1] <= 0:
            raise ValueError("rho_prior ('normal_atanh', mu, sd) needs sd > 0")
        if family == "uniform" and not -1.0 <= params[0] < params[1] <= 1.0:
            raise ValueError("rho_prior ('uniform', low, high) needs -1 <= low < high <= 1")
        if family == "beta" and min(params) <= 0:
            raise ValueError("rho_prior ('beta', a, b) needs a > 0 and b > 0")
        if family == "fixed" and not -1.0 < params[0] < 1.0:
            raise ValueError("rho_prior ('fixed', value) needs -1 < value < 1")

    @property
    def is_fixed(self) -> bool:
        return self.family == "fixed"

    def log_density_atanh(self, a):
        """Log prior density of ``a = atanh(rho)`` (Jacobian included); numpy or pytensor."""
        lib = pt if isinstance(a, pt.TensorVariable) else np
        if self.family == "normal_atanh":
            mu, sd = self.params
            return -0.5 * ((a - mu) / sd) ** 2
        if self.family == "fixed":
            return 0.0 * a
        log_jacobian = 2.0 * (np.log(2.0) - lib.logaddexp(a, -a))  # log(1 - tanh(a)^2)
        if self.family == "uniform":
            low, high = self.params
            rho = lib.tanh(a)
            inside = (rho > low) & (rho < high)
            return lib.where(inside, log_jacobian, -np.inf)
        a_shape, b_shape = self.params
        half = (lib.tanh(a) + 1.0) / 2.0
        return (a_shape - 1) * lib.log(half) + (b_shape - 1) * lib.log1p(-half) + log_jacobian

    def start(self) -> float:
        """A starting value of atanh(rho) inside the prior's support."""
        if self.family == "fixed":
            return float(np.arctanh(self.params[0]))
        if self.family == "uniform":
            low, high = self.params
            return 0.0 if low < 0.0 < high else float(np.arctanh(0.5 * (low + high)))
        if self.family == "normal_atanh":
            return float(np.clip(self.params[0], -2.0, 2.0))
        return float(np.arctanh(2.0 * self.params[0] / sum(self.params) - 1.0))


@dataclass(frozen=True)
class HeckmanPriors:
    """Priors on the standardised scale (see the module docstring)."""

    beta_sd: float = 10.0
    # the same family and scale as the Gaussian methods (standardised outcome; the
    # selection equation's latent sd is 1 too)
    covariance: CovariancePrior = CovariancePrior(df=2.0, scale=0.5)
    log_sigma_mu_sd: float = 1.0
    log_sigma_tau_sd: float = 0.5
    rho: RhoPrior = RhoPrior()

    def settings(self) -> dict[str, float]:
        """The prior scales a user may set (method options of these names; rho has its own
        ``rho_prior``), at these values.

        Examples
        --------
        >>> HeckmanPriors().settings()["log_sigma_tau_sd"]
        0.5
        """
        return {"beta_sd": self.beta_sd, "re_scale": self.covariance.scale,
                "log_sigma_mu_sd": self.log_sigma_mu_sd, "log_sigma_tau_sd": self.log_sigma_tau_sd}

    @classmethod
    def with_settings(cls, given, rho: RhoPrior | None = None) -> HeckmanPriors:
        """The priors with those of :meth:`settings` that ``given`` names (other keys are
        ignored), the defaults for the rest, and ``rho``'s prior.

        Examples
        --------
        >>> HeckmanPriors.with_settings({"beta_sd": 3, "pmm": False}).beta_sd
        3.0
        """
        value = {**cls().settings(), **{k: float(v) for k, v in given.items()
                                        if k in cls().settings()}}
        return cls(beta_sd=value["beta_sd"], log_sigma_mu_sd=value["log_sigma_mu_sd"],
                   log_sigma_tau_sd=value["log_sigma_tau_sd"], rho=rho or RhoPrior(),
                   covariance=CovariancePrior(df=cls().covariance.df, scale=value["re_scale"]))


@dataclass
class HeckmanDesign:
    """Column roles of the two equations, as indices into the common design ``X``.

    ``sel`` / ``out``: columns of the selection / outcome equation; ``sel_random`` /
    ``out_random``: positions *within* ``sel`` / ``out`` of the columns with random effects.
    """

    sel: np.ndarray
    out: np.ndarray
    sel_random: np.ndarray
    out_random: np.ndarray
    x_names: list[str]

    @classmethod
    def from_roles(
        cls, roles: Sequence[int], x_names: Sequence[str], *, random_exclusion: bool = False
    ) -> HeckmanDesign:
        """Predictor codes (1 both, 2 random in both, -3 selection only, -4 outcome only)."""
        roles = np.asarray(roles, dtype=int)
        sel = np.flatnonzero(np.isin(roles, (1, 2, -3)))
        out = np.flatnonzero(np.isin(roles, (1, 2, -4)))
        sel_random_codes = (2, -3) if random_exclusion else (2,)
        sel_random = np.flatnonzero(np.isin(roles[sel], sel_random_codes))
        out_random = np.flatnonzero(roles[out] == 2)
        return cls(sel, out, sel_random, out_random, list(x_names))

    @property
    def n_params(self) -> int:
        return len(self.sel) + len(self.out)

    @property
    def random(self) -> np.ndarray:
        """Positions of the random-effect columns in ``theta = (beta_sel, beta_out)``."""
        return np.concatenate([self.sel_random, len(self.sel) + self.out_random]).astype(int)

    @property
    def sel_names(self) -> list[str]:
        return [self.x_names[i] for i in self.sel]

    @property
    def out_names(self) -> list[str]:
        return [self.x_names[i] for i in self.out]

    @property
    def re_names(self) -> list[str]:
        return [f"sel:{self.sel_names[i]}" for i in self.sel_random] + [
            f"out:{self.out_names[i]}" for i in self.out_random
        ]


# --- PyMC model -----------------------------------------------------------------------------
def build_heckman_model(
    X: np.ndarray,
    y: np.ndarray,
    observed: np.ndarray,
    cluster: np.ndarray,
    n_clusters: int,
    design: HeckmanDesign,
    *,
    binary: bool = False,
    priors: HeckmanPriors = HeckmanPriors(),
) -> pm.Model:
    """The PyMC model of all rows (selection) and the observed rows (outcome).

    ``X`` is the standardised common design (intercept in column 0), ``y`` the
    standardised outcome (any finite value on unobserved rows), ``observed`` the selection
    indicator. Data live in ``pm.Data`` containers ``X``, ``y``, ``observed``,
    ``cluster_index`` and ``in_selection`` (0 for the rows of clusters without any observed
    value: their missingness is by design, so they are left out of the selection
    likelihood and their random effects come from the population distribution).
    """
    q = len(design.random)
    coords = {"sel": design.sel_names, "out": design.out_names,
              "cluster": np.arange(n_clusters), "re": design.re_names}
    with pm.Model(coords=coords) as model:
        X_data = pm.Data("X", X)
        y_data = pm.Data("y", np.where(observed, y, 0.0))
        obs_data = pm.Data("observed", observed.astype(float))
        cluster_data = pm.Data("cluster_index", cluster)
        beta_sel = pm.Normal("beta_sel", 0.0, priors.beta_sd, dims="sel")
        beta_out = pm.Normal("beta_out", 0.0, priors.beta_sd, dims="out")
        X_sel, X_out = X_data[:, design.sel], X_data[:, design.out]
        mu_s, mu_o = pt.dot(X_sel, beta_sel), pt.dot(X_out, beta_out)
        if q:
            chol = priors.covariance.declare(q, hyper_dims="re")
            u = pm.MvNormal("u", mu=np.zeros(q), chol=chol, dims=("cluster", "re"))[cluster_data]
            qs = len(design.sel_random)
            mu_s = mu_s + pt.sum(X_sel[:, design.sel_random] * u[:, :qs], axis=1)
            mu_o = mu_o + pt.sum(X_out[:, design.out_random] * u[:, qs:], axis=1)
        rho = _rho_variable(priors.rho)
        if binary:
            loglik_obs = _bivariate_probit_loglik(mu_s, mu_o, y_data, rho)
        else:
            sigma = _sigma(priors)[cluster_data]
            loglik_obs = _selection_normal_loglik(mu_s, mu_o, y_data, rho, sigma)
        # clusters without any observed value do not inform the selection process
        any_observed = np.bincount(cluster, observed.astype(float), n_clusters) > 0
        in_selection = pm.Data("in_selection", any_observed[cluster].astype(float))
        loglik_mis = normal_lcdf(0.0, 1.0, -mu_s) * in_selection
        loglik = pt.switch(pt.gt(obs_data, 0.5), loglik_obs, loglik_mis)
        pm.Potential("likelihood", pt.sum(loglik))
    return model


def _rho_variable(prior: RhoPrior):
    if prior.is_fixed:
        return pt.constant(prior.params[0])
    rho_atanh = pm.Flat("rho_atanh", initval=prior.start())
    pm.Potential("rho_prior", prior.log_density_atanh(rho_atanh))
    return pm.Deterministic("rho", pt.tanh(rho_atanh))


def _sigma(priors: HeckmanPriors):
    mu = pm.Normal("log_sigma_mu", 0.0, priors.log_sigma_mu_sd)
    tau = pm.HalfNormal("log_sigma_tau", priors.log_sigma_tau_sd)
    return pt.exp(pm.Normal("log_sigma", mu, tau, dims="cluster"))


def _selection_normal_loglik(mu_s, mu_o, y, rho, sigma):
    resid = (y - mu_o) / sigma
    sel = (mu_s + rho * resid) / pt.sqrt(1.0 - rho**2)
    return -0.5 * resid**2 - pt.log(sigma) - 0.5 * np.log(2 * np.pi) + normal_lcdf(0.0, 1.0, sel)


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(20)


def _bivariate_probit_loglik(mu_s, mu_o, y, rho):
    """log P(z > 0, sign(y*) as observed) = log Phi2(mu_s, s mu_o; s rho), s = 2y - 1."""
    sign = 2.0 * y - 1.0
    return pt.log(pt.maximum(bivariate_normal_cdf(mu_s, sign * mu_o, sign * rho), 1e-300))


def bivariate_normal_cdf(a, b, r):
    """Phi2(a, b; r) by Gauss-Legendre quadrature of Plackett's identity (pytensor).

    ``Phi2 = Phi(a) Phi(b) + (1 / 2 pi) int_0^r exp(-(a^2 - 2 s a b + b^2) / (2 (1 - s^2)))
    / sqrt(1 - s^2) ds``; 20 nodes give about 1e-8 accuracy for |r| <= 0.95.
    """
    s = 0.5 * r * (_GL_NODES[:, None] + 1.0)  # (nodes, n)
    one_minus = 1.0 - s**2
    integrand = pt.exp(-(a**2 - 2.0 * s * a * b + b**2) / (2.0 * one_minus)) / pt.sqrt(one_minus)
    integral = 0.5 * r * pt.sum(_GL_WEIGHTS[:, None] * integrand, axis=0)
    phi_a = 0.5 * pt.erfc(-a / np.sqrt(2.0))
    phi_b = 0.5 * pt.erfc(-b / np.sqrt(2.0))
    return phi_a * phi_b + integral / (2.0 * np.pi)


# --- truncated normal draws ----------------------------------------------------------------
def truncated_normal(
    mean: np.ndarray, sd: np.ndarray | float, above_zero: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draw from N(mean, sd^2) truncated to (0, inf) where ``above_zero``, else (-inf, 0].

    Exact inverse-CDF draws computed in log space (``log_ndtr`` / ``ndtri_exp``), so they
    stay accurate many standard deviations into the tail.
    """
    mean = np.asarray(mean, dtype=float)
    sd = np.broadcast_to(np.asarray(sd, dtype=float), mean.shape)
    log_u = np.log1p(-rng.uniform(size=mean.shape))  # log of a uniform on (0, 1]
    # Above zero: X = mean + sd T with T > -mean/sd, so S = -T is a standard normal truncated
    # above at mean/sd and X = mean - sd S.  Below zero: T < -mean/sd and X = mean + sd T.
    upper = np.where(above_zero, mean / sd, -mean / sd)
    t = special.ndtri_exp(np.minimum(log_u + special.log_ndtr(upper), -1e-300))
    t = np.minimum(t, upper)
    return np.where(above_zero, mean - sd * t, mean + sd * t)
