"""Incomplete binary and 3-category predictors, random intercepts, sporadic + systematic
missingness (20% of the clusters never observe them)."""

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
    predictor_matrix,
)
from benchmarks.validity.methods import PythonMethod, RMethod

N_CLUSTERS, SIZE = 100, 20
SPORADIC_RATE, SYSTEMATIC_SHARE = 0.20, 0.20
LEVELS = ["A", "B", "C"]
FORMULA = "y ~ b + c + z + (1 | g)"
TRUTH = {"Intercept": 1.0, "b": 0.6, "c[T.B]": 0.4, "c[T.C]": -0.5, "z": 0.5,
         "g: Intercept": 0.4, "residual": 1.0, "icc": 0.4 / 1.4}
KINDS = {name: (VARIANCE if name in ("g: Intercept", "residual", "icc") else FIXED)
         for name in TRUTH}
ROLES = {"b": {"g": -2, "c": 1, "z": 1, "y": 1}, "c": {"g": -2, "b": 1, "z": 1, "y": 1}}

DESCRIPTION = f"""\
`z_ij ~ N(0, 1)`; binary `b_ij ~ Bernoulli(expit(-0.2 + 0.5 z_ij + v_j))`, `v_j ~ N(0, 0.5)`;
3-category `c_ij` (levels A, B, C) with multinomial logits, against A,
`-0.3 + 0.4 z_ij + s_jB` and `-0.6 - 0.3 z_ij + s_jC`, `s_jk ~ N(0, 0.4)`;
`y_ij = 1 + 0.6 b_ij + 0.4 [c_ij = B] - 0.5 [c_ij = C] + 0.5 z_ij + u_j + e_ij`,
`u_j ~ N(0, 0.4)`, `e_ij ~ N(0, 1)`; {N_CLUSTERS} clusters of {SIZE}.
Missingness: `b` and `c` each sporadically missing at random given `y` and `z`
(P = expit(a + 0.6 y - 0.3 z), `a` set for {SPORADIC_RATE:.0%} of rows, independently for the
two), and both systematically missing in {SYSTEMATIC_SHARE:.0%} of the clusters (drawn at
random: missing completely at random at the cluster level). Analysis `{FORMULA}` (REML).
The imputation models use cluster `g` and the other variables as fixed effects. `b | y, z, c`
is exactly a logistic random-intercept model; `c | y, z, b` is a multinomial logit whose
category effects are correlated through `u_j` (2l.polyreg's are independent: a small
approximation).
"""


def simulate(rng: np.random.Generator) -> Replication:
    g = clusters(N_CLUSTERS, SIZE)
    j = g - 1
    z = rng.standard_normal(g.size)
    b = (rng.random(g.size) < expit(-0.2 + 0.5 * z + rng.normal(0, np.sqrt(0.5), N_CLUSTERS)[j]))
    effects = rng.normal(0.0, np.sqrt(0.4), (N_CLUSTERS, 2))[j]
    logits = np.column_stack([np.zeros(g.size), -0.3 + 0.4 * z + effects[:, 0],
                              -0.6 - 0.3 * z + effects[:, 1]])
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    c = (rng.random(g.size)[:, None] > np.cumsum(probs, axis=1)[:, :-1]).sum(axis=1)
    u = rng.normal(0.0, np.sqrt(TRUTH["g: Intercept"]), N_CLUSTERS)[j]
    y = (1.0 + 0.6 * b + np.array([0.0, 0.4, -0.5])[c] + 0.5 * z + u
         + rng.standard_normal(g.size))
    never = np.isin(g, rng.choice(np.arange(1, N_CLUSTERS + 1),
                                  int(SYSTEMATIC_SHARE * N_CLUSTERS), replace=False))
    linear = 0.6 * y - 0.3 * z
    b_missing = never | (rng.random(g.size) < calibrated_logit(linear, SPORADIC_RATE))
    c_missing = never | (rng.random(g.size) < calibrated_logit(linear, SPORADIC_RATE))
    category = pd.Categorical.from_codes(c, LEVELS)
    complete = pd.DataFrame({"g": g, "z": z, "b": b.astype(float), "c": category, "y": y})
    data = complete.assign(b=np.where(b_missing, np.nan, complete["b"]),
                           c=complete["c"].mask(c_missing))
    return Replication(data, complete, pd.Series(TRUTH), pd.Series(KINDS))


METHODS = (
    PythonMethod("bayesimpute 2l.bin + 2l.polyreg", {"b": "2l.bin", "c": "2l.polyreg"},
                 ci=True),
    mice_peer("R mice 2l.bin + miceadds 2l.pmm", {"b": "2l.bin", "c": "2l.pmm"}, ROLES,
              integer_coded=("c",), compatible=False, max_reps=100,
              note="mice's 2l.bin draws every missing value's cluster effect from the "
                   "population (not the cluster's posterior); c imputed as integer codes "
                   "1-3; 100 replications (glmer at every visit: the slowest peer)"),
    mice_peer("R miceadds 2l.pmm (integer codes)", {"b": "2l.pmm", "c": "2l.pmm"}, ROLES,
              integer_coded=("c",), compatible=False,
              note="b as 0/1 and c as codes 1-3 by predictive mean matching on a linear model "
                   "(the tutorial's coding)"),
    RMethod("R jomo", "jomo.R",
            {"formula": ["b + c ~ 1 + y + z + (1 | g)"], "n_burn": 1000, "n_iter": 100,
             "as_factor": ["b"]},
            packages=("mitml", "jomo"),
            note="joint latent-normal model for b and c given y, z, random intercepts "
                 "(burn-in 1000, 100 iterations between imputations)"),
    *REFERENCES,
)

CATEGORICAL = Design(
    name="categorical", title="Incomplete binary and 3-category predictors, 20% of clusters "
    "systematically missing", description=DESCRIPTION, simulate=simulate, formula=FORMULA,
    methods=METHODS, predictors=predictor_matrix(ROLES), reduced=Reduced(reps=6, m=3, maxit=5),
)
DESIGNS = (CATEGORICAL,)
