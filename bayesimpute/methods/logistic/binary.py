"""Binary methods: logreg (Bayesian logistic regression) and 2l.bin (logistic mixed model).

The model, its priors and the exact Pólya–Gamma Gibbs step are described in
:mod:`bayesimpute.methods.logistic.polya_gamma`. ``2l.bin`` has a random intercept per cluster and
random slopes for the predictors coded 2 or 4; clusters where the target is never observed
get effects drawn from N(0, Psi) at every visit (systematic missingness).
"""

from __future__ import annotations

from bayesimpute.design.coding import VariableKind
from bayesimpute.methods.logistic.logit import LogitMethod
from bayesimpute.methods.registry import register_method

__all__ = ["LogReg", "TwoLevelBin"]


@register_method("logreg")
class LogReg(LogitMethod):
    """Bayesian logistic regression (normal(0, 2.5) priors on standardised predictors)."""

    kinds = frozenset({VariableKind.BINARY})


@register_method("2l.bin", aliases=("2l.binary", "2l.glm.bin"))
class TwoLevelBin(LogitMethod):
    """Logistic mixed model: random intercept, random slopes for predictors coded 2 or 4."""

    kinds = frozenset({VariableKind.BINARY})
    multilevel = True
    random_effects = True
