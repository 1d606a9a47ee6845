"""Central-difference derivatives for the small likelihood computations of the analyses.

Used where the function is cheap and smooth but its analytic derivatives are not worth
writing: the observed information of variance parameters (:mod:`bayesimpute.analysis`), the
Satterthwaite gradients, and the Laplace likelihood of logistic mixed models
(:mod:`bayesimpute.glmm`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["hessian", "jacobian"]


def hessian(
    func: Callable[[np.ndarray], float],
    x: np.ndarray,
    step: float = 1e-4,
    *,
    coordinates: Sequence[int] | None = None,
    relative: bool = False,
) -> np.ndarray:
    """Central-difference Hessian of ``func`` at ``x``.

    Parameters
    ----------
    step : float
        Step size; with ``relative=True`` it is scaled by ``max(1, |x_i|)`` per coordinate.
    coordinates : sequence of int, optional
        Differentiate in these coordinates only (the others held at ``x``); default all.
    """
    x = np.asarray(x, dtype=float)
    free = np.arange(x.size) if coordinates is None else np.asarray(coordinates, dtype=int)
    steps = step * (np.maximum(1.0, np.abs(x)) if relative else np.ones(x.size))
    k = len(free)
    hess = np.empty((k, k))
    f0 = func(x)
    for a, i in enumerate(free):
        ei = np.zeros_like(x)
        ei[i] = steps[i]
        hess[a, a] = (func(x + ei) - 2 * f0 + func(x - ei)) / steps[i] ** 2
        for b in range(a):
            j = free[b]
            ej = np.zeros_like(x)
            ej[j] = steps[j]
            hess[a, b] = hess[b, a] = (
                func(x + ei + ej) - func(x + ei - ej) - func(x - ei + ej) + func(x - ei - ej)
            ) / (4 * steps[i] * steps[j])
    return hess


def jacobian(
    func: Callable[[np.ndarray], np.ndarray], x: np.ndarray, step: float = 1e-6
) -> np.ndarray:
    """Central-difference Jacobian, one column per coordinate of ``x``."""
    eye = np.eye(x.size) * step
    columns = [(func(x + eye[i]) - func(x - eye[i])) / (2 * step) for i in range(x.size)]
    return np.column_stack(columns)
