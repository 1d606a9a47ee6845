"""Gaussian methods: norm, pmm, 2l.norm, 2l.pmm (Bayesian linear and linear mixed models).

Every one of them is the PyMC model of :mod:`bayesimpute.methods.gaussian.linear_mixed`, sampled by
the exact Gibbs step (default) or by NUTS (``method_options={"y": {"sampler": "nuts"}}``).
Variance components are drawn, never plugged in; clusters with no observed value get
random effects from the population distribution, because their conditional is the prior.

Start and burn-in: a chain starts at a moment fit of the observed rows (least squares, then
the ANOVA estimates of the residual and random-effect variances:
:func:`~bayesimpute.methods.core.start_values.linear_mixed_start`) and runs ``burn`` exact
sweeps (default 5) at its first visit before its first imputation; every visit then runs
``n_steps`` sweeps (default 2). With ``sampler="nuts"`` the first visit's ``tune``
adapting transitions (default 200) are the burn-in. A continued chain (``iterate``,
``resume``) starts where it stopped, without burn-in.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from bayesimpute.design.coding import VariableKind
from bayesimpute.methods.base import Draw, ImputationMethod, MethodData, MethodError
from bayesimpute.methods.gaussian.linear_mixed import (
    describe_linear_mixed_priors,
    LinearMixedGibbs,
    LinearMixedPriors,
    LinearMixedState,
    build_pymc_model,
)
from bayesimpute.methods.core.matching import DONOR_RULES
from bayesimpute.methods.core.standardise import Standardiser
from bayesimpute.methods.options import OneOf, Option
from bayesimpute.methods.registry import register_method
from bayesimpute.methods.core.stepping import ChainStepper, ResumableChain, nuts_stepper

__all__ = ["Norm", "Pmm", "TwoLevelNorm", "TwoLevelPmm"]


class _LinearGaussianMethod(ResumableChain, ImputationMethod):
    """Shared machinery; subclasses fix whether there are random effects and matching."""

    kinds = frozenset({VariableKind.CONTINUOUS})
    random_effects: ClassVar[bool] = False
    matching: ClassVar[bool] = False
    option_constraints = {"sampler": Option(OneOf("gibbs", "nuts"),
                                            "the exact Gibbs step, or NUTS on the same PyMC model")}

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        priors = LinearMixedPriors().settings()
        if not cls.random_effects:  # no random-effect covariance to set a prior on
            del priors["re_scale"]
        options: dict[str, Any] = {"n_steps": 2, "sampler": "gibbs", "burn": 5, "tune": 200,
                                   "target_accept": 0.9, **priors}
        if cls.random_effects:
            options["heterogeneous"] = False
        if cls.matching:
            options["donors"] = 5
            # mice's pmm matches the posterior-mean prediction of donors against the drawn
            # prediction of recipients (type 1) and draws one of the k nearest donors;
            # miceadds' 2l.pmm uses the drawn parameters for both (type 2) and draws one of
            # the k donors below and k above in rank. Under type 2 every donor of a cluster
            # with the recipient's predictors ties with it; the k nearest would then all be
            # from the recipient's own cell (the cell's empirical distribution: unshrunk
            # cluster means, too small a residual spread), while the rank window also
            # reaches the neighbouring predictions, as miceadds does.
            options["match_type"] = 2 if cls.random_effects else 1
            options["donor_rule"] = "window" if cls.random_effects else "nearest"
        return options

    @classmethod
    def _priors(cls, options: dict[str, Any]) -> LinearMixedPriors:
        return LinearMixedPriors.with_settings(options)

    @classmethod
    def declared_priors(cls, options=None):
        resolved = cls.resolved_options(options)
        return describe_linear_mixed_priors(
            cls._priors(resolved), random_effects=cls.random_effects,
            heterogeneous=bool(resolved.get("heterogeneous", False)))

    def __init__(self, variable, options=None):
        super().__init__(variable, options)
        self.priors = self._priors(self.options)
        self._stepper: ChainStepper | None = None

    # --- set-up at the first visit --------------------------------------------------------
    def _random_columns(self, data: MethodData) -> np.ndarray:
        if not self.random_effects:
            return np.array([], dtype=int)
        return np.asarray(data.random, dtype=int)

    def _setup(self, data: MethodData, rng: np.random.Generator) -> None:
        if data.observed.sum() < 2:
            raise MethodError(f"{self.name} needs at least 2 observed values of {data.target!r}")
        if self.random_effects and data.cluster is None:
            raise MethodError(f"{self.name} needs a cluster identifier (predictor code -2)")
        saved = self.take_saved_state()
        self.scale = Standardiser(data.X, data.y[data.observed])
        if saved is not None:  # a continued chain keeps the scale it started with
            self.scale.set_state(saved)
        self.random = self._random_columns(data)
        self.n_clusters = data.n_clusters if self.random_effects else 1
        obs = data.observed
        self.model = build_pymc_model(
            self.scale.X_rows(data.X, obs),
            self.scale.y(data.y[obs]),
            self._cluster(data)[obs],
            self.n_clusters,
            self.random,
            heterogeneous=bool(self.options.get("heterogeneous", False)),
            priors=self.priors,
            x_names=list(data.x_names),
        )
        for name in ("X", "y", "cluster_index"):  # lets refresh_data reuse unchanged sums
            _read_only(self.model[name].get_value(borrow=True))
        gibbs = LinearMixedGibbs(model=self.model, priors=self.priors, rng=rng)
        self._gibbs = gibbs
        # a fresh chain starts at the moment fit of the observed rows and runs ``burn``
        # exact sweeps before its first imputation; a continued chain starts where it was
        point, burn = gibbs.initial_point(), int(self.options["burn"])
        chain = None if saved is None else saved["chain"]
        if self.options["sampler"] == "nuts":
            self._stepper = nuts_stepper(
                self.model, point, rng, tune=int(self.options["tune"]),
                target_accept=float(self.options["target_accept"]), saved=chain,
            )
        else:
            self._stepper = ChainStepper(gibbs, point, tune=burn).continued(chain)

    def _cluster(self, data: MethodData) -> np.ndarray:
        if self.random_effects:
            return data.cluster
        return np.zeros(len(data.y), dtype=int)

    # --- one visit -------------------------------------------------------------------------
    def update(self, data: MethodData, rng: np.random.Generator) -> Draw:
        if self._stepper is None:
            self._setup(data, rng)  # the model is built on this visit's data
        else:
            # only the predictors of the observed rows change between visits; the shared
            # container takes the new array as it is (``pm.set_data`` would convert and
            # copy it twice: seconds at 10^7 rows)
            self.model["X"].set_value(_read_only(self.scale.X_rows(data.X, data.observed)),
                                      borrow=True)
            self._gibbs.refresh_data()
        self._gibbs.set_rng(rng)  # all randomness flows from the chain's generator
        stats = self._stepper.advance(int(self.options["n_steps"]))
        state = self._gibbs.point_to_state(self._stepper.point)
        values = self._impute(state, data, rng)
        return Draw(values, self._parameters(state), stats)

    def _linear_predictor(self, state: LinearMixedState, X_std: np.ndarray,
                          cluster: np.ndarray) -> np.ndarray:
        """X beta + Z u for standardised rows ``X_std`` in clusters ``cluster``.

        Column by column in elementwise arithmetic, so that a row's prediction depends on
        that row alone: a BLAS product rounds rows differently by their position in the
        array, and then a donor whose predictors equal a recipient's (predicted in another
        array) would no longer tie with it exactly.
        """
        mu = X_std[:, 0] * state.beta[0]
        for j in range(1, X_std.shape[1]):
            mu += X_std[:, j] * state.beta[j]
        for k, column in enumerate(self.random):
            mu += X_std[:, column] * state.u[cluster, k]
        return mu

    def _impute(self, state, data: MethodData, rng) -> np.ndarray:
        """Draws for the rows to impute; only those rows (and the donors for matching)
        are predicted."""
        wy, cluster = data.impute, self._cluster(data)
        mu = self._linear_predictor(state, self.scale.X_rows(data.X, wy), cluster[wy])
        if self.matching:
            X_obs = self.model["X"].get_value(borrow=True)  # this visit's observed rows
            donor_state = self._mean_state(state) if int(self.options["match_type"]) == 1 else state
            donors_mu = self._linear_predictor(donor_state, X_obs, cluster[data.observed])
            match = DONOR_RULES[self.options["donor_rule"]]
            return match(donors_mu, mu, data.y[data.observed], int(self.options["donors"]), rng)
        sigma2 = state.sigma2[cluster[wy]] if len(state.sigma2) > 1 else state.sigma2[0]
        draw = mu + np.sqrt(sigma2) * rng.standard_normal(int(wy.sum()))
        return self.scale.y_back(draw)

    def _mean_state(self, state: LinearMixedState) -> LinearMixedState:
        """The state with beta at its conditional posterior mean given the data."""
        stats = self._gibbs.cluster_stats
        p = stats.shape[1] - 1
        XX, Xy = stats[:, :p, :p].sum(axis=0), stats[:, :p, p].sum(axis=0)
        if len(self.random):
            Z_part = np.einsum("jpq,jq->p", stats[:, :p][:, :, self.random], state.u)
            Xy = Xy - Z_part
        sigma2 = float(np.mean(state.sigma2))
        beta_hat = np.linalg.solve(XX + np.eye(p) * sigma2 / self.priors.beta_sd**2, Xy)
        return LinearMixedState(beta_hat, state.sigma2, state.u, state.psi, state.sigma2_scale)

    # --- what the posterior group records -----------------------------------------------------
    def _parameters(self, state: LinearMixedState) -> dict[str, np.ndarray]:
        params = {"beta": state.beta.copy()}
        params["sigma2"] = state.sigma2.copy() if len(state.sigma2) > 1 else np.asarray(state.sigma2[0])
        if len(self.random):
            params["psi"] = state.psi.copy()
            params["u"] = state.u.copy()
        return params

    def parameter_dims(self, data: MethodData):
        dims: dict[str, tuple] = {"beta": (("x", list(data.x_names)),)}
        labels = list(data.cluster_labels) if data.cluster_labels is not None else []
        if self.random_effects and self.options.get("heterogeneous"):
            dims["sigma2"] = (("cluster", labels),)
        else:
            dims["sigma2"] = ()
        if self.random_effects and len(data.random):
            re = [data.x_names[i] for i in data.random]
            dims["psi"] = (("re", re), ("re_bis", re))
            dims["u"] = (("cluster", labels), ("re", re))
        return dims

    def chain_constants(self) -> dict[str, np.ndarray]:
        return self.scale.get_state()


def _read_only(array: np.ndarray) -> np.ndarray:
    """``array``, no longer writeable (the model's containers are only ever replaced)."""
    array.flags.writeable = False
    return array


@register_method("norm")
class Norm(_LinearGaussianMethod):
    """Bayesian linear regression; imputes draws from the posterior predictive."""


@register_method("pmm")
class Pmm(_LinearGaussianMethod):
    """Bayesian linear regression + predictive mean matching (5 donors by default)."""

    matching = True
    kinds = frozenset({VariableKind.CONTINUOUS, VariableKind.BINARY, VariableKind.ORDERED})


@register_method("2l.norm")
class TwoLevelNorm(_LinearGaussianMethod):
    """Linear mixed model: random intercept, random slopes for predictors coded 2 or 4,
    cluster means for codes 3 and 4; ``heterogeneous=True`` gives cluster-specific
    residual variances (as mice's 2l.norm)."""

    multilevel = True
    random_effects = True


@register_method("2l.pmm")
class TwoLevelPmm(_LinearGaussianMethod):
    """2l.norm's model + predictive mean matching on X beta + Z u_j (donors from any
    cluster; the cluster enters through its random effects, as in miceadds' 2l.pmm)."""

    multilevel = True
    random_effects = True
    matching = True
    kinds = frozenset({VariableKind.CONTINUOUS, VariableKind.BINARY, VariableKind.ORDERED})
