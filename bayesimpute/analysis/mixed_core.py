"""What ``lmer`` and ``glmer`` share, as lme4's ``merPredD`` serves both: one home for the fit.

The random-effects design and the Cholesky of ``Lambda'Z'WZ Lambda + I`` are the solvers of
:mod:`bayesimpute.analysis.random_effects`; on top of them this module holds what the profiled
REML criterion (:mod:`.lmm`) and the Laplace deviance (:mod:`.glmm`) would otherwise each write:

* :func:`schur_complement`: the block elimination ``M - C' A^-1 C`` of the penalised system;
* :func:`settle_boundary` and :func:`is_singular`: lme4's ``check.boundary`` after the
  optimiser and its ``isSingular``, for any criterion whose parameters start with theta;
* :func:`random_covariances` and :func:`group_counts`: the reported variance structure;
* :class:`MixedFit`: the fields every mixed-model fit record has, declared once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayesimpute.analysis.formula import DesignMatrices, RandomTermDesign

__all__ = ["BOUNDARY_TOL", "SINGULAR_TOL", "SINGULAR_MESSAGE", "MixedFit", "schur_complement",
           "settle_boundary", "is_singular", "random_covariances", "group_counts"]

#: lme4's boundary.tol: a bounded theta this close to its bound is tried at the bound
BOUNDARY_TOL = 1e-5
#: lme4's isSingular tolerance
SINGULAR_TOL = 1e-4
SINGULAR_MESSAGE = ("boundary (singular) fit: a random-effect variance is (near) zero or a "
                    "correlation is +-1")


@dataclass(kw_only=True)
class MixedFit:
    """The fields every mixed-model fit record has (lme4's ``merMod`` slots they mirror).

    Attributes
    ----------
    params : pandas.Series
        Fixed effects.
    cov : pandas.DataFrame
        Their covariance (lme4's ``vcov``).
    theta : numpy.ndarray
        Relative covariance factor entries (lme4's ``getME(fit, "theta")``).
    loglik : float
        Log-likelihood: (RE)ML for ``lmer`` fits, Laplace for ``glmer`` fits (lme4's ``logLik``).
    nobs : int
        Rows used.
    n_groups : dict
        Per grouping factor, its number of groups (lme4's ``ngrps``).
    random_covariances : dict
        Per grouping factor, the covariance matrix of its random effects (DataFrame; effects of
        separate bars on the same factor are uncorrelated, zero off the blocks).
    converged : bool
        Whether the optimiser met its tolerance (see ``messages``).
    is_singular : bool
        Some variance parameter on (within 1e-4 of) its boundary, as lme4's ``isSingular``.
    messages : list of str
        What went wrong or was adjusted (non-convergence, boundary estimates).
    n_evaluations : int
        Criterion evaluations used by the optimiser.
    lower : numpy.ndarray or None
        Lower bounds of theta (0 for the diagonal entries of each factor, -inf elsewhere).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from bayesimpute.analysis.mixed_core import MixedFit
    >>> fit = MixedFit(params=pd.Series([1.0], index=["Intercept"]),
    ...                cov=pd.DataFrame([[0.1]]), theta=np.array([0.5]), loglik=-10.0, nobs=20,
    ...                n_groups={"g": 4}, random_covariances={}, converged=True,
    ...                is_singular=False)
    >>> fit.criterion
    20.0
    """

    params: pd.Series
    cov: pd.DataFrame
    theta: np.ndarray
    loglik: float
    nobs: int
    n_groups: dict[str, int]
    random_covariances: dict[str, pd.DataFrame]
    converged: bool
    is_singular: bool
    messages: list[str] = field(default_factory=list)
    n_evaluations: int = 0
    lower: np.ndarray | None = field(default=None, repr=False)

    @property
    def criterion(self) -> float:
        """``-2 loglik``: the REML criterion or the deviance."""
        return -2.0 * self.loglik


def schur_complement(block: np.ndarray, factor, cross: np.ndarray) -> np.ndarray:
    """Block elimination of the random effects: ``block - cross' A^-1 cross``.

    With ``A = Lambda'Z'WZ Lambda + I`` factored (``factor``, a solver's factor) and ``cross``
    the coupling ``Lambda'Z'W [X y]``, this is the part of the penalised system left for the
    fixed effects (Bates et al. 2015, section 3.2: ``R_X'R_X`` and the penalised RSS).

    Parameters
    ----------
    block : numpy.ndarray
        The fixed-effects block, ``[X y]' W [X y]``, (k, k).
    factor : object
        The factor of ``A`` from a random-effects solver (its ``quad(c)`` is ``c' A^-1 c``).
    cross : numpy.ndarray
        ``Lambda'Z'W [X y]``, (q, k).

    Returns
    -------
    numpy.ndarray
        (k, k).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from bayesimpute.analysis.formula import RandomTermDesign
    >>> from bayesimpute.analysis.random_effects import make_solver
    >>> from bayesimpute.analysis.mixed_core import schur_complement
    >>> term = RandomTermDesign("g", ["Intercept"], np.array([0, 0, 1, 1]),
    ...                         pd.Index(["a", "b"]), np.ones((4, 1)))
    >>> solver = make_solver([term])
    >>> theta = np.array([1.0])
    >>> factor = solver.factor(theta, solver.gram())
    >>> xy = np.ones((4, 1))
    >>> cross = solver.lam_t(theta, solver.zt(xy))
    >>> schur_complement(xy.T @ xy, factor, cross)   # 4 - 2 * (2 * 2 / 3)
    array([[1.33333333]])
    """
    return block - factor.quad(cross)


def settle_boundary(criterion: Callable[[np.ndarray], float], params: np.ndarray,
                    lower: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """lme4's ``check.boundary``: try near-bound theta entries at the bound, keep what is no worse.

    Parameters
    ----------
    criterion : callable
        The minimised criterion, a function of ``params``.
    params : numpy.ndarray
        The optimum; its first ``len(lower)`` entries are theta (any after them, e.g. the
        fixed effects of a Laplace fit, are left as they are).
    lower : numpy.ndarray
        Lower bounds of theta; only entries bounded at 0 are tried.

    Returns
    -------
    params : numpy.ndarray
        A copy, with the entries within :data:`BOUNDARY_TOL` of 0 set to 0 where that does
        not raise the criterion.
    messages : list of str
        One per entry set to its bound.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesimpute.analysis.mixed_core import settle_boundary
    >>> settle_boundary(lambda p: float(p @ p), np.array([3e-6, 0.5]), np.array([0.0, 0.0]))
    (array([0. , 0.5]), ['theta[0] set to its boundary 0'])
    """
    params = params.copy()
    theta = params[: len(lower)]
    near = np.flatnonzero((lower == 0.0) & (theta > 0.0) & (theta < BOUNDARY_TOL))
    messages = []
    for i in near:
        trial = params.copy()
        trial[i] = 0.0
        if criterion(trial) <= criterion(params):
            params = trial
            messages.append(f"theta[{i}] set to its boundary 0")
    return params, messages


def is_singular(theta: np.ndarray, lower: np.ndarray) -> bool:
    """lme4's ``isSingular``: a bounded theta entry within :data:`SINGULAR_TOL` of its bound.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesimpute.analysis.mixed_core import is_singular
    >>> is_singular(np.array([5e-5, 0.3]), np.array([0.0, -np.inf]))
    True
    """
    return bool(np.any(theta[lower == 0.0] < SINGULAR_TOL))


def group_counts(terms: Sequence[RandomTermDesign]) -> dict[str, int]:
    """Per grouping factor, its number of groups (lme4's ``ngrps``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from bayesimpute.analysis.formula import RandomTermDesign
    >>> from bayesimpute.analysis.mixed_core import group_counts
    >>> term = RandomTermDesign("school", ["Intercept"], np.array([0, 1, 2]),
    ...                         pd.Index(["a", "b", "c"]), np.ones((3, 1)))
    >>> group_counts([term])
    {'school': 3}
    """
    return {t.group: t.n_groups for t in terms}


def random_covariances(design: DesignMatrices, factors: list[np.ndarray],
                       scale: float) -> dict[str, pd.DataFrame]:
    """Per grouping factor, ``scale * T T'`` of its terms, block diagonal across bars.

    Parameters
    ----------
    design : DesignMatrices
        The design whose random terms the factors belong to.
    factors : list of numpy.ndarray
        The lower-triangular ``T`` of each term (``ThetaLayout.factors(theta)``).
    scale : float
        ``sigma^2`` for a linear mixed model, 1 for a GLMM.

    Returns
    -------
    dict of str to pandas.DataFrame

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from bayesimpute.analysis.formula import DesignMatrices, RandomTermDesign
    >>> from bayesimpute.analysis.mixed_core import random_covariances
    >>> term = RandomTermDesign("g", ["Intercept"], np.array([0, 1]), pd.Index(["a", "b"]),
    ...                         np.ones((2, 1)))
    >>> design = DesignMatrices(np.zeros(2), pd.DataFrame({"Intercept": [1.0, 1.0]}), [term],
    ...                         pd.RangeIndex(2))
    >>> random_covariances(design, [np.array([[0.5]])], 4.0)["g"]
               Intercept
    Intercept        1.0
    """
    out: dict[str, pd.DataFrame] = {}
    for term, t in zip(design.terms, factors):
        block = pd.DataFrame(scale * t @ t.T, index=term.effects, columns=term.effects)
        if term.group in out:
            merged = out[term.group]
            names = list(merged.index) + term.effects
            full = pd.DataFrame(0.0, index=names, columns=names)
            full.loc[merged.index, merged.columns] = merged
            full.loc[block.index, block.columns] = block
            out[term.group] = full
        else:
            out[term.group] = block
    return out
