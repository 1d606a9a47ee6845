"""Shared machinery of the logistic methods (logreg, 2l.bin, polyreg, 2l.polyreg).

Every one of them is the PyMC model of :mod:`bayesimpute.methods.logistic.polya_gamma`, sampled by
the exact Pólya–Gamma Gibbs step (default) or by NUTS
(``method_options={"y": {"sampler": "nuts"}}``); the imputations are categorical draws at
the current parameters, with each cluster's current random effects.

Start and burn-in: a chain starts at each category's penalised logistic fit against the
reference (the posterior mode without random effects) and a moment estimate of the random
intercept's variance (:func:`~bayesimpute.methods.core.start_values.logit_start`), and runs
``burn`` exact sweeps (default 50) at its first visit before its first imputation; every
visit then runs ``n_steps`` sweeps (default 2). With ``sampler="nuts"`` the first visit's
``tune`` adapting transitions (default 300) are the burn-in. A continued chain starts where
it stopped, without burn-in.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pymc as pm

from bayesimpute.methods.core.standardise import Standardiser
from bayesimpute.methods.logistic.polya_gamma import (
    LogisticMixedGibbs,
    LogitPriors,
    LogitState,
    build_pymc_model,
    category_probabilities,
    draw_categories,
    linear_predictors,
    separation_events,
)
from bayesimpute.methods.options import OneOf, Option
from bayesimpute.methods.base import Draw, ImputationMethod, MethodData, MethodError
from bayesimpute.methods.core.stepping import ChainStepper, ResumableChain, nuts_stepper

__all__ = ["LogitMethod"]

#: |coefficient| on the standardised scale above which a separation event is logged: a
#: one-sd change of a predictor multiplying the odds by e^8 ~ 3000 is not a plausible fit.
LARGE_COEFFICIENT = 8.0


class LogitMethod(ResumableChain, ImputationMethod):
    """Base class; subclasses set ``random_effects`` and ``kinds``."""

    random_effects: ClassVar[bool] = False
    option_constraints = {"sampler": Option(OneOf("gibbs", "nuts"),
                                            "the exact Gibbs step, or NUTS on the same PyMC model")}

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {"n_steps": 2, "sampler": "gibbs", "burn": 50, "tune": 300,
                "target_accept": 0.9, "slope_sd": 2.5, "intercept_sd": 5.0, "re_scale": 1.0}

    @staticmethod
    def _priors(options: dict[str, Any]) -> LogitPriors:
        return LogitPriors.with_settings(options)

    @classmethod
    def declared_priors(cls, options=None):
        return cls._priors(cls.resolved_options(options)).describe(
            random_effects=cls.random_effects)

    def __init__(self, variable, options=None):
        super().__init__(variable, options)
        self.priors = self._priors(self.options)
        self._stepper: ChainStepper | None = None
        self._warned_large = False

    # --- set-up at the first visit ---------------------------------------------------------
    def n_categories(self, data: MethodData) -> int:
        return 2 if data.n_categories in (0, 2) else int(data.n_categories)

    def _setup(self, data: MethodData, rng: np.random.Generator) -> list[str]:
        obs = data.observed
        if obs.sum() < 2:
            raise MethodError(f"{self.name} needs at least 2 observed values of {data.target!r}")
        if self.random_effects and data.cluster is None:
            raise MethodError(f"{self.name} needs a cluster identifier (predictor code -2)")
        self.K = self.n_categories(data)
        y_obs = np.asarray(data.y[obs])
        if np.any((y_obs < 0) | (y_obs > self.K - 1) | (y_obs != np.round(y_obs))):
            raise MethodError(
                f"{self.name}: observed values of {data.target!r} must be codes 0..{self.K - 1}"
            )
        saved = self.take_saved_state()
        self.scaler = Standardiser(data.X)
        if saved is not None:  # a continued chain keeps the scale it started with
            self.scaler.set_state(saved)
        self.random = np.asarray(data.random, dtype=int) if self.random_effects else np.array(
            [], dtype=int)
        self.n_clusters = data.n_clusters if self.random_effects else 1
        X_std = self.scaler(data.X)
        self.model = build_pymc_model(
            X_std[obs], y_obs.astype(int), self._cluster(data)[obs], self.n_clusters,
            self.random, self.K, priors=self.priors, x_names=list(data.x_names),
        )
        self._gibbs = LogisticMixedGibbs(model=self.model, priors=self.priors, rng=rng)
        # a fresh chain starts at the quick fits of the observed rows and runs ``burn``
        # exact sweeps before its first imputation; a continued chain starts where it was
        point, burn = self._gibbs.initial_point(), int(self.options["burn"])
        chain = None if saved is None else saved["chain"]
        if self.options["sampler"] == "nuts":
            self._stepper = nuts_stepper(
                self.model, point, rng, tune=int(self.options["tune"]),
                target_accept=float(self.options["target_accept"]), saved=chain,
            )
        else:
            self._stepper = ChainStepper(self._gibbs, point, tune=burn).continued(chain)
        events = separation_events(X_std[obs], y_obs, list(data.x_names), data.target, self.K)
        missing = sorted(set(range(self.K)) - set(np.unique(y_obs).astype(int)))
        if missing:
            events.append(
                f"{data.target!r}: categories {missing} never observed; their probabilities "
                "come from the prior and stay small"
            )
        return events

    def chain_constants(self) -> dict[str, np.ndarray]:
        return self.scaler.get_state()

    def _cluster(self, data: MethodData) -> np.ndarray:
        if self.random_effects:
            return np.asarray(data.cluster, dtype=int)
        return np.zeros(len(data.y), dtype=int)

    # --- one visit -----------------------------------------------------------------------------
    def update(self, data: MethodData, rng: np.random.Generator) -> Draw:
        events = self._setup(data, rng) if self._stepper is None else []
        X_std = self.scaler(data.X)
        with self.model:
            pm.set_data({"X": X_std[data.observed]})
        self._gibbs.refresh_data()
        self._gibbs.set_rng(rng)  # all randomness flows from the chain's generator
        stats = self._stepper.advance(int(self.options["n_steps"]))
        state = self._gibbs.point_to_state(self._stepper.point)
        if not np.all(np.isfinite(state.beta)):
            raise MethodError(f"{self.name}: non-finite coefficients for {data.target!r}")
        wy = data.impute
        eta = linear_predictors(state, X_std[wy], self.random, self._cluster(data)[wy])
        values = draw_categories(category_probabilities(eta), rng)
        events += self._large_coefficient_events(state, data)
        return Draw(values, self._parameters(state), stats, events)

    def _large_coefficient_events(self, state: LogitState, data: MethodData) -> list[str]:
        if self._warned_large:
            return []
        big = np.argwhere(np.abs(state.beta[:, 1:]) > LARGE_COEFFICIENT)
        if not len(big):
            return []
        self._warned_large = True  # once per chain: the trace shows the rest
        k, c = big[0]
        return [
            f"possible separation in the model of {data.target!r}: coefficient of "
            f"{data.x_names[c + 1]} (category {k + 1}) is {state.beta[k, c + 1]:.1f} per sd"
        ]

    # --- what the posterior group records -------------------------------------------------------
    def _parameters(self, state: LogitState) -> dict[str, np.ndarray]:
        squeeze = self.K == 2  # a binary target has one set of parameters: no category axis
        pick = (lambda a: a[0].copy()) if squeeze else (lambda a: a.copy())
        params = {"beta": pick(state.beta)}
        if len(self.random):
            params["psi"] = pick(state.psi)
            params["u"] = pick(state.u)
        return params

    def parameter_dims(self, data: MethodData):
        levels = data.categories
        names = ([str(level) for level in levels[1:]] if levels is not None
                 else list(range(1, self.n_categories(data))))
        category = () if self.n_categories(data) == 2 else (("category", names),)
        dims: dict[str, tuple] = {"beta": (*category, ("x", list(data.x_names)))}
        if self.random_effects and len(data.random):
            labels = list(data.cluster_labels) if data.cluster_labels is not None else list(
                range(data.n_clusters))
            re = [data.x_names[i] for i in data.random]
            dims["psi"] = (*category, ("re", re), ("re_bis", re))
            dims["u"] = (*category, ("cluster", labels), ("re", re))
        return dims
