"""Declared method options: each option's constraint and meaning, checked before sampling.

As scikit-learn's ``_parameter_constraints``: a method's options are the keys of its
:meth:`~bayesimpute.methods.base.ImputationMethod.default_options`, and every one of them
must be declared, either in :data:`OPTIONS` (the options that several families share, each
with one meaning: ``n_steps``, ``burn``, ``donors``, the prior scales, ...) or in the
method's own ``option_constraints`` (its choices, such as ``sampler`` or ``systematic``).
The method checks the values a user gives when it is made, which the imputation spec does
for every column before any sampling, and refuses a bad one with one message that names the
variable, the method and the option::

    method_options for 'popular' (2l.pmm): donors must be an integer >= 1, got 0
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from bayesimpute.methods.core.matching import DONOR_RULES

__all__ = ["Constraint", "Integer", "Real", "OneOf", "Boolean", "Text", "NoneOr", "Parsed",
           "Option", "OPTIONS", "declared_constraint", "check_option",
           "undeclared_options", "option_table"]


class Constraint:
    """What values an option takes: :meth:`accepts` a value, :meth:`describe` in words.

    Examples
    --------
    >>> Integer(1).accepts(0), Integer(1).describe()
    (False, 'an integer >= 1')
    >>> Integer(1).explain("donors", 0)
    'donors must be an integer >= 1, got 0'
    """

    def accepts(self, value: Any) -> bool:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def explain(self, option: str, value: Any) -> str:
        """Why ``value`` is refused, in the one wording."""
        return f"{option} must be {self.describe()}, got {value!r}"


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"


@dataclass(frozen=True)
class Integer(Constraint):
    """An integer (not a bool) in ``[low, high]``; either end may be open (None).

    Examples
    --------
    >>> Integer(1).accepts(3), Integer(1).accepts(2.5), Integer(1).accepts(True)
    (True, False, False)
    """

    low: int | None = None
    high: int | None = None

    def accepts(self, value: Any) -> bool:
        if _is_bool(value) or not isinstance(value, numbers.Integral):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def describe(self) -> str:
        return "an integer" + _bounds(self.low, self.high, False, False)


@dataclass(frozen=True)
class Real(Constraint):
    """A finite real number in the interval; ``open_low`` / ``open_high`` exclude the ends.

    Examples
    --------
    >>> rate = Real(0.0, 1.0, open_low=True, open_high=True)
    >>> rate.accepts(0.9), rate.accepts(1.0), rate.accepts(float("nan"))
    (True, False, False)
    """

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def accepts(self, value: Any) -> bool:
        if _is_bool(value) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            return False
        above = self.low is None or (value > self.low if self.open_low else value >= self.low)
        below = self.high is None or (value < self.high if self.open_high else value <= self.high)
        return above and below

    def describe(self) -> str:
        return "a number" + _bounds(self.low, self.high, self.open_low, self.open_high)


def _bounds(low, high, open_low, open_high) -> str:
    if low is not None and high is not None:
        return f" in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
    if low is not None:
        return f" {'>' if open_low else '>='} {low}"
    if high is not None:
        return f" {'<' if open_high else '<='} {high}"
    return ""


@dataclass(frozen=True)
class OneOf(Constraint):
    """One of a fixed set of values.

    Examples
    --------
    >>> OneOf("gibbs", "nuts").accepts("nuts"), OneOf("gibbs", "nuts").accepts("hmc")
    (True, False)
    """

    choices: tuple

    def __init__(self, *choices: Any):
        object.__setattr__(self, "choices", tuple(choices))

    def accepts(self, value: Any) -> bool:
        return not _is_bool(value) and isinstance(value, Hashable) and value in self.choices

    def describe(self) -> str:
        return f"one of {', '.join(map(repr, self.choices))}"


@dataclass(frozen=True)
class Boolean(Constraint):
    """True or False (a Python or NumPy bool; 1 and "yes" are refused).

    Examples
    --------
    >>> Boolean().accepts(True), Boolean().accepts(1)
    (True, False)
    """

    def accepts(self, value: Any) -> bool:
        return _is_bool(value)

    def describe(self) -> str:
        return "True or False"


@dataclass(frozen=True)
class Text(Constraint):
    """A string (a column or level name, a formula).

    Examples
    --------
    >>> Text("an lme4 formula").accepts("y ~ x + (1 | g)"), Text("a name").accepts(3)
    (True, False)
    """

    what: str = "a string"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def describe(self) -> str:
        return self.what


@dataclass(frozen=True)
class Parsed(Constraint):
    """What ``parse`` accepts without a ValueError (a prior's own parser, say); a refused
    value is explained in the parser's own words.

    Examples
    --------
    >>> def positive(value):
    ...     if not value > 0:
    ...         raise ValueError(f"scale must be positive, got {value}")
    ...     return value
    >>> scale = Parsed(positive, "a positive number")
    >>> scale.accepts(2.0), scale.explain("scale", -1)
    (True, 'scale must be positive, got -1')
    >>> scale.explain("prior_scale", -1)
    'prior_scale: scale must be positive, got -1'

    """

    parse: Callable[[Any], Any]
    what: str

    def accepts(self, value: Any) -> bool:
        try:
            self.parse(value)
        except (ValueError, TypeError):
            return False
        return True

    def describe(self) -> str:
        return self.what

    def explain(self, option: str, value: Any) -> str:
        """The parser's own words, which say more than the list of forms, led by the
        option's name unless they start with it."""
        try:
            self.parse(value)
        except (ValueError, TypeError) as error:
            message = str(error)
            return message if message.startswith(option) else f"{option}: {message}"
        return super().explain(option, value)  # pragma: no cover - only for refused values


@dataclass(frozen=True)
class NoneOr(Constraint):
    """None, or what ``inner`` accepts.

    Examples
    --------
    >>> NoneOr(Text("a level name")).accepts(None), NoneOr(Text("a level name")).describe()
    (True, 'None or a level name')
    """

    inner: Constraint

    def accepts(self, value: Any) -> bool:
        return value is None or self.inner.accepts(value)

    def describe(self) -> str:
        return f"None or {self.inner.describe()}"


@dataclass(frozen=True)
class Option:
    """An option's constraint and its meaning (one line).

    Examples
    --------
    >>> OPTIONS["donors"].constraint.describe()
    'an integer >= 1'
    """

    constraint: Constraint
    doc: str


POSITIVE = Real(0.0, open_low=True)

#: The options that several families share, each declared once with one meaning.
OPTIONS: dict[str, Option] = {
    "n_steps": Option(Integer(1), "transitions of the parameters per FCS visit"),
    "burn": Option(Integer(0), "extra exact sweeps at the first visit, before imputing"),
    "tune": Option(Integer(0), "NUTS adaptation transitions at the first visit"),
    "target_accept": Option(Real(0.0, 1.0, open_low=True, open_high=True),
                            "NUTS target acceptance rate"),
    "donors": Option(Integer(1), "donors per imputed value (predictive mean matching)"),
    "match_type": Option(OneOf(1, 2), "matching type: 1 donors at the posterior mean, "
                                      "2 donors and recipients at the drawn parameters"),
    "donor_rule": Option(OneOf(*DONOR_RULES),
                         "window: the k donors below and above in rank (miceadds); "
                         "nearest: the k nearest (mice)"),
    "heterogeneous": Option(Boolean(), "cluster-specific residual variances (mice's 2l.norm)"),
    "slope_sd": Option(POSITIVE, "prior sd of the standardised slopes"),
    "intercept_sd": Option(POSITIVE, "prior sd of the intercept"),
    "re_scale": Option(POSITIVE, "half-t scale A of each random-effect sd "
                                 "(Huang-Wand covariance prior)"),
    "cutpoint_sd": Option(POSITIVE, "prior sd of the ordered cutpoints"),
    "level": Option(Text("'auto' or the name of a cluster level"),
                    "the level the variable is imputed at"),
    "slope_level": Option(NoneOr(Text("the name of a cluster level")),
                          "the level of the random slopes (None: the lowest)"),
    "analysis_model": Option(NoneOr(Text("an lme4 formula")),
                             "the analysis model the imputations are compatible with"),
    "analysis_steps": Option(Integer(1), "analysis-model transitions per visit"),
    "covariate_tune": Option(Integer(0), "NUTS adaptation of a Poisson covariate model"),
    "cycles": Option(Integer(1), "analysis / covariate / imputation cycles per visit"),
    "mh_steps": Option(Integer(1), "Metropolis steps per imputed value without an exact draw"),
    "walk_scale": Option(POSITIVE, "scale of the Metropolis random walk"),
    "pmm": Option(Boolean(), "match the selection model's draws to observed values (micemd)"),
    "random_exclusion": Option(Boolean(), "random effects on the exclusion restrictions"),
    "beta_sd": Option(POSITIVE, "prior sd of the standardised regression coefficients"),
    "sigma2_shape": Option(POSITIVE, "shape a of the residual variance's InvGamma(a, b) prior "
                                     "(standardised scale; not with heterogeneous=True)"),
    "sigma2_rate": Option(POSITIVE, "rate b of the residual variance's InvGamma(a, b) prior"),
    "log_sigma_mu_sd": Option(POSITIVE, "prior sd of the mean of the clusters' log residual sds"),
    "log_sigma_tau_sd": Option(POSITIVE, "half-normal prior scale of the spread of the "
                                         "clusters' log residual sds"),
    "inv_alpha_sd": Option(POSITIVE, "half-normal prior scale of the negative binomial's "
                                     "overdispersion 1/alpha"),
}


def declared_constraint(method: type, option: str) -> Option | None:
    """The declaration of ``option`` for ``method``: its own first, then :data:`OPTIONS`.

    Examples
    --------
    >>> from bayesimpute.methods import get_method
    >>> declared_constraint(get_method("2l.heckman"), "systematic").constraint.describe()
    "one of 'population', 'selection'"
    """
    for cls in method.__mro__:
        own = cls.__dict__.get("option_constraints", {})
        if option in own:
            value = own[option]
            return value if isinstance(value, Option) else Option(value, "")
    return OPTIONS.get(option)


def check_option(method: type, variable: str, option: str, value: Any) -> None:
    """Raise a ValueError in the one format unless ``value`` is valid for ``option``.

    Parameters
    ----------
    method : type
        A registered method class.
    variable : str
        The column the option is given for (named in the message).
    option, value :
        The option and the value given.

    Raises
    ------
    ValueError
        ``value`` is refused; the message names the variable, the method and the option.
    TypeError
        ``method`` does not declare ``option`` (a fault of the method, not of the user).

    Examples
    --------
    >>> from bayesimpute.methods import get_method
    >>> check_option(get_method("2l.pmm"), "popular", "donors", 0)
    Traceback (most recent call last):
    ...
    ValueError: method_options for 'popular' (2l.pmm): donors must be an integer >= 1, got 0
    """
    declared = declared_constraint(method, option)
    if declared is None:
        raise TypeError(f"{method.__name__} ({getattr(method, 'name', '?')}) does not declare "
                        f"its option {option!r}: add it to option_constraints")
    if not declared.constraint.accepts(value):
        raise ValueError(f"method_options for {variable!r} ({method.name}): "
                         f"{declared.constraint.explain(option, value)}")


def undeclared_options(method: type) -> list[str]:
    """Options of ``method`` that nothing declares (the contract suite wants none).

    Examples
    --------
    >>> from bayesimpute.methods import get_method
    >>> undeclared_options(get_method("2l.norm"))
    []
    """
    return [name for name in method.default_options()
            if declared_constraint(method, name) is None]


def option_table(method: type) -> list[Mapping[str, Any]]:
    """One row per option of ``method``: name, default, constraint, meaning.

    Examples
    --------
    >>> from bayesimpute.methods import get_method
    >>> option_table(get_method("2l.pmm"))[0]["option"]
    'n_steps'
    """
    rows = []
    for name, default in method.default_options().items():
        declared = declared_constraint(method, name)
        rows.append({"option": name, "default": default,
                     "constraint": declared.constraint.describe() if declared else "undeclared",
                     "meaning": declared.doc if declared else ""})
    return rows
