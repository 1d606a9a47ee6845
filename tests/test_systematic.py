"""Systematic and sporadic missingness handled by one model, on data with a known truth.

A binary ``b`` and a 3-level factor ``f`` depend on a complete ``x`` and on cluster random
intercepts; both are never observed in 20% of the clusters (systematic) and missing at
random elsewhere (sporadic, depending on ``x``). The 2l.bin and 2l.polyreg models must
recover the generating fixed effects and random-intercept variances within tolerances
derived from their posterior standard errors, and the never-observed clusters must get
imputations with the population's frequencies.
"""

import numpy as np
import pandas as pd

import bayesimpute as bi
from bayesimpute.design.coding import VariableKind
from bayesimpute.defaults import find_default_method
from bayesimpute.methods.logistic.polya_gamma import category_probabilities, draw_categories
from bayesimpute.methods.base import MethodData
from bayesimpute.methods.logistic.binary import TwoLevelBin
from bayesimpute.methods.logistic.categorical import TwoLevelPolyReg

N_CLUSTERS, PER_CLUSTER = 50, 50
BIN_BETA = np.array([-0.4, 0.9])  # intercept, slope of x
CAT_BETA = np.array([[0.3, 0.8], [-0.5, -0.7]])  # categories 1, 2 vs 0
TAU2 = 0.6  # random-intercept variance of every linear predictor
SYSTEMATIC = np.arange(0, N_CLUSTERS, 5)  # 20% of clusters: never observed


def simulate(seed=2024):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(N_CLUSTERS), PER_CLUSTER)
    x = rng.normal(size=len(g))
    effects = rng.normal(0, np.sqrt(TAU2), (3, N_CLUSTERS))
    eta_b = BIN_BETA[0] + BIN_BETA[1] * x + effects[0][g]
    b = draw_categories(category_probabilities(eta_b[:, None]), rng)
    eta_f = np.column_stack([CAT_BETA[k, 0] + CAT_BETA[k, 1] * x + effects[k + 1][g]
                             for k in range(2)])
    f = draw_categories(category_probabilities(eta_f), rng)
    systematic = np.isin(g, SYSTEMATIC)
    sporadic = rng.random(len(g)) < 1 / (1 + np.exp(-(-1.8 + 0.8 * x)))  # MAR on x, ~18%
    return g, x, b, f, systematic | sporadic


def method_data(g, x, y, missing, kind, n_categories=0):
    return MethodData(
        target="y", kind=kind, y=np.where(missing, 0, y), observed=~missing, impute=missing,
        X=np.column_stack([np.ones_like(x), x]), x_names=["Intercept", "x"],
        random=np.array([0]), cluster=g, n_clusters=N_CLUSTERS,
        cluster_labels=np.arange(N_CLUSTERS), n_categories=n_categories,
    )


def posterior(method, data, n_visits=500, burn=100, seed=1):
    rng = np.random.default_rng(seed)
    draws = [method.update(data, rng) for _ in range(n_visits)][burn:]
    return draws


def raw_scale(beta_std, x):
    """Coefficients on the standardised scale -> intercept and slope of raw x."""
    slope = beta_std[..., 1] / x.std()
    return np.stack([beta_std[..., 0] - slope * x.mean(), slope], axis=-1)


def check(draws_beta, draws_tau2, truth_beta, x):
    beta = raw_scale(draws_beta, x)
    # fixed effects: within 3.5 posterior sds (the posterior sd is the standard error)
    z = np.abs(beta.mean(0) - truth_beta) / beta.std(0)
    assert np.all(z < 3.5), (beta.mean(0), beta.std(0), truth_beta)
    # variance: the truth inside the central 99% posterior interval of log tau^2
    low, high = np.quantile(np.log(draws_tau2), [0.005, 0.995])
    assert low < np.log(TAU2) < high, (np.exp(low), np.exp(high))


def test_two_level_bin_recovers_truth_with_systematic_clusters():
    g, x, b, _, missing = simulate()
    draws = posterior(TwoLevelBin("b"), method_data(g, x, b, missing, VariableKind.BINARY))
    check(np.array([d.parameters["beta"] for d in draws]),
          np.array([d.parameters["psi"][0, 0] for d in draws]), BIN_BETA, x)
    # never-observed clusters: imputations at the population frequency (effects from
    # N(0, tau^2)); binomial s.e. inflated for the between-cluster variation
    in_systematic = np.isin(g[missing], SYSTEMATIC)
    share = np.mean([d.values[in_systematic].mean() for d in draws])
    truth = b[np.isin(g, SYSTEMATIC)].mean()
    n_sys = len(SYSTEMATIC)
    se = np.sqrt(truth * (1 - truth) * (1 + (PER_CLUSTER - 1) * 0.12) / (n_sys * PER_CLUSTER))
    assert abs(share - truth) < 4 * se, (share, truth, se)


def test_two_level_polyreg_recovers_truth_with_systematic_clusters():
    g, x, _, f, missing = simulate()
    data = method_data(g, x, f, missing, VariableKind.CATEGORICAL, n_categories=3)
    draws = posterior(TwoLevelPolyReg("f"), data, n_visits=400)
    beta = np.array([d.parameters["beta"] for d in draws])  # (draws, 2, 2)
    psi = np.array([d.parameters["psi"][:, 0, 0] for d in draws])  # (draws, 2)
    for k in range(2):
        check(beta[:, k], psi[:, k], CAT_BETA[k], x)


def test_systematic_missingness_through_impute():
    g, x, b, f, missing = simulate(seed=7)
    data = pd.DataFrame({
        "g": g, "x": x,
        "b": np.where(missing, np.nan, b),
        "f": pd.Categorical.from_codes(np.where(missing, -1, f).astype(int),
                                       categories=["lo", "mid", "hi"]),
    })
    methods = find_default_method(data, cluster="g")
    assert methods["b"] == "2l.bin" and methods["f"] == "2l.polyreg"
    pred = bi.make_predictor_matrix(data, cluster="g")
    imp = bi.impute(data, method=methods, predictor_matrix=pred, m=3, maxit=5, seed=11)
    completed = imp.complete("long")
    assert list(completed["f"].cat.categories) == ["lo", "mid", "hi"]
    assert completed["f"].notna().all() and set(completed["b"].unique()) <= {0.0, 1.0}
    pooled = bi.pool(imp.analyze("b ~ x + (1 | g)", family="binomial")).summary()
    slope, se = pooled.loc["x", "estimate"], pooled.loc["x", "std_error"]
    assert abs(slope - BIN_BETA[1]) < 3.5 * se, (slope, se)
