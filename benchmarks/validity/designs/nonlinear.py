"""Interaction and square of an incomplete predictor (the designs of issue 14).

An FCS method imputes ``x`` from a linear model in which ``y`` (and ``w``) predict ``x``; when
the analysis model has ``x:w`` or ``x^2``, that reverse model is not the conditional of the
analysis model, and the imputations flatten the interaction or the curvature. ``2l.smc``
draws ``x`` from the analysis model times a covariate model of ``x`` (random intercept, the
complete predictors but not ``y``, which the analysis model brings in).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.validity.design import FIXED, VARIANCE, Design, Reduced, Replication
from benchmarks.validity.designs._common import (
    REFERENCES,
    calibrated_logit,
    clusters,
    posterior_of,
    predictor_matrix,
)
from benchmarks.validity.methods import PythonMethod

N_CLUSTERS, SIZE, MISSING_RATE = 100, 20, 0.30
#: x = a_j + e_ij: a between-cluster share of 0.2 for the covariate model's random intercept
X_BETWEEN, X_WITHIN = 0.2, 0.8
COMPATIBLE_NOTE = ("substantive-model-compatible: x drawn from the analysis model times a "
                   "random-intercept model of x")


def _x(rng: np.random.Generator, g: np.ndarray, shift: np.ndarray | float = 0.0) -> np.ndarray:
    return (shift + rng.normal(0.0, np.sqrt(X_BETWEEN), N_CLUSTERS)[g - 1]
            + rng.normal(0.0, np.sqrt(X_WITHIN), g.size))


def _replication(rng, complete: pd.DataFrame, truth: dict, kinds: dict) -> Replication:
    """x missing at random given y: P(missing) = expit(a + y), a set for MISSING_RATE."""
    missing = rng.random(len(complete)) < calibrated_logit(complete["y"].to_numpy(),
                                                           MISSING_RATE)
    data = complete.assign(x=np.where(missing, np.nan, complete["x"]))
    return Replication(data, complete, pd.Series(truth), pd.Series(kinds))


def _kinds(truth: dict) -> dict:
    return {name: VARIANCE if name in ("g: Intercept", "residual") else FIXED for name in truth}


def _methods(formula: str, fcs_roles: dict, compatible_roles: dict, incompatible: str):
    smc = PythonMethod("bayesimpute 2l.smc", {"x": "2l.smc"}, {"x": {"analysis_model": formula}},
                       predictor_matrix(compatible_roles), ci=True, note=COMPATIBLE_NOTE)
    return (
        PythonMethod("bayesimpute 2l.norm", {"x": "2l.norm"}, predictors=predictor_matrix(
            fcs_roles), compatible=False, note=incompatible),
        PythonMethod("bayesimpute 2l.pmm", {"x": "2l.pmm"}, predictors=predictor_matrix(
            fcs_roles), compatible=False, note=incompatible),
        smc,
        posterior_of(smc),
        *REFERENCES,
    )


# --------------------------------------------------------------------------- interaction
INTERACTION_FORMULA = "y ~ x * w + (1 | g)"
INTERACTION_TRUTH = {"Intercept": 1.0, "x": 0.5, "w": 0.3, "x:w": 0.5, "g: Intercept": 0.5,
                     "residual": 1.0}


def simulate_interaction(rng: np.random.Generator) -> Replication:
    g = clusters(N_CLUSTERS, SIZE)
    w = (rng.random(g.size) < 0.5).astype(float)
    x = _x(rng, g, 0.3 * w)
    u0 = rng.normal(0.0, np.sqrt(INTERACTION_TRUTH["g: Intercept"]), N_CLUSTERS)[g - 1]
    y = 1.0 + 0.5 * x + 0.3 * w + 0.5 * x * w + u0 + rng.standard_normal(g.size)
    complete = pd.DataFrame({"g": g, "x": x, "w": w, "y": y})
    return _replication(rng, complete, INTERACTION_TRUTH, _kinds(INTERACTION_TRUTH))


INTERACTION = Design(
    name="interaction",
    title="Interaction of an incomplete predictor with a complete binary one, 100 clusters of 20",
    description=f"""\
`w_ij ~ Bernoulli(0.5)`; `x_ij = 0.3 w_ij + a_j + e_ij`, `a_j ~ N(0, {X_BETWEEN})`,
`e_ij ~ N(0, {X_WITHIN})`; `y_ij = 1 + 0.5 x_ij + 0.3 w_ij + 0.5 x_ij w_ij + u_j + r_ij`,
`u_j ~ N(0, 0.5)`, `r_ij ~ N(0, 1)`; {N_CLUSTERS} clusters of {SIZE}. `x` is missing at random
given `y`: P(missing) = expit(a + y), `a` set for {MISSING_RATE:.0%} missing. Analysis
`{INTERACTION_FORMULA}` (REML). The FCS methods impute `x` with cluster `g` and `y`, `w` as
fixed effects (the usual practice); `2l.smc` with cluster `g` and `w` in its covariate model.
The interaction `x:w` is the parameter to watch.
""",
    simulate=simulate_interaction, formula=INTERACTION_FORMULA,
    methods=_methods(INTERACTION_FORMULA, {"x": {"g": -2, "y": 1, "w": 1}},
                     {"x": {"g": -2, "w": 1}},
                     "FCS reverse model: x imputed from y and w without their interaction, "
                     "which the analysis model's x:w implies"),
    reduced=Reduced(reps=6, m=3, maxit=5),
)


# --------------------------------------------------------------------------- quadratic
QUADRATIC_FORMULA = "y ~ x + I(x**2) + (1 | g)"
#: the analysis layer (formulaic) names the square so
SQUARE = "I(x ** 2)"
QUADRATIC_TRUTH = {"Intercept": 1.0, "x": 0.5, SQUARE: 0.3, "g: Intercept": 0.5,
                   "residual": 1.0}


def simulate_quadratic(rng: np.random.Generator) -> Replication:
    g = clusters(N_CLUSTERS, SIZE)
    x = _x(rng, g)
    u0 = rng.normal(0.0, np.sqrt(QUADRATIC_TRUTH["g: Intercept"]), N_CLUSTERS)[g - 1]
    y = 1.0 + 0.5 * x + 0.3 * x**2 + u0 + rng.standard_normal(g.size)
    complete = pd.DataFrame({"g": g, "x": x, "y": y})
    return _replication(rng, complete, QUADRATIC_TRUTH, _kinds(QUADRATIC_TRUTH))


QUADRATIC = Design(
    name="quadratic",
    title="Quadratic effect of an incomplete predictor, 100 clusters of 20",
    description=f"""\
`x_ij = a_j + e_ij`, `a_j ~ N(0, {X_BETWEEN})`, `e_ij ~ N(0, {X_WITHIN})`;
`y_ij = 1 + 0.5 x_ij + 0.3 x_ij^2 + u_j + r_ij`, `u_j ~ N(0, 0.5)`, `r_ij ~ N(0, 1)`;
{N_CLUSTERS} clusters of {SIZE}. `x` is missing at random given `y`: P(missing) =
expit(a + y), `a` set for {MISSING_RATE:.0%} missing. Analysis `{QUADRATIC_FORMULA}` (REML).
The FCS methods impute `x` with cluster `g` and `y` as a fixed effect (a linear reverse
model); `2l.smc` with cluster `g` alone in its covariate model. The square `{SQUARE}` is the
parameter to watch.
""",
    simulate=simulate_quadratic, formula=QUADRATIC_FORMULA,
    methods=_methods(QUADRATIC_FORMULA, {"x": {"g": -2, "y": 1}}, {"x": {"g": -2}},
                     "FCS reverse model: x imputed from y by a linear model, which the "
                     "analysis model's square of x does not imply"),
    reduced=Reduced(reps=6, m=3, maxit=5),
)

DESIGNS = (INTERACTION, QUADRATIC)
