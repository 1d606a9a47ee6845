"""Continuous outcome with a random intercept, MAR in the outcome: many and few clusters."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.validity.design import FIXED, VARIANCE, Design, Reduced, Replication
from benchmarks.validity.designs._common import (
    REFERENCES,
    calibrated_logit,
    clusters,
    jomo_peer,
    mice_peer,
    predictor_matrix,
)
from benchmarks.validity.methods import PythonMethod

TRUTH = {"Intercept": 1.0, "x": 0.5, "w": 0.3, "g: Intercept": 0.5, "residual": 1.0,
         "icc": 0.5 / 1.5}
KINDS = {"Intercept": FIXED, "x": FIXED, "w": FIXED, "g: Intercept": VARIANCE,
         "residual": VARIANCE, "icc": VARIANCE}
FORMULA = "y ~ x + w + (1 | g)"
MISSING_RATE = 0.35
ROLES = {"y": {"g": -2, "x": 1, "w": 1}}

DESCRIPTION = f"""\
`x_ij = a_j + e_ij` with `a_j ~ N(0, 0.25)`, `e_ij ~ N(0, 1)`; a cluster-level `w_j ~ N(0, 1)`;
`y_ij = 1 + 0.5 x_ij + 0.3 w_j + u_j + r_ij`, `u_j ~ N(0, 0.5)`, `r_ij ~ N(0, 1)` (ICC 1/3).
`y` is missing at random given the observed `x` and `w`: P(missing) = expit(a + x + 0.5 w),
`a` set so that {MISSING_RATE:.0%} of `y` is missing. Analysis `{FORMULA}` (REML, Satterthwaite
df). The imputation model of `y` (cluster `g`, fixed `x`, `w`) is the analysis model: every 2l
method is compatible; single-level `pmm` ignores the clusters and is shown as the failure it is.
"""


def simulate_random_intercept(rng: np.random.Generator, n_clusters: int,
                              size: int) -> Replication:
    g = clusters(n_clusters, size)
    j = g - 1
    x = rng.normal(0.0, 0.5, n_clusters)[j] + rng.standard_normal(g.size)
    w = rng.standard_normal(n_clusters)[j]
    u = rng.normal(0.0, np.sqrt(TRUTH["g: Intercept"]), n_clusters)[j]
    y = 1.0 + 0.5 * x + 0.3 * w + u + rng.standard_normal(g.size)
    missing = rng.random(g.size) < calibrated_logit(x + 0.5 * w, MISSING_RATE)
    complete = pd.DataFrame({"g": g, "x": x, "w": w, "y": y})
    data = complete.assign(y=np.where(missing, np.nan, y))
    return Replication(data, complete, pd.Series(TRUTH), pd.Series(KINDS))


def _methods(with_lmer: bool) -> tuple:
    lmer = (mice_peer("R mice 2l.lmer", {"y": "2l.lmer"}, ROLES),) if with_lmer else ()
    return (
        PythonMethod("bayesimpute 2l.norm", {"y": "2l.norm"}, ci=True),
        PythonMethod("bayesimpute 2l.pmm", {"y": "2l.pmm"}, ci=True),
        PythonMethod("bayesimpute pmm", {"y": "pmm"}, compatible=False,
                     note="single-level: ignores the clusters (the failure 2l methods fix)"),
        mice_peer("R mice 2l.pan", {"y": "2l.pan"}, ROLES),
        mice_peer("R miceadds 2l.pmm", {"y": "2l.pmm"}, ROLES),
        *lmer,
        jomo_peer("y ~ 1 + x + w + (1 | g)"),
        *REFERENCES,
    )


def _design(name: str, title: str, n_clusters: int, size: int, with_lmer: bool) -> Design:
    return Design(
        name=name, title=title,
        description=DESCRIPTION + f"\n{n_clusters} clusters of {size}.\n",
        simulate=lambda rng: simulate_random_intercept(rng, n_clusters, size),
        formula=FORMULA, methods=_methods(with_lmer), predictors=predictor_matrix(ROLES),
        reduced=Reduced(reps=6, m=3, maxit=5),
    )


# mice's 2l.lmer (the slowest R peer here, and like 2l.pan) runs in the main design only.
RI_MAR = _design("ri_mar", "Random intercept, MAR outcome, 100 clusters of 20", 100, 20, True)
RI_FEW = _design("ri_few", "Random intercept, MAR outcome, 10 clusters of 50", 10, 50, False)
DESIGNS = (RI_MAR, RI_FEW)
