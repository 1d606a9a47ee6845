"""Incomplete continuous predictor with a random slope (the design of issue 14).

Every FCS method imputes ``x`` from a model in which ``y`` predicts ``x``; with a random slope
of ``x`` in the analysis model that reverse model is incompatible, and the slope variance is
lost. The table shows it for bayesimpute's and R's FCS methods; jomo's substantive-model-
compatible ``jomo.lmer`` imputes ``x`` from the analysis model itself, and so does bayesimpute's
``2l.smc`` (issue 14): ``x`` drawn from the analysis model times a covariate model of ``x`` with
a random intercept, which must not use ``y`` (the analysis model brings ``y`` in).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.validity.design import FIXED, VARIANCE, Design, Reduced, Replication
from benchmarks.validity.designs._common import (
    REFERENCES,
    calibrated_logit,
    clusters,
    mice_peer,
    posterior_of,
    predictor_matrix,
)
from benchmarks.validity.methods import PythonMethod, RMethod

N_CLUSTERS, SIZE, MISSING_RATE = 100, 20, 0.30
FORMULA = "y ~ x + (1 + x | g)"
TRUTH = {"Intercept": 1.0, "x": 0.5, "g: Intercept": 0.5, "g: x": 0.2,
         "g: cov(Intercept, x)": 0.0, "residual": 1.0}
KINDS = {name: (FIXED if name in ("Intercept", "x") else VARIANCE) for name in TRUTH}
ROLES = {"x": {"g": -2, "y": 2}}
#: 2l.smc's covariate model of x: its own random intercept, no y (the analysis model has it)
COMPATIBLE_ROLES = {"x": {"g": -2}}
INCOMPATIBLE = ("FCS reverse model: x imputed from y with a random slope of y, which cannot "
                "reproduce the random slope of x in the analysis model")

DESCRIPTION = f"""\
`x_ij ~ N(0, 1)`; `y_ij = 1 + 0.5 x_ij + u0_j + u1_j x_ij + e_ij`, `u0_j ~ N(0, 0.5)`,
`u1_j ~ N(0, 0.2)` independent, `e_ij ~ N(0, 1)`; {N_CLUSTERS} clusters of {SIZE}.
`x` is missing at random given `y`: P(missing) = expit(a + y), `a` set for
{MISSING_RATE:.0%} missing. Analysis `{FORMULA}` (REML). The FCS methods impute `x` with
cluster `g` and `y` as a random slope (code 2): the best an FCS model can do, and still
incompatible with the analysis model (the slope variance `g: x` is the parameter to watch).
"""


def simulate(rng: np.random.Generator) -> Replication:
    g = clusters(N_CLUSTERS, SIZE)
    j = g - 1
    x = rng.standard_normal(g.size)
    u0 = rng.normal(0.0, np.sqrt(TRUTH["g: Intercept"]), N_CLUSTERS)[j]
    u1 = rng.normal(0.0, np.sqrt(TRUTH["g: x"]), N_CLUSTERS)[j]
    y = 1.0 + 0.5 * x + u0 + u1 * x + rng.standard_normal(g.size)
    missing = rng.random(g.size) < calibrated_logit(y, MISSING_RATE)
    complete = pd.DataFrame({"g": g, "x": x, "y": y})
    data = complete.assign(x=np.where(missing, np.nan, x))
    return Replication(data, complete, pd.Series(TRUTH), pd.Series(KINDS))


SMC = PythonMethod("bayesimpute 2l.smc", {"x": "2l.smc"}, {"x": {"analysis_model": FORMULA}},
                   predictor_matrix(COMPATIBLE_ROLES), ci=True,
                   note="substantive-model-compatible: x drawn from the analysis model times a "
                        "random-intercept model of x")

METHODS = (
    PythonMethod("bayesimpute 2l.norm", {"x": "2l.norm"}, compatible=False,
                 note=INCOMPATIBLE, ci=True),
    PythonMethod("bayesimpute 2l.pmm", {"x": "2l.pmm"}, compatible=False, note=INCOMPATIBLE),
    SMC,
    posterior_of(SMC),
    mice_peer("R mice 2l.pan", {"x": "2l.pan"}, ROLES, compatible=False, note=INCOMPATIBLE),
    mice_peer("R miceadds 2l.pmm", {"x": "2l.pmm"}, ROLES, compatible=False,
              note=INCOMPATIBLE),
    RMethod("R jomo.lmer (SMC)", "jomo_smc.R",
            {"formula": FORMULA, "family": "gaussian", "cluster": "g", "n_burn": 1000,
             "n_between": 200},
            packages=("jomo",),
            note="substantive-model-compatible: x drawn given the analysis model "
                 "(jomo.lmer, burn-in 1000, 200 iterations between imputations)"),
    *REFERENCES,
)

RANDOM_SLOPE = Design(
    name="random_slope", title="Incomplete predictor with a random slope, 100 clusters of 20",
    description=DESCRIPTION, simulate=simulate, formula=FORMULA, methods=METHODS,
    predictors=predictor_matrix(ROLES),
    reduced=Reduced(reps=6, m=3, maxit=5,
                    checked=("Intercept", "x", "g: Intercept", "residual"),
                    why="the FCS methods lose part of the slope variance g: x by design"),
)
DESIGNS = (RANDOM_SLOPE,)
