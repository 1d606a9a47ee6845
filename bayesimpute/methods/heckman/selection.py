"""``2l.heckman`` (alias ``2l.2stage.heckman``): Bayesian two-level Heckman selection model.

The Bayesian counterpart of micemd's ``2l.2stage.heckman`` for data missing not at
random: a probit selection equation (is the value observed?) and the outcome equation,
with bivariate-normal errors of correlation ``rho``, cluster random intercepts in both
equations, random slopes for predictors coded 2 (or 4), and partially pooled
cluster-specific residual scales ``log sigma_j ~ N(mu, tau^2)``. Predictor codes:
1 (and 3) fixed in both equations, 2 (and 4) random in both, -3 selection equation only
(the exclusion restriction, e.g. response time), -4 outcome equation only. A cluster
without observed values gets its effects from the population distribution. A binary target gets the
bivariate probit with sample selection.

Imputation uses the exact law of a missing value: the latent selection value ``z`` is drawn
from its normal truncated to "not observed" (``z <= 0``), then ``y`` from its normal given
``z``: ``N(mu_o + rho sigma_j (z - mu_s), sigma_j^2 (1 - rho^2))`` (no inverse-Mills mean
shift approximation); a row of a cluster missing by design (see ``systematic``) is drawn
from ``N(mu_o, sigma_j^2)``. With ``pmm=True`` that draw is matched to the observed values
(micemd's rule: one of the ``donors`` nearest observed values), so imputations stay in the
observed range and keep the spread of the recipient's own conditional law.

Options (``method_options={"Weight": {...}}``, or the TOML ``[method_options.Weight]``):

``rho_prior``
    ``("normal_atanh", mu, sd)`` (default ``(0, 1)``), ``("uniform", low, high)``,
    ``("beta", a, b)`` on ``(rho + 1) / 2``, or ``("fixed", value)`` / a number. See
    :class:`~bayesimpute.methods.heckman.selection_model.RhoPrior`.
``sampler``
    ``"gibbs"`` (default; exact data-augmentation sweeps, see
    :mod:`~bayesimpute.methods.heckman.selection_gibbs`) or ``"nuts"`` (the same PyMC model).
``n_steps``, ``burn``
    Transitions per visit (default 3) and extra transitions at the first visit (default 40;
    the exact sweeps mix fast: rho settles within a few sweeps on the benchmark design). A
    continued chain (``iterate``, ``resume``) starts where it stopped, without them.
``pmm``, ``donors``
    Predictive mean matching (default off): each recipient's exact draw is matched to the
    observed values and the observed value of one of the ``donors`` nearest (default 5) is
    imputed.
``random_exclusion``
    Give the selection-only (-3) predictors a random slope in the selection equation.
``systematic``
    Clusters without any observed value: ``"population"`` (default) treats their
    missingness as by design (the question was never asked): they are left out of the
    selection likelihood, their effects are drawn from the population distribution and
    their values from the outcome model without selection. ``"selection"`` (micemd's
    choice) still draws the latent selection value truncated to "not observed", with
    the cluster's selection effects from the population.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pymc as pm

from bayesimpute.methods.core.standardise import Standardiser
from bayesimpute.design.coding import VariableKind
from bayesimpute.methods.heckman.selection_gibbs import HeckmanGibbs, HeckmanState
from bayesimpute.methods.heckman.selection_model import (
    HeckmanDesign,
    HeckmanPriors,
    RhoPrior,
    build_heckman_model,
    truncated_normal,
)
from bayesimpute.methods.base import Draw, ImputationMethod, MethodData, MethodError
from bayesimpute.methods.core.matching import match_donors
from bayesimpute.methods.core.priors import Prior, huang_wand
from bayesimpute.methods.options import OneOf, Option, Parsed
from bayesimpute.methods.registry import register_method
from bayesimpute.methods.core.stepping import ChainStepper, ResumableChain, nuts_stepper

__all__ = ["TwoLevelHeckman", "heckman_design", "draw_outcome"]

#: |rho| beyond this counts as "at the boundary" for the weak-identification warning
RHO_BOUNDARY = 0.98


def heckman_design(data: MethodData, *, random_exclusion: bool = False) -> HeckmanDesign:
    """The two equations' columns from the predictor codes of ``data.x_roles``."""
    codes = data.x_roles
    codes = np.ones(data.X.shape[1], dtype=int) if codes is None else np.asarray(codes, int)
    random = set(np.asarray(data.random, dtype=int).tolist())
    roles = [c if c in (-3, -4) else (2 if i in random else 1) for i, c in enumerate(codes)]
    return HeckmanDesign.from_roles(roles, data.x_names, random_exclusion=random_exclusion)


def draw_outcome(mu_s: np.ndarray, mu_o: np.ndarray, sigma: np.ndarray, rho: float,
                 selected: np.ndarray, by_design: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """Draw the outcome (the latent one, for a binary target) of rows to impute.

    A row with a selection status: its latent selection value ``z ~ N(mu_s, 1)`` truncated
    to that status (``z > 0`` where ``selected``), then ``y | z ~ N(mu_o + rho sigma (z -
    mu_s), sigma^2 (1 - rho^2))``: the exact law of ``y`` given the status. A row of a
    cluster missing by design has no selection to condition on: ``y ~ N(mu_o, sigma^2)``,
    the whole variance (the conditional one, ``sigma^2 (1 - rho^2)``, belongs to ``y``
    given a drawn ``z``; without the ``z`` term it would cut the spread by 1 - rho^2).
    Every argument but ``rho`` and ``rng`` has one entry per row (standardised scale).
    """
    z = truncated_normal(mu_s, 1.0, selected, rng)
    mean = mu_o + np.where(by_design, 0.0, rho * sigma * (z - mu_s))
    sd = sigma * np.where(by_design, 1.0, np.sqrt(1.0 - rho**2))
    return mean + sd * rng.standard_normal(len(mu_o))


@register_method("2l.heckman", aliases=("2l.2stage.heckman",))
class TwoLevelHeckman(ResumableChain, ImputationMethod):
    """Bayesian two-level Heckman selection model (continuous or binary target)."""

    kinds = frozenset({VariableKind.CONTINUOUS, VariableKind.BINARY})
    multilevel = True
    models_response = True
    option_constraints = {
        "sampler": Option(OneOf("gibbs", "nuts"),
                          "the exact Gibbs step, or NUTS on the same PyMC model"),
        "rho_prior": Option(Parsed(RhoPrior.parse, "('normal_atanh', mean, sd), ('uniform', low, "
                                   "high), ('beta', a, b), ('fixed', rho) or a number"),
                            "prior on the selection correlation rho (the MNAR belief)"),
        "systematic": Option(OneOf("population", "selection"),
                             "rows of never-asked clusters: the outcome model's whole variance "
                             "(population) or the selection model's draw (selection)"),
    }

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {"rho_prior": ("normal_atanh", 0.0, 1.0), "sampler": "gibbs", "n_steps": 3,
                "burn": 40, "tune": 300, "target_accept": 0.9, "pmm": False, "donors": 5,
                "random_exclusion": False, "systematic": "population",
                **HeckmanPriors().settings()}

    @classmethod
    def _priors(cls, options: dict[str, Any]) -> HeckmanPriors:
        return HeckmanPriors.with_settings(options, rho=RhoPrior.parse(options["rho_prior"]))

    @classmethod
    def declared_priors(cls, options=None):
        priors = cls._priors(cls.resolved_options(options))
        rho = priors.rho
        return [
            Prior("beta_sel, beta_out", f"Normal(0, {priors.beta_sd:g})", option="beta_sd"),
            huang_wand("psi", priors.covariance),
            Prior("log sigma_j", f"Normal(mu, tau): mu ~ Normal(0, {priors.log_sigma_mu_sd:g}), "
                                 f"tau ~ HalfNormal({priors.log_sigma_tau_sd:g})",
                  option="log_sigma_mu_sd, log_sigma_tau_sd"),
            Prior("rho", f"{rho.family}{tuple(rho.params)}", option="rho_prior"),
        ]

    def __init__(self, variable: str, options=None):
        super().__init__(variable, options)  # checks rho_prior (its declared Parsed constraint)
        self.priors = self._priors(self.options)
        self._stepper: ChainStepper | None = None
        self._rho_history: list[float] = []
        self._warned_boundary = False

    # --- set-up at the first visit ------------------------------------------------------------
    def _setup(self, data: MethodData, rng: np.random.Generator) -> list[str]:
        """Build the model and its stepper; a held saved state (``set_state``) makes the
        chain continue from it, with the saved scale, point and latents and no burn-in."""
        self._check(data)
        self.binary = data.kind == VariableKind.BINARY
        self.design = heckman_design(data, random_exclusion=bool(self.options["random_exclusion"]))
        self.scale = Standardiser(data.X, None if self.binary else data.y[data.observed])
        saved = self.take_saved_state()
        if saved is not None:  # a continued chain keeps the scale it started with
            self.scale.set_state(saved)
            self._rho_history = [float(r) for r in saved["rho_history"]]
            self._warned_boundary = bool(saved["warned_boundary"])
        self.model = build_heckman_model(
            self.scale.X(data.X), self.scale.y(data.y), data.observed, data.cluster,
            data.n_clusters, self.design, binary=self.binary, priors=self.priors,
        )
        # the step draws from the chain's generator (set at every visit), whose state the
        # engine saves: that is what makes a continued chain identical to an unbroken one
        self._gibbs = HeckmanGibbs(model=self.model, design=self.design, priors=self.priors,
                                   binary=self.binary, rng=rng)
        point, burn = self._gibbs.initial_point(), int(self.options["burn"])
        chain = None if saved is None else saved["chain"]
        if self.options["sampler"] == "nuts":
            self._stepper = nuts_stepper(self.model, point, rng, tune=int(self.options["tune"]),
                                         target_accept=float(self.options["target_accept"]),
                                         saved=chain)
        else:  # the step's own state carries its latent selection values
            self._stepper = ChainStepper(self._gibbs, point, tune=burn).continued(chain)
        # a continued chain logged its identification events when it started
        if saved is not None:
            return []
        return self._identification_events(data) + self._category_events(data)

    def _check(self, data: MethodData) -> None:
        if data.cluster is None:
            raise MethodError("2l.heckman needs a cluster identifier (predictor code -2)")
        if data.observed.sum() < 2 or data.observed.all():
            raise MethodError(
                f"2l.heckman for {data.target!r} needs both observed and missing values "
                f"({int(data.observed.sum())} of {len(data.y)} observed)"
            )
        if self.options["pmm"] and data.kind == VariableKind.BINARY:
            raise MethodError("2l.heckman: pmm applies to continuous targets only")

    def _identification_events(self, data: MethodData) -> list[str]:
        if set(self.design.sel) - set(self.design.out):  # an exclusion restriction
            return []
        return [self._warn(
            f"2l.heckman for {data.target!r}: no selection-only predictor (code -3, the "
            "exclusion restriction) is given, so rho is identified only through the "
            "normality assumption (weak identification); its prior matters a lot"
        )]

    def _category_events(self, data: MethodData) -> list[str]:
        """A binary outcome observed at one value only: the other comes from the prior."""
        seen = np.unique(data.y[data.observed])
        if not self.binary or len(seen) > 1:
            return []
        never = [value for value in (0, 1) if value not in seen]
        return [self._warn(
            f"2l.heckman for {data.target!r}: category {never} never observed; its "
            "probability comes from the prior and the selection model alone")]

    @staticmethod
    def _warn(message: str) -> str:
        warnings.warn(message, UserWarning, stacklevel=3)
        return message

    # --- one visit ----------------------------------------------------------------------------
    def update(self, data: MethodData, rng: np.random.Generator) -> Draw:
        events = self._setup(data, rng) if self._stepper is None else []
        X_std = self.scale.X(data.X)
        with self.model:
            pm.set_data({"X": X_std})
        self._gibbs.refresh_data()
        self._gibbs.set_rng(rng)  # all randomness flows from the chain's generator
        stats = self._stepper.advance(int(self.options["n_steps"]))
        state = self._gibbs.point_to_state(self._stepper.point)
        events += self._boundary_events(data, state)
        values = self._impute(state, X_std, data, rng)
        return Draw(values, self._parameters(state), stats, events)

    def _boundary_events(self, data: MethodData, state: HeckmanState) -> list[str]:
        if self.priors.rho.is_fixed:
            return []
        self._rho_history.append(state.rho)
        recent = np.abs(self._rho_history[-10:])
        if self._warned_boundary or len(recent) < 5 or np.mean(recent > RHO_BOUNDARY) < 0.5:
            return []
        self._warned_boundary = True
        return [self._warn(
            f"2l.heckman for {data.target!r}: the draws of rho pile up at "
            f"{np.sign(np.mean(self._rho_history[-10:])):+.0f} (|rho| > {RHO_BOUNDARY} in "
            f"{np.mean(recent > RHO_BOUNDARY):.0%} of the last {len(recent)} iterations): "
            "the selection model is weakly identified; give an exclusion-restriction "
            "predictor (code -3) or an informative rho_prior"
        )]

    # --- imputation ---------------------------------------------------------------------------
    def _impute(self, state: HeckmanState, X_std: np.ndarray, data: MethodData, rng) -> np.ndarray:
        wy = data.impute
        sampler = self._gibbs.sampler
        mu_s, mu_o = sampler.linear_predictors(state, X_std[:, self.design.sel],
                                               X_std[:, self.design.out], data.cluster)
        sigma = np.exp(state.log_sigma)[data.cluster]
        draw = draw_outcome(mu_s[wy], mu_o[wy], sigma[wy], state.rho, data.observed[wy],
                            self._by_design(data)[wy], rng)
        if self.options["pmm"]:
            return self._match(draw, data, rng)
        if self.binary:
            return (draw > 0).astype(float)
        return self.scale.y_back(draw)

    def _match(self, draw: np.ndarray, data: MethodData, rng) -> np.ndarray:
        """micemd's rule: the observed value of one of the ``donors`` observed values
        nearest to each recipient's exact draw.

        Matching the draw, not an expected value, gives every recipient the spread of its
        own conditional law: under selection the observed rows' residuals have a smaller
        spread than a missing row's (and than a row of a cluster missing by design), so
        matching expected values would hand the recipients the donors' spread.
        """
        y_obs = data.y[data.observed]
        draw = self.scale.y_back(draw)
        return match_donors(y_obs, draw, y_obs, int(self.options["donors"]), rng)

    def _by_design(self, data: MethodData) -> np.ndarray:
        """Rows of clusters without observed values, imputed without selection (default)."""
        if self.options["systematic"] == "selection":
            return np.zeros(len(data.y), dtype=bool)
        return ~self._gibbs.sampler.in_selection

    # --- what the posterior group records ---------------------------------------------------
    def _parameters(self, state: HeckmanState) -> dict[str, np.ndarray]:
        ps = len(self.design.sel)
        params = {"beta_sel": state.beta[:ps].copy(), "beta_out": state.beta[ps:].copy(),
                  "rho": np.asarray(state.rho)}
        if not self.binary:
            params["sigma"] = np.exp(state.log_sigma) * self.scale.y_sd
        if len(self.design.random):
            params["psi"] = state.psi.copy()
        return params

    def parameter_dims(self, data: MethodData) -> dict[str, tuple[tuple[str, list], ...]]:
        design = heckman_design(data, random_exclusion=bool(self.options["random_exclusion"]))
        labels = list(data.cluster_labels) if data.cluster_labels is not None else []
        dims: dict[str, tuple] = {"beta_sel": (("sel_term", design.sel_names),),
                                  "beta_out": (("out_term", design.out_names),), "rho": ()}
        if data.kind != VariableKind.BINARY:
            dims["sigma"] = (("cluster", labels),)
        if len(design.random):
            dims["psi"] = (("heckman_re", design.re_names), ("heckman_re_bis", design.re_names))
        return dims

    def chain_constants(self) -> dict[str, np.ndarray]:
        """The scale, and the rho history behind the boundary warning."""
        return {**self.scale.get_state(), "rho_history": np.asarray(self._rho_history, dtype=float),
                "warned_boundary": np.asarray(self._warned_boundary)}
