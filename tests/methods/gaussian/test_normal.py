"""The Gaussian methods through impute(): options and their statistical behaviour."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesimpute as bi


def two_level(seed=4, n_clusters=30, size=30, sd_by_cluster=None):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_clusters), size)
    x = rng.normal(size=g.size)
    sd = np.ones(n_clusters) if sd_by_cluster is None else sd_by_cluster
    y = 1 + 0.5 * x + rng.normal(scale=0.8, size=n_clusters)[g] + rng.normal(size=g.size) * sd[g]
    data = pd.DataFrame({"g": g, "x": x, "y": y})
    data.loc[rng.random(g.size) < 0.3, "y"] = np.nan
    return data


def test_heterogeneous_residual_variances_follow_the_clusters():
    sd = np.where(np.arange(30) < 15, 0.5, 2.0)
    data = two_level(sd_by_cluster=sd)
    imp = bi.impute(data, method={"y": "2l.norm"}, cluster="g", m=2, maxit=15, seed=1,
                    method_options={"y": {"heterogeneous": True}})
    sigma2 = imp.idata.posterior["y_sigma2"].isel(draw=slice(5, None)).mean(("chain", "draw"))
    assert sigma2.dims == ("y_cluster",)
    small, large = sigma2.values[:15].mean(), sigma2.values[15:].mean()
    # the true ratio is 16; the hierarchical InvGamma(3, s) prior pools the cluster
    # variances towards each other (about 21 observed rows per cluster), so the posterior
    # ratio is smaller, but the two groups must be clearly apart
    assert 4 < large / small < 24


def test_nuts_and_gibbs_give_the_same_imputation_distribution():
    data = two_level(n_clusters=12, size=20)
    runs = {}
    for sampler in ("gibbs", "nuts"):
        imp = bi.impute(data, method={"y": "2l.norm"}, cluster="g", m=2, maxit=20, seed=3,
                        method_options={"y": {"sampler": sampler, "tune": 150}})
        beta = imp.idata.posterior["y_beta"].isel(draw=slice(5, None)).values.reshape(-1, 2)
        runs[sampler] = beta
    for column in range(2):
        g, n = runs["gibbs"][:, column], runs["nuts"][:, column]
        se = np.sqrt(g.var() / 8 + n.var() / 8)  # ~8 effective draws each: conservative
        assert abs(g.mean() - n.mean()) < 4 * se + 0.02


@pytest.mark.parametrize("method", ["norm", "pmm", "2l.norm", "2l.pmm"])
def test_imputations_follow_the_predictor(method):
    data = two_level()
    imp = bi.impute(data, method={"y": method}, cluster="g", m=1, maxit=5, seed=2)
    completed = imp.complete(0)
    imputed = completed[data["y"].isna()]
    slope = np.polyfit(imputed["x"], imputed["y"], 1)[0]
    assert 0.2 < slope < 0.8  # generating slope 0.5
    if "pmm" in method:
        assert set(imputed["y"]) <= set(data["y"].dropna())


def test_unknown_option_names_the_column():
    data = two_level()
    with pytest.raises(ValueError, match="'y'.*donorz"):
        bi.impute(data, method={"y": "2l.pmm"}, cluster="g", method_options={"y": {"donorz": 3}})


# --- start values: the first iteration is already a posterior draw ------------------------------
def small_clusters_high_icc(seed=5, n_clusters=400, size=2):
    """ICC 0.8 with two rows per cluster: the random-intercept variance mixes slowly, and
    the old start (Psi = 0.2 on the standardised scale, posterior about 0.8) was still at
    about 0.4 after the first visit's two sweeps."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_clusters), size)
    x = rng.normal(size=g.size)
    y = 1 + 0.5 * x + rng.normal(0, 2.0, n_clusters)[g] + rng.normal(size=g.size)
    data = pd.DataFrame({"g": g, "x": x, "y": y})
    data.loc[rng.random(g.size) < 0.2, "y"] = np.nan
    return data


def test_first_iteration_draws_of_the_variance_components_are_posterior_draws(
        assert_first_draws_in_the_bulk):
    data = small_clusters_high_icc()
    arguments = dict(method={"y": "2l.norm"}, cluster="g", seed=6)
    first = bi.impute(data, m=12, maxit=1, **arguments).idata.posterior
    long_run = bi.impute(data, m=1, maxit=500, **arguments).idata.posterior.isel(
        draw=slice(50, None))
    for name in ("y_psi", "y_sigma2"):
        assert_first_draws_in_the_bulk(first[name].values.ravel(), long_run[name].values.ravel())


# --- 2l.pmm against miceadds' 2l.pmm on popmis ---------------------------------------------------
#: per-seed pooled results of R's imputations (benchmarks/compare_popmis_r.py writes it)
POPMIS_REFERENCE = Path(__file__).resolve().parents[3] / "benchmarks" / "results" / "popmis_vs_r.csv"
SEEDS = (11, 12, 13, 14, 15, 16)
#: two-sided 0.999 quantile of Student's t with 6 + 10 - 2 = 14 df
T_CRITICAL = stats.t.ppf(0.9995, len(SEEDS) + 10 - 2)


def test_2l_pmm_variance_components_match_miceadds(popmis, popmis_pred):
    """popmis' 2l.pmm residual variance and ICC, pooled over m = 5 at six seeds, against
    R miceadds' 2l.pmm at ten seeds: a two-sample t test at level 0.001 per component.

    Each seed is one draw of the pooled statistic, so the seeds' spread is its Monte-Carlo
    error. With ties broken in row order and the 5 nearest donors, 2l.pmm gave residual
    variance 0.439-0.447 and ICC 0.522-0.527 at three of these seeds (|t| 4.5 and 5.1 with
    three seeds, hence six); breaking ties at random alone gave 0.445-0.450 and 0.518-0.523
    (ICC t 4.1 with three seeds): under type-2 matching a recipient ties with every donor
    of its school and sex, and the 5 nearest are that cell's own values. miceadds' rank
    window (5 below, 5 above) also reaches the neighbouring cells.
    """
    reference = pd.read_csv(POPMIS_REFERENCE)
    reference = reference[reference["imputation"] == "R miceadds 2l.pmm"]
    assert len(reference) == 10
    ours = []
    for seed in SEEDS:
        imp = bi.impute(popmis, method={"popular": "2l.pmm"}, predictor_matrix=popmis_pred,
                        m=5, maxit=10, seed=seed)
        components = bi.pool(imp.analyze("popular ~ texp + sex + (1 | school)")).variance_components()
        ours.append([components.loc["residual", "estimate"], components.loc["icc", "estimate"]])
    ours = np.array(ours)
    for column, name in enumerate(("resid var", "ICC")):
        theirs = reference[name].to_numpy()
        pooled_var = ((len(ours) - 1) * ours[:, column].var(ddof=1)
                      + (len(theirs) - 1) * theirs.var(ddof=1)) / (len(ours) + len(theirs) - 2)
        se = np.sqrt(pooled_var * (1 / len(ours) + 1 / len(theirs)))
        t = (ours[:, column].mean() - theirs.mean()) / se
        assert abs(t) < T_CRITICAL, (name, ours[:, column], theirs.mean(), t)


def test_a_rows_prediction_does_not_depend_on_its_position():
    """Donors and recipients are predicted from different arrays: a donor whose predictors
    equal a recipient's must get the same prediction, bit for bit, or it no longer ties."""
    from bayesimpute.methods.gaussian.linear_mixed import LinearMixedState
    from bayesimpute.methods.gaussian.normal import TwoLevelPmm

    rng = np.random.default_rng(11)
    X = np.asfortranarray(np.column_stack([np.ones(1001), rng.normal(size=(1001, 3)) * 7.3]))
    cluster = rng.integers(0, 20, 1001)
    state = LinearMixedState(beta=rng.normal(size=4), sigma2=np.ones(1),
                             u=rng.normal(size=(20, 2)), psi=np.eye(2))
    method = TwoLevelPmm("y")
    method.random = np.array([0, 2])
    everything = method._linear_predictor(state, X, cluster)
    for rows in (np.arange(1, 1001, 3), np.arange(997, 1001), rng.permutation(1001)[:37]):
        for layout in (np.asfortranarray, np.ascontiguousarray):  # the containers' and ours
            part = method._linear_predictor(state, layout(X[rows]), cluster[rows])
            assert np.array_equal(part, everything[rows])
