"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018) of every
custom Gibbs step of the package.

For each replication: draw the parameters from the prior of the step's own PyMC model
(``pm.draw``, so a change of prior flows through), draw the data from the model, run the step
from the drawn parameters (a draw from the posterior of the data it generated, so no burn-in
is needed) and keep ``N_DRAWS`` states thinned by ``thin``; rank each statistic of the drawn
parameters among the kept states. If the step leaves the posterior invariant the ranks are
uniform on 0..N_DRAWS; a chi-square test on ``BINS`` equal bins at a fixed seed checks it.

Each case is sized to run in seconds to tens of seconds and to detect a 10% error in a
variance: ``test_detects_a_ten_percent_variance_error`` (slow) multiplies the variance the
step returns by 1.1 at every transition and checks that the same calibration fails;
``benchmarks/sbc_power.py`` measures how often it does over repeated seeds
(``benchmarks/results/sbc_power.md``). These tests are the CI evidence that the steps sample
their models' posteriors; the NUTS comparisons (``test_gibbs_matches_nuts``) are slow tests.

Priors: the random-effect covariance prior is the package default in every case. Where a
default prior is so diffuse that its draws span hundreds of orders of magnitude (sigma2 ~
InvGamma(0.01, 0.01), beta ~ N(0, 10^2) behind a probit), the case passes a proper,
moderate prior of the same family to the model and the step: calibration checks the step's
algebra for any prior of its family, and floating point cannot check it on draws of 1e-100.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pymc as pm
import pytest
from scipy import stats

from bayesimpute.methods.heckman.selection_gibbs import HeckmanGibbs, HeckmanState
from bayesimpute.methods.heckman.selection_model import (
    HeckmanDesign,
    HeckmanPriors,
    build_heckman_model,
)
from bayesimpute.methods.core.linalg import unpack_cholesky
from bayesimpute.methods.logistic.polya_gamma import (
    LogisticMixedGibbs,
    LogitPriors,
    LogitState,
    build_pymc_model as build_logit_model,
)
from bayesimpute.methods.multilevel.sweeps import EffectLevel, make_chain
from bayesimpute.methods.multilevel.ml_model import (
    GaussianSweep,
    MultilevelLogitState,
    MultilevelState,
    build_pymc_model as build_multilevel_model,
    logit_sweep,
)
from bayesimpute.methods.gaussian.linear_mixed import (
    LinearMixedGibbs,
    LinearMixedPriors,
    LinearMixedState,
    build_pymc_model as build_linear_model,
)

BINS = 5
#: per-statistic significance level; with 5-9 statistics per case the chance that a correct
#: step fails a case is under 1%
ALPHA = 0.001
#: the injected error: the variance a transition returns, times 1.1
ERROR = 1.1


# --- the generic machinery ---------------------------------------------------------------------
@dataclass
class Calibration:
    """Ranks (replications, statistics) of the prior draw among ``n_draws`` posterior draws."""

    names: list[str]
    ranks: np.ndarray
    n_draws: int

    def pvalues(self, bins: int = BINS) -> dict[str, float]:
        """Chi-square test of uniform ranks per statistic, on ``bins`` equal bins."""
        if (self.n_draws + 1) % bins:
            raise ValueError(f"{self.n_draws + 1} rank values do not split into {bins} bins")
        binned = self.ranks * bins // (self.n_draws + 1)
        return {
            name: float(stats.chisquare(np.bincount(binned[:, i], minlength=bins)).pvalue)
            for i, name in enumerate(self.names)
        }

    def failed(self, alpha: float = ALPHA) -> list[str]:
        return [name for name, p in self.pvalues().items() if p < alpha]


@dataclass
class Case:
    """One step under calibration.

    ``replicate(r)`` returns the step, the starting (true) point and the data's
    statistics function; ``statistics(point)`` maps a point to the named scalars.
    """

    names: list[str]
    replicate: Callable[[int], tuple[object, dict]]
    statistics: Callable[[object, dict], np.ndarray]
    n_replications: int
    n_draws: int
    thin: int
    #: named injected errors: each maps a point after a transition to the point with one
    #: variance times ERROR (power checks)
    errors: dict[str, Callable[[dict], dict]]


def calibrate(case: Case, seed: int, error: str | None = None) -> Calibration:
    """Run the calibration of ``case``: ranks of every statistic, every replication.

    ``error`` names one of ``case.errors`` to inject at every transition.
    """
    tie_rng = np.random.default_rng([seed, 99])
    ranks = np.empty((case.n_replications, len(case.names)), dtype=int)
    for r in range(case.n_replications):
        step, truth = case.replicate(r)
        true_stats = case.statistics(step, truth)
        point, kept = truth, []
        for i in range(case.n_draws * case.thin):
            point, _ = step.step(point)
            if error is not None:
                point = case.errors[error](point)
            if (i + 1) % case.thin == 0:
                kept.append(case.statistics(step, point))
        kept = np.array(kept)
        below = (kept < true_stats).sum(0)
        ties = (kept == true_stats).sum(0)  # parameters a step holds fixed tie exactly
        ranks[r] = below + np.array([tie_rng.integers(0, t + 1) for t in ties])
    return Calibration(case.names, ranks, case.n_draws)


def _psi_statistics(psi: np.ndarray) -> list[float]:
    """log variances and the first correlation of a covariance matrix."""
    out = list(np.log(np.diag(psi)))
    if psi.shape[0] > 1:
        out.append(psi[0, 1] / np.sqrt(psi[0, 0] * psi[1, 1]))
    return out


def _scale_packed_covariance(packed: np.ndarray, factor: float) -> np.ndarray:
    """The packed Cholesky factor of factor * Psi (log diagonal + log(factor) / 2, the rest
    times sqrt(factor))."""
    q = int(round((np.sqrt(8 * packed.shape[-1] + 1) - 1) / 2))
    rows, cols = np.tril_indices(q)
    diagonal = rows == cols
    out = np.array(packed, dtype=float)
    out[..., diagonal] += 0.5 * np.log(factor)
    out[..., ~diagonal] *= np.sqrt(factor)
    return out


def _prior_draws(model: pm.Model, names: list[str], n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` joint draws of the named variables from the model's prior (and predictive)."""
    values = pm.draw([model[name] for name in names], draws=n, random_seed=seed)
    return dict(zip(names, values))


# --- the linear mixed step (2l.norm, 2l.pmm) ------------------------------------------------------
#: proper residual-variance priors of the model's families (see the module docstring)
LINEAR_PRIORS = LinearMixedPriors(sigma2_shape=3.0, sigma2_rate=2.0)


def linear_mixed_case(heterogeneous: bool, seed: int = 0, n_replications: int = 80,
                      n_clusters: int = 50, per_cluster: int = 12) -> Case:
    """Random intercept and slope; residual variance common or per cluster."""
    rng = np.random.default_rng([seed, 1])
    cluster = np.repeat(np.arange(n_clusters), per_cluster)
    x = rng.normal(size=len(cluster))
    X = np.column_stack([np.ones_like(x), x])
    random = np.array([0, 1])
    model = build_linear_model(X, np.zeros(len(x)), cluster, n_clusters, random,
                               heterogeneous=heterogeneous, priors=LINEAR_PRIORS,
                               x_names=["Intercept", "x"])
    names = ["beta", "sigma2", "psi_hyper", "psi_chol", "u", "y_obs"]
    if heterogeneous:
        names.append("sigma2_scale")
    draws = _prior_draws(model, names, n_replications, seed)
    step = LinearMixedGibbs(model=model, priors=LINEAR_PRIORS, rng=np.random.default_rng([seed, 2]))

    def replicate(r: int):
        with model:
            pm.set_data({"y": draws["y_obs"][r]})
        step.refresh_data()
        state = LinearMixedState(
            beta=draws["beta"][r], sigma2=np.atleast_1d(draws["sigma2"][r]), u=draws["u"][r],
            psi=unpack_cholesky(draws["psi_chol"][r], 2),
            sigma2_scale=float(draws["sigma2_scale"][r]) if heterogeneous else 1.0,
            psi_hyper=draws["psi_hyper"][r],
        )
        return step, step.state_to_point(state, {})

    def statistics(step, point) -> np.ndarray:
        s = step.point_to_state(point)
        variance = ([np.mean(np.log(s.sigma2)), np.log(s.sigma2[0]), np.log(s.sigma2_scale)]
                    if heterogeneous else [np.log(s.sigma2[0])])
        return np.array([*s.beta, *variance, *_psi_statistics(s.psi), s.u[0, 0]])

    variance_names = (["mean log sigma2_j", "log sigma2_0", "log s"] if heterogeneous
                      else ["log sigma2"])

    def residual_error(point: dict) -> dict:
        return {**point, "sigma2_log__": point["sigma2_log__"] + np.log(ERROR)}

    def covariance_error(point: dict) -> dict:
        return {**point, "psi_chol": _scale_packed_covariance(point["psi_chol"], ERROR)}

    return Case(["beta0", "beta1", *variance_names, "log psi00", "log psi11", "corr", "u00"],
                replicate, statistics, n_replications, n_draws=9, thin=6,
                errors={"sigma2": residual_error, "psi": covariance_error})


@pytest.mark.parametrize("heterogeneous", [False, True], ids=["common", "per-cluster"])
def test_linear_mixed_step_is_calibrated(heterogeneous):
    calibration = calibrate(linear_mixed_case(heterogeneous), seed=0)
    assert not calibration.failed(), calibration.pvalues()


# --- the Polya-Gamma logistic and multinomial step (2l.bin, 2l.polyreg) --------------------------
#: moderate coefficient priors: the defaults (intercept N(0, 5^2)) put many draws at
#: probabilities of 0 or 1, where the data say nothing about the random effects
LOGIT_PRIORS = LogitPriors(intercept_sd=1.0, slope_sd=1.0)


def logistic_case(n_categories: int, seed: int = 0, n_replications: int = 60,
                  n_clusters: int = 40, per_cluster: int = 20) -> Case:
    """Random intercept and slope per non-reference category."""
    rng = np.random.default_rng([seed, 3])
    cluster = np.repeat(np.arange(n_clusters), per_cluster)
    x = rng.normal(size=len(cluster))
    X = np.column_stack([np.ones_like(x), x])
    random = np.array([0, 1])
    model = build_logit_model(X, np.zeros(len(x), int), cluster, n_clusters, random,
                              n_categories, priors=LOGIT_PRIORS, x_names=["Intercept", "x"])
    draws = _prior_draws(model, ["beta", "psi_hyper", "psi_chol", "u", "y_obs"],
                         n_replications, seed)
    step = LogisticMixedGibbs(model=model, priors=LOGIT_PRIORS,
                              rng=np.random.default_rng([seed, 4]))
    n_free = n_categories - 1

    def replicate(r: int):
        with model:
            pm.set_data({"y": draws["y_obs"][r].astype("int64")})
        step.refresh_data()
        psi = np.stack([unpack_cholesky(draws["psi_chol"][r][k], 2) for k in range(n_free)])
        state = LogitState(draws["beta"][r], draws["u"][r], psi, draws["psi_hyper"][r])
        return step, step.state_to_point(state, {})

    def statistics(step, point) -> np.ndarray:
        s = step.point_to_state(point)
        last = list(np.log(np.diag(s.psi[-1]))) if n_free > 1 else []
        return np.array([*s.beta.ravel(), *_psi_statistics(s.psi[0]), *last, s.u[0, 0, 0]])

    def covariance_error(point: dict) -> dict:
        # Psi times 1.1 with the effects u = u_raw L' unchanged
        return {**point, "psi_chol": _scale_packed_covariance(point["psi_chol"], ERROR),
                "u_raw": point["u_raw"] / np.sqrt(ERROR)}

    beta_names = [f"beta{k}{c}" for k in range(1, n_categories) for c in range(2)]
    last = [f"log psi00 ({n_free})", f"log psi11 ({n_free})"] if n_free > 1 else []
    return Case([*beta_names, "log psi00 (1)", "log psi11 (1)", "corr (1)", *last, "u00"],
                replicate, statistics, n_replications, n_draws=9, thin=8,
                errors={"psi": covariance_error})


@pytest.mark.parametrize("n_categories", [2, 3], ids=["binary", "multinomial"])
def test_logistic_step_is_calibrated(n_categories):
    calibration = calibrate(logistic_case(n_categories), seed=0)
    assert not calibration.failed(), calibration.pvalues()


# --- the Heckman data-augmentation step (2l.heckman) ------------------------------------------------
#: a proper coefficient prior on the probit scale (N(0, 10^2) puts most draws at selection
#: probabilities of 0 or 1); the covariance, sigma and rho priors are the defaults
HECKMAN_PRIORS = HeckmanPriors(beta_sd=1.0)


def _simulate_selection(X, cluster, design, theta, rho, log_sigma, binary, rng):
    """Latent selection values, outcome and latent outcome given the parameters."""
    ps, qs = len(design.sel), len(design.sel_random)
    Xs, Xo = X[:, design.sel], X[:, design.out]
    u = theta["u"][cluster]
    mu_s = Xs @ theta["beta_sel"] + np.einsum("nq,nq->n", Xs[:, design.sel_random], u[:, :qs])
    mu_o = Xo @ theta["beta_out"] + np.einsum("nq,nq->n", Xo[:, design.out_random], u[:, qs:])
    del ps
    sigma = np.exp(log_sigma)[cluster]
    e_s = rng.standard_normal(len(cluster))
    e_o = sigma * (rho * e_s + np.sqrt(1 - rho**2) * rng.standard_normal(len(cluster)))
    z, ystar = mu_s + e_s, mu_o + e_o
    y = (ystar > 0).astype(float) if binary else ystar
    return z, y, ystar


def heckman_case(binary: bool, seed: int = 0, n_replications: int = 60,
                 n_clusters: int = 24, per_cluster: int = 25) -> Case:
    """Random intercept and x slope in both equations (q = 4), t selection only."""
    rng = np.random.default_rng([seed, 5])
    cluster = np.repeat(np.arange(n_clusters), per_cluster)
    n = len(cluster)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    design = HeckmanDesign.from_roles([2, 2, -3], ["Intercept", "x", "t"])
    q = len(design.random)
    placeholder = np.arange(n) % 2 == 0
    model = build_heckman_model(X, np.zeros(n), placeholder, cluster, n_clusters, design,
                                binary=binary, priors=HECKMAN_PRIORS)
    names = ["beta_sel", "beta_out", "psi_hyper", "psi_chol", "u"]
    if not binary:
        names += ["log_sigma", "log_sigma_mu", "log_sigma_tau"]
    step = HeckmanGibbs(model=model, design=design, priors=HECKMAN_PRIORS, binary=binary,
                        rng=np.random.default_rng([seed, 6]))
    mu, sd = HECKMAN_PRIORS.rho.params
    # joint draws of (parameters, data), rejecting those where a cluster has no observed
    # value: the model treats such a cluster's missingness as by design, so the calibrated
    # joint is the model's conditional on every cluster being asked (exact by rejection)
    pool = _prior_draws(model, names, 3 * n_replications, seed)
    data_rng = np.random.default_rng([seed, 7])
    replications = []
    for i in range(3 * n_replications):
        theta = {name: pool[name][i] for name in names}
        rho_atanh = mu + sd * data_rng.standard_normal()
        log_sigma = theta.get("log_sigma", np.zeros(n_clusters))
        z, y, ystar = _simulate_selection(X, cluster, design, theta, np.tanh(rho_atanh),
                                          log_sigma, binary, data_rng)
        observed = z > 0
        if np.bincount(cluster[observed], minlength=n_clusters).min() == 0:
            continue
        replications.append((theta, rho_atanh, z, y, ystar))
        if len(replications) == n_replications:
            break
    assert len(replications) == n_replications, "too many prior draws leave a cluster empty"

    def replicate(r: int):
        theta, rho_atanh, z, y, ystar = replications[r]
        observed = z > 0
        with model:
            pm.set_data({"y": np.where(observed, y, 0.0), "observed": observed.astype(float)})
        step.refresh_data()
        step.sampler.z, step.sampler.ystar = z.copy(), np.where(observed, ystar, 0.0)
        state = HeckmanState(
            beta=np.concatenate([theta["beta_sel"], theta["beta_out"]]), u=theta["u"],
            psi=unpack_cholesky(theta["psi_chol"], q), rho_atanh=float(rho_atanh),
            log_sigma=theta.get("log_sigma", np.zeros(n_clusters)),
            log_sigma_mu=float(theta.get("log_sigma_mu", 0.0)),
            log_sigma_tau=float(theta.get("log_sigma_tau", 0.3)),
            psi_hyper=theta["psi_hyper"],
        )
        return step, step.state_to_point(state, {})

    def statistics(step, point) -> np.ndarray:
        s = step.point_to_state(point)
        sigma = [np.mean(s.log_sigma), np.log(s.log_sigma_tau)] if not binary else []
        return np.array([*s.beta, s.rho_atanh, *_psi_statistics(s.psi), *sigma, s.u[0, 0]])

    def covariance_error(point: dict) -> dict:
        return {**point, "psi_chol": _scale_packed_covariance(point["psi_chol"], ERROR)}

    def residual_error(point: dict) -> dict:
        return {**point, "log_sigma": point["log_sigma"] + 0.5 * np.log(ERROR)}

    beta_names = [f"sel:{n}" for n in design.sel_names] + [f"out:{n}" for n in design.out_names]
    psi_names = [f"log psi {name}" for name in design.re_names] + ["corr (sel)"]
    sigma_names = [] if binary else ["mean log sigma_j", "log tau"]
    errors = {"psi": covariance_error}
    if not binary:
        errors["sigma2"] = residual_error
    # rho given the latent values of a binary outcome mixes slowly (lag-10 autocorrelation
    # about 0.8 on this design): the binary case thins more
    return Case([*beta_names, "atanh rho", *psi_names, *sigma_names, "u00"],
                replicate, statistics, n_replications, n_draws=9, thin=16 if binary else 8,
                errors=errors)


@pytest.mark.parametrize("binary", [False, True], ids=["continuous", "binary"])
def test_heckman_step_is_calibrated(binary):
    calibration = calibrate(heckman_case(binary), seed=0)
    assert not calibration.failed(), calibration.pvalues()


# --- the multi-level sweeps (ml.norm, ml.pmm, ml.bin) -------------------------------------------
class _SweepStep:
    """A multi-level sweep behind the ``step(point) -> (point, stats)`` interface of the
    PyMC steps; its points are the sweeps' state objects."""

    def __init__(self, sweep: Callable, rng: np.random.Generator):
        self.sweep, self.rng = sweep, rng

    def step(self, state):
        return self.sweep(state, self.rng), None


def _nested_levels(rng: np.random.Generator, schools: int, classes: int, pupils: int):
    """Pupils in classes in schools, a standard-normal covariate, the two levels' chain."""
    school = np.repeat(np.arange(schools), classes * pupils)
    klass = np.repeat(np.arange(schools * classes), pupils)
    x = rng.normal(size=len(school))
    X = np.column_stack([np.ones_like(x), x])
    levels = [EffectLevel("class", klass, schools * classes, np.array([0])),
              EffectLevel("school", school, schools, np.array([0]))]
    return X, levels


def _scaled_level(state, chain: int, level: int, factor: float, effects_too: bool):
    """``state`` with one level's Psi times ``factor`` (and its effects times sqrt(factor))."""
    psi = [list(c) for c in state.psi]
    psi[chain][level] = psi[chain][level] * factor
    out = replace(state, psi=psi)
    if effects_too:
        effects = [list(c) for c in state.effects]
        effects[chain][level] = effects[chain][level] * np.sqrt(factor)
        out = replace(out, effects=effects)
    return out


def multilevel_gaussian_case(crossed: bool, seed: int = 0, n_replications: int = 80) -> Case:
    """Three nested levels (pupils in 3 classes in each of 15 schools) with a random slope at
    the class level, or two crossed random intercepts (40 x 8 cells)."""
    rng = np.random.default_rng([seed, 7])
    if crossed:
        n = 320
        first, second = rng.integers(0, 40, n), rng.integers(0, 8, n)
        x = rng.normal(size=n)
        X = np.column_stack([np.ones_like(x), x])
        chains = [make_chain([EffectLevel("first", first, 40, np.array([0]))]),
                  make_chain([EffectLevel("second", second, 8, np.array([0]))])]
    else:
        X, levels = _nested_levels(rng, schools=15, classes=3, pupils=6)
        levels[0] = EffectLevel("class", levels[0].codes, levels[0].n_clusters, np.array([0, 1]))
        chains = [make_chain(levels)]
    model = build_multilevel_model(X, np.zeros(len(X)), chains, priors=LINEAR_PRIORS)
    names = [level.name for chain in chains for level in chain.levels]
    draws = _prior_draws(model, ["beta", "sigma2", "y_obs", *[f"{v}_{name}" for name in names
                                 for v in ("psi_hyper", "psi", "u")]], n_replications, seed)
    step_rng = np.random.default_rng([seed, 8])

    def per_chain(kind: str, r: int) -> list[list[np.ndarray]]:
        return [[np.asarray(draws[f"{kind}_{level.name}"][r], float) for level in chain.levels]
                for chain in chains]

    def replicate(r: int):
        sweep = GaussianSweep(X, draws["y_obs"][r], chains, priors=LINEAR_PRIORS)
        state = MultilevelState(np.asarray(draws["beta"][r], float), float(draws["sigma2"][r]),
                                per_chain("u", r), per_chain("psi", r), per_chain("psi_hyper", r))
        return _SweepStep(sweep, step_rng), state

    def statistics(step, s: MultilevelState) -> np.ndarray:
        psi = [stat for chain in s.psi for level in chain for stat in _psi_statistics(level)]
        return np.array([*s.beta, np.log(s.sigma2), *psi, s.effects[0][0][0, 0]])

    psi_names = []
    for chain in chains:
        for level in chain.levels:
            psi_names += [f"log psi00 {level.name}"]
            if len(level.random) > 1:
                psi_names += [f"log psi11 {level.name}", f"corr {level.name}"]

    def residual_error(state):
        return replace(state, sigma2=state.sigma2 * ERROR)

    def covariance_error(state):  # the highest level of the first chain
        return _scaled_level(state, 0, len(chains[0].levels) - 1, ERROR, effects_too=False)

    return Case(["beta0", "beta1", "log sigma2", *psi_names, "u00"], replicate, statistics,
                n_replications, n_draws=9, thin=6,
                errors={"sigma2": residual_error, "psi": covariance_error})


def multilevel_logit_case(seed: int = 0, n_replications: int = 60) -> Case:
    """Binary outcome, random intercepts for 20 schools and their 3 classes each. The
    parameters come from the priors the step assumes (there is no PyMC model of this one):
    beta ~ N(0, sd^2), a ~ InvGamma(1/2, 1/A^2), Psi | a ~ InvWishart, u ~ N(0, Psi)."""
    rng = np.random.default_rng([seed, 9])
    X, levels = _nested_levels(rng, schools=20, classes=3, pupils=10)
    chains = [make_chain(levels)]
    prior_rng = np.random.default_rng([seed, 10])
    step_rng = np.random.default_rng([seed, 11])

    def replicate(r: int):
        beta = prior_rng.normal(0.0, LOGIT_PRIORS.beta_sd(2))[None, :]
        hyper = [[LOGIT_PRIORS.covariance.draw_hyper(1, prior_rng) for _ in levels]]
        psi = [[LOGIT_PRIORS.covariance.draw_covariance(a, prior_rng) for a in hyper[0]]]
        effects = [[prior_rng.normal(0.0, np.sqrt(p[0, 0]), (lv.n_clusters, 1))
                    for lv, p in zip(levels, psi[0])]]
        eta = X @ beta[0] + sum(u[lv.codes, 0] for lv, u in zip(levels, effects[0]))
        y = (prior_rng.random(len(eta)) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
        state = MultilevelLogitState(beta, [effects], [psi], [hyper])
        return _SweepStep(lambda s, g: logit_sweep(X, y, chains, s, LOGIT_PRIORS, g),
                          step_rng), state

    def statistics(step, s: MultilevelLogitState) -> np.ndarray:
        return np.array([*s.beta[0], *[np.log(p[0, 0]) for p in s.psi[0][0]],
                         s.effects[0][0][0][0, 0]])

    def covariance_error(state):  # the school level, effects unchanged
        psi = [[list(c) for c in k] for k in state.psi]
        psi[0][0][1] = psi[0][0][1] * ERROR
        return replace(state, psi=psi)

    return Case(["beta0", "beta1", "log psi class", "log psi school", "u00"], replicate,
                statistics, n_replications, n_draws=9, thin=8, errors={"psi": covariance_error})


@pytest.mark.parametrize("crossed", [False, True], ids=["nested", "crossed"])
def test_multilevel_gaussian_sweep_is_calibrated(crossed):
    calibration = calibrate(multilevel_gaussian_case(crossed), seed=0)
    assert not calibration.failed(), calibration.pvalues()


def test_multilevel_logit_sweep_is_calibrated():
    calibration = calibrate(multilevel_logit_case(), seed=0)
    assert not calibration.failed(), calibration.pvalues()


# --- the GLMM steps (2l.pois, 2l.nb, 2l.polr) -------------------------------------------------------
#: moderate coefficient and cutpoint priors (the defaults, N(0, 2.5^2) on log-rates and
#: N(0, 5^2) cutpoints, put many draws at counts of thousands or at one category only)
GLMM_OPTIONS = {"slope_sd": 1.0, "cutpoint_sd": 2.0, "inv_alpha_sd": 0.5}
MAX_COUNT = 1000


#: (replications, clusters, rows per cluster): these steps need many small clusters for the
#: calibration to see a 10% error in Psi (their chains forget the error faster, and counts
#: say less about Psi than binary values do), the negative binomial and the ordinal more
#: replications (checked: ``test_detects_a_ten_percent_variance_error``, seed 0)
GLMM_SIZES = {"2l.pois": (80, 80, 8), "2l.nb": (120, 80, 8), "2l.polr": (120, 80, 8)}


def glmm_case(name: str, seed: int = 0, n_categories: int = 4) -> Case:
    """Random intercept and slope; the method's own PyMC model and exact Gibbs step."""
    from bayesimpute.design.coding import VariableKind
    from bayesimpute.methods.base import MethodData
    from bayesimpute.methods.registry import get_method
    from bayesimpute.methods.core.glmm_gibbs import GlmmState

    n_replications, n_clusters, per_cluster = GLMM_SIZES[name]
    rng = np.random.default_rng([seed, 11])
    cluster = np.repeat(np.arange(n_clusters), per_cluster)
    n = len(cluster)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    ordinal = name == "2l.polr"
    # placeholder values fix the model's layout (which clusters the count model centres:
    # every other one here); the calibrated data are drawn from the model below
    placeholder = (rng.integers(0, n_categories, n) if ordinal
                   else np.where(cluster % 2 == 0, 0, 2)).astype(float)
    data = MethodData(
        target="y", kind=VariableKind.ORDERED if ordinal else VariableKind.CONTINUOUS,
        y=placeholder, observed=np.ones(n, bool), impute=np.zeros(n, bool), X=X,
        x_names=["Intercept", "x"], random=np.array([0, 1]), cluster=cluster,
        n_clusters=n_clusters, cluster_labels=np.arange(n_clusters),
        n_categories=n_categories if ordinal else 0)
    cls = get_method(name)
    options = {k: v for k, v in GLMM_OPTIONS.items() if k in cls.default_options()}
    method = cls("y", {**options, "sampler": "gibbs"})
    method._setup(data, np.random.default_rng([seed, 12]))
    model, step = method.model, method._gibbs
    step.set_rng(np.random.default_rng([seed, 13]))
    family = "cutpoints" if ordinal else ("inv_alpha" if name == "2l.nb" else None)
    names = ["beta", "psi_hyper", "psi_chol", "u"] + ([family] if family else [])
    draws = _prior_draws(model, names, 3 * n_replications, seed)
    if ordinal:  # PyMC draws the cutpoints unsorted; sorted iid normals are the ordered prior
        draws["cutpoints"] = np.sort(draws["cutpoints"], axis=-1)
    data_rng = np.random.default_rng([seed, 14])
    # joint draws of (parameters, data) by the method's own predictive draw (PyMC's negative
    # binomial refuses the prior's near-Poisson draws, 1 / alpha ~ 0), rejecting data with a
    # count above MAX_COUNT (the half-t prior of the effects' sds gives some of millions):
    # the calibrated joint is the model's conditional on the data's range (exact by rejection)
    replications = []
    for i in range(len(draws["beta"])):
        own = {family: np.asarray(draws[family][i], dtype=float)} if family else {}
        state = GlmmState(draws["beta"][i], draws["u"][i],
                          unpack_cholesky(draws["psi_chol"][i], 2), draws["psi_hyper"][i],
                          own)
        y = method._draw(step.linear_predictor(state), own, data_rng)
        if y.max() <= MAX_COUNT:
            replications.append((state, y))
        if len(replications) == n_replications:
            break
    assert len(replications) == n_replications, "too many prior draws give huge counts"

    def replicate(r: int):
        state, y = replications[r]
        state = state.copy()
        with model:
            pm.set_data({"y": y.astype("int64")})
        step.refresh_data()
        return step, step.state_to_point(state, {})

    def statistics(step, point) -> np.ndarray:
        s = step.point_to_state(point)
        own = (list(s.family["cutpoints"]) if ordinal
               else [np.log(s.family["inv_alpha"])] if family else [])
        return np.array([*s.beta, *_psi_statistics(s.psi), s.u[0, 0], *own])

    def covariance_error(point: dict) -> dict:
        # Psi times 1.1 with the effects unchanged
        out = {**point, "psi_chol": _scale_packed_covariance(point["psi_chol"], ERROR)}
        if "u_raw" in point:
            out["u_raw"] = point["u_raw"] / np.sqrt(ERROR)
        return out

    def overdispersion_error(point: dict) -> dict:
        return {**point, "inv_alpha_log__": point["inv_alpha_log__"] + np.log(ERROR)}

    beta_names = ["beta1"] if ordinal else ["beta0", "beta1"]
    own_names = ([f"cutpoint {k}" for k in range(1, n_categories)] if ordinal
                 else ["log inv_alpha"] if family else [])
    errors = {"psi": covariance_error}
    if name == "2l.nb":
        errors["inv_alpha"] = overdispersion_error
    return Case([*beta_names, "log psi00", "log psi11", "corr", "u00", *own_names],
                replicate, statistics, n_replications, n_draws=9, thin=8, errors=errors)


@pytest.mark.parametrize("name", ["2l.pois", "2l.nb", "2l.polr"])
def test_glmm_step_is_calibrated(name):
    calibration = calibrate(glmm_case(name), seed=0)
    assert not calibration.failed(), calibration.pvalues()


# --- power: the same calibrations with a 10% error in a variance --------------------------------
#: every case of this file, by name: ``CASES[name](seed)``
CASES: dict[str, Callable[[int], Case]] = {
    "LinearMixedGibbs, random slope": lambda seed: linear_mixed_case(False, seed),
    "LinearMixedGibbs, random slope, per-cluster variances":
        lambda seed: linear_mixed_case(True, seed),
    "Polya-Gamma logistic, random slope": lambda seed: logistic_case(2, seed),
    "Polya-Gamma multinomial (3 categories), random slopes": lambda seed: logistic_case(3, seed),
    "Heckman, continuous outcome": lambda seed: heckman_case(False, seed),
    "Heckman, binary outcome": lambda seed: heckman_case(True, seed),
    "multi-level Gaussian, nested with a random slope":
        lambda seed: multilevel_gaussian_case(False, seed),
    "multi-level Gaussian, crossed": lambda seed: multilevel_gaussian_case(True, seed),
    "multi-level logistic, nested": lambda seed: multilevel_logit_case(seed),
    "Poisson (Metropolis-Hastings blocks), random slope": lambda seed: glmm_case("2l.pois", seed),
    "negative binomial (Metropolis-Hastings blocks), random slope": lambda seed: glmm_case("2l.nb", seed),
    "cumulative logit (latent logistic), random slope": lambda seed: glmm_case("2l.polr", seed),
}
#: (case, injected error) pairs: every variance each step draws
_ERRORS = [
    ("LinearMixedGibbs, random slope", "sigma2"), ("LinearMixedGibbs, random slope", "psi"),
    ("LinearMixedGibbs, random slope, per-cluster variances", "sigma2"),
    ("LinearMixedGibbs, random slope, per-cluster variances", "psi"),
    ("Polya-Gamma logistic, random slope", "psi"),
    ("Polya-Gamma multinomial (3 categories), random slopes", "psi"),
    ("Heckman, continuous outcome", "sigma2"), ("Heckman, continuous outcome", "psi"),
    ("Heckman, binary outcome", "psi"),
    ("multi-level Gaussian, nested with a random slope", "sigma2"),
    ("multi-level Gaussian, nested with a random slope", "psi"),
    ("multi-level Gaussian, crossed", "sigma2"), ("multi-level Gaussian, crossed", "psi"),
    ("multi-level logistic, nested", "psi"),
    ("Poisson (Metropolis-Hastings blocks), random slope", "psi"),
    ("negative binomial (Metropolis-Hastings blocks), random slope", "psi"),
    ("negative binomial (Metropolis-Hastings blocks), random slope", "inv_alpha"),
    ("cumulative logit (latent logistic), random slope", "psi"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, error", _ERRORS)
def test_detects_a_ten_percent_variance_error(name, error):
    """The CI-sized calibration at the CI seed fails when the step's variance draw is 10% off
    (``benchmarks/sbc_power.py`` repeats this over seeds and reports the rate)."""
    assert calibrate(CASES[name](0), seed=0, error=error).failed()
