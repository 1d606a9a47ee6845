"""The random-effect covariance prior shared by every multilevel method.

Every random-effect covariance matrix Psi (q x q) of the package has the hierarchical
inverse-Wishart prior of Huang & Wand (2013):

    Psi | a ~ InvWishart(nu + q - 1, 2 nu diag(1 / a_1, ..., 1 / a_q))
    a_k     ~ InvGamma(1/2, 1 / A^2)

Marginally each random-effect standard deviation sqrt(Psi_kk) is half-t(nu, A) and, with
nu = 2 (the default), every correlation is uniform on (-1, 1). That is the separation
strategy Gelman (2006) recommends for few clusters (half-t scales with positive density at
zero, so an unneeded random slope can shrink to nothing; a tail that does not let 5
clusters invent huge ones) with the one property the plain inverse-Wishart of mice-style
Gibbs samplers lacks: the scales do not depend on each other or on q. Unlike an LKJ prior it
stays conditionally conjugate, so the exact Gibbs steps draw it exactly:

    Psi | u, a ~ InvWishart(nu + q - 1 + J, 2 nu diag(1 / a) + u'u)
    a_k | Psi  ~ InvGamma((nu + q) / 2, nu (Psi^-1)_kk + 1 / A^2)

For q = 1 it is Psi ~ InvGamma(nu / 2, nu / a), a ~ InvGamma(1/2, 1 / A^2): the sd is
half-t(nu, A). :class:`CovariancePrior` holds (nu, A) and gives the numpy draws the Gibbs
steps use and the PyMC variables the models declare (``psi_hyper`` for a, ``psi_chol`` for
the packed Cholesky factor of Psi, with the prior's density and a numpy random draw, so
that ``pm.draw`` and ``pm.sample_prior_predictive`` draw from this same prior).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy import special

from bayesimpute.methods.core.linalg import draw_inverse_wishart, pack_cholesky

__all__ = ["CovariancePrior", "Prior", "huang_wand", "inverse_wishart_cholesky_logp", "unpack_cholesky_tensor"]


@dataclass(frozen=True)
class Prior:
    """A method's prior on one parameter, as a user reads it (:func:`describe_method`).

    Parameters
    ----------
    parameter : str
        The parameter (as in the run's ``posterior`` group where it is recorded).
    distribution : str
        The distribution, with its parameters, e.g. ``"Normal(0, 10)"``; on the standardised
        scale of target and predictors unless ``scale`` says otherwise.
    option : str or None
        The ``method_options`` key that sets it, or keys separated by ", " when several
        do (None: fixed).
    scale : str
        The scale the prior is stated on.

    Examples
    --------
    >>> str(Prior("beta", "Normal(0, 10)", option="beta_sd"))
    'beta ~ Normal(0, 10)  [method_options: beta_sd]'
    """

    parameter: str
    distribution: str
    option: str | None = None
    scale: str = "standardised"

    @property
    def options(self) -> tuple[str, ...]:
        """The ``method_options`` keys that set this prior (empty: fixed).

        Examples
        --------
        >>> Prior("sigma2", "InvGamma(0.01, 0.01)", option="sigma2_shape, sigma2_rate").options
        ('sigma2_shape', 'sigma2_rate')
        """
        return tuple(self.option.split(", ")) if self.option else ()

    def __str__(self) -> str:
        where = f"  [method_options: {self.option}]" if self.option else ""
        return f"{self.parameter} ~ {self.distribution}{where}"


def huang_wand(parameter: str, prior: CovariancePrior, option: str | None = "re_scale") -> Prior:
    """The covariance prior of ``parameter`` as a :class:`Prior`."""
    return Prior(parameter, f"HuangWand(nu={prior.df:g}, A={prior.scale:g}): each sd "
                            f"half-t({prior.df:g}, {prior.scale:g}), correlations uniform",
                 option=option)


@dataclass(frozen=True)
class CovariancePrior:
    """Huang & Wand's hierarchical inverse-Wishart prior (see the module docstring).

    Parameters
    ----------
    df : float
        nu: each sd is half-t(nu, A); nu = 2 makes every correlation uniform on (-1, 1).
    scale : float
        A, the half-t scale of each random-effect sd on the scale of the model's linear
        predictor (standardised outcome and predictors).
    """

    df: float = 2.0
    scale: float = 1.0

    def __post_init__(self):
        if not (self.df > 0 and self.scale > 0):
            raise ValueError(f"covariance prior needs df > 0 and scale > 0, got {self}")

    def wishart_df(self, q: int) -> float:
        return self.df + q - 1.0

    def wishart_scale(self, hyper: np.ndarray) -> np.ndarray:
        """Diagonal of the inverse-Wishart scale given the auxiliaries a (last axis q)."""
        return 2.0 * self.df / hyper

    # --- numpy draws (the Gibbs steps) --------------------------------------------------
    def draw_hyper(self, q: int, rng: np.random.Generator) -> np.ndarray:
        """a ~ InvGamma(1/2, 1 / A^2), shape (q,)."""
        return (1.0 / self.scale**2) / rng.gamma(0.5, size=q)

    def draw_covariance(self, hyper: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Psi | a from the prior, shape (q, q)."""
        return draw_inverse_wishart(self.wishart_df(len(hyper)),
                                    np.diag(self.wishart_scale(hyper)), rng)

    def update(self, effects: np.ndarray, hyper: np.ndarray, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
        """One exact Gibbs update of (Psi, a) given the random effects ``effects`` (J, q)."""
        q, n_clusters = effects.shape[1], effects.shape[0]
        scale = np.diag(self.wishart_scale(hyper)) + effects.T @ effects
        psi = draw_inverse_wishart(self.wishart_df(q) + n_clusters, scale, rng)
        return psi, self.draw_hyper_given(psi, rng)

    def draw_hyper_given(self, psi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """a | Psi ~ InvGamma((nu + q) / 2, nu (Psi^-1)_kk + 1 / A^2), shape (q,)."""
        q = len(psi)
        rate = 1.0 / self.scale**2 + self.df * np.diag(np.linalg.inv(psi))
        return rate / rng.gamma(0.5 * (self.df + q), size=q)

    # --- PyMC variables (the models) ------------------------------------------------------
    def declare(self, q: int, *, hyper_dims=None, batch: tuple[int, ...] = (),
                suffix: str = ""):
        """Declare ``psi_hyper`` and ``psi_chol`` (names + ``suffix``, for models with several
        covariance matrices) in the current PyMC model; return the Cholesky factor of Psi as
        a tensor of shape ``batch + (q, q)``. Without ``hyper_dims`` the auxiliaries get the
        shape ``batch + (q,)``."""
        shape = None if hyper_dims is not None else (*batch, q)
        hyper = pm.InverseGamma(f"psi_hyper{suffix}", alpha=0.5, beta=1.0 / self.scale**2,
                                dims=hyper_dims, shape=shape)
        n_packed = q * (q + 1) // 2

        def logp(packed, hyper, _template):
            return inverse_wishart_cholesky_logp(
                packed, q, self.wishart_df(q), self.wishart_scale(hyper))[0]

        # the template's length tells PyMC the support size (k) of the packed factor
        packed = pm.CustomDist(
            f"psi_chol{suffix}", hyper, np.zeros(n_packed), signature="(q),(k)->(k)",
            logp=logp, random=self._packed_random, shape=(*batch, n_packed),
        )
        return unpack_cholesky_tensor(packed, q)

    def _packed_random(self, hyper, template, rng=None, size=None) -> np.ndarray:
        hyper = np.asarray(hyper, dtype=float)
        batch = tuple(size) if size is not None else hyper.shape[:-1]
        hyper = np.broadcast_to(hyper, (*batch, hyper.shape[-1]))
        out = np.empty((*batch, np.shape(template)[-1]))
        for index in np.ndindex(*batch):
            out[index] = pack_cholesky(self.draw_covariance(hyper[index], rng))
        return out


def unpack_cholesky_tensor(packed, q: int):
    """Lower Cholesky factor (batch..., q, q) from the packed vector (log diagonal), as
    :func:`bayesimpute.methods.core.linalg.unpack_cholesky` does in numpy."""
    rows, cols = np.tril_indices(q)
    diagonal = (rows == cols).astype(float)
    values = pt.exp(packed) * diagonal + packed * (1.0 - diagonal)
    placement = np.zeros((len(rows), q * q))
    placement[np.arange(len(rows)), rows * q + cols] = 1.0
    flat = pt.dot(values, placement)
    return pt.reshape(flat, (*[packed.shape[i] for i in range(packed.ndim - 1)], q, q),
                      ndim=packed.ndim + 1)


def inverse_wishart_cholesky_logp(packed, q: int, df: float, scale_diag):
    """log IW(Psi | df, diag(scale_diag)) + log-Jacobian, for Psi = L L' packed as in
    :func:`bayesimpute.methods.core.linalg.pack_cholesky` (lower factor, log diagonal).

    ``packed`` (batch..., q(q+1)/2) and ``scale_diag`` (batch..., q) may carry batch axes;
    returns the log density (batch...) and the Cholesky factor (batch..., q, q).
    """
    rows, cols = np.tril_indices(q)
    diag_positions = np.flatnonzero(rows == cols)
    chol = unpack_cholesky_tensor(packed, q)
    log_diag = packed[..., diag_positions]
    chol_inv = pt.linalg.solve_triangular(chol, pt.eye(q), lower=True)
    trace_term = pt.sum(scale_diag * pt.sum(chol_inv**2, axis=-2), axis=-1)  # tr(S Psi^-1)
    log_norm = (
        0.5 * df * pt.sum(pt.log(scale_diag), axis=-1) - 0.5 * df * q * np.log(2.0)
        - special.multigammaln(0.5 * df, q)
    )
    log_det_psi = 2.0 * pt.sum(log_diag, axis=-1)
    log_jacobian = pt.sum(log_diag * (q - np.arange(q) + 1.0), axis=-1) + q * np.log(2.0)
    logp = log_norm - 0.5 * (df + q + 1.0) * log_det_psi - 0.5 * trace_term + log_jacobian
    return logp, chol
