"""Incomplete count predictor with a random intercept."""

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
from benchmarks.validity.methods import PythonMethod

N_CLUSTERS, SIZE, MISSING_RATE = 100, 20, 0.30
FORMULA = "y ~ x + z + (1 | g)"
TRUTH = {"Intercept": 1.0, "x": 0.3, "z": 0.5, "g: Intercept": 0.5, "residual": 1.0,
         "icc": 0.5 / 1.5}
KINDS = {name: (VARIANCE if name in ("g: Intercept", "residual", "icc") else FIXED)
         for name in TRUTH}
ROLES = {"x": {"g": -2, "z": 1, "y": 1}}
#: 2l.smc's covariate model of x: the generating model (random intercept, z); y enters
#: through the analysis model
COMPATIBLE_ROLES = {"x": {"g": -2, "z": 1}}
APPROXIMATE = ("x | y, z is not exactly a Poisson log-linear model in y (the normal outcome "
               "adds a -0.045 x^2 term to log p(x | y)): the usual FCS approximation")
LINEAR = ("linear model of x | y, z + matching (imputes observed counts): an approximation "
          "of the count's conditional")
COMPATIBLE_NOTE = ("substantive-model-compatible: x drawn exactly from the analysis model "
                   "times a Poisson random-intercept model of x (the generating model)")

DESCRIPTION = f"""\
`z_ij ~ N(0, 1)`; count `x_ij ~ Poisson(exp(0.3 + 0.3 z_ij + v_j))`, `v_j ~ N(0, 0.3)` (mean
about 1.6); `y_ij = 1 + 0.3 x_ij + 0.5 z_ij + u_j + e_ij`, `u_j ~ N(0, 0.5)`, `e_ij ~ N(0, 1)`;
{N_CLUSTERS} clusters of {SIZE}. `x` is missing at random given `y` and `z`:
P(missing) = expit(a + 0.8 y - 0.4 z), `a` set for {MISSING_RATE:.0%} missing.
Analysis `{FORMULA}` (REML). Imputation of `x`: cluster `g`, `y` and `z` fixed; `2l.smc`:
the analysis model times a Poisson covariate model of `x` (cluster `g`, `z`).
"""


def simulate(rng: np.random.Generator) -> Replication:
    g = clusters(N_CLUSTERS, SIZE)
    j = g - 1
    z = rng.standard_normal(g.size)
    x = rng.poisson(np.exp(0.3 + 0.3 * z + rng.normal(0, np.sqrt(0.3), N_CLUSTERS)[j]))
    u = rng.normal(0.0, np.sqrt(TRUTH["g: Intercept"]), N_CLUSTERS)[j]
    y = 1.0 + 0.3 * x + 0.5 * z + u + rng.standard_normal(g.size)
    missing = rng.random(g.size) < calibrated_logit(0.8 * y - 0.4 * z, MISSING_RATE)
    complete = pd.DataFrame({"g": g, "z": z, "x": x.astype(float), "y": y})
    data = complete.assign(x=np.where(missing, np.nan, complete["x"]))
    return Replication(data, complete, pd.Series(TRUTH), pd.Series(KINDS))


SMC = PythonMethod("bayesimpute 2l.smc", {"x": "2l.smc"},
                   {"x": {"analysis_model": FORMULA, "covariate": "poisson"}},
                   predictor_matrix(COMPATIBLE_ROLES), ci=True, note=COMPATIBLE_NOTE)

METHODS = (
    PythonMethod("bayesimpute 2l.pois", {"x": "2l.pois"}, compatible=False, note=APPROXIMATE,
                 ci=True),
    PythonMethod("bayesimpute 2l.pmm", {"x": "2l.pmm"}, compatible=False, note=LINEAR),
    SMC,
    posterior_of(SMC, ci=False),
    mice_peer("R miceadds 2l.pmm", {"x": "2l.pmm"}, ROLES, compatible=False, note=LINEAR),
    mice_peer("R mice 2l.pan", {"x": "2l.pan"}, ROLES, compatible=False,
              note="normal model: imputes non-integer, possibly negative counts"),
    *REFERENCES,
)

COUNT = Design(
    name="count", title="Incomplete count predictor, 100 clusters of 20", description=DESCRIPTION,
    simulate=simulate, formula=FORMULA, methods=METHODS, predictors=predictor_matrix(ROLES),
    replications=100, reduced=Reduced(reps=4, m=2, maxit=4),
)
DESIGNS = (COUNT,)
