"""Bound-constrained derivative-free minimisation by BOBYQA (NLopt), as lme4's ``nloptwrap``.

lme4 stops BOBYQA at ``ftol_abs = xtol_abs = 1e-8``, where the variance parameters can still be
about 1e-4 (relative) from the optimum; the tolerances here are tighter, so that the estimates
are the optimum's, not a stopping rule's. Failures are reported, never swallowed: the result
says whether the optimiser met its tolerance and why not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import nlopt
import numpy as np

__all__ = ["OptimizeResult", "minimize_bobyqa", "one_blas_thread"]


def one_blas_thread():
    """Context: BLAS on one thread. The matrices of these fits are small; BLAS threads cost
    more than they save and stall on a shared machine."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")

_SUCCESS = {
    nlopt.SUCCESS: "success",
    nlopt.STOPVAL_REACHED: "stopval reached",
    nlopt.FTOL_REACHED: "ftol reached",
    nlopt.XTOL_REACHED: "xtol reached",
}


@dataclass
class OptimizeResult:
    """Outcome of :func:`minimize_bobyqa`."""

    x: np.ndarray
    fun: float
    converged: bool
    n_evaluations: int
    messages: list[str] = field(default_factory=list)


def minimize_bobyqa(
    func: Callable[[np.ndarray], float],
    start: np.ndarray,
    lower: np.ndarray,
    *,
    step: np.ndarray | None = None,
    maxeval: int = 20000,
    xtol_abs: float = 1e-10,
    ftol_abs: float = 1e-12,
    restarts: int = 1,
) -> OptimizeResult:
    """Minimise ``func`` subject to ``x >= lower`` by BOBYQA.

    After convergence BOBYQA is restarted from the best point (at most ``restarts`` times,
    while a restart improves the criterion by more than ``ftol_abs``).
    A non-finite value of ``func`` (a trial point where the model cannot be evaluated) is
    treated as ``+inf`` by the optimiser; the best point seen is returned whatever happens.
    """
    start = np.asarray(start, dtype=float)
    best = {"x": start.copy(), "f": math.inf, "n": 0}

    def objective(x: np.ndarray, grad: np.ndarray) -> float:
        best["n"] += 1
        try:
            value = float(func(x))
        except (np.linalg.LinAlgError, FloatingPointError, ValueError, ZeroDivisionError):
            value = math.inf
        if not math.isfinite(value):
            return 1e300
        if value < best["f"]:
            best["x"], best["f"] = x.copy(), value
        return value

    opt = nlopt.opt(nlopt.LN_BOBYQA, len(start))
    opt.set_lower_bounds(np.asarray(lower, dtype=float))
    opt.set_min_objective(objective)
    opt.set_xtol_abs(xtol_abs)
    opt.set_ftol_abs(ftol_abs)
    opt.set_maxeval(maxeval)
    if step is not None:
        opt.set_initial_step(np.asarray(step, dtype=float))
    messages: list[str] = []
    status = _run(opt, start, messages)
    # BOBYQA's trust region can shrink before a flat valley is explored; restarting from the
    # best point with a fresh, smaller region moves on until a restart gains nothing.
    for _ in range(restarts):
        if status not in _SUCCESS or best["n"] >= maxeval:
            break
        before = best["f"]
        opt.set_maxeval(max(maxeval - best["n"], 1))
        opt.set_initial_step(np.maximum(1e-3 * np.abs(best["x"]), 1e-4))
        status = _run(opt, best["x"].copy(), messages)
        if before - best["f"] <= ftol_abs:
            break
    converged = status in _SUCCESS
    if status == nlopt.MAXEVAL_REACHED:
        messages.append(f"optimiser stopped at the evaluation limit ({maxeval}) before "
                        "meeting its tolerance")
    elif status is not None and not converged:
        messages.append(f"optimiser stopped with NLopt status {status}")
    if not math.isfinite(best["f"]):
        converged = False
        messages.append("the criterion could not be evaluated at any trial point")
    return OptimizeResult(best["x"], best["f"], converged, best["n"], messages)


def _run(opt: nlopt.opt, start: np.ndarray, messages: list[str]) -> int | None:
    try:
        opt.optimize(start)
        return opt.last_optimize_result()
    except nlopt.RoundoffLimited:
        # Progress stopped by rounding error: the best point is as good as it gets.
        return nlopt.SUCCESS
    except (RuntimeError, ValueError) as err:
        messages.append(f"optimiser failed: {err}")
        return None
