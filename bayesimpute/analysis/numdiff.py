"""Central-difference derivatives for the small likelihood computations of the analyses.

Used where the function is cheap and smooth but its analytic derivatives are not worth writing:
the Hessian of the (RE)ML criterion in the variance parameters (Satterthwaite df, variance-
component standard errors), the Jacobian of the fixed-effects covariance, and the Hessian of
the Laplace deviance of GLMMs. ``richardson=True`` combines steps h and h/2,
``(4 D(h/2) - D(h)) / 3``, cancelling the O(h^2) error term, as numDeriv's Richardson
extrapolation (which lmerTest and lme4 use) does. ``floor`` bounds relative steps from below:
``step * max(floor, |x_i|)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["hessian", "jacobian"]


def _central_hessian(func, x, steps, free) -> np.ndarray:
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


def hessian(
    func: Callable[[np.ndarray], float],
    x: np.ndarray,
    step: float = 1e-4,
    *,
    coordinates: Sequence[int] | None = None,
    relative: bool = False,
    richardson: bool = False,
    floor: float = 1.0,
) -> np.ndarray:
    """Central-difference Hessian of ``func`` at ``x``.

    Parameters
    ----------
    func : callable
        A smooth scalar function of a vector.
    x : numpy.ndarray
        Where to differentiate.
    step : float
        Step size; with ``relative=True`` it is scaled by ``max(floor, |x_i|)`` per coordinate.
    coordinates : sequence of int, optional
        Differentiate in these coordinates only (the others held at ``x``); default all.
    relative : bool
        Scale the step by the size of each coordinate.
    richardson : bool
        Extrapolate from steps h and h/2 (error O(h^4) instead of O(h^2)).
    floor : float
        With ``relative``, the smallest coordinate size a step is scaled by.

    Returns
    -------
    numpy.ndarray
        (k, k), k the number of ``coordinates``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesimpute.analysis.numdiff import hessian
    >>> np.round(hessian(lambda v: v[0] ** 2 * v[1], np.array([1.0, 2.0])), 6)
    array([[4., 2.],
           [2., 0.]])
    """
    x = np.asarray(x, dtype=float)
    free = np.arange(x.size) if coordinates is None else np.asarray(coordinates, dtype=int)
    steps = step * (np.maximum(floor, np.abs(x)) if relative else np.ones(x.size))
    coarse = _central_hessian(func, x, steps, free)
    if not richardson:
        return coarse
    fine = _central_hessian(func, x, steps / 2, free)
    return (4 * fine - coarse) / 3


def jacobian(
    func: Callable[[np.ndarray], np.ndarray], x: np.ndarray, step: float = 1e-6,
    *, richardson: bool = False,
) -> np.ndarray:
    """Central-difference Jacobian, one column per coordinate of ``x``.

    Parameters
    ----------
    func : callable
        A smooth function from a vector to a vector.
    x : numpy.ndarray
        Where to differentiate.
    step : float
        Step size, the same for every coordinate.
    richardson : bool
        Extrapolate from steps h and h/2.

    Returns
    -------
    numpy.ndarray
        (size of ``func(x)``, size of ``x``).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesimpute.analysis.numdiff import jacobian
    >>> np.round(jacobian(lambda v: np.array([v[0] * v[1], v[1]]), np.array([3.0, 2.0])), 6)
    array([[2., 3.],
           [0., 1.]])
    """
    x = np.asarray(x, dtype=float)

    def central(h: float) -> np.ndarray:
        eye = np.eye(x.size) * h
        return np.column_stack([(np.asarray(func(x + eye[i])) - np.asarray(func(x - eye[i])))
                                / (2 * h) for i in range(x.size)])

    coarse = central(step)
    if not richardson:
        return coarse
    return (4 * central(step / 2) - coarse) / 3
