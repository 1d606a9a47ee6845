"""One standardiser for every method: centre and scale a design (and a Gaussian response).

The constants are fixed when the standardiser is made (a method makes it at the first
visit), so the parameters keep one meaning along the chain, and the priors, stated on
this scale, are unit-free. :meth:`Standardiser.to_data_scale` maps a draw of a mixed
model's parameters back to the data's scale, as the same model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Standardiser", "MixedParameters"]


@dataclass
class MixedParameters:
    """One draw of a mixed model's parameters on the data's scale.

    ``beta`` (..., p); ``u`` (..., J, q) the cluster effects; ``psi`` (..., q, q) their
    covariance; ``sigma2`` the residual variance of a Gaussian model (None for a logit).
    A leading axis, where present, runs over the non-reference categories.

    Examples
    --------
    >>> import numpy as np
    >>> params = MixedParameters(np.array([1.0, 2.0]), np.zeros((3, 0)), np.zeros((0, 0)))
    >>> params.linear_predictor(np.array([[1.0, 0.5]]), np.array([], int), np.array([0]))
    array([2.])
    """

    beta: np.ndarray
    u: np.ndarray
    psi: np.ndarray
    sigma2: float | None = None

    def linear_predictor(self, X: np.ndarray, random: np.ndarray,
                         cluster: np.ndarray) -> np.ndarray:
        """X beta + Z u_j per row: shape (n,), or (n, K-1) with a category axis."""
        eta = X @ np.swapaxes(self.beta, -1, 0) if self.beta.ndim > 1 else X @ self.beta
        if len(random):
            Z = X[:, random]
            if self.beta.ndim > 1:
                eta = eta + np.einsum("nq,knq->nk", Z, self.u[:, cluster, :])
            else:
                eta = eta + np.einsum("nq,nq->n", Z, self.u[cluster])
        return eta


class Standardiser:
    """Centre and scale the columns of a design, and a Gaussian response.

    Column 0 is the intercept when ``intercept`` is true: it stays a column of ones. Every
    other column is scaled by its standard deviation (a constant column by 1) and centred
    at its mean, where centring is a reparameterisation of the same model: only with an
    intercept, and, for a column with a random effect, only with a random intercept too
    (whose effects absorb the shift).

    Parameters
    ----------
    X : ndarray (n, p)
        The design the constants are taken from.
    y : ndarray (n,) or None
        The (observed) response to standardise; None keeps the response's scale (a binary,
        categorical or count target): mean 0, sd 1.
    random : sequence of int
        Columns of ``X`` with random effects; empty (the default) centres every column but
        the intercept, which is right for a model with a random intercept or none.
    intercept : bool
        Whether column 0 is the intercept.

    Attributes
    ----------
    x_mean, x_sd : ndarray (p,)
        The predictors' centres and scales (0 and 1 for the intercept).
    y_mean, y_sd : float
        The response's centre and scale.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(4), [1.0, 2.0, 3.0, 4.0]])
    >>> scale = Standardiser(X, np.array([10.0, 12.0, 14.0, 16.0]))
    >>> scale.X(X)[:, 1].round(3)
    array([-1.342, -0.447,  0.447,  1.342])
    >>> scale.y_back(scale.y(np.array([11.0])))
    array([11.])
    """

    def __init__(self, X: np.ndarray, y: np.ndarray | None = None, random=(),
                 intercept: bool = True):
        self.intercept = intercept
        self.random = np.asarray(random, dtype=int)
        self.random_intercept = intercept and 0 in self.random
        self.x_mean = X.mean(axis=0)
        self.x_sd = X.std(axis=0)
        self.x_sd[self.x_sd == 0] = 1.0
        centred = np.full(X.shape[1], intercept)
        if intercept:
            centred[0] = False  # the intercept stays a column of ones
            self.x_sd[0] = 1.0
            if not self.random_intercept:
                centred[self.random] = False
        self.x_mean = np.where(centred, self.x_mean, 0.0)
        self.y_mean, self.y_sd = 0.0, 1.0
        if y is not None:
            self.y_mean = float(np.mean(y)) if intercept else 0.0
            self.y_sd = float(np.std(y)) or 1.0

    # The predictor constants under the names that the steppers' saved state uses.
    @property
    def mean(self) -> np.ndarray:
        return self.x_mean

    @mean.setter
    def mean(self, value: np.ndarray) -> None:
        self.x_mean = value

    @property
    def sd(self) -> np.ndarray:
        return self.x_sd

    @sd.setter
    def sd(self, value: np.ndarray) -> None:
        self.x_sd = value

    def X(self, X: np.ndarray) -> np.ndarray:  # noqa: N802
        """The standardised design."""
        return (X - self.x_mean) / self.x_sd

    __call__ = X

    def X_rows(self, X: np.ndarray, rows: np.ndarray) -> np.ndarray:  # noqa: N802
        """The standardised ``rows`` (a mask) of X, column-major: one gather and in-place
        arithmetic, so no n x p temporaries, and each column contiguous for the
        per-cluster cross-products. The same numbers as ``X(X)[rows]``."""
        index = np.flatnonzero(rows)
        out = np.empty((len(index), X.shape[1]), order="F")
        for j in range(X.shape[1]):
            column = out[:, j]
            np.take(X[:, j], index, out=column)
            column -= self.x_mean[j]
            column /= self.x_sd[j]
        return out

    def y(self, y: np.ndarray) -> np.ndarray:
        """The standardised response."""
        return (y - self.y_mean) / self.y_sd

    def y_back(self, y_std: np.ndarray) -> np.ndarray:
        """A standardised response (or draw of it) on the data's scale."""
        return self.y_mean + self.y_sd * y_std

    def effects_map(self) -> np.ndarray:
        """A with u_data = y_sd A u_std: the random effects on the data's scale."""
        cols = self.random
        A = np.diag(1.0 / self.x_sd[cols])
        if self.random_intercept:
            r0 = int(np.flatnonzero(cols == 0)[0])
            A[r0] = -self.x_mean[cols] / self.x_sd[cols]
            A[r0, r0] = 1.0
        return A

    def to_data_scale(self, beta: np.ndarray, u: np.ndarray, psi: np.ndarray,
                      sigma2: float | None) -> MixedParameters:
        """Parameters of the standardised model -> the same model on the data's scale.

        ``beta`` (..., p), ``u`` (..., J, q), ``psi`` (..., q, q); leading axes (categories)
        are kept.
        """
        b = self.y_sd * beta / self.x_sd
        if self.intercept:
            shift = np.sum(beta[..., 1:] * self.x_mean[1:] / self.x_sd[1:], axis=-1)
            b[..., 0] = self.y_mean + self.y_sd * (beta[..., 0] - shift)
        if len(self.random):
            A = self.effects_map()
            u = self.y_sd * np.einsum("ab,...jb->...ja", A, u)
            psi = self.y_sd**2 * np.einsum("ab,...bc,dc->...ad", A, psi, A)
        sigma2 = None if sigma2 is None else self.y_sd**2 * float(sigma2)
        return MixedParameters(b, u, psi, sigma2)

    def get_state(self, prefix: str = "scale.") -> dict[str, np.ndarray]:
        """The constants, to save with a chain (keys ``prefix`` + y, x_mean, x_sd)."""
        return {f"{prefix}y": np.array([self.y_mean, self.y_sd]),
                f"{prefix}x_mean": self.x_mean.copy(), f"{prefix}x_sd": self.x_sd.copy()}

    def set_state(self, state, prefix: str = "scale.") -> None:
        """Take the constants of a saved chain (fixed at its first visit)."""
        self.y_mean, self.y_sd = (float(v) for v in state[f"{prefix}y"])
        self.x_mean = np.asarray(state[f"{prefix}x_mean"], dtype=float)
        self.x_sd = np.asarray(state[f"{prefix}x_sd"], dtype=float)
