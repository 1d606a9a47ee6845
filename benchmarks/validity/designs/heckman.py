"""MNAR outcome under a two-level Heckman selection mechanism (Muñoz et al.'s design), at
rho = 0, 0.6 and 0.9, with two clusters systematically missing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.validity.design import FIXED, VARIANCE, Design, Reduced, Replication
from benchmarks.validity.designs._common import REFERENCES, clusters, mice_peer, predictor_matrix
from benchmarks.validity.methods import PythonMethod

N_CLUSTERS, SIZE, SYSTEMATIC = 10, 1000, 2
FORMULA = "y ~ x1 + x2 + (1 | g) + (0 + x1 | g) + (0 + x2 | g)"
#: E[sigma_j^2] with log sigma_j ~ N(0, 0.05^2)
RESIDUAL = float(np.exp(2 * 0.05**2))
TRUTH = {"Intercept": 0.3, "x1": 1.0, "x2": 1.0, "g: Intercept": 0.4, "g: x1": 0.4,
         "g: x2": 0.4, "residual": RESIDUAL}
KINDS = {name: (FIXED if name in ("Intercept", "x1", "x2") else VARIANCE) for name in TRUTH}
HECKMAN_ROLES = {"y": {"g": -2, "x1": 2, "x2": 2, "x3": -3}}
MAR_ROLES = {"y": {"g": -2, "x1": 2, "x2": 2, "x3": 1}}

DESCRIPTION = """\
Muñoz et al. (Stat Med, 2024) design, as `benchmarks/bench_heckman.py`: {clusters} clusters of
{size}; `x1 ~ Bernoulli(0.6)`, `x2 ~ N(mu1_j, 1)`, `x3 ~ N(mu2_j, 0.7^2)` with
`(mu1_j, mu2_j) ~ N(0, 0.2 I)`; `sigma_j = exp(N(0, 0.05^2))`; `(e_sel, e_out)` bivariate
normal with variances 1 and `sigma_j^2` and correlation rho = {rho}; random intercepts and
random `x1`, `x2` slopes in both equations (variance 0.4 each, outcome-selection correlation
0.4 rho) and a random `x3` slope in the selection equation (variance 0.2);
`y = (0.3 + a_j) + (1 + b1_j) x1 + (1 + b2_j) x2 + e_out`, observed when
`(-0.8 + c_j) + (1.3 + d1_j) x1 + (-0.7 + d2_j) x2 + (1.2 + d3_j) x3 + e_sel > 0` (about 40%
missing), and missing in {systematic} whole clusters drawn at random (systematic). `x3` is
the exclusion restriction. Analysis `{formula}` (REML); residual truth E[sigma_j^2] = {res:.3f}.
Also scored: the mean imputed `y` over the sporadically missing rows and over the two
systematically missing clusters, against the deleted values' mean. {compatibility}
"""


def _effects_cov(rho: float) -> np.ndarray:
    """Covariance of (a, b1, b2, c, d1, d2, d3)."""
    cov = np.diag([0.4] * 6 + [0.2])
    for k in range(3):
        cov[k, k + 3] = cov[k + 3, k] = 0.4 * rho * 0.4
    return cov


def simulate_heckman(rng: np.random.Generator, rho: float,
                     systematic: int = SYSTEMATIC) -> Replication:
    g = clusters(N_CLUSTERS, SIZE)
    j = g - 1
    means = rng.normal(0.0, np.sqrt(0.2), size=(N_CLUSTERS, 2))
    x1 = rng.binomial(1, 0.6, g.size).astype(float)
    x2 = rng.normal(means[j, 0], 1.0)
    x3 = rng.normal(means[j, 1], 0.7)
    effects = rng.multivariate_normal(np.zeros(7), _effects_cov(rho), size=N_CLUSTERS)
    a, b1, b2, c, d1, d2, d3 = (effects[j, k] for k in range(7))
    sigma = np.exp(rng.normal(0.0, 0.05, N_CLUSTERS))[j]
    e_sel = rng.standard_normal(g.size)
    e_out = sigma * (rho * e_sel + np.sqrt(1 - rho**2) * rng.standard_normal(g.size))
    y = (0.3 + a) + (1 + b1) * x1 + (1 + b2) * x2 + e_out
    selected = (-0.8 + c) + (1.3 + d1) * x1 + (-0.7 + d2) * x2 + (1.2 + d3) * x3 + e_sel > 0
    never = np.isin(g, rng.choice(np.arange(1, N_CLUSTERS + 1), systematic, replace=False))
    observed = selected & ~never
    complete = pd.DataFrame({"g": g, "x1": x1, "x2": x2, "x3": x3, "y": y})
    data = complete.assign(y=np.where(observed, y, np.nan))
    means_scored = {"mean y, sporadically missing rows": ("y", ~observed & ~never)}
    if systematic:
        means_scored["mean y, systematically missing clusters"] = ("y", never)
    return Replication(data, complete, pd.Series(TRUTH), pd.Series(KINDS), means_scored)


def _r_peers(rho: float, mar_note: str) -> tuple:
    """R's MAR 2l.pan, at rho = 0.6 only and on 25 replications: on 10 x 1,000 rows with two
    random slopes it takes minutes per replication here, and it shows what bayesimpute's
    2l.norm shows. micemd's 2l.2stage.heckman (the R Heckman peer) is not installed."""
    if rho != 0.6:
        return ()
    return (mice_peer("R mice 2l.pan", {"y": "2l.pan"}, MAR_ROLES, compatible=False,
                      note=mar_note + "; 25 replications (minutes each)", max_reps=25, batch=1),)


ASKED_NOTE = """
Every cluster is asked here: the design of `heckman_rho{tag}` without its {systematic}
systematically missing clusters, to show what those clusters do to the variance components
(the effects of a never-asked cluster are drawn from the posterior predictive of 8
clusters).
"""


def _design(rho: float, systematic: int = SYSTEMATIC) -> Design:
    tag = f"{rho:g}".replace(".", "")
    mar_ok = rho == 0
    compatibility = ("At rho = 0 the data are MAR and 2l.norm is compatible too." if mar_ok else
                     "The MAR methods (2l.norm, 2l.pan) are not compatible: the missingness "
                     "depends on y itself.")
    mar_note = "" if mar_ok else "MAR model under MNAR missingness"
    methods = (
        PythonMethod("bayesimpute 2l.heckman", {"y": "2l.heckman"},
                     options={"y": {"random_exclusion": True}},
                     predictors=predictor_matrix(HECKMAN_ROLES), ci=True,
                     note="selection on x1, x2 (random), x3 (random, selection only)"),
        PythonMethod("bayesimpute 2l.norm", {"y": "2l.norm"}, compatible=mar_ok,
                     note=mar_note),
        *_r_peers(rho, mar_note),
        *REFERENCES,
    )
    description = DESCRIPTION.format(clusters=N_CLUSTERS, size=SIZE, rho=rho,
                                     systematic=SYSTEMATIC, formula=FORMULA, res=RESIDUAL,
                                     compatibility=compatibility)
    name, title = f"heckman_rho{tag}", f"Two-level Heckman MNAR outcome, rho = {rho:g}"
    if systematic != SYSTEMATIC:
        description += ASKED_NOTE.format(tag=tag, systematic=SYSTEMATIC)
        name, title = f"{name}_asked", f"{title}, every cluster asked"
    return Design(
        name=name, title=title, description=description,
        simulate=lambda rng: simulate_heckman(rng, rho, systematic),
        formula=FORMULA, methods=methods, predictors=predictor_matrix(MAR_ROLES),
        replications=100, reduced=Reduced(reps=4, m=3, maxit=5),
    )


DESIGNS = (*(_design(rho) for rho in (0.0, 0.6, 0.9)), _design(0.6, systematic=0))
