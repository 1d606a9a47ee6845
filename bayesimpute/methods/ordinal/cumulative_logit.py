"""Ordered categorical methods: polr / 2l.polr.

``polr`` and ``2l.polr`` are cumulative-logit (proportional-odds) models with ordered
cutpoints, sampled by the exact latent-logistic Gibbs step
(:mod:`~bayesimpute.methods.ordinal.latent_logistic`) or, with ``sampler="nuts"``, by NUTS
and, for 2l.polr, the interweaving move of the effects' scales
(:mod:`bayesimpute.methods.core.nuts_glmm`):

    P(y <= k) = logistic(c_k - x' beta - z' u_j),   c ~ N(0, 5^2) ordered
"""

from __future__ import annotations

import numpy as np
import pymc as pm
from scipy import special

from bayesimpute.design.coding import VariableKind
from bayesimpute.methods.base import MethodData, MethodError
from bayesimpute.methods.core.nuts_glmm import FamilyPrior, NutsGlmmMethod
from bayesimpute.methods.logistic.polya_gamma import draw_categories
from bayesimpute.methods.ordinal.latent_logistic import OrderedLogitAugmentation
from bayesimpute.methods.registry import register_method

__all__ = ["Polr", "TwoLevelPolr", "cumulative_probabilities"]


def cumulative_probabilities(eta: np.ndarray, cutpoints: np.ndarray) -> np.ndarray:
    """Category probabilities (n, K) of the cumulative-logit model."""
    below = special.expit(cutpoints[None, :] - eta[:, None])
    cumulative = np.column_stack([np.zeros(len(eta)), below, np.ones(len(eta))])
    return np.clip(np.diff(cumulative, axis=1), 0.0, 1.0)


class _OrderedLogit(NutsGlmmMethod):
    kinds = frozenset({VariableKind.ORDERED, VariableKind.CATEGORICAL, VariableKind.BINARY})
    drop_intercept = True

    family_prior = FamilyPrior("cutpoints", "Normal(0, {:g}), ordered", "cutpoint_sd", 5.0)

    def _n_categories(self, data: MethodData) -> int:
        return 2 if data.n_categories in (0, 2) else int(data.n_categories)

    def _check_y(self, y_obs: np.ndarray, data: MethodData) -> None:
        K = self._n_categories(data)
        if np.any((y_obs < 0) | (y_obs > K - 1) | (y_obs != np.round(y_obs))):
            raise MethodError(f"{self.name}: observed values of {data.target!r} must be "
                              f"codes 0..{K - 1}")

    @staticmethod
    def _start_cutpoints(y_obs: np.ndarray, K: int) -> np.ndarray:
        """The observed cumulative logits: a sensible, ordered start."""
        share = np.cumsum(np.bincount(y_obs.astype(int), minlength=K))[:-1] / len(y_obs)
        return special.logit(np.clip(share, 0.02, 0.98)) + np.arange(K - 1) * 1e-3

    def _glmm_family(self, data, y_obs):
        K = self._n_categories(data)
        random = list(self.random)
        return OrderedLogitAugmentation(K, float(self.options["cutpoint_sd"]),
                                        self._start_cutpoints(y_obs, K),
                                        random.index(0) if 0 in random else None)

    def _likelihood(self, eta, y_data, y_obs, data):
        K = self._n_categories(data)
        start = self._start_cutpoints(y_obs, K)
        cutpoints = pm.Normal(
            "cutpoints", 0.0, float(self.options["cutpoint_sd"]), shape=K - 1,
            transform=pm.distributions.transforms.ordered, initval=start,
        )
        pm.OrderedLogistic("y_obs", eta=eta, cutpoints=cutpoints, observed=y_data,
                           compute_p=False)
        return [("cutpoints", cutpoints)]

    def _draw(self, eta, extra, rng):
        return draw_categories(cumulative_probabilities(eta, extra["cutpoints"]), rng)

    def _extra_dims(self, data):
        return {"cutpoints": (("cutpoint", list(range(1, self._n_categories(data)))),)}


@register_method("polr")
class Polr(_OrderedLogit):
    """Bayesian proportional-odds (cumulative logit) regression for ordered factors."""


@register_method("2l.polr", aliases=("2l.ordinal",))
class TwoLevelPolr(_OrderedLogit):
    """Cumulative-logit mixed model with a random intercept (and slopes) per cluster."""

    multilevel = True
    random_effects = True
