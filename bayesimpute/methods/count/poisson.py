"""Count methods: 2l.pois (Poisson mixed model) and 2l.nb (negative binomial mixed model).

    y_i ~ Poisson(mu_i)  or  NegBin(mu_i, alpha),   log mu_i = x_i' beta + z_i' u_{j[i]}
    beta ~ N(0, 2.5^2) (standardised X; log mu is offset by log(mean observed y + 0.5))
    u_j ~ N(0, Psi) non-centred,  1 / alpha ~ HalfNormal(1)

sampled by the exact Gibbs steps of :mod:`~bayesimpute.methods.count.count_steps`
(Pólya–Gamma augmentation for the negative binomial, Metropolis–Hastings blocks at the exact
conditional modes for the Poisson) or, with ``sampler="nuts"``, by NUTS and the
interweaving move of the effects' scales (:mod:`bayesimpute.methods.core.nuts_glmm`). The
PyMC model centres the effects in the clusters whose observed counts total at least
CENTRED_CLUSTER_TOTAL and not in the others (what NUTS needs; the Gibbs steps do not care). Clusters where the count is never observed get effects drawn from N(0, Psi)
(systematic missingness).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayesimpute.design.coding import VariableKind, are_counts
from bayesimpute.methods.core.nuts_glmm import FamilyPrior, NutsGlmmMethod
from bayesimpute.methods.count.count_steps import NegBinBlocks, PoissonBlocks
from bayesimpute.methods.base import MethodData, MethodError
from bayesimpute.methods.registry import register_method

__all__ = ["TwoLevelPois", "TwoLevelNegBin", "informative_count_clusters",
           "count_log_offset", "CENTRED_CLUSTER_TOTAL"]

#: log-means are clipped here before drawing, so a wild transition cannot overflow
_MAX_LOG_MEAN = 30.0
#: a cluster whose counts total this much pins its effect down (posterior sd of the log-rate
#: about 1 / sqrt(10) = 0.32) better than a random effect's prior of sd ~0.5 does: its effect
#: is centred. On the validity study's count design (clusters of 20, mean 1.6) the centred
#: form mixed the variance with ESS 200-270 per 200 NUTS transitions, the non-centred 4-38.
CENTRED_CLUSTER_TOTAL = 10.0


def count_log_offset(counts: np.ndarray) -> float:
    """The log-mean that centres a count model's intercept, so that its prior is stated
    relative to the data's own scale."""
    return float(np.log(np.mean(counts) + 0.5))


def informative_count_clusters(counts: np.ndarray, cluster: np.ndarray,
                               n_clusters: int) -> np.ndarray:
    """Per cluster: whether its ``counts`` total at least CENTRED_CLUSTER_TOTAL."""
    totals = np.bincount(np.asarray(cluster, dtype=int), weights=np.asarray(counts, dtype=float),
                         minlength=n_clusters)
    return totals >= CENTRED_CLUSTER_TOTAL


class _CountMethod(NutsGlmmMethod):
    kinds = frozenset({VariableKind.CONTINUOUS, VariableKind.BINARY})
    multilevel = True
    random_effects = True

    def _check_y(self, y_obs: np.ndarray, data: MethodData) -> None:
        if not are_counts(y_obs):
            raise MethodError(f"{self.name}: {data.target!r} must hold non-negative whole "
                              "numbers (counts)")

    def _informative_clusters(self, y_obs: np.ndarray, cluster_obs: np.ndarray) -> np.ndarray:
        # a log-rate's posterior sd is about 1 / sqrt(the cluster's total count)
        return informative_count_clusters(y_obs, cluster_obs, self.n_clusters)

    def _prepare(self, y_obs: np.ndarray) -> None:
        self.log_offset = count_log_offset(y_obs)

    def _likelihood(self, eta, y_data, y_obs, data):
        log_mu = eta + self.log_offset
        return self._family(log_mu, y_data)

    def _draw(self, eta, extra, rng):
        mu = np.exp(np.minimum(eta + self.log_offset, _MAX_LOG_MEAN))
        return self._sample(mu, extra, rng).astype(float)


@register_method("2l.pois", aliases=("2l.glm.pois",))
class TwoLevelPois(_CountMethod):
    """Poisson mixed model with a random intercept (and slopes) per cluster."""

    def _glmm_family(self, data, y_obs):
        return PoissonBlocks(self.log_offset)

    def _family(self, log_mu, y_data):
        pm.Poisson("y_obs", mu=pt.exp(log_mu), observed=y_data)
        return []

    def _sample(self, mu, extra, rng):
        return rng.poisson(mu)


@register_method("2l.nb")
class TwoLevelNegBin(_CountMethod):
    """Negative binomial mixed model (overdispersed counts)."""

    family_prior = FamilyPrior("inv_alpha", "HalfNormal({:g})", "inv_alpha_sd", 1.0)

    def _glmm_family(self, data, y_obs):
        return NegBinBlocks(self.log_offset, float(self.options["inv_alpha_sd"]))

    def _family(self, log_mu, y_data):
        inv_alpha = pm.HalfNormal("inv_alpha", float(self.options["inv_alpha_sd"]))
        pm.NegativeBinomial("y_obs", mu=pt.exp(log_mu), alpha=1.0 / inv_alpha,
                            observed=y_data)
        return [("inv_alpha", inv_alpha)]

    def _sample(self, mu, extra, rng):
        alpha = 1.0 / float(extra["inv_alpha"])
        return rng.poisson(rng.gamma(alpha, mu / alpha))

    def _extra_dims(self, data):
        return {"inv_alpha": ()}
