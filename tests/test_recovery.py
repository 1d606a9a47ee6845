"""Imputations recover a random-intercept-and-slope model's parameters (simulation).

Data: 80 clusters of 20, y = 1 + 0.5 x + u0 + u1 x + e with var(u0) = 0.5,
var(u1) = 0.2, var(e) = 1; an auxiliary w drives MAR missingness of 30% in y and 30% in x.
The pooled estimates must lie within 3 pooled standard errors of the generating values
(an interval that also covers the sampling error of the simulated data itself).
"""

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi

TRUTH = {"Intercept": 1.0, "x": 0.5}
TRUE_VARIANCES = {"g: Intercept": 0.5, "g: x": 0.2, "residual": 1.0}


def simulate(seed=2024, n_clusters=80, size=20):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_clusters), size)
    w = rng.normal(size=g.size)
    x = 0.5 * w + rng.normal(scale=np.sqrt(0.75), size=g.size)
    u0 = rng.normal(scale=np.sqrt(0.5), size=n_clusters)
    u1 = rng.normal(scale=np.sqrt(0.2), size=n_clusters)
    y = 1.0 + 0.5 * x + u0[g] + u1[g] * x + rng.normal(size=g.size) + 0.3 * w
    complete = pd.DataFrame({"g": g, "w": w, "x": x, "y": y})
    data = complete.copy()
    for column, shift in (("y", 0.0), ("x", -0.3)):
        p = 1 / (1 + np.exp(-(np.log(0.3 / 0.7) + 1.0 * (w - shift))))
        data.loc[rng.random(g.size) < p, column] = np.nan
    return complete, data


@pytest.fixture(scope="module")
def pooled():
    _, data = simulate()
    pred = bi.make_predictor_matrix(data, cluster="g")
    pred.loc["y", "x"] = 2  # the analysis has a random slope of x
    imp = bi.impute(data, method={"x": "2l.norm", "y": "2l.norm"}, predictor_matrix=pred,
                    m=10, maxit=10, seed=7)
    return bi.pool(imp.analyze("y ~ x + w + (1 | g) + (0 + x | g)"))


def test_missingness_is_substantial():
    _, data = simulate()
    assert 0.25 < data["y"].isna().mean() < 0.40 and 0.25 < data["x"].isna().mean() < 0.40


def test_fixed_effects_recovered(pooled):
    summary = pooled.summary()
    for term, truth in TRUTH.items():
        estimate, se = summary.loc[term, ["estimate", "std_error"]]
        assert abs(estimate - truth) < 3 * se, (term, estimate, se)


def test_random_effect_variances_recovered(pooled):
    components = pooled.variance_components()
    for name, truth in TRUE_VARIANCES.items():
        row = components.loc[name]
        # pooled on the log scale: compare there, 3 pooled standard errors
        assert abs(row["transformed_estimate"] - np.log(truth)) < 3 * row["transformed_se"], (
            name, row["estimate"], truth)
