"""Imputation compatible with the analysis model: ``2l.smc`` and ``smc``.

Every other method imputes an incomplete predictor x from a model in which the outcome y
predicts x. When the analysis model gives x a random slope, an interaction or a square,
that reverse model cannot be the conditional of the analysis model, and the imputations
flatten exactly what the analysis is about (the slope variance, the interaction). The
compatible methods draw x from

    p(x | y, rest)  ∝  p(y | x, rest; analysis model) · p(x | rest; covariate model)

the factorisation of substantive-model-compatible FCS (Bartlett, Seaman, White & Carpenter
2015) and of the sequential / factored-regression approach (Goldstein, Carpenter & Browne
2014; Enders, Du & Keller 2020; Lüdtke, Robitzsch & West 2020). At every visit a method

1. advances the analysis model's parameters (fixed effects, random-effect covariance and
   effects, residual variance) a few exact Gibbs transitions given the current completed
   data: a Gaussian analysis model is :mod:`~bayesimpute.methods.gaussian.linear_mixed`'s PyMC model
   with its Gibbs step, a binary one :mod:`~bayesimpute.methods.logistic.polya_gamma`'s with its
   Pólya–Gamma step;
2. advances its covariate model the same way: x given the predictors of its row of the
   predictor matrix, with a random intercept per cluster (``2l.smc``) — linear mixed for a
   continuous x, logistic for a binary one, multinomial logistic for a categorical one, and
   with ``covariate="poisson"`` Poisson log-linear for a count (2l.pois's model, advanced by
   NUTS, the one covariate model without an exact step);
3. draws every missing x from the product above (:mod:`._compatible_draws`): exactly where
   it is normal (x linear in a Gaussian analysis model) or discrete (binary, categorical and
   count x), by Metropolis–Hastings steps per cell otherwise (squares, logistic analysis
   models).

Both models are fitted to every row, the current imputations included (data augmentation,
:mod:`._compatible_models` says why). The analysis model's outcome, when incomplete, is
imputed with the same method: its cells are drawn from the analysis model itself. Several
incomplete predictors each get the method; each one's covariate model conditions on the
others (as in smcfcs), and each keeps its own chain of the analysis model's parameters.

Priors, start and burn-in are those of the reused steps: Huang & Wand's covariance prior
(:class:`~bayesimpute.methods.core.priors.CovariancePrior`) on both models' random effects; each
chain starts at the quick fits of :mod:`~bayesimpute.methods.core.start_values` on the first
visit's data, and that visit runs ``burn`` whole cycles (analysis model, covariate model,
draws; default 20) before its first imputation. A continued chain starts where it stopped,
without burn-in.

The analysis model's parameters are recorded on the data's scale (``<x>_analysis_beta``,
``<x>_analysis_psi``, ``<x>_analysis_sigma2`` in ``imp.idata.posterior``);
``imp.analysis_posterior()`` presents them as the analysis model's posterior.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import special

from bayesimpute.design.clusters import varying_cluster_labels
from bayesimpute.design.coding import VariableKind, are_counts
from bayesimpute.methods.compatible.analysis_formula import (
    AnalysisFormula,
    formula_response,
    parse_analysis_formula,
)
from bayesimpute.methods.compatible.smc_draws import (
    draw_count_conditional,
    draw_from_log_weights,
    draw_normal_conditional,
    gaussian_log_likelihood,
    logistic_log_likelihood,
    metropolis_normal_prior,
)
from bayesimpute.methods.compatible.covariate_models import (
    PRIOR_SETTINGS,
    GaussianMixed,
    LogitMixed,
    PoissonMixed,
    prior_settings,
)
from bayesimpute.methods.core.standardise import MixedParameters
from bayesimpute.methods.base import Draw, ImputationMethod, MethodData, MethodError, SetupContext
from bayesimpute.methods.count.poisson import informative_count_clusters
from bayesimpute.methods.gaussian.linear_mixed import (
    LinearMixedPriors,
    describe_linear_mixed_priors,
)
from bayesimpute.methods.logistic.polya_gamma import LogitPriors
from bayesimpute.methods.options import POSITIVE, OneOf, Option, Parsed
from bayesimpute.methods.core.priors import CovariancePrior, Prior, huang_wand
from bayesimpute.methods.core.stepping import ResumableChain
from bayesimpute.methods.registry import get_method, register_method

__all__ = ["TwoLevelCompatible", "Compatible", "ANALYSIS_PREFIX", "analysis_response"]

#: prefix of the analysis model's parameters among a compatible method's parameters
ANALYSIS_PREFIX = "analysis_"
#: acceptance rate of the Metropolis steps below which an event is logged (once per chain)
LOW_ACCEPTANCE = 0.05
_FAMILY_OF_KIND = {VariableKind.CONTINUOUS: "gaussian", VariableKind.BINARY: "binomial"}


PRIOR_SETTINGS_FORM = ("None or a dict of positive numbers by setting name (beta_sd, "
                       "intercept_sd, slope_sd, re_scale, sigma2_shape, sigma2_rate)")


def _prior_settings_given(value):
    """``value`` if it is None or a mapping of known prior settings to positive numbers."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"prior settings must be {PRIOR_SETTINGS_FORM}, got {value!r}")
    known = set().union(*PRIOR_SETTINGS.values())
    for name, number in value.items():
        if name not in known:
            raise ValueError(f"unknown prior setting {name!r}; the settings are {sorted(known)}")
        if not POSITIVE.accepts(number):
            raise ValueError(f"prior setting {name!r} must be a positive number, got {number!r}")
    return dict(value)


class _CompatibleMethod(ResumableChain, ImputationMethod):
    """Shared machinery of ``2l.smc`` and ``smc`` (the module docstring has the model)."""

    kinds = frozenset({VariableKind.CONTINUOUS, VariableKind.BINARY, VariableKind.CATEGORICAL,
                       VariableKind.ORDERED})
    uses_analysis_model = True
    option_constraints = {
        "family": Option(OneOf("auto", "gaussian", "binomial"),
                         "the analysis model's family (auto: by its response's kind)"),
        "covariate": Option(OneOf("auto", "normal", "poisson"),
                            "the covariate model (auto: by the variable's kind)"),
        "analysis_priors": Option(Parsed(_prior_settings_given, PRIOR_SETTINGS_FORM),
                                  "the analysis model's prior settings by name (the ones "
                                  "its family takes; describe_method lists them)"),
        "covariate_priors": Option(Parsed(_prior_settings_given, PRIOR_SETTINGS_FORM),
                                   "the covariate model's prior settings by name"),
    }

    @classmethod
    def declared_priors(cls, options=None):
        """The reused models' priors: the analysis model's (Gaussian or logistic) and the
        covariate model's (normal, logit, or Poisson with ``covariate="poisson"``), with
        the settings of ``analysis_priors`` / ``covariate_priors`` that apply to each."""
        resolved = cls.resolved_options(options)

        def family_priors(role: str, family: str) -> list[Prior]:
            given = resolved[f"{role}_priors"] or {}
            settings = prior_settings(family, {k: v for k, v in given.items()
                                               if k in PRIOR_SETTINGS[family]})
            if family in ("gaussian", "normal"):
                declared = describe_linear_mixed_priors(
                    LinearMixedPriors.with_settings(settings), random_effects=True, heterogeneous=False,
                    options=False)
            elif family == "poisson":
                declared = [Prior("beta", f"Normal(0, {settings['slope_sd']:g})"),
                            huang_wand("psi", CovariancePrior(2.0, settings["re_scale"]), None)]
            else:
                declared = LogitPriors.with_settings(settings).describe(random_effects=True, options=False)
            return [replace(p, parameter=f"{role} ({family}): {p.parameter}",
                            option=f"{role}_priors") for p in declared]

        return [*family_priors("analysis", "gaussian"), *family_priors("analysis", "binomial"),
                *family_priors("covariate", "normal"), *family_priors("covariate", "logit"),
                *family_priors("covariate", "poisson")]

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {
            "analysis_model": None,  # the lme4 formula (impute(analysis_model=...) sets it)
            "family": "auto",  # of the analysis model: by its response's kind
            # of the covariate model: by the variable's kind (normal for a continuous x,
            # logit for a binary or categorical one), or "poisson" for a count
            "covariate": "auto",
            "covariate_tune": 150,  # adapting NUTS transitions of a Poisson covariate model
            "n_steps": 2,  # covariate-model transitions per visit
            "analysis_steps": 2,  # analysis-model transitions per visit
            "mh_steps": 20,  # Metropolis steps per cell per visit, where no exact draw exists
            "walk_scale": 2.4,  # random-walk sd in units of the conditional's approximate sd
            "cycles": 1,  # (analysis model, covariate model, draws) cycles per visit
            # burn-in cycles of a fresh chain's first visit (as the other methods' ``burn``):
            # the imputations start from random observed values, which ignore the outcome,
            # and the coupled parameters and imputations leave them slowly
            "burn": 20,
            "analysis_priors": None,  # None or {setting: value}: the families' defaults
            "covariate_priors": None,
        }

    def __init__(self, variable: str, options: Mapping[str, Any] | None = None):
        super().__init__(variable, options)
        self.formula: AnalysisFormula | None = None
        self._analysis: GaussianMixed | LogitMixed | None = None
        self._covariate: GaussianMixed | LogitMixed | None = None
        self._latent: np.ndarray | None = None
        self._warned_acceptance = False

    # --- checks before sampling --------------------------------------------------------------
    def parse(self, codecs, values) -> AnalysisFormula:
        """The analysis model of this method's options, parsed against the data (``codecs``
        and the encoded columns ``values``)."""
        formula = self.options["analysis_model"]
        if formula is None:
            raise ValueError(
                f"method {self.name!r} for {self.variable!r} needs the analysis model: pass "
                "impute(..., analysis_model='y ~ x + (1 + x | g)') or method_options="
                f"{{{self.variable!r}: {{'analysis_model': ...}}}}"
            )
        return parse_analysis_formula(formula, codecs, values)

    def family(self, response_kind: VariableKind) -> str:
        """``"gaussian"`` or ``"binomial"``: the option, or the response's kind."""
        wanted = self.options["family"]
        natural = _FAMILY_OF_KIND.get(response_kind)
        if wanted == "auto":
            if natural is None:
                raise ValueError(
                    f"{self.name} for {self.variable!r}: the analysis model's response is "
                    f"{response_kind}; compatible imputation supports continuous (Gaussian) "
                    "and binary (logistic) analysis models"
                )
            return natural
        if natural != wanted:
            raise ValueError(
                f"{self.name} for {self.variable!r}: family={wanted!r} needs a "
                f"{'continuous' if wanted == 'gaussian' else 'binary'} response, but the "
                f"analysis model's response is {response_kind}"
            )
        return wanted

    def check_setup(self, context: SetupContext) -> list[str]:
        """The analysis model against the run: names, cluster, family, what is imputed."""
        encoded = _EncodedColumns(context.data, context.codecs)
        formula = self.parse(context.codecs, encoded)
        target, response = self.variable, formula.response
        if target != response and target not in formula.predictors:
            raise ValueError(
                f"{self.name} imputes {target!r} from the analysis model "
                f"{formula.formula!r}, which does not contain {target!r}; impute it with "
                "another method, or add it to the analysis model"
            )
        self._check_group(formula, context.cluster)
        family = self.family(context.codecs[response].kind)
        self._check_prior_settings("analysis", family)
        if target == response and self.options["covariate"] != "auto":
            raise ValueError(
                f"{self.name} for {target!r}: the covariate option sets the covariate model of "
                f"an incomplete predictor, but {target!r} is the analysis model's response "
                "(imputed from the analysis model itself)")
        if target != response:
            self._check_prior_settings(
                "covariate", self.covariate_family(context.codecs[target].kind))
            self._check_covariate(context)
            code = int(context.predictor_matrix.at[target, response])
            if code != 0:
                raise ValueError(
                    f"predictor_matrix.loc[{target!r}, {response!r}] is {code}, but "
                    f"{response!r} is the analysis model's response: {self.name} brings it "
                    f"into {target!r}'s imputations through the analysis model, so its "
                    f"covariate model must not use it; set predictor_matrix.loc[{target!r}, "
                    f"{response!r}] = 0"
                )
            self._check_row_level(context)
        return self._check_incomplete_variables(formula, context)

    def _check_prior_settings(self, role: str, family: str) -> None:
        try:
            prior_settings(family, self.options[f"{role}_priors"])
        except ValueError as error:
            raise ValueError(f"method_options for {self.variable!r} ({self.name}): "
                             f"{role}_priors: {error}") from None

    def _check_covariate(self, context: SetupContext) -> None:
        """The covariate model against the variable: its kind, and counts for Poisson."""
        if self.covariate_family(context.codecs[self.variable].kind) != "poisson":
            return
        if not are_counts(context.data[self.variable].dropna()):
            raise ValueError(f"{self.name} for {self.variable!r}: covariate='poisson' needs "
                             "non-negative whole numbers (counts)")

    def _check_group(self, formula: AnalysisFormula, cluster: str | None) -> None:
        if formula.group is None:
            return
        if not self.multilevel:
            raise ValueError(
                f"method 'smc' for {self.variable!r} is single-level, but the analysis model "
                f"{formula.formula!r} has random effects by {formula.group!r}; use '2l.smc'"
            )
        if formula.group != cluster:
            raise ValueError(
                f"the analysis model {formula.formula!r} has random effects by "
                f"{formula.group!r}, but the run's cluster column is {cluster!r}; they must be "
                "the same column"
            )

    def _check_row_level(self, context: SetupContext) -> None:
        """A cluster-level variable cannot be imputed row by row."""
        if not self.multilevel or context.cluster is None:
            return
        column, cluster = context.data[self.variable], context.data[context.cluster]
        sizes = column.groupby(cluster, observed=True).count()
        # clusters with two observed values are the ones that could show a variation
        informative = int((sizes >= 2).sum())
        if informative >= 3 and not varying_cluster_labels(column, cluster):
            raise ValueError(
                f"{self.variable!r} is constant within every cluster of {context.cluster!r}: it "
                f"is a cluster-level variable, which {self.name} (row-level draws) cannot "
                "impute; compatible imputation of cluster-level variables is not supported yet"
            )

    def _check_incomplete_variables(self, formula: AnalysisFormula,
                                    context: SetupContext) -> list[str]:
        notes = []
        for variable in formula.variables:
            if variable == formula.group:
                continue
            missing = context.data[variable].isna().to_numpy()
            if not missing.any():
                continue
            method = context.method.get(variable, "")
            left = int((missing & ~context.where[variable].to_numpy()).sum()) if method else int(
                missing.sum())
            compatible = bool(method) and getattr(
                _registered(method), "uses_analysis_model", False)
            if variable == formula.response:
                if left:
                    notes.append(
                        f"{left} row(s) with {variable!r} missing and not imputed leave the "
                        f"analysis model of {self.variable!r} (their other values still enter "
                        "the covariate models)")
                elif not compatible:
                    notes.append(self._incompatible_note(variable, method))
                continue
            if left:
                raise ValueError(
                    f"{variable!r} enters the analysis model {formula.formula!r} and has {left} "
                    f"missing value(s) that are not imputed; impute it (e.g. method "
                    f"{{{variable!r}: '{self.name}'}}) or drop those rows"
                )
            if not compatible:
                notes.append(self._incompatible_note(variable, method))
        return notes

    def _incompatible_note(self, variable: str, method: str) -> str:
        return (f"{variable!r} enters the analysis model but is imputed by {method}, which does "
                f"not know it; impute it with {self.name} too for imputations compatible with "
                "the analysis model")

    # --- set-up at the first visit -------------------------------------------------------------
    def _setup(self, data: MethodData, rng: np.random.Generator) -> None:
        if self.multilevel and data.cluster is None:
            raise MethodError(f"{self.name} needs a cluster identifier (predictor code -2)")
        saved = self.take_saved_state()
        self._start_latent(data, saved)
        self.formula = self.parse(data.codecs, self._working(data))
        self.response = self.formula.response
        self.outcome_mode = data.target == self.response
        self.family_name = self.family(data.codecs[self.response].kind)
        self.cluster = (np.asarray(data.cluster, dtype=int) if self.multilevel
                        else np.zeros(len(data.y), dtype=int))
        self.n_clusters = data.n_clusters if self.multilevel else 1
        working = self._working(data)
        self.analysis_rows = np.flatnonzero(np.all(
            [~np.isnan(working[v]) for v in self.formula.variables if v != self.formula.group],
            axis=0))
        self.has_outcome = np.isin(self.rows, self.analysis_rows)
        self._analysis = self._make_analysis(working, rng)
        if not self.outcome_mode:
            self.fit_rows = np.flatnonzero(data.observed | data.impute)
            self.covariate_random = (np.asarray(data.random, dtype=int) if self.multilevel
                                     else np.array([], dtype=int))
            self.covariate_name = self.covariate_family(data.kind)
            self._covariate = self._make_covariate(data, working, rng,
                                                   continuing=saved is not None)
            self.exact_normal = (self.covariate_name == "normal"
                                 and self.family_name == "gaussian"
                                 and self.formula.degree(data.target) <= 1)
        if saved is not None:
            self._restore(saved)

    def _start_latent(self, data: MethodData, saved: dict | None) -> None:
        self.rows = np.flatnonzero(data.impute)
        if saved is not None:
            self._latent = np.asarray(saved["latent"], dtype=float).copy()
        else:  # the chain's starting values: observed values, or the initial fill
            self._latent = np.asarray(data.y[self.rows], dtype=float).copy()

    def _make_analysis(self, working, rng) -> GaussianMixed | LogitMixed:
        rows = self.analysis_rows
        X = self.formula.matrix(working, rows=rows)
        y = working[self.response][rows]
        args = (X, y, self.cluster[rows], self.n_clusters, self.formula.random,
                self.formula.names, self.formula.intercept)
        settings = prior_settings(self.family_name, self.options["analysis_priors"])
        if self.family_name == "gaussian":
            return GaussianMixed(*args, rng=rng, priors=LinearMixedPriors.with_settings(settings))
        return LogitMixed(*args, n_categories=2, rng=rng, priors=LogitPriors.with_settings(settings))

    def covariate_family(self, kind: VariableKind) -> str:
        """``"normal"``, ``"poisson"`` or ``"logit"``: the covariate model of the variable."""
        wanted = self.options["covariate"]
        if kind is not VariableKind.CONTINUOUS:
            if wanted != "auto":
                raise ValueError(
                    f"{self.name} for {self.variable!r}: covariate={wanted!r} needs a "
                    f"continuous (numeric) variable, but {self.variable!r} is {kind}")
            return "logit"
        return "normal" if wanted == "auto" else wanted

    def _make_covariate(self, data: MethodData, working, rng, *,
                        continuing: bool) -> GaussianMixed | LogitMixed | PoissonMixed:
        rows = self.fit_rows
        settings = prior_settings(self.covariate_name, self.options["covariate_priors"])
        x = working[data.target][rows]
        args = (data.X[rows], x, self.cluster[rows], self.n_clusters, self.covariate_random,
                list(data.x_names), True)
        if self.covariate_name == "poisson":
            observed = data.y[data.observed]
            if not are_counts(observed):
                raise MethodError(f"{self.name} for {data.target!r}: covariate='poisson' needs "
                                  "non-negative whole numbers (counts)")
            # the parametrisation by the observed counts (a continued chain, whose imputed
            # counts differ, must build the same model): unobserved cells at their mean
            expected = np.where(data.observed[rows], data.y[rows], observed.mean())
            return PoissonMixed(*args, rng=rng, tune=int(self.options["covariate_tune"]),
                                continuing=continuing, slope_sd=settings["slope_sd"],
                                re_scale=settings["re_scale"],
                                informative=informative_count_clusters(
                                    expected, self.cluster[rows], self.n_clusters))
        if self.covariate_name == "normal":
            return GaussianMixed(*args, rng=rng, priors=LinearMixedPriors.with_settings(settings))
        n_categories = 2 if data.n_categories in (0, 2) else int(data.n_categories)
        return LogitMixed(*args, n_categories=n_categories, rng=rng,
                          priors=LogitPriors.with_settings(settings))

    def _working(self, data: MethodData) -> dict[str, np.ndarray]:
        """The run's working columns with this variable's own latest draws on its rows."""
        working = dict(data.columns)
        target = np.array(data.y, dtype=float)
        target[self.rows] = self._latent
        working[data.target] = target
        return working

    # --- one visit -------------------------------------------------------------------------------
    def update(self, data: MethodData, rng: np.random.Generator) -> Draw:
        cycles = int(self.options["cycles"])
        if self._analysis is None:
            fresh = not self.continuing  # a continued chain does not burn in again
            self._setup(data, rng)
            if fresh:
                cycles = max(cycles, int(self.options["burn"]))
        events: list[str] = []
        acceptances = []
        for _ in range(cycles):
            values, theta, covariate, stats, acceptance = self._cycle(data, rng)
            self._latent = values.copy()
            if acceptance is not None:
                acceptances.append(acceptance)
        if acceptances:
            stats["mh_acceptance"] = float(np.mean(acceptances))
            events += self._acceptance_events(stats["mh_acceptance"])
        return Draw(values, self._parameters(theta, covariate), stats, events)

    def _cycle(self, data: MethodData, rng: np.random.Generator):
        """The analysis model, the covariate model, then the draws: one Gibbs cycle of
        (parameters, this variable's missing cells) given the other variables."""
        working = self._working(data)
        rows = self.analysis_rows
        stats = self._analysis.update(self.formula.matrix(working, rows=rows),
                                      working[self.response][rows], rng,
                                      int(self.options["analysis_steps"]))
        theta = self._analysis.parameters()
        covariate, acceptance = None, None
        if self.outcome_mode:
            values = self._draw_outcome(theta, working, rng)
        else:
            fit = self.fit_rows
            stats.update(self._covariate.update(data.X[fit], working[data.target][fit], rng,
                                                int(self.options["n_steps"])))
            covariate = self._covariate.parameters()
            values, acceptance = self._draw_predictor(theta, covariate, working, data, rng)
        if not np.all(np.isfinite(values)):
            raise MethodError(f"{self.name}: non-finite draws of {data.target!r}")
        return values, theta, covariate, stats, acceptance

    def _eta(self, theta: MixedParameters, working, override: np.ndarray | None) -> np.ndarray:
        """The analysis model's linear predictor on the rows to impute, with this variable
        set to ``override`` there (None: its current values)."""
        values = None if override is None else {self.variable: override}
        X = self.formula.matrix(working, rows=self.rows, override=values)
        return theta.linear_predictor(X, self.formula.random, self.cluster[self.rows])

    def _draw_outcome(self, theta: MixedParameters, working, rng) -> np.ndarray:
        eta = self._eta(theta, working, None)
        if self.family_name == "gaussian":
            return eta + np.sqrt(theta.sigma2) * rng.standard_normal(len(eta))
        return (rng.random(len(eta)) < 1.0 / (1.0 + np.exp(-eta))).astype(float)

    def _log_likelihood(self, theta: MixedParameters, y: np.ndarray, eta: np.ndarray,
                        has_y: np.ndarray) -> np.ndarray:
        if self.family_name == "gaussian":
            values = gaussian_log_likelihood(y, eta, theta.sigma2)
        else:
            values = logistic_log_likelihood(y, eta)
        return np.where(has_y, values, 0.0)

    def _draw_predictor(self, theta, covariate: MixedParameters, working, data: MethodData,
                        rng) -> tuple[np.ndarray, float | None]:
        rows, has_y = self.rows, self.has_outcome
        y = np.where(has_y, np.nan_to_num(working[self.response][rows]), 0.0)
        covariate_eta = covariate.linear_predictor(data.X[rows], self.covariate_random,
                                                   self.cluster[rows])
        if self.covariate_name == "poisson":
            return draw_count_conditional(
                covariate_eta,
                lambda k: self._log_likelihood(theta, y, self._eta(
                    theta, working, np.full(len(rows), float(k))), has_y), rng), None
        if self.covariate_name == "logit":
            log_prior = _log_probabilities(covariate_eta)
            log_weights = log_prior + np.column_stack([
                self._log_likelihood(theta, y, self._eta(theta, working, np.full(len(rows), k)),
                                     has_y)
                for k in range(log_prior.shape[1])])
            return draw_from_log_weights(log_weights, rng), None
        prior_var = np.full(len(rows), covariate.sigma2)
        if self.exact_normal:
            at_zero = self._eta(theta, working, np.zeros(len(rows)))
            slope = np.where(has_y, self._eta(theta, working, np.ones(len(rows))) - at_zero, 0.0)
            return draw_normal_conditional(covariate_eta, prior_var, at_zero, slope, y,
                                           theta.sigma2, rng), None
        prior_sd = np.sqrt(prior_var)
        walk_sd = self._walk_sd(theta, working, covariate_eta, prior_sd, has_y)
        return metropolis_normal_prior(
            self._latent, covariate_eta, prior_sd,
            lambda x: self._log_likelihood(theta, y, self._eta(theta, working, x), has_y),
            walk_sd, int(self.options["mh_steps"]), rng,
        )

    def _walk_sd(self, theta, working, centre: np.ndarray, prior_sd: np.ndarray,
                 has_y: np.ndarray) -> np.ndarray:
        """walk_scale times the sd of the conditional linearised at the covariate model's
        mean (which does not depend on the current value, so the walk stays symmetric)."""
        h = 1e-3 * prior_sd
        slope = (self._eta(theta, working, centre + h)
                 - self._eta(theta, working, centre - h)) / (2.0 * h)
        noise = theta.sigma2 if self.family_name == "gaussian" else 4.0  # logit: var <= 1/4
        information = np.where(has_y, slope**2 / noise, 0.0)
        return float(self.options["walk_scale"]) / np.sqrt(1.0 / prior_sd**2 + information)

    def _acceptance_events(self, acceptance: float) -> list[str]:
        if acceptance >= LOW_ACCEPTANCE or self._warned_acceptance:
            return []
        self._warned_acceptance = True
        return [f"{self.name} for {self.variable!r}: Metropolis acceptance {acceptance:.1%}; "
                "the draws move slowly, consider a larger mh_steps"]

    # --- what the posterior group records -------------------------------------------------------
    def _parameters(self, theta: MixedParameters,
                    covariate: MixedParameters | None) -> dict[str, np.ndarray]:
        params = {f"{ANALYSIS_PREFIX}beta": theta.beta.copy()}
        if len(self.formula.random):
            params[f"{ANALYSIS_PREFIX}psi"] = theta.psi.copy()
        if theta.sigma2 is not None:
            params[f"{ANALYSIS_PREFIX}sigma2"] = np.asarray(theta.sigma2)
        if covariate is not None:
            params["beta"] = covariate.beta.copy()
            if len(self.covariate_random):
                params["psi"] = covariate.psi.copy()
            if covariate.sigma2 is not None:
                params["sigma2"] = np.asarray(covariate.sigma2)
        return params

    def parameter_dims(self, data: MethodData):
        terms = self.formula.names
        dims: dict[str, tuple] = {f"{ANALYSIS_PREFIX}beta": (("analysis_term", terms),),
                                  f"{ANALYSIS_PREFIX}sigma2": ()}
        if len(self.formula.random):
            re = self.formula.random_names
            dims[f"{ANALYSIS_PREFIX}psi"] = (("analysis_re", re), ("analysis_re_bis", re))
        if self.outcome_mode:
            return dims
        category: tuple = ()
        levels = data.categories
        if data.kind is not VariableKind.CONTINUOUS and levels is not None and len(levels) > 2:
            category = (("category", [str(level) for level in levels[1:]]),)
        dims["beta"] = (*category, ("x", list(data.x_names)))
        dims["sigma2"] = ()
        if len(self.covariate_random):
            re = [data.x_names[i] for i in self.covariate_random]
            dims["psi"] = (*category, ("re", re), ("re_bis", re))
        return dims

    # --- continuing a chain ----------------------------------------------------------------------
    def chain_state(self) -> dict:
        """The latent draws and both models' states (``analysis.`` and ``covariate.``)."""
        if self._analysis is None:
            return {}
        state = {"latent": self._latent.copy(), **self._analysis.get_state("analysis.")}
        if self._covariate is not None:
            state.update(self._covariate.get_state("covariate."))
        return state

    def discard_chain(self) -> None:
        self._analysis = self._covariate = None

    def _restore(self, state) -> None:
        self._analysis.set_state(state, "analysis.")
        if self._covariate is not None:
            self._covariate.set_state(state, "covariate.")


class _EncodedColumns(Mapping):
    """The data's columns in the sampler's encoding, encoded when first asked for."""

    def __init__(self, data, codecs):
        self._data, self._codecs, self._cache = data, codecs, {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = self._codecs[name].encode(self._data[name])
        return self._cache[name]

    def __iter__(self):
        return iter(self._codecs)

    def __len__(self) -> int:
        return len(self._codecs)


def analysis_response(formula: str) -> str:
    """The response column of an analysis formula (as the compatible methods read it)."""
    return formula_response(formula)


def _log_probabilities(eta: np.ndarray) -> np.ndarray:
    """Log category probabilities of a logit's linear predictor(s): (n,) or (n, K-1) -> (n, K)."""
    eta = eta[:, None] if eta.ndim == 1 else eta
    full = np.column_stack([np.zeros(len(eta)), eta])
    return full - special.logsumexp(full, axis=1, keepdims=True)


def _registered(name: str):
    try:
        return get_method(name)
    except ValueError:  # passive formulas and the like: not a compatible method
        return None


@register_method("2l.smc")
class TwoLevelCompatible(_CompatibleMethod):
    """Imputation compatible with a two-level analysis model (random intercepts and slopes,
    interactions, squares; Gaussian or logistic), covariate models with random intercepts."""

    multilevel = True


@register_method("smc")
class Compatible(_CompatibleMethod):
    """Imputation compatible with a single-level analysis model (Bartlett et al.'s SMC-FCS),
    Bayesian: linear or logistic analysis model, covariate models without random effects."""
