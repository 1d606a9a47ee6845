"""Prior densities written in pytensor, shared by the PyMC models of the methods."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from scipy import special

__all__ = ["inverse_wishart_cholesky_logp"]


def inverse_wishart_cholesky_logp(packed, q: int, df: float, scale_diag):
    """log IW(Psi | df, diag(scale_diag)) + log-Jacobian, for Psi = L L' packed as in
    :func:`bayesimpute.methods._linalg.pack_cholesky` (lower factor, log diagonal)."""
    rows, cols = np.tril_indices(q)
    diag_positions = np.flatnonzero(rows == cols)
    values = pt.set_subtensor(packed[diag_positions], pt.exp(packed[diag_positions]))
    chol = pt.set_subtensor(pt.zeros((q, q))[rows, cols], values)
    log_diag = packed[diag_positions]
    chol_inv = pt.linalg.solve_triangular(chol, pt.eye(q), lower=True)
    trace_term = pt.sum(scale_diag * pt.sum(chol_inv**2, axis=0))  # tr(S Psi^-1)
    log_norm = (
        0.5 * df * pt.sum(pt.log(scale_diag)) - 0.5 * df * q * np.log(2.0)
        - special.multigammaln(0.5 * df, q)
    )
    log_det_psi = 2.0 * pt.sum(log_diag)
    log_jacobian = pt.sum(log_diag * (q - np.arange(q) + 1.0)) + q * np.log(2.0)
    return log_norm - 0.5 * (df + q + 1.0) * log_det_psi - 0.5 * trace_term + log_jacobian, chol
