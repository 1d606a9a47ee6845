"""Slice sampling (Neal 2003) of conditionally independent scalars: the Gibbs steps' draws
of parameters without a conjugate conditional (Heckman's rho and scales, the random-effect
scales of :mod:`~bayesimpute.methods.core.scale_moves`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["slice_sample"]


def slice_sample(
    x0: np.ndarray,
    log_density: Callable[[np.ndarray], np.ndarray],
    width: np.ndarray | float,
    rng: np.random.Generator,
    max_steps: int = 30,
) -> np.ndarray:
    """One slice-sampling update (Neal 2003, stepping out + shrinkage) of each element.

    The elements must be conditionally independent: ``log_density`` maps an array of
    shape ``x0.shape`` to the element-wise log densities.
    """
    x0 = np.asarray(x0, dtype=float)
    width = np.broadcast_to(np.asarray(width, dtype=float), x0.shape)
    level = log_density(x0) - rng.exponential(size=x0.shape)
    left = x0 - width * rng.uniform(size=x0.shape)
    right = left + width
    for _ in range(max_steps):
        grow = log_density(left) > level
        if not grow.any():
            break
        left = np.where(grow, left - width, left)
    for _ in range(max_steps):
        grow = log_density(right) > level
        if not grow.any():
            break
        right = np.where(grow, right + width, right)
    x1 = x0.copy()
    pending = np.ones(x0.shape, dtype=bool)
    for _ in range(200):
        proposal = left + (right - left) * rng.uniform(size=x0.shape)
        accept = pending & (log_density(proposal) > level)
        x1 = np.where(accept, proposal, x1)
        pending &= ~accept
        if not pending.any():
            break
        below = proposal < x0
        left = np.where(pending & below, proposal, left)
        right = np.where(pending & ~below, proposal, right)
    return x1
