"""Moves of the random-effect scales that keep variance components mixing near zero.

Every Gibbs step of the package draws the random effects ``u_j ~ N(0, Psi)`` and then
``Psi | u`` (the centred parametrisation). When a variance is near zero the effects are
shrunk to near zero, ``Psi | u`` is then near zero too, and the chain creeps: at an ICC of
0.04 the random-intercept variance had a bulk ESS of about 0.02 per iteration
(``benchmarks/results/mixing.md``). Two moves rescale the covariance,

    Psi -> D_c Psi D_c,    D_c = diag(c_1, ..., c_q),  c_k > 0,

one scale at a time, each ``c_k`` drawn from its conditional. Both are generalised Gibbs moves
over the group of positive scalings (Liu & Wu 1999; Liu & Sabatti 2000): they leave the
posterior exactly invariant, so each step's stationary distribution stays the PyMC model's
posterior (the SBC and NUTS comparisons check it). Correlations are left to the centred
draw ``Psi | u`` that follows or precedes.

* :func:`draw_collapsed_scales` (the steps whose model is, given the Pólya–Gamma or latent
  variables, a two-level Gaussian one: 2l.norm and 2l.pmm, 2l.bin and 2l.polyreg,
  2l.heckman, both models of 2l.smc) moves ``Psi`` with the effects integrated out, given the
  fixed effects and the residual variances: the marginal likelihood of cluster j is
  Gaussian with covariance ``W_j^-1 + Z_j Psi Z_j'``, so in the per-cluster precision-weighted
  cross-products ``Z_j'W Z_j`` and ``Z_j'W r_j`` (``r_j = y_j - X_j beta``) that the steps
  already keep it is (:func:`collapsed_log_likelihood`)

      -1/2 sum_j [log |I + Psi Z_j'W Z_j| - r_j'W Z_j (Psi^-1 + Z_j'W Z_j)^-1 Z_j'W r_j].

  The effects are drawn afterwards from their conditional given the new ``Psi``: a partially
  collapsed Gibbs sampler (van Dyk & Park 2008). With the auxiliaries ``a`` of the
  Huang–Wand prior integrated out too, ``p(Psi) ∝ |Psi|^-(nu + 2q)/2 prod_k (nu (Psi^-1)_kk
  + 1 / A^2)^-(nu + q)/2`` (:mod:`~bayesimpute.methods.core.priors`), and with
  ``t_k = log c_k``

      log p(t_k) = loglik(D_c Psi D_c) - (nu + q - 1) t_k
                   - (nu + q) / 2 log(nu (Psi^-1)_kk e^{-2 t_k} + 1 / A^2):

  the power collects the prior of the rescaled ``Psi`` (``c^-(nu + 2q)``), the Jacobian of
  the move (``c^(q + 1)``) and the group's Haar measure ``dc / c``. ``a | Psi`` is drawn after
  the move (conjugate). Integrating ``a`` out matters near zero: given ``a`` a small ``Psi``
  is only as likely as ``a`` lets it be, and the two creep together. At 50 clusters of 5 and
  ICC 0.04 the random-intercept variance's bulk ESS per iteration is about 0.6 with this
  move against 0.02 without it (``benchmarks/bench_mixing.py``).

* :func:`interweave` (the nested and crossed sweeps of ``ml.*``, where the effects of one
  level cannot be integrated out cheaply) and :func:`interweave_likelihood` (after the NUTS
  transitions of the Poisson, negative binomial and ordinal models) rescale the effects
  with ``Psi``, ``u_jk -> c_k u_jk``: the draw of the scales given the non-centred effects
  ``eta = D^-1 u``, interwoven with the centred draw (Yu & Meng 2011, "ASIS"). Its
  likelihood is that of the rescaled effects: ``-c'Gc / 2 + h'c`` (:func:`effect_quadratic`)
  for a Gaussian working model, the family's own for the others. The Jacobian of the
  effects' rescaling cancels their prior's, so the conditional of ``t_k`` has the same
  prior terms.

Each ``t_k`` is drawn by slice sampling (:func:`~bayesimpute.methods.core.slice_sampling.
slice_sample`, stepping out and shrinkage, a handful of likelihood evaluations).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bayesimpute.methods.core.linalg import draw_batched_mvn, symmetrize
from bayesimpute.methods.core.priors import CovariancePrior
from bayesimpute.methods.core.slice_sampling import slice_sample

__all__ = ["collapsed_log_likelihood", "draw_collapsed_scales", "draw_effects_block",
           "effect_quadratic",
           "interweave", "interweave_likelihood"]

#: slice-sampling width on the log scale: a factor of e, the spread of a scale's conditional
LOG_SCALE_WIDTH = 1.0


def collapsed_log_likelihood(psi: np.ndarray, ZZ: np.ndarray, Zr: np.ndarray) -> float:
    """The effects-integrated log-likelihood of ``psi`` up to a constant (module docstring).

    Parameters
    ----------
    psi : ndarray (q, q)
    ZZ : ndarray (J, q, q)
        Per cluster ``Z_j' W Z_j`` (precision-weighted cross-products).
    Zr : ndarray (J, q)
        Per cluster ``Z_j' W (y_j - X_j beta)``.

    Examples
    --------
    One cluster of two rows with unit residual variance: the marginal covariance of its
    residual ``(1, 1)`` is ``I + psi 11'``.

    >>> from scipy import stats
    >>> psi = np.array([[0.5]])
    >>> value = collapsed_log_likelihood(psi, np.array([[[2.0]]]), np.array([[2.0]]))
    >>> direct = stats.multivariate_normal([0, 0], np.eye(2) + 0.5).logpdf([1, 1])
    >>> bool(np.isclose(value - direct,
    ...                 -stats.multivariate_normal([0, 0], np.eye(2)).logpdf([1, 1])))
    True
    """
    if len(psi) == 1:
        scaled = psi[0, 0] * ZZ[:, 0, 0]
        return float(-0.5 * np.sum(np.log1p(scaled) - psi[0, 0] * Zr[:, 0] ** 2 / (1.0 + scaled)))
    M = np.linalg.inv(psi)[None] + ZZ
    _, log_det_M = np.linalg.slogdet(M)
    _, log_det_psi = np.linalg.slogdet(psi)
    solved = np.linalg.solve(M, Zr[..., None])[..., 0]
    return float(-0.5 * (len(ZZ) * log_det_psi + log_det_M.sum() - np.sum(Zr * solved)))


def _draw_scales(log_likelihood: Callable[[np.ndarray], float], psi: np.ndarray,
                 prior: CovariancePrior, rng: np.random.Generator) -> np.ndarray:
    """The scales c (q,), one after the other, given the log-likelihood of the rescaling."""
    q = len(psi)
    nu, inverse_a2 = prior.df, 1.0 / prior.scale**2
    power, prior_power = nu + q - 1.0, 0.5 * (nu + q)
    precision_diagonal = np.diag(np.linalg.inv(psi))
    scales = np.ones(q)
    for k in range(q):
        def log_density(t, k=k):
            trial = scales.copy()
            trial[k] = np.exp(t[0])
            return np.array([log_likelihood(trial) - power * t[0] - prior_power * np.log(
                nu * precision_diagonal[k] * np.exp(-2.0 * t[0]) + inverse_a2)])

        scales[k] = np.exp(slice_sample(np.zeros(1), log_density, LOG_SCALE_WIDTH, rng)[0])
    return scales


def draw_collapsed_scales(psi: np.ndarray, prior: CovariancePrior, ZZ: np.ndarray,
                          Zr: np.ndarray, rng: np.random.Generator
                          ) -> tuple[np.ndarray, np.ndarray]:
    """``(Psi, a)`` after the collapsed scale move: ``Psi`` rescaled given the fixed effects
    and residual variances with the effects integrated out, ``a | Psi`` drawn again.

    ``ZZ`` (J, q, q) and ``Zr`` (J, q) as in :func:`collapsed_log_likelihood`. The current
    auxiliaries are not needed: the move integrates them out.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> ZZ, Zr = np.full((20, 1, 1), 5.0), rng.normal(0, 3, (20, 1))
    >>> psi = np.array([[1e-4]])
    >>> for _ in range(5):
    ...     psi, hyper = draw_collapsed_scales(psi, CovariancePrior(), ZZ, Zr, rng)
    >>> bool(psi[0, 0] > 0.01)  # a few moves take a tiny start to the clusters' spread
    True
    """
    def log_likelihood(scales):
        return collapsed_log_likelihood(psi * np.outer(scales, scales), ZZ, Zr)

    scales = _draw_scales(log_likelihood, psi, prior, rng)
    psi = psi * np.outer(scales, scales)
    return psi, prior.draw_hyper_given(psi, rng)


def draw_effects_block(beta: np.ndarray, XZ: np.ndarray, ZZ: np.ndarray, Zy: np.ndarray,
                       psi: np.ndarray, hyper: np.ndarray, prior: CovariancePrior,
                       rng: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Given beta, the collapsed scale move, then ``u | beta, Psi`` and ``(Psi, a) | u``:
    the rest of a joint (beta, u, Psi) transition from precision-weighted per-cluster
    cross-products ``X_j'W Z_j`` (J, p, q), ``Z_j'W Z_j`` (J, q, q), ``Z_j'W y_j`` (J, q)
    (the Pólya–Gamma and Heckman steps). Returns ``(u, Psi, a)``.

    Examples
    --------
    >>> rng = np.random.default_rng(4)
    >>> ZZ, XZ, Zy = np.full((6, 1, 1), 4.0), np.full((6, 1, 1), 4.0), rng.normal(0, 3, (6, 1))
    >>> u, psi, hyper = draw_effects_block(np.zeros(1), XZ, ZZ, Zy, np.eye(1), np.ones(1),
    ...                                    CovariancePrior(), rng)
    >>> u.shape, psi.shape, hyper.shape
    ((6, 1), (1, 1), (1,))
    """
    residual = Zy - np.einsum("jpq,p->jq", XZ, beta)
    psi, hyper = draw_collapsed_scales(psi, prior, ZZ, residual, rng)
    M_inv = np.linalg.inv(symmetrize(np.linalg.inv(psi)[None] + ZZ))
    u = draw_batched_mvn(np.einsum("jab,jb->ja", M_inv, residual), M_inv, rng)
    psi, hyper = prior.update(u, hyper, rng)
    return u, psi, hyper


def effect_quadratic(effects: np.ndarray, ZZ: np.ndarray, Zr: np.ndarray,
                     weight=1.0) -> tuple[np.ndarray, np.ndarray]:
    """``G`` (q, q) and ``h`` (q,) of the rescaled effects' log-likelihood ``-c'Gc/2 + h'c``.

    ``effects`` (J, q) are the ``u_j``; ``ZZ`` and ``Zr`` as in
    :func:`collapsed_log_likelihood`; ``weight`` a further per-cluster factor of both.

    Examples
    --------
    >>> u = np.array([[1.0], [2.0]])
    >>> G, h = effect_quadratic(u, np.array([[[3.0]], [[1.0]]]), np.array([[1.0], [0.5]]))
    >>> float(G[0, 0]), float(h[0])
    (7.0, 2.0)
    """
    w = np.broadcast_to(np.asarray(weight, dtype=float), (len(effects),))
    G = np.einsum("j,jk,jl,jkl->kl", w, effects, effects, ZZ)
    h = np.einsum("j,jk,jk->k", w, effects, Zr)
    return G, h


def interweave_likelihood(effects: np.ndarray, psi: np.ndarray, prior: CovariancePrior,
                          log_likelihood: Callable[[np.ndarray], float],
                          rng: np.random.Generator
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The interweaving move for any likelihood of the rescaled effects.

    ``log_likelihood(c)`` is the model's log-likelihood (up to a constant) with every row's
    random part ``z_i' u_j`` replaced by ``sum_k c_k z_ik u_jk``: a Poisson, negative
    binomial or ordinal model's, whose effects cannot be integrated out (the NUTS methods:
    :mod:`~bayesimpute.methods.core.nuts_glmm`). Returns ``(effects, Psi, a)`` as
    :func:`interweave` does.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> u, psi = np.array([[0.1], [-0.2]]), np.array([[0.01]])
    >>> counts, z = np.array([3, 0]), np.array([0.1, -0.2])
    >>> def poisson(c):  # log-likelihood of two counts with log-means c * u_j
    ...     return float(np.sum(counts * c[0] * z - np.exp(c[0] * z)))
    >>> u2, psi2, _ = interweave_likelihood(u, psi, CovariancePrior(), poisson, rng)
    >>> bool(np.isclose(psi2[0, 0] / psi[0, 0], (u2[0, 0] / u[0, 0]) ** 2))
    True
    """
    scales = _draw_scales(log_likelihood, psi, prior, rng)
    psi = psi * np.outer(scales, scales)
    return effects * scales, psi, prior.draw_hyper_given(psi, rng)


def interweave(effects: np.ndarray, psi: np.ndarray, prior: CovariancePrior, G: np.ndarray,
               h: np.ndarray, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(effects, Psi, a)`` after the interweaving move: effects and ``Psi`` rescaled
    jointly, ``a | Psi`` drawn again (module docstring).

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> u, psi = np.array([[0.1], [-0.2]]), np.array([[0.01]])
    >>> G, h = effect_quadratic(u, np.full((2, 1, 1), 5.0), np.array([[0.3], [-0.1]]))
    >>> u2, psi2, hyper = interweave(u, psi, CovariancePrior(), G, h, rng)
    >>> bool(np.isclose(psi2[0, 0] / psi[0, 0], (u2[0, 0] / u[0, 0]) ** 2))
    True
    """
    return interweave_likelihood(effects, psi, prior,
                                 lambda c: float(-0.5 * c @ G @ c + h @ c), rng)
