"""The model families of the compatible methods, each a PyMC model with its step method.

:class:`GaussianMixed` is the linear mixed model of :mod:`bayesimpute.methods.gaussian.linear_mixed`
sampled by :class:`~bayesimpute.methods.gaussian.linear_mixed.LinearMixedGibbs`; :class:`LogitMixed`
the (multinomial) logistic mixed model of :mod:`bayesimpute.methods.logistic.polya_gamma` sampled by its
Pólya–Gamma step. Each serves in both roles: as the analysis model (a Gaussian or a binary
outcome) and as the covariate model of an incomplete predictor (continuous; binary or
categorical). :class:`PoissonMixed`, the covariate model of an incomplete count, is the
Poisson log-linear mixed model of ``2l.pois`` (:mod:`bayesimpute.methods.count.poisson`) advanced by
NUTS: no exact step exists for it.

Unlike the ordinary imputation methods, both are fitted to every row with the current
imputations filled in (data augmentation). That is what the factorisation
p(y | x) p(x | z) requires: when x is missing at random given y, the observed x are a
selected sample given z alone, so a covariate model fitted to them would be biased; in the
joint Gibbs sampler the imputed rows carry the information that y holds about them.

Both work on a standardised scale (the priors of the two modules are stated there) whose
constants are fixed at the first visit; the
:class:`~bayesimpute.methods.core.standardise.Standardiser` maps the parameters back, so
that :meth:`parameters` and every linear predictor are on the data's own scale.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayesimpute.methods.logistic import polya_gamma as _logistic

from bayesimpute.methods.gaussian import linear_mixed
from bayesimpute.methods.core.nuts_glmm import partially_centred_effects
from bayesimpute.methods.core.priors import CovariancePrior
from bayesimpute.methods.core.compiled import compiled_model, structure_key
from bayesimpute.methods.count.poisson import count_log_offset, informative_count_clusters
from bayesimpute.methods.core.standardise import MixedParameters, Standardiser
from bayesimpute.methods.core.stepping import ChainStepper, nuts_stepper

__all__ = ["GaussianMixed", "LogitMixed", "PoissonMixed", "PRIOR_SETTINGS", "prior_settings"]


#: the prior settings each reused model takes, at their defaults (2l.smc's
#: ``analysis_priors`` / ``covariate_priors`` override them by name)
PRIOR_SETTINGS: dict[str, dict[str, float]] = {
    "gaussian": linear_mixed.LinearMixedPriors().settings(),
    "normal": linear_mixed.LinearMixedPriors().settings(),
    "binomial": _logistic.LogitPriors().settings(), "logit": _logistic.LogitPriors().settings(),
    "poisson": {"slope_sd": 2.5, "re_scale": 1.0},
}


def prior_settings(family: str, given) -> dict[str, float]:
    """The prior settings of ``family``'s model with the user's ``given`` ones; a setting
    the family's model does not take is refused.

    Examples
    --------
    >>> prior_settings("gaussian", {"beta_sd": 5})["beta_sd"]
    5.0
    >>> prior_settings("poisson", {"sigma2_rate": 1.0})
    Traceback (most recent call last):
    ...
    ValueError: the poisson model's priors take ['re_scale', 'slope_sd']; got ['sigma2_rate']
    """
    defaults = PRIOR_SETTINGS[family]
    unknown = sorted(set(given or {}) - set(defaults))
    if unknown:
        raise ValueError(f"the {family} model's priors take {sorted(defaults)}; got {unknown}")
    return {**defaults, **{k: float(v) for k, v in (given or {}).items()}}


class _SteppedModel:
    """A PyMC model, its exact step method and the chain's current point."""

    def _start(self, model: pm.Model, gibbs, rng: np.random.Generator) -> None:
        self.model, self.gibbs = model, gibbs
        self.stepper = ChainStepper(gibbs, gibbs.initial_point())
        self.rng = rng

    def _advance(self, X_std: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                 n_steps: int) -> dict[str, float]:
        with self.model:
            pm.set_data({"X": X_std, "y": y})
        self.gibbs.refresh_data()
        self.gibbs.set_rng(rng)  # all randomness flows from the chain's generator
        return self.stepper.advance(n_steps)

    def get_state(self, prefix: str) -> dict:
        """The stepper's ``sampling_state`` and the scale, under keys starting ``prefix``."""
        return {f"{prefix}chain": self.stepper.sampling_state,
                **self.scale.get_state(f"{prefix}scale.")}

    def set_state(self, state, prefix: str) -> None:
        self.stepper.sampling_state = state[f"{prefix}chain"]
        self.scale.set_state(state, f"{prefix}scale.")


class GaussianMixed(_SteppedModel):
    """``y = X beta + Z u_j + e``: linear_mixed's PyMC model and its exact Gibbs step.

    Parameters
    ----------
    X, y : ndarray
        Design and response of the rows the model is fitted to (fixes the scale).
    cluster : ndarray of int
        Cluster code per row (zeros and ``n_clusters = 1`` for a single-level model).
    random : ndarray of int
        Columns of ``X`` with random effects (empty: none).
    names : list of str
        Column names (the model's coordinates).
    intercept : bool
        Whether column 0 of ``X`` is the intercept.
    rng : numpy Generator
    priors : LinearMixedPriors, optional
        The model's priors (default: the Gaussian methods' defaults).
    """

    def __init__(self, X, y, cluster, n_clusters: int, random, names: list[str],
                 intercept: bool, rng: np.random.Generator,
                 priors: linear_mixed.LinearMixedPriors | None = None):
        self.random = np.asarray(random, dtype=int)
        self.scale = Standardiser(X, y, self.random, intercept)
        self.priors = priors or linear_mixed.LinearMixedPriors()
        model = linear_mixed.build_pymc_model(
            self.scale.X(X), self.scale.y(y), cluster, n_clusters, self.random,
            priors=self.priors, x_names=list(names),
        )
        self._start(model, linear_mixed.LinearMixedGibbs(model=model, priors=self.priors,
                                                         rng=rng), rng)

    def update(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator,
               n_steps: int) -> dict[str, float]:
        """``n_steps`` exact Gibbs transitions given the current design and response."""
        return self._advance(self.scale.X(X), self.scale.y(y), rng, n_steps)

    def parameters(self) -> MixedParameters:
        state = self.gibbs.point_to_state(self.stepper.point)
        return self.scale.to_data_scale(state.beta, state.u, state.psi, float(state.sigma2[0]))


class LogitMixed(_SteppedModel):
    """Logit (K = 2) or multinomial logit (K > 2) mixed model and its Pólya–Gamma step.

    ``y`` holds codes 0..K-1 (category 0 the reference); ``priors`` a
    :class:`LogitPriors` (default: the logistic methods' defaults); other parameters as
    :class:`GaussianMixed`.
    """

    def __init__(self, X, y, cluster, n_clusters: int, random, names: list[str],
                 intercept: bool, n_categories: int, rng: np.random.Generator,
                 priors: _logistic.LogitPriors | None = None):
        self.random = np.asarray(random, dtype=int)
        self.n_categories = int(n_categories)
        self.scale = Standardiser(X, None, self.random, intercept)
        self.priors = priors or _logistic.LogitPriors()
        model = _logistic.build_pymc_model(
            self.scale.X(X), np.asarray(y).astype(int), cluster, n_clusters, self.random,
            self.n_categories, priors=self.priors, x_names=list(names),
        )
        self._start(model, _logistic.LogisticMixedGibbs(model=model, priors=self.priors,
                                                        rng=rng), rng)

    def update(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator,
               n_steps: int) -> dict[str, float]:
        """``n_steps`` exact Pólya–Gamma Gibbs transitions given the current data."""
        return self._advance(self.scale.X(X), np.asarray(y).astype("int64"), rng, n_steps)

    def parameters(self) -> MixedParameters:
        """On the data's scale; with K = 2 the category axis is dropped."""
        state = self.gibbs.point_to_state(self.stepper.point)
        params = self.scale.to_data_scale(state.beta, state.u, state.psi, None)
        if self.n_categories == 2:
            params = MixedParameters(params.beta[0], params.u[0], params.psi[0], None)
        return params


class PoissonMixed(_SteppedModel):
    """``log E[y] = X beta + Z u_j``, Poisson counts ``y``: the model of ``2l.pois``, by NUTS.

    The priors are 2l.pois's: beta ~ N(0, slope_sd^2) on the standardised design, the
    intercept centred at the log of the first visit's mean count (fixed, like the scale), and
    Huang & Wand's covariance prior with half-t(2, re_scale) sds for the random effects,
    centred in the ``informative`` clusters and non-centred in the others
    (:func:`~bayesimpute.methods.core.nuts_glmm.partially_centred_effects`; default: the
    clusters whose counts ``y`` total at least
    :data:`~bayesimpute.methods.count.poisson.CENTRED_CLUSTER_TOTAL`). The first :meth:`update` runs
    ``tune`` adapting NUTS transitions before its own. Other parameters as
    :class:`GaussianMixed`.
    """

    def __init__(self, X, y, cluster, n_clusters: int, random, names: list[str],
                 intercept: bool, rng: np.random.Generator, *, tune: int = 150,
                 target_accept: float = 0.85, slope_sd: float = 2.5, re_scale: float = 1.0,
                 informative: np.ndarray | None = None, continuing: bool = False):
        if not intercept:
            raise ValueError("PoissonMixed needs an intercept (column 0 of X)")
        self.random = np.asarray(random, dtype=int)
        self.scale = Standardiser(X, None, self.random, intercept)
        cluster = np.asarray(cluster, dtype="int64")
        if informative is None:
            informative = informative_count_clusters(y, cluster, n_clusters)
        self.informative = np.asarray(informative, dtype=bool)  # used with random effects
        # the chain's own offset (its first visit's counts), written into the shared model's
        # container at every visit with the chain's data
        self._log_offset = count_log_offset(y)
        key = structure_key("PoissonMixed", np.shape(X), list(names), self.random, n_clusters,
                            cluster, self.informative if len(self.random) else None, slope_sd,
                            re_scale)
        compiled = compiled_model(key, lambda: self._build(
            self.scale.X(X), y, cluster, n_clusters, list(names), slope_sd, re_scale))
        self.model, self._extract = compiled.model, compiled.extract
        # a continued chain gets its point and NUTS's generator from its saved state, and
        # leaves the chain's generator alone, as the unbroken chain did after its first visit
        seed_from = None if continuing else rng
        point = compiled.initial_point(0 if seed_from is None else int(rng.integers(2**31 - 1)))
        self.stepper = nuts_stepper(self.model, point, seed_from, tune=tune,
                                    target_accept=target_accept, logp_dlogp=compiled.logp_dlogp)

    def _build(self, X_std, y, cluster, n_clusters: int, names: list[str], slope_sd: float,
               re_scale: float):
        q = len(self.random)
        coords = {"x": names, "cluster": np.arange(n_clusters)}
        if q:
            coords["re"] = [names[i] for i in self.random]
            coords["re_bis"] = list(coords["re"])
        with pm.Model(coords=coords) as model:
            X_data = pm.Data("X", X_std)
            y_data = pm.Data("y", np.asarray(y).astype("int64"))
            offset = pm.Data("log_offset", self._log_offset)
            beta = pm.Normal("beta", 0.0, slope_sd, dims="x")
            eta = pt.dot(X_data, beta) + offset
            outputs = [beta]
            if q:
                prior = CovariancePrior(df=2.0, scale=re_scale)
                chol = prior.declare(q, hyper_dims="re")
                psi = pm.Deterministic("psi", pt.dot(chol, chol.T), dims=("re", "re_bis"))
                u = partially_centred_effects(chol, q, self.informative)
                eta = eta + pt.sum(X_data[:, self.random] * u[cluster], axis=1)
                outputs += [u, psi]
            pm.Poisson("y_obs", mu=pt.exp(eta), observed=y_data)
        return model, outputs, {}

    def update(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator,
               n_steps: int) -> dict[str, float]:
        """``n_steps`` NUTS transitions given the current design and counts (the step
        method's own generator was seeded from the chain's when it was made)."""
        with self.model:  # every container: the model may be another chain's too
            pm.set_data({"X": self.scale.X(X), "y": np.asarray(y).astype("int64"),
                         "log_offset": self._log_offset})
        return self.stepper.advance(n_steps)

    def parameters(self) -> MixedParameters:
        """On the data's scale; the intercept includes the fixed log offset."""
        values = self._extract(self.stepper.point)
        beta = np.array(values[0], dtype=float)
        beta[0] += self.log_offset  # column 0 is the intercept (the covariate models have one)
        q = len(self.random)
        u = np.asarray(values[1], dtype=float) if q else np.zeros((0, 0))
        psi = np.asarray(values[2], dtype=float) if q else np.zeros((0, 0))
        return self.scale.to_data_scale(beta, u, psi, None)

    @property
    def log_offset(self) -> float:
        return self._log_offset

    def get_state(self, prefix: str) -> dict[str, np.ndarray]:
        return {**super().get_state(prefix), f"{prefix}log_offset": np.asarray(self.log_offset)}

    def set_state(self, state, prefix: str) -> None:
        super().set_state(state, prefix)
        self._log_offset = float(np.asarray(state[f"{prefix}log_offset"], dtype=float))
