"""A logistic analysis model: binary outcome, incomplete continuous predictor."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.validity.design import FIXED, VARIANCE, Design, Reduced, Replication
from benchmarks.validity.designs._common import (
    REFERENCES,
    calibrated_logit,
    clusters,
    expit,
    mice_peer,
    posterior_of,
    predictor_matrix,
)
from benchmarks.validity.methods import PythonMethod, RMethod

N_CLUSTERS, SIZE, MISSING_RATE = 50, 40, 0.30
FORMULA = "y ~ x + z + (1 | g)"
TRUTH = {"Intercept": -0.5, "x": 0.7, "z": 0.5, "g: Intercept": 0.5}
KINDS = {"Intercept": FIXED, "x": FIXED, "z": FIXED, "g: Intercept": VARIANCE}
ROLES = {"x": {"g": -2, "z": 1, "y": 1}}
#: 2l.smc's covariate model of x: its own random intercept and z; y enters through the
#: analysis model (x is independent of z here, so z's coefficient is estimated as about 0)
COMPATIBLE_ROLES = {"x": {"g": -2, "z": 1}}
APPROXIMATE = ("x | y, z is not exactly normal under a logistic outcome model: the usual FCS "
               "approximation")
COMPATIBLE_NOTE = ("substantive-model-compatible: x drawn from the logistic analysis model "
                   "times a random-intercept normal model of x (the generating model)")

DESCRIPTION = f"""\
`x_ij = a_j + e_ij`, `a_j ~ N(0, 0.3)`, `e_ij ~ N(0, 1)`; `z_ij ~ N(0, 1)`; binary
`y_ij ~ Bernoulli(expit(-0.5 + 0.7 x_ij + 0.5 z_ij + u_j))`, `u_j ~ N(0, 0.5)`;
{N_CLUSTERS} clusters of {SIZE}. `x` is missing at random given `y` and `z`:
P(missing) = expit(a + 1.0 y + 0.5 z), `a` set for {MISSING_RATE:.0%} missing. Analysis
`{FORMULA}`, logistic (Laplace maximum likelihood as glmer; R: glmer). Imputation of `x`:
cluster `g`, `y` and `z` fixed.
"""


def simulate(rng: np.random.Generator) -> Replication:
    g = clusters(N_CLUSTERS, SIZE)
    j = g - 1
    x = rng.normal(0.0, np.sqrt(0.3), N_CLUSTERS)[j] + rng.standard_normal(g.size)
    z = rng.standard_normal(g.size)
    u = rng.normal(0.0, np.sqrt(TRUTH["g: Intercept"]), N_CLUSTERS)[j]
    y = (rng.random(g.size) < expit(-0.5 + 0.7 * x + 0.5 * z + u)).astype(float)
    missing = rng.random(g.size) < calibrated_logit(1.0 * y + 0.5 * z, MISSING_RATE)
    complete = pd.DataFrame({"g": g, "z": z, "x": x, "y": y})
    data = complete.assign(x=np.where(missing, np.nan, x))
    return Replication(data, complete, pd.Series(TRUTH), pd.Series(KINDS))


SMC = PythonMethod("bayesimpute 2l.smc", {"x": "2l.smc"}, {"x": {"analysis_model": FORMULA}},
                   predictor_matrix(COMPATIBLE_ROLES), ci=True, note=COMPATIBLE_NOTE)

METHODS = (
    PythonMethod("bayesimpute 2l.norm", {"x": "2l.norm"}, compatible=False, note=APPROXIMATE,
                 ci=True),
    PythonMethod("bayesimpute 2l.pmm", {"x": "2l.pmm"}, compatible=False, note=APPROXIMATE),
    SMC,
    posterior_of(SMC),
    mice_peer("R mice 2l.pan", {"x": "2l.pan"}, ROLES, compatible=False, note=APPROXIMATE),
    mice_peer("R miceadds 2l.pmm", {"x": "2l.pmm"}, ROLES, compatible=False, note=APPROXIMATE),
    RMethod("R jomo.glmer (SMC)", "jomo_smc.R",
            {"formula": FORMULA, "family": "binomial", "cluster": "g", "n_burn": 1000,
             "n_between": 200},
            packages=("jomo",),
            note="substantive-model-compatible: x drawn given the logistic analysis model "
                 "(jomo.glmer, burn-in 1000, 200 iterations between imputations)"),
    *REFERENCES,
)

LOGISTIC = Design(
    name="logistic", title="Logistic analysis model, incomplete predictor, 50 clusters of 40",
    description=DESCRIPTION, simulate=simulate, formula=FORMULA, family="binomial",
    methods=METHODS, predictors=predictor_matrix(ROLES), reduced=Reduced(reps=6, m=3, maxit=5),
)
DESIGNS = (LOGISTIC,)
