"""The two-level Heckman model: Gibbs vs NUTS, exact truncated draws, the method itself."""

from __future__ import annotations

import warnings

import numpy as np
import pymc as pm
import pytest
from scipy import stats

from bayesimpute.design.coding import VariableKind
from bayesimpute.methods.core.slice_sampling import slice_sample
from bayesimpute.methods.heckman.selection_gibbs import HeckmanGibbs
from bayesimpute.methods.heckman.selection_model import (
    HeckmanDesign,
    RhoPrior,
    build_heckman_model,
    truncated_normal,
)

NAMES = ["Intercept", "x", "t"]


def simulate(n_clusters=6, per_cluster=60, rho=0.6, seed=1, binary=False, empty_cluster=False):
    """A small two-level selection data set: x in both equations, t selection only."""
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_clusters), per_cluster)
    n = len(cluster)
    x, t = rng.normal(size=n), rng.normal(size=n)
    a, c = rng.normal(0, 0.4, n_clusters), rng.normal(0, 0.4, n_clusters)
    sigma = np.exp(rng.normal(0, 0.1, n_clusters))[cluster]
    e_sel = rng.normal(size=n)
    e_out = sigma * (rho * e_sel + np.sqrt(1 - rho**2) * rng.normal(size=n))
    y = 0.3 + a[cluster] + x + e_out
    if binary:
        y = (y > 0).astype(float)
    observed = 0.2 + c[cluster] + 0.5 * x + 1.0 * t + e_sel > 0
    if empty_cluster:
        observed[cluster == 0] = False
    X = np.column_stack([np.ones(n), x, t])
    return X, y, observed, cluster, n_clusters


# --- building blocks -------------------------------------------------------------------------
@pytest.mark.parametrize("above", [True, False])
@pytest.mark.parametrize("mean", [-6.0, -1.0, 0.0, 1.5, 7.0])
def test_truncated_normal_matches_rejection_sampler(mean, above):
    rng = np.random.default_rng(11)
    sd = 0.8
    n = 20000
    draws = truncated_normal(np.full(n, mean), sd, np.full(n, above), rng)
    assert np.all(draws > 0) if above else np.all(draws <= 0)
    # brute force: rejection from the untruncated normal, shifted into the region when the
    # acceptance rate would be tiny (mean far on the wrong side) via scipy's exact truncnorm
    lower, upper = (0.0, np.inf) if above else (-np.inf, 0.0)
    accept_rate = stats.norm.sf(0, mean, sd) if above else stats.norm.cdf(0, mean, sd)
    if accept_rate > 0.05:
        proposals = rng.normal(mean, sd, size=int(3 * n / accept_rate))
        reference = proposals[(proposals > lower) & (proposals <= upper)][:n]
    else:
        a, b = (lower - mean) / sd, (upper - mean) / sd
        reference = stats.truncnorm.rvs(a, b, loc=mean, scale=sd, size=n, random_state=rng)
    assert stats.ks_2samp(draws, reference).pvalue > 0.001


def test_truncated_normal_far_tail_is_finite():
    rng = np.random.default_rng(0)
    draws = truncated_normal(np.array([-40.0, 40.0]), 1.0, np.array([True, False]), rng)
    assert np.all(np.isfinite(draws))
    assert draws[0] > 0 and draws[1] <= 0
    assert np.allclose(np.abs(draws), 0.0, atol=0.1)


def test_slice_sampler_targets_independent_normals():
    rng = np.random.default_rng(4)
    means, sds = np.array([0.0, 3.0, -2.0]), np.array([1.0, 0.1, 5.0])
    x, draws = means.copy(), []
    for _ in range(6000):
        x = slice_sample(x, lambda v: -0.5 * ((v - means) / sds) ** 2, 1.0, rng)
        draws.append(x)
    draws = np.array(draws)
    assert np.allclose(draws.mean(0), means, atol=4 * sds * np.sqrt(5 / 6000) + 1e-9)
    assert np.allclose(draws.std(0), sds, rtol=0.08)


@pytest.mark.parametrize(
    "spec, family",
    [(None, "normal_atanh"), (("uniform", -1, 1), "uniform"), (["beta", 2, 2], "beta"),
     (0.4, "fixed"), ({"family": "normal_atanh", "mu": 0.5, "sd": 0.3}, "normal_atanh")],
)
def test_rho_prior_forms(spec, family):
    prior = RhoPrior() if spec is None else RhoPrior.parse(spec)
    assert prior.family == family
    assert np.isfinite(prior.log_density_atanh(np.array(prior.start())))


@pytest.mark.parametrize("bad", [("normal_atanh", 0, -1), ("uniform", 0.5, 0.2), ("cauchy", 1),
                                 ("fixed", 1.0), "strong"])
def test_rho_prior_rejects_bad_specs(bad):
    with pytest.raises(ValueError, match="rho_prior"):
        RhoPrior.parse(bad)


def test_design_roles():
    design = HeckmanDesign.from_roles([2, 1, -3, -4, 2], ["1", "a", "b", "c", "d"])
    assert list(design.sel) == [0, 1, 2, 4] and list(design.out) == [0, 1, 3, 4]
    assert list(design.random) == [0, 3, 4, 7]
    assert design.re_names == ["sel:1", "sel:d", "out:1", "out:d"]


# --- Gibbs vs NUTS on the same PyMC model ---------------------------------------------------
def _gibbs_draws(model, design, binary, n_draws, seed, burn=500):
    step = HeckmanGibbs(model=model, design=design, binary=binary, rng=seed)
    point, draws = step.initial_point(), []
    for i in range(n_draws + burn):
        point, _ = step.step(point)
        if i >= burn:
            draws.append(step.point_to_state(point))
    return draws


def _gibbs_summaries(states, binary):
    out = {
        "beta": np.array([s.beta for s in states]),
        "rho": np.array([s.rho for s in states]),
        "log_psi": np.log(np.array([np.diag(s.psi) for s in states])),
    }
    out["psi"] = np.exp(out["log_psi"])
    if not binary:
        out["log_sigma"] = np.array([s.log_sigma for s in states])
    return out


def _nuts_summaries(idata, design, binary):
    post = idata.posterior.stack(sample=("chain", "draw"))
    q = len(design.random)
    from bayesimpute.methods.core.linalg import unpack_cholesky

    packed = post["psi_chol"].values.T
    out = {
        "beta": np.concatenate([post["beta_sel"].values.T, post["beta_out"].values.T], axis=1),
        "rho": post["rho"].values,
        "log_psi": np.log(np.array([np.diag(unpack_cholesky(p, q)) for p in packed])),
    }
    out["psi"] = np.exp(out["log_psi"])
    if not binary:
        out["log_sigma"] = post["log_sigma"].values.T
    return out


def _assert_same_posterior(gibbs, nuts, ess_fraction=10, variance_scale="log_psi"):
    """Means within 5 s.e. and sds within 30%. ``variance_scale``: compare the random-effect
    variances as ``log_psi`` or as ``psi``."""
    for name, g in gibbs.items():
        if name in ("log_psi", "psi") and name != variance_scale:
            continue
        n = nuts[name]
        # difference of two autocorrelated means: 5 s.e. with a conservative effective size
        se = np.sqrt(g.var(0) / (len(g) / ess_fraction) + n.var(0) / (len(n) / 5))
        assert np.all(np.abs(g.mean(0) - n.mean(0)) < 5 * se + 1e-3), name
        assert np.allclose(g.std(0), n.std(0), rtol=0.3), name


@pytest.mark.slow  # NUTS on the probit-selection likelihood: minutes on a shared CPU
@pytest.mark.parametrize("binary", [False, True])
def test_gibbs_matches_nuts(binary):
    X, y, observed, cluster, n_clusters = simulate(binary=binary, empty_cluster=True)
    design = HeckmanDesign.from_roles([2, 1, -3], NAMES)
    model = build_heckman_model(X, y, observed, cluster, n_clusters, design, binary=binary)
    gibbs = _gibbs_summaries(_gibbs_draws(model, design, binary, 8000, seed=1), binary)
    with model:
        idata = pm.sample(draws=600, tune=600, chains=2, cores=1, random_seed=2,
                          progressbar=False, target_accept=0.95,
                          compute_convergence_checks=False)
    # Binary outcome, 5 clusters with answers: the outcome intercept's variance is weakly
    # identified and its posterior has a funnel down to log psi = -7 that NUTS does not reach
    # (27 divergences of 1,200; the Gibbs chain's log-psi sd is 2.3, NUTS's 1.7, while their
    # 10/50/90% quantiles agree within 0.25). The variances themselves are compared there:
    # the funnel's depth hardly moves them (selection / outcome means 0.18 / 0.11 against
    # 0.19 / 0.12), and a covariance update off by 1.5x moves them to 0.51 / 0.46.
    _assert_same_posterior(gibbs, _nuts_summaries(idata, design, binary),
                           variance_scale="psi" if binary else "log_psi")


def test_gibbs_step_runs_inside_pm_sample():
    X, y, observed, cluster, n_clusters = simulate(per_cluster=30)
    design = HeckmanDesign.from_roles([2, 1, -3], NAMES)
    model = build_heckman_model(X, y, observed, cluster, n_clusters, design)
    with model:
        step = HeckmanGibbs(model=model, design=design, rng=5)
        idata = pm.sample(draws=200, tune=0, chains=1, step=[step], random_seed=5,
                          progressbar=False, compute_convergence_checks=False,
                          initvals=step.initial_point())
    assert idata.posterior["rho"].shape == (1, 200)
    assert np.isfinite(idata.posterior["log_sigma"].values).all()


# --- the imputation method on hand-made MethodData ------------------------------------------
def make_data(X, y, observed, cluster, n_clusters, roles, kind=VariableKind.CONTINUOUS):
    from bayesimpute.methods.base import MethodData

    y = np.where(observed, y, np.nan)
    y_current = np.where(observed, y, np.nanmean(y))
    random = np.flatnonzero(np.asarray(roles) == 2)
    return MethodData(
        target="y", kind=kind, y=y_current, observed=observed.copy(), impute=~observed,
        X=X, x_names=list(NAMES[: X.shape[1]]), random=random, cluster=cluster,
        n_clusters=n_clusters, cluster_labels=np.arange(n_clusters) + 1,
        x_roles=np.asarray(roles),
    )


def _run(method, data, visits, seed=0):
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(visits):
        draw = method.update(data, rng)
        data.y[data.impute] = draw.values
        draws.append(draw)
    return draws


def test_registered_under_both_names():
    from bayesimpute.methods import get_method
    from bayesimpute.methods.heckman.selection import TwoLevelHeckman

    assert get_method("2l.heckman") is TwoLevelHeckman
    assert get_method("2l.2stage.heckman") is TwoLevelHeckman


def test_mnar_imputations_follow_the_selection():
    """With rho > 0 the observed rows have high outcome errors, so the missing values lie
    below the MAR prediction: the imputations must track the unseen truth instead."""
    from bayesimpute.methods.heckman.selection import TwoLevelHeckman

    X, y_true, observed, cluster, J = simulate(n_clusters=8, per_cluster=400, rho=0.7, seed=5)
    data = make_data(X, y_true, observed, cluster, J, [2, 1, -3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an exclusion restriction is given: no warning
        draws = _run(TwoLevelHeckman("y"), data, visits=15)
    imputed = np.mean([d.values for d in draws[5:]], axis=0)
    truth = y_true[~observed]
    # mean of the imputations tracks the (unseen) mean of the missing values
    se = np.std(truth) / np.sqrt(len(truth))
    assert abs(imputed.mean() - truth.mean()) < 6 * se + 0.05
    # a MAR regression fitted on the observed rows would over-predict the missing values
    beta_mar = np.linalg.lstsq(X[observed][:, :2], y_true[observed], rcond=None)[0]
    assert (X[~observed][:, :2] @ beta_mar).mean() > imputed.mean() + 0.1
    rho = np.array([float(d.parameters["rho"]) for d in draws[5:]])
    assert 0.4 < rho.mean() < 0.95
    assert draws[-1].parameters["sigma"].shape == (J,)
    assert draws[-1].parameters["beta_sel"].shape == (3,)
    assert draws[-1].parameters["beta_out"].shape == (2,)


def test_parameter_dims_match_parameters():
    from bayesimpute.methods.heckman.selection import TwoLevelHeckman

    X, y, observed, cluster, J = simulate(n_clusters=4, per_cluster=50)
    data = make_data(X, y, observed, cluster, J, [2, 1, -3])
    method = TwoLevelHeckman("y", {"burn": 5, "n_steps": 1})
    draw = method.update(data, np.random.default_rng(0))
    dims = method.parameter_dims(data)
    assert set(dims) == set(draw.parameters)
    for name, value in draw.parameters.items():
        assert value.shape == tuple(len(coords) for _, coords in dims[name]), name


def test_systematically_missing_cluster_is_imputed_from_population():
    from bayesimpute.methods.heckman.selection import TwoLevelHeckman

    X, y, observed, cluster, J = simulate(n_clusters=6, per_cluster=200, seed=2,
                                          empty_cluster=True)
    data = make_data(X, y, observed, cluster, J, [2, 1, -3])
    draws = _run(TwoLevelHeckman("y"), data, visits=6)
    values = draws[-1].values
    assert np.all(np.isfinite(values)) and len(values) == (~observed).sum()
    in_empty = cluster[~observed] == 0
    assert in_empty.sum() == 200
    assert abs(values[in_empty].mean() - values[~in_empty].mean()) < 2.0


def test_pmm_imputes_observed_values():
    from bayesimpute.methods.heckman.selection import TwoLevelHeckman

    X, y, observed, cluster, J = simulate(n_clusters=4, per_cluster=100)
    data = make_data(X, y, observed, cluster, J, [2, 1, -3])
    draws = _run(TwoLevelHeckman("y", {"pmm": True, "burn": 30}), data, visits=3)
    assert np.isin(draws[-1].values, y[observed]).all()


def test_binary_target():
    from bayesimpute.methods.heckman.selection import TwoLevelHeckman

    X, y, observed, cluster, J = simulate(n_clusters=5, per_cluster=150, binary=True)
    data = make_data(X, y, observed, cluster, J, [2, 1, -3], kind=VariableKind.BINARY)
    draws = _run(TwoLevelHeckman("y", {"burn": 30}), data, visits=3)
    assert set(np.unique(draws[-1].values)) <= {0.0, 1.0}
    assert "sigma" not in draws[-1].parameters


def test_warns_without_exclusion_restriction():
    from bayesimpute.methods.heckman.selection import TwoLevelHeckman

    X, y, observed, cluster, J = simulate(n_clusters=4, per_cluster=50)
    data = make_data(X[:, :2], y, observed, cluster, J, [2, 1])
    with pytest.warns(UserWarning, match="exclusion restriction"):
        draw = TwoLevelHeckman("y", {"burn": 5}).update(data, np.random.default_rng(1))
    assert any("exclusion restriction" in event for event in draw.events)


def test_warns_when_rho_piles_up_at_the_boundary():
    from bayesimpute.methods.heckman.selection import TwoLevelHeckman

    X, y, observed, cluster, J = simulate(n_clusters=4, per_cluster=100)
    data = make_data(X, y, observed, cluster, J, [2, 1, -3])
    method = TwoLevelHeckman("y", {"rho_prior": ("uniform", 0.985, 1.0), "burn": 5})
    with pytest.warns(UserWarning, match="pile up"):
        draws = _run(method, data, visits=6)
    assert sum("pile up" in e for d in draws for e in d.events) == 1


def test_fixed_rho_prior_holds_rho():
    from bayesimpute.methods.heckman.selection import TwoLevelHeckman

    X, y, observed, cluster, J = simulate(n_clusters=4, per_cluster=80)
    data = make_data(X, y, observed, cluster, J, [2, 1, -3])
    draws = _run(TwoLevelHeckman("y", {"rho_prior": -0.3, "burn": 5}), data, visits=2)
    assert float(draws[-1].parameters["rho"]) == pytest.approx(-0.3)


def test_bad_options_are_rejected():
    from bayesimpute.methods.heckman.selection import TwoLevelHeckman

    with pytest.raises(ValueError, match="rho_prior"):
        TwoLevelHeckman("Weight", {"rho_prior": ("uniform", 2, 3)})
    with pytest.raises(ValueError, match="unknown option"):
        TwoLevelHeckman("Weight", {"rho": 0.5})


@pytest.mark.parametrize("binary", [False, True])
def test_a_fresh_method_given_the_saved_state_continues_the_chain_exactly(binary):
    """get_state / set_state on a new instance (what resume does), before any visit."""
    from bayesimpute.methods.heckman.selection import TwoLevelHeckman

    X, y, observed, cluster, J = simulate(n_clusters=4, per_cluster=60, binary=binary)
    kind = VariableKind.BINARY if binary else VariableKind.CONTINUOUS
    data = make_data(X, y, observed, cluster, J, [2, 1, -3], kind=kind)
    rng = np.random.default_rng(0)
    unbroken = TwoLevelHeckman("y", {"burn": 5})
    data.y[data.impute] = unbroken.update(data, rng).values
    saved, saved_rng = unbroken.get_state(), rng.bit_generator.state
    expected = unbroken.update(data, rng)
    restored = TwoLevelHeckman("y", {"burn": 5})
    restored.set_state(saved)
    rng.bit_generator.state = saved_rng
    got = restored.update(data, rng)
    np.testing.assert_array_equal(got.values, expected.values)
    for name, value in expected.parameters.items():
        np.testing.assert_array_equal(got.parameters[name], value)


def test_nuts_sampler_option_runs():
    from bayesimpute.methods.heckman.selection import TwoLevelHeckman

    X, y, observed, cluster, J = simulate(n_clusters=3, per_cluster=30)
    data = make_data(X, y, observed, cluster, J, [2, 1, -3])
    method = TwoLevelHeckman("y", {"sampler": "nuts", "tune": 10, "n_steps": 2})
    draw = method.update(data, np.random.default_rng(0))
    assert np.all(np.isfinite(draw.values))
    assert "diverging" in draw.stats


# --- clusters missing by design ------------------------------------------------------------
def simulate_never_asked(rho=0.9, n_asked=12, n_never=6, per_cluster=100, seed=21):
    """``n_asked`` clusters with MNAR selection (rho), then ``n_never`` clusters where the
    question was never asked (every value missing, independently of the outcome)."""
    X, y, observed, cluster, J = simulate(n_clusters=n_asked + n_never,
                                          per_cluster=per_cluster, rho=rho, seed=seed)
    never = cluster >= n_asked
    observed[never] = False
    return X, y, observed, cluster, J, never


def _within_cluster_variance(values: np.ndarray, cluster: np.ndarray) -> float:
    """Pooled within-cluster variance (each cluster centred on its own mean)."""
    labels, index = np.unique(cluster, return_inverse=True)
    centred = values - (np.bincount(index, weights=values) / np.bincount(index))[index]
    return float(np.sum(centred**2) / (len(values) - len(labels)))


def test_outcome_draw_has_the_exact_law_of_each_kind_of_row():
    """Moments of 200,000 draws against the closed form, within 4 Monte-Carlo s.e.:
    a row missing by design has y ~ N(mu_o, sigma^2); a non-selected row has
    y = mu_o + rho sigma e + sigma sqrt(1 - rho^2) nu with e ~ N(0, 1) truncated to
    e <= -mu_s."""
    from bayesimpute.methods.heckman.selection import draw_outcome

    n, mu_s, mu_o, sigma, rho = 200_000, 0.5, 0.2, 1.3, 0.9
    rng = np.random.default_rng(8)
    e = stats.truncnorm(-np.inf, -mu_s)  # the selection error of a non-selected row
    laws = {  # by_design -> (mean, variance)
        True: (mu_o, sigma**2),
        False: (mu_o + rho * sigma * e.mean(),
                rho**2 * sigma**2 * e.var() + sigma**2 * (1 - rho**2)),
    }
    for by_design, (mean, variance) in laws.items():
        draws = draw_outcome(np.full(n, mu_s), np.full(n, mu_o), np.full(n, sigma), rho,
                             np.zeros(n, dtype=bool), np.full(n, by_design), rng)
        se_mean = np.sqrt(variance / n)
        se_var = np.sqrt((stats.kurtosis(draws) + 2) / n) * variance  # s.e. of a variance
        assert abs(draws.mean() - mean) < 4 * se_mean, by_design
        assert abs(draws.var() - variance) < 4 * se_var, by_design


@pytest.mark.parametrize("pmm", [False, True])
def test_clusters_missing_by_design_keep_the_whole_outcome_variance(pmm):
    """rho = 0.9: a never-asked row has no selection to condition on, so its imputation
    must have the outcome's whole variance sigma^2, not sigma^2 (1 - rho^2) = 0.19 sigma^2
    (nor, with pmm, the smaller spread of the selected donors' residuals).

    A posterior predictive check on three simulated data sets (12 clusters with selection,
    6 never asked, 100 rows each): per data set, z = (truth - mean) / sd compares the
    within-cluster variance of the unseen true values of the never-asked clusters with
    that of the imputations over 40 draws. Under the model z has mean 0 and standard
    deviation at most 1 (posterior predictive checks are conservative), so the mean of
    the three z stays within 3.3 / sqrt(3) (two-sided level 0.001). The truth is about 2
    (x and the residual, 1 each); the conditional variance gave about 1.1 (z near 10),
    matching expected values about 1.6 (z 2-5).
    """
    from bayesimpute.methods.heckman.selection import TwoLevelHeckman

    z = []
    for seed in (21, 22, 23):
        X, y_true, observed, cluster, J, never = simulate_never_asked(seed=seed)
        data = make_data(X, y_true, observed, cluster, J, [2, 1, -3])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # rho may near the boundary
            draws = _run(TwoLevelHeckman("y", {"pmm": pmm}), data, visits=50, seed=3)
        rows = never[~observed]
        imputed = [_within_cluster_variance(d.values[rows], cluster[never]) for d in draws[10:]]
        truth = _within_cluster_variance(y_true[never], cluster[never])
        z.append((truth - np.mean(imputed)) / np.std(imputed, ddof=1))
    assert abs(np.mean(z)) < 3.3 / np.sqrt(len(z)), z


def test_a_binary_outcome_observed_at_one_value_warns_and_logs():
    from bayesimpute.methods.heckman.selection import TwoLevelHeckman

    X, y, observed, cluster, J = simulate(n_clusters=4, per_cluster=60, binary=True)
    y = np.ones_like(y)  # every observed value is 1
    data = make_data(X, y, observed, cluster, J, [2, 1, -3], kind=VariableKind.BINARY)
    with pytest.warns(UserWarning, match=r"category \[0\] never observed"):
        draw = TwoLevelHeckman("y", {"burn": 2}).update(data, np.random.default_rng(0))
    assert any("never observed" in event for event in draw.events)
    both = make_data(*simulate(n_clusters=4, per_cluster=60, binary=True), [2, 1, -3],
                     kind=VariableKind.BINARY)
    assert not any("never observed" in e
                   for e in TwoLevelHeckman("y", {"burn": 2}).update(
                       both, np.random.default_rng(0)).events)
