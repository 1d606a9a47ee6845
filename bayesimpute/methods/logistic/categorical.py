"""Unordered categorical methods: polyreg / 2l.polyreg.

``polyreg`` and ``2l.polyreg`` are multinomial logistic (mixed) models, the first level the
reference, with one random intercept (and random slopes for predictors coded 2 or 4) per
non-reference category; they are sampled by the exact Pólya–Gamma Gibbs step of
:mod:`bayesimpute.methods.logistic.polya_gamma`. They impute codes 0..K-1, which the engine maps back
to the column's own categories, so levels and the categorical dtype survive.
"""

from __future__ import annotations

from bayesimpute.design.coding import VariableKind
from bayesimpute.methods.logistic.logit import LogitMethod
from bayesimpute.methods.registry import register_method

__all__ = ["PolyReg", "TwoLevelPolyReg"]

_CATEGORICAL = frozenset({VariableKind.CATEGORICAL, VariableKind.BINARY, VariableKind.ORDERED})


@register_method("polyreg")
class PolyReg(LogitMethod):
    """Bayesian multinomial logistic regression (reference = first level)."""

    kinds = _CATEGORICAL


@register_method("2l.polyreg", aliases=("2l.multinom",))
class TwoLevelPolyReg(LogitMethod):
    """Multinomial logistic mixed model: K-1 random intercepts (and slopes) per cluster."""

    kinds = _CATEGORICAL
    multilevel = True
    random_effects = True
