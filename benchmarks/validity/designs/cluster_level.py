"""Incomplete cluster-level (level-2) predictor: 2lonly methods."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.validity.design import FIXED, VARIANCE, Design, Reduced, Replication
from benchmarks.validity.designs._common import (
    REFERENCES,
    calibrated_logit,
    clusters,
    mice_peer,
    predictor_matrix,
)
from benchmarks.validity.methods import PythonMethod

N_CLUSTERS, SIZE, MISSING_RATE = 100, 10, 0.30
FORMULA = "y ~ x + w + (1 | g)"
TRUTH = {"Intercept": 1.0, "x": 0.5, "w": 0.4, "g: Intercept": 0.4, "residual": 1.0,
         "icc": 0.4 / 1.4}
KINDS = {name: (VARIANCE if name in ("g: Intercept", "residual", "icc") else FIXED)
         for name in TRUTH}
ROLES = {"w": {"g": -2, "x": 1, "y": 1}}

DESCRIPTION = f"""\
Cluster-level `w_j ~ N(0, 1)`; `x_ij = 0.5 w_j + a_j + e_ij`, `a_j ~ N(0, 0.25)`,
`e_ij ~ N(0, 1)`; `y_ij = 1 + 0.5 x_ij + 0.4 w_j + u_j + r_ij`, `u_j ~ N(0, 0.4)`,
`r_ij ~ N(0, 1)`; {N_CLUSTERS} clusters of {SIZE}. `w` is missing for whole clusters, at
random given the cluster means of `x` and `y`: P(missing) = expit(a + xbar_j + 0.5 ybar_j),
`a` set for {MISSING_RATE:.0%} of the clusters. Analysis `{FORMULA}` (REML). The 2lonly
methods regress `w` on the cluster means of `x` and `y` (equal cluster sizes make that model
exact).
"""


def simulate(rng: np.random.Generator) -> Replication:
    g = clusters(N_CLUSTERS, SIZE)
    j = g - 1
    w = rng.standard_normal(N_CLUSTERS)
    x = 0.5 * w[j] + rng.normal(0.0, 0.5, N_CLUSTERS)[j] + rng.standard_normal(g.size)
    u = rng.normal(0.0, np.sqrt(TRUTH["g: Intercept"]), N_CLUSTERS)[j]
    y = 1.0 + 0.5 * x + 0.4 * w[j] + u + rng.standard_normal(g.size)
    x_mean = np.bincount(j, weights=x) / SIZE
    y_mean = np.bincount(j, weights=y) / SIZE
    missing = rng.random(N_CLUSTERS) < calibrated_logit(x_mean + 0.5 * y_mean, MISSING_RATE)
    complete = pd.DataFrame({"g": g, "x": x, "w": w[j], "y": y})
    data = complete.assign(w=np.where(missing[j], np.nan, w[j]))
    return Replication(data, complete, pd.Series(TRUTH), pd.Series(KINDS))


METHODS = (
    PythonMethod("bayesimpute 2lonly.norm", {"w": "2lonly.norm"}, ci=True),
    PythonMethod("bayesimpute 2lonly.pmm", {"w": "2lonly.pmm"}),
    mice_peer("R mice 2lonly.norm", {"w": "2lonly.norm"}, ROLES),
    mice_peer("R mice 2lonly.pmm", {"w": "2lonly.pmm"}, ROLES),
    *REFERENCES,
)

CLUSTER_LEVEL = Design(
    name="cluster_level", title="Incomplete cluster-level predictor (2lonly), 100 clusters "
    "of 10", description=DESCRIPTION, simulate=simulate, formula=FORMULA, methods=METHODS,
    predictors=predictor_matrix(ROLES), reduced=Reduced(reps=6, m=3, maxit=5),
)
DESIGNS = (CLUSTER_LEVEL,)
