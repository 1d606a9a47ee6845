"""Methods with random effects at several levels: ml.norm, ml.pmm, ml.bin, ml.polyreg.

A model row codes several cluster columns -2 (or ``cluster=["school", "class"]``): each
is a level of random intercepts, nested (pupils in classes in schools) or crossed (pupils
in primary x secondary schools), read from the data (:mod:`bayesimpute.design.levels`).
Predictors coded 2 or 4 get random slopes at one level, ``slope_level`` (default: the
lowest level of the model). With a single cluster an ml.* method is the corresponding
2l.* model (homoscedastic; random slopes at that level).

**The level of the target.** A variable that lives at a higher level (class size,
constant within class; school type, constant within school) is imputed at that level, as
mice's 2lonly methods do for two levels: the rows are aggregated to that level's clusters
(predictors by their cluster means), the model has random effects at the levels above it
only, and a missing cluster gets one value, copied to all its rows. ``level="auto"``
(default) takes the highest level within whose clusters every observed value is constant
(and some cluster has two observed rows); ``level="row"`` forces row level, a cluster
column name forces that level. The chosen level is logged.

**Systematic missingness** (a variable never observed in a whole school) needs nothing
special: clusters without an observed unit contribute no cross-products, so their effects
are drawn from N(0, Psi) at every visit, and lower-level clusters inside them likewise.

**Start and burn-in**, as the 2l Gibbs methods: a fresh chain starts at a quick fit of the
observed units (least squares and its residual variance; penalised logistic fits per
category with a moment estimate of the intercept variance, shared out over the levels) and
runs ``burn`` exact sweeps at its first visit before imputing (30 Gaussian, 50 logistic:
with few units per cluster the level variances move slowly from a start that ignores the
clustering). A continued or resumed chain starts where it stopped, without burn-in.

Models and exact Gibbs steps: :mod:`bayesimpute.methods.multilevel.ml_model` (Gaussian:
``sigma2``, ``Psi_l`` per level; logistic: Pólya–Gamma, Huang–Wand priors per level). The
names follow miceadds' ``ml.lmer`` (several levels) rather than overloading mice's 2l.*,
whose contract is one cluster identifier; 2l.* with several -2 codes is an error that
points here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bayesimpute.methods.core.standardise import Standardiser
from bayesimpute.design.clusters import varying_clusters
from bayesimpute.design.coding import VariableKind
from bayesimpute.design.levels import ClusterLevel, chains as level_chains, is_nested, row_levels
from bayesimpute.methods.logistic.polya_gamma import (
    LogitPriors,
    category_probabilities,
    draw_categories,
)
from bayesimpute.methods.multilevel.sweeps import EffectChain, EffectLevel, make_chain
from bayesimpute.methods.base import Draw, ImputationMethod, MethodData, MethodError
from bayesimpute.methods.gaussian.linear_mixed import (
    LinearMixedPriors,
    describe_linear_mixed_priors,
)
from bayesimpute.methods.core.matching import match_donors
from bayesimpute.methods.multilevel.ml_model import (
    GaussianSweep,
    MultilevelLogitState,
    MultilevelState,
    logit_sweep,
)
from bayesimpute.methods.core.stepping import ResumableChain
from bayesimpute.methods.registry import register_method
from bayesimpute.methods.core.start_values import PSI_FLOOR, SIGMA2_FLOOR, logit_start

__all__ = ["MultilevelNorm", "MultilevelPmm", "MultilevelBin", "MultilevelPolyReg",
           "target_level"]

ROW_LEVEL = "row"


# --- which level the target lives at ---------------------------------------------------------------
def _constant_within(y: np.ndarray, observed: np.ndarray, level: ClusterLevel) -> bool:
    """Observed values all equal within each cluster, and some cluster has two of them."""
    if not np.bincount(level.codes[observed], minlength=level.n_clusters).max() > 1:
        return False
    observed_y = np.where(observed, y, np.nan)
    return not len(varying_clusters(observed_y, level.codes, level.n_clusters))


def target_level(data: MethodData, choice: str) -> ClusterLevel | None:
    """The level the target lives at (None: row level) for ``level=choice``."""
    levels = data.cluster_levels
    if choice == ROW_LEVEL:
        return None
    if choice == "auto":
        for level in reversed(levels):  # highest first
            if _constant_within(data.y, data.observed, level):
                return level
        return None
    named = [level for level in levels if level.name == choice]
    if not named:
        raise MethodError(
            f"level={choice!r} for {data.target!r} is not one of its cluster levels "
            f"{[level.name for level in levels]} (or 'auto', 'row')")
    if not _constant_within(data.y, data.observed, named[0]) and data.observed.sum() > 1:
        raise MethodError(f"{data.target!r} varies within clusters of {choice!r}, so it "
                          "cannot be imputed at that level")
    return named[0]


# --- the units the model is fitted to ------------------------------------------------------------------
@dataclass
class UnitLayout:
    """Rows, or the clusters of the target's level, and the levels above them."""

    level: ClusterLevel | None  # None: the units are the rows
    n_units: int
    levels: tuple[ClusterLevel, ...]  # the model's levels (lowest first, parents among them)
    unit_codes: list[np.ndarray]  # per level, the cluster of each unit
    chain_index: list[list[int]]
    #: columns of X the model uses: for a level-L target, cluster means at L or below are
    #: left out (aggregated to L they repeat the predictor's own aggregate)
    columns: np.ndarray

    @classmethod
    def make(cls, data: MethodData, level: ClusterLevel | None) -> UnitLayout:
        p = data.X.shape[1]
        columns = np.arange(p)
        if level is None:
            kept = row_levels(data.cluster_levels)
            codes = [lv.codes for lv in kept]
            n_units = len(data.y)
        else:
            below = {lv.name for lv in data.cluster_levels if is_nested(lv, level)}
            means = data.mean_levels or [None] * p
            columns = np.array([j for j in range(p) if means[j] not in below], dtype=int)
            above = [lv for lv in data.cluster_levels
                     if lv.name != level.name and is_nested(level, lv)]
            kept = row_levels(above)
            codes = []
            for lv in kept:
                unit_code = np.zeros(level.n_clusters, dtype=np.int64)
                unit_code[level.codes] = lv.codes
                codes.append(unit_code)
            n_units = level.n_clusters
        return cls(level, n_units, kept, codes, level_chains(kept), columns)

    def effect_chains(self, units: np.ndarray, slope_level: str | None,
                      slopes: np.ndarray) -> list[EffectChain]:
        """The chains of effect levels over the units ``units`` (indices)."""
        out = []
        for chain in self.chain_index:
            levels = []
            for k in chain:
                lv = self.levels[k]
                random = np.concatenate([[0], slopes]) if lv.name == slope_level else np.array([0])
                levels.append(EffectLevel(lv.name, self.unit_codes[k][units], lv.n_clusters,
                                          random.astype(int)))
            out.append(make_chain(levels))
        return out

    def aggregate(self, data: MethodData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """X, y, observed, impute per unit (cluster means of X; a cluster's observed value)."""
        if self.level is None:
            return data.X, data.y, data.observed, data.impute
        codes, J = self.level.codes, self.level.n_clusters
        counts = np.maximum(np.bincount(codes, minlength=J), 1)
        X = np.column_stack([np.bincount(codes, weights=data.X[:, j], minlength=J) / counts
                             for j in self.columns])
        observed = np.bincount(codes[data.observed], minlength=J) > 0
        y = np.zeros(J)
        y[codes[data.observed]] = data.y[data.observed]
        impute = ~observed & (np.bincount(codes[data.impute], minlength=J) > 0)
        return X, y, observed, impute

    def to_rows(self, data: MethodData, unit_values: np.ndarray, y_units: np.ndarray,
                impute_units: np.ndarray) -> np.ndarray:
        """The imputations of the rows flagged in ``data.impute``."""
        if self.level is None:
            return unit_values
        values = y_units.copy()
        values[np.flatnonzero(impute_units)] = unit_values
        return values[self.level.codes[data.impute]]


# --- shared machinery ---------------------------------------------------------------------------------
class _MultilevelMethod(ResumableChain, ImputationMethod):
    multilevel = True
    max_levels: ClassVar[int | None] = None

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {"n_steps": 2, "level": "auto", "slope_level": None}

    def __init__(self, variable, options=None):
        super().__init__(variable, options)
        self._ready = False
        self.state = None

    def _setup(self, data: MethodData) -> list[str]:
        if not data.cluster_levels:
            raise MethodError(f"{self.name} needs at least one cluster identifier (code -2)")
        if data.observed.sum() < 2:
            raise MethodError(f"{self.name} needs at least 2 observed values of {data.target!r}")
        self.layout = UnitLayout.make(data, target_level(data, str(self.options["level"])))
        X, y, observed, impute = self.layout.aggregate(data)
        slope_level = self.options["slope_level"] or (
            self.layout.levels[0].name if self.layout.levels else None)
        names = [lv.name for lv in self.layout.levels]
        position = {int(j): k for k, j in enumerate(self.layout.columns)}
        self.x_names = [data.x_names[j] for j in self.layout.columns]
        slopes = np.asarray([position[i] for i in data.random if i != 0 and i in position],
                            dtype=int)
        if len(slopes) and slope_level not in names:
            raise MethodError(f"slope_level={slope_level!r} for {data.target!r} is not one of "
                              f"the levels of its model {names}")
        self.scaler = Standardiser(X)
        self.observed_units = np.flatnonzero(observed)
        self.chains = self.layout.effect_chains(self.observed_units, slope_level, slopes)
        self.all_chains = self.layout.effect_chains(np.arange(self.layout.n_units), slope_level,
                                                    slopes)
        self._ready = True
        where = ("row level" if self.layout.level is None
                 else f"the level of {self.layout.level.name!r} (one value per cluster)")
        above = names or ["none"]
        return [f"{data.target!r} imputed at {where}; random effects at {above}"]

    def _linear_predictor(self, X_std: np.ndarray, beta: np.ndarray, effects,
                          units: np.ndarray) -> np.ndarray:
        """x' beta + every level's random part for the units ``units`` (indices)."""
        X_units = X_std[units]
        total = X_units @ beta
        for chain, chain_effects in zip(self.all_chains, effects):
            for level, u in zip(chain.levels, chain_effects):
                codes = level.codes[units]
                if len(level.random) == 1 and level.random[0] == 0:
                    total += u[codes, 0]  # the intercept column is all ones
                else:
                    total += np.einsum("nq,nq->n", X_units[:, level.random], u[codes])
        return total

    def update(self, data: MethodData, rng: np.random.Generator) -> Draw:
        events = self._setup(data) if not self._ready else []
        X, y, observed, impute = self.layout.aggregate(data)
        X_std = self.scaler(X)
        values, params = self._visit(X_std, y, observed, impute, data, rng)
        return Draw(self.layout.to_rows(data, values, y, impute), params, {}, events)

    # --- recorded parameters -----------------------------------------------------------------------
    def _level_dims(self, data: MethodData, category: tuple = ()) -> dict[str, tuple]:
        dims: dict[str, tuple] = {}
        for chain in self.all_chains:
            for level in chain.levels:
                labels = next(list(lv.labels) for lv in data.cluster_levels if lv.name == level.name)
                re = [self.x_names[i] for i in level.random]
                dims[f"psi_{level.name}"] = (*category, (f"re_{level.name}", re),
                                             (f"re_{level.name}_bis", re))
                dims[f"u_{level.name}"] = (*category, (f"cluster_{level.name}", labels),
                                           (f"re_{level.name}", re))
        return dims

    # --- checkpoints -----------------------------------------------------------------------------------
    def discard_chain(self) -> None:
        self._ready, self.state = False, None

    def _save_scaler(self) -> dict[str, np.ndarray]:
        return {"scale.x_mean": self.scaler.x_mean.copy(),
                "scale.x_sd": self.scaler.x_sd.copy()}

    def _restore_scaler(self, state: dict[str, np.ndarray]) -> None:
        self.scaler.x_mean = np.asarray(state["scale.x_mean"], dtype=float)
        self.scaler.x_sd = np.asarray(state["scale.x_sd"], dtype=float)


def _flatten(prefix: str, nested) -> dict[str, np.ndarray]:
    return {f"{prefix}.{g}.{l}": np.asarray(a).copy()
            for g, chain in enumerate(nested) for l, a in enumerate(chain)}


def _unflatten(prefix: str, state, shape_like) -> list[list[np.ndarray]]:
    return [[np.asarray(state[f"{prefix}.{g}.{l}"], dtype=float) for l in range(len(chain))]
            for g, chain in enumerate(shape_like)]


# --- Gaussian -----------------------------------------------------------------------------------------
class _MultilevelGaussian(_MultilevelMethod):
    kinds = frozenset({VariableKind.CONTINUOUS})
    matching: ClassVar[bool] = False

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        options = {**super().default_options(), "burn": 30, **LinearMixedPriors().settings()}
        if cls.matching:
            options["donors"] = 5
        return options

    @classmethod
    def declared_priors(cls, options=None):
        return describe_linear_mixed_priors(
            LinearMixedPriors.with_settings(cls.resolved_options(options)),
            random_effects=True, heterogeneous=False)

    def __init__(self, variable, options=None):
        super().__init__(variable, options)
        self.priors = LinearMixedPriors.with_settings(self.options)
        self.state: MultilevelState | None = None

    def _visit(self, X_std, y, observed, impute, data, rng):
        obs = self.observed_units
        n_sweeps = int(self.options["n_steps"])
        if self.state is None:
            y_obs = y[observed]
            self.y_mean, self.y_sd = float(np.mean(y_obs)), float(np.std(y_obs)) or 1.0
            self.state = MultilevelState.start(X_std.shape[1], self.chains)
            saved = self.take_saved_state()
            if saved is not None:
                self._restore(saved)
                X_std = self.scaler(self.layout.aggregate(data)[0])
            else:
                self._start_at_least_squares(X_std[obs], (y[obs] - self.y_mean) / self.y_sd)
                n_sweeps += int(self.options["burn"])
        sweep = GaussianSweep(X_std[obs], (y[obs] - self.y_mean) / self.y_sd, self.chains,
                              self.priors)
        for _ in range(n_sweeps):
            self.state = sweep(self.state, rng)
        state = self.state
        targets = np.flatnonzero(impute)
        mu = self._linear_predictor(X_std, state.beta, state.effects, targets)
        if self.matching:
            donors = self._linear_predictor(X_std, state.beta, state.effects, obs)
            values = match_donors(donors, mu, y[obs], int(self.options["donors"]), rng)
        else:
            draw = mu + np.sqrt(state.sigma2) * rng.standard_normal(len(targets))
            values = self.y_mean + self.y_sd * draw
        return values, self._parameters(state)

    def _start_at_least_squares(self, X: np.ndarray, y: np.ndarray) -> None:
        """beta at least squares, sigma2 at its residual variance (the level variances keep
        their start; the burn-in moves them)."""
        beta = np.linalg.lstsq(X, y, rcond=None)[0]
        residual = y - X @ beta
        sigma2 = float(residual @ residual) / max(len(y) - X.shape[1], 1)
        self.state.beta, self.state.sigma2 = beta, max(sigma2, SIGMA2_FLOOR)

    def _parameters(self, state: MultilevelState) -> dict[str, np.ndarray]:
        params = {"beta": state.beta.copy(), "sigma2": np.asarray(state.sigma2)}
        for chain, effects, psi in zip(self.chains, state.effects, state.psi):
            for level, u, s in zip(chain.levels, effects, psi):
                params[f"psi_{level.name}"] = s.copy()
                params[f"u_{level.name}"] = u.copy()
        return params

    def parameter_dims(self, data: MethodData):
        return {"beta": (("x", list(self.x_names)),), "sigma2": (), **self._level_dims(data)}

    def chain_state(self) -> dict[str, np.ndarray]:
        if self.state is None:
            return {}
        return {"beta": self.state.beta.copy(), "sigma2": np.asarray(self.state.sigma2),
                "scale.y": np.array([self.y_mean, self.y_sd]), **self._save_scaler(),
                **_flatten("u", self.state.effects), **_flatten("psi", self.state.psi),
                **_flatten("hyper", self.state.hyper)}

    def _restore(self, saved) -> None:
        self._restore_scaler(saved)
        self.y_mean, self.y_sd = (float(v) for v in saved["scale.y"])
        self.state = MultilevelState(
            np.asarray(saved["beta"], dtype=float), float(saved["sigma2"]),
            _unflatten("u", saved, self.state.effects), _unflatten("psi", saved, self.state.psi),
            _unflatten("hyper", saved, self.state.hyper))


@register_method("ml.norm")
class MultilevelNorm(_MultilevelGaussian):
    """Linear mixed model with random intercepts at every level (nested or crossed) and
    random slopes at ``slope_level``; imputes draws from the posterior predictive."""


@register_method("ml.pmm")
class MultilevelPmm(_MultilevelGaussian):
    """ml.norm's model + predictive mean matching on the drawn linear predictor (fixed and
    every level's random part; donors from any cluster, as miceadds' ml.lmer with pmm)."""

    matching = True
    kinds = frozenset({VariableKind.CONTINUOUS, VariableKind.BINARY, VariableKind.ORDERED})


# --- logistic -----------------------------------------------------------------------------------------
class _MultilevelLogit(_MultilevelMethod):
    kinds = frozenset({VariableKind.BINARY})

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {**super().default_options(), **LogitPriors().settings(), "burn": 50}

    @classmethod
    def declared_priors(cls, options=None):
        return LogitPriors.with_settings(cls.resolved_options(options)).describe(
            random_effects=True)

    def __init__(self, variable, options=None):
        super().__init__(variable, options)
        self.priors = LogitPriors.with_settings(self.options)
        self.state: MultilevelLogitState | None = None

    def n_categories(self, data: MethodData) -> int:
        return 2 if data.n_categories in (0, 2) else int(data.n_categories)

    def _visit(self, X_std, y, observed, impute, data, rng):
        K = self.n_categories(data)
        obs = self.observed_units
        y_obs = y[obs]
        n_sweeps = int(self.options["n_steps"])
        if self.state is None:
            if np.any((y_obs < 0) | (y_obs > K - 1) | (y_obs != np.round(y_obs))):
                raise MethodError(f"{self.name}: observed values of {data.target!r} must be "
                                  f"codes 0..{K - 1}")
            self.state = MultilevelLogitState.start(K - 1, X_std.shape[1], self.chains)
            saved = self.take_saved_state()
            if saved is not None:
                self._restore(saved)
                X_std = self.scaler(self.layout.aggregate(data)[0])
            else:
                self._start_at_logistic_fits(X_std[obs], y_obs.astype(int))
                n_sweeps += int(self.options["burn"])
        for _ in range(n_sweeps):
            self.state = logit_sweep(X_std[obs], y_obs, self.chains, self.state, self.priors, rng)
        state = self.state
        if not np.all(np.isfinite(state.beta)):
            raise MethodError(f"{self.name}: non-finite coefficients for {data.target!r}")
        targets = np.flatnonzero(impute)
        eta = np.column_stack([
            self._linear_predictor(X_std, state.beta[k], state.effects[k], targets)
            for k in range(K - 1)])
        values = draw_categories(category_probabilities(eta), rng)
        return values, self._parameters(state, K)

    def _start_at_logistic_fits(self, X: np.ndarray, y: np.ndarray) -> None:
        """Each category's penalised logistic fit against the reference, and the moment
        estimate of its random-intercept variance at the lowest level of the first chain,
        shared equally by the levels."""
        n_free = self.state.beta.shape[0]
        if self.chains:
            lowest = self.chains[0].levels[0]
            codes, n_clusters = lowest.codes, lowest.n_clusters
        else:  # a target at the top level: no random effects above it
            codes, n_clusters = np.zeros(len(y), dtype=int), 1
        beta, variance = logit_start(X, y, codes, n_clusters, n_free,
                                     self.priors.beta_sd(X.shape[1]))
        n_levels = sum(len(chain.levels) for chain in self.chains)
        self.state.beta = beta
        for k in range(n_free if n_levels else 0):
            share = max(float(variance[k]) / n_levels, PSI_FLOOR)
            self.state.psi[k] = [[np.eye(len(level.random)) * share for level in chain.levels]
                                 for chain in self.chains]

    def _parameters(self, state: MultilevelLogitState, K: int) -> dict[str, np.ndarray]:
        pick = (lambda a: a[0]) if K == 2 else np.stack
        params = {"beta": (state.beta[0] if K == 2 else state.beta).copy()}
        for g, chain in enumerate(self.chains):
            for l, level in enumerate(chain.levels):
                params[f"psi_{level.name}"] = np.array(pick([s[g][l] for s in state.psi]))
                params[f"u_{level.name}"] = np.array(pick([e[g][l] for e in state.effects]))
        return params

    def parameter_dims(self, data: MethodData):
        K = self.n_categories(data)
        levels = data.categories
        names = ([str(level) for level in levels[1:]] if levels is not None
                 else list(range(1, K)))
        category = () if K == 2 else (("category", names),)
        return {"beta": (*category, ("x", list(self.x_names))),
                **self._level_dims(data, category)}

    def chain_state(self) -> dict[str, np.ndarray]:
        if self.state is None:
            return {}
        out = {"beta": self.state.beta.copy(), **self._save_scaler()}
        for k in range(len(self.state.beta)):
            out.update(_flatten(f"u{k}", self.state.effects[k]))
            out.update(_flatten(f"psi{k}", self.state.psi[k]))
            out.update(_flatten(f"hyper{k}", self.state.hyper[k]))
        return out

    def _restore(self, saved) -> None:
        self._restore_scaler(saved)
        n_free = len(self.state.beta)
        self.state = MultilevelLogitState(
            np.asarray(saved["beta"], dtype=float).reshape(self.state.beta.shape),
            [_unflatten(f"u{k}", saved, self.state.effects[k]) for k in range(n_free)],
            [_unflatten(f"psi{k}", saved, self.state.psi[k]) for k in range(n_free)],
            [_unflatten(f"hyper{k}", saved, self.state.hyper[k]) for k in range(n_free)])


@register_method("ml.bin")
class MultilevelBin(_MultilevelLogit):
    """Logistic mixed model with random intercepts at every level (nested or crossed)."""


@register_method("ml.polyreg")
class MultilevelPolyReg(_MultilevelLogit):
    """Multinomial logistic mixed model: K-1 random intercepts per cluster at every level."""

    kinds = frozenset({VariableKind.CATEGORICAL, VariableKind.BINARY, VariableKind.ORDERED})
