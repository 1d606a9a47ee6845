"""Pieces the designs share: cluster layout, predictor roles, the usual R peers."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from benchmarks.validity.methods import PosteriorMethod, PythonMethod, Reference, RMethod

Roles = Mapping[str, Mapping[str, int]]

REFERENCES = (
    Reference("complete data", rows="complete",
              note="the analysis of the data before deletion: what imputation can reach"),
    Reference("complete cases", rows="complete cases", note="listwise deletion"),
)


def clusters(n_clusters: int, size: int) -> np.ndarray:
    """Cluster code 1..J for each of J x size rows."""
    return np.repeat(np.arange(1, n_clusters + 1), size)


def expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def calibrated_logit(linear: np.ndarray, rate: float) -> np.ndarray:
    """Probabilities expit(a + linear) with the shift a chosen so that they average ``rate``
    (bisection; the mechanism's shape stays as written, only its level is set)."""
    low, high = -30.0, 30.0
    for _ in range(80):
        mid = (low + high) / 2
        if expit(mid + linear).mean() < rate:
            low = mid
        else:
            high = mid
    return expit((low + high) / 2 + linear)


def predictor_matrix(roles: Roles):
    """A builder ``data -> predictor matrix`` from {imputed column: {predictor: code}}."""

    def build(data: pd.DataFrame) -> pd.DataFrame:
        pred = pd.DataFrame(0, index=data.columns, columns=data.columns)
        for target, codes in roles.items():
            for predictor, code in codes.items():
                pred.loc[target, predictor] = code
        return pred

    return build


def mice_peer(label: str, method: Mapping[str, str], roles: Roles, *,
              integer_coded: tuple[str, ...] = (), compatible: bool = True,
              note: str = "", max_reps: int | None = None, batch: int = 10) -> RMethod:
    """An R mice / miceadds run with the same predictor roles as the Python methods."""
    packages = ("miceadds",) if any(m.startswith("2l.pmm") for m in method.values()) else ()
    return RMethod(label, "mice.R",
                   {"method": dict(method), "predictors": {k: dict(v) for k, v in roles.items()},
                    "integer_coded": list(integer_coded), "packages": list(packages)},
                   packages=packages, compatible=compatible, note=note, max_reps=max_reps,
                   batch=batch)


def jomo_peer(formula: str | list[str], *, n_burn: int = 1000, n_iter: int = 100,
              compatible: bool = True, note: str = "") -> RMethod:
    formulas = [formula] if isinstance(formula, str) else list(formula)
    return RMethod("R jomo", "jomo.R",
                   {"formula": formulas, "n_burn": n_burn, "n_iter": n_iter},
                   packages=("mitml", "jomo"), compatible=compatible,
                   note=note or f"joint model {'; '.join(formulas)}, burn-in {n_burn}, "
                                f"{n_iter} iterations between imputations")


POSTERIOR_NOTE = ("the compatible model's own posterior (imp.analysis_posterior()): posterior "
                  "mean, 95% equal-tailed credible interval; no completed-data analysis")


def posterior_of(smc: PythonMethod, ci: bool = True) -> PosteriorMethod:
    """The entry scoring the analysis-model posterior of a compatible method's run (same
    method, options and predictors; longer chains, see ``PosteriorMethod``)."""
    return PosteriorMethod(f"{smc.label} posterior", smc.method, smc.options, smc.predictors,
                           note=POSTERIOR_NOTE, ci=ci)
