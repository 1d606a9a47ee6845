"""The analysis model's formula, as the compatible methods need it: which design columns,
each a product of variables, and which of them have random effects.

This module is the one seam between the compatible methods and the package's formula
parser (:func:`bayesimpute.formula.parse_formula` today): moving to another parser changes
only :func:`parse_analysis_formula`. What the methods need from a formula is small and
fixed — per design column, the variables it multiplies (a numeric value, or the dummy of
one category) — because they re-evaluate the columns that involve the variable being
imputed at every proposed value, row by row, which a general formula engine would make
slow.

Syntax (lme4): ``y ~ x + w + x:w + (1 + x | g)``, ``x*w``, ``0 +``, powers of a numeric
variable as ``I(x^2)`` or ``I(x**2)``; one random-effect bar on the cluster column, whose
terms are also fixed terms (the random effects have mean zero around them, as lme4's
``(1 + x | g)`` with ``x`` in the fixed part). Categorical variables enter as treatment
dummies with the first category as reference, named as :mod:`bayesimpute.formula` names
them (``c[T.b]``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from bayesimpute.engine.coding import ColumnCodec
from bayesimpute.formula import INTERCEPT, parse_formula

__all__ = ["Factor", "DesignColumn", "AnalysisFormula", "parse_analysis_formula"]

#: ``I(x^2)`` / ``I(x**2)`` / ``I(`a b`^3)``: a power of one variable
_POWER = re.compile(r"I\(\s*(`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*)\s*(?:\^|\*\*)\s*(\d+)\s*\)")
_PLACEHOLDER = ".smc_power_{}"


@dataclass(frozen=True)
class Factor:
    """One variable in a design column: its value, or the dummy of category ``level``."""

    variable: str
    level: int | None = None


@dataclass(frozen=True)
class DesignColumn:
    """A column of the analysis design: the product of its factors (none: the intercept)."""

    name: str
    factors: tuple[Factor, ...]

    def degree(self, variable: str) -> int:
        """How many times ``variable`` multiplies into this column."""
        return sum(f.variable == variable for f in self.factors)


@dataclass(frozen=True)
class AnalysisFormula:
    """A parsed analysis model.

    Attributes
    ----------
    formula : str
        As given.
    response : str
        The outcome column.
    columns : tuple of DesignColumn
        The fixed-effect design, intercept first when there is one.
    random : ndarray of int
        Indices into ``columns`` of the effects that vary by cluster.
    group : str or None
        The grouping (cluster) column of the random effects.
    """

    formula: str
    response: str
    columns: tuple[DesignColumn, ...]
    random: np.ndarray
    group: str | None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def random_names(self) -> list[str]:
        return [self.columns[i].name for i in self.random]

    @property
    def variables(self) -> list[str]:
        """Every column the formula uses, response first, the group last."""
        names = [self.response] + [f.variable for c in self.columns for f in c.factors]
        return list(dict.fromkeys(names + ([self.group] if self.group else [])))

    @property
    def predictors(self) -> list[str]:
        """The variables of the design (not the response, not the group)."""
        return list(dict.fromkeys(f.variable for c in self.columns for f in c.factors))

    def degree(self, variable: str) -> int:
        """Highest power of ``variable`` in any design column (0: not in the design)."""
        return max((c.degree(variable) for c in self.columns), default=0)

    def involving(self, variable: str) -> np.ndarray:
        """Indices of the design columns that ``variable`` enters."""
        return np.array([i for i, c in enumerate(self.columns) if c.degree(variable)], dtype=int)

    def matrix(self, values: Mapping[str, np.ndarray], rows: np.ndarray | None = None,
               override: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """The design ``X`` on ``rows`` (all rows when None) from the working ``values``,
        with the variables in ``override`` taking the given values on those rows instead."""
        override = override or {}
        cache: dict[str, np.ndarray] = {}

        def column_of(variable: str) -> np.ndarray:
            if variable not in cache:
                if variable in override:
                    cache[variable] = np.asarray(override[variable], dtype=float)
                else:
                    full = values[variable]
                    cache[variable] = full if rows is None else full[rows]
            return cache[variable]

        response = values[self.response]
        n = len(response) if rows is None else len(response[rows])
        X = np.ones((n, len(self.columns)))
        for j, column in enumerate(self.columns):
            for factor in column.factors:
                value = column_of(factor.variable)
                X[:, j] *= value if factor.level is None else (value == factor.level)
        return X


# --- parsing ------------------------------------------------------------------------------------
def _replace_powers(formula: str) -> tuple[str, dict[str, tuple[str, int, str]]]:
    """``I(x^2)`` -> a placeholder name; returns the text and placeholder -> (var, power, text)."""
    powers: dict[str, tuple[str, int, str]] = {}

    def substitute(match: re.Match) -> str:
        name = match.group(1).strip("`")
        power = int(match.group(2))
        if power < 1:
            raise ValueError(f"analysis model {formula!r}: power {match.group(0)} must be >= 1")
        placeholder = _PLACEHOLDER.format(len(powers))
        powers[placeholder] = (name, power, match.group(0))
        return placeholder

    text = _POWER.sub(substitute, formula)
    if "I(" in text:
        raise ValueError(
            f"analysis model {formula!r}: only powers of one variable, I(x^2) or I(x**2), "
            "are supported inside I()"
        )
    return text, powers


def _pieces(term: tuple[str, ...], powers) -> list[tuple[str, str, int]]:
    """(display text, variable, power) of each name in a term (a power placeholder or a name)."""
    return [(powers[name][2], powers[name][0], powers[name][1]) if name in powers
            else (name, name, 1) for name in term]


def _shown(term: tuple[str, ...], powers) -> str:
    return ":".join(text for text, _, _ in _pieces(term, powers))


def _code_term(term: tuple[str, ...], powers, codecs: Mapping[str, ColumnCodec],
               formula: str) -> list[DesignColumn]:
    """The design columns of one term: products over the dummies of its categoricals."""
    columns: list[tuple[str, tuple[Factor, ...]]] = [("", ())]
    for text, variable, power in _pieces(term, powers):
        codec = codecs.get(variable)
        if codec is None:
            raise ValueError(f"analysis model {formula!r} uses {variable!r}, which is not a "
                             "usable column of the data")
        if codec.categories is None:
            options = [(text, (Factor(variable),) * power)]
        elif power > 1:
            raise ValueError(f"analysis model {formula!r}: {text} is a power of the "
                             f"categorical {variable!r}")
        else:
            options = [(f"{text}[T.{codec.categories[k]}]", (Factor(variable, k),))
                       for k in range(1, codec.n_levels)]
        columns = [(f"{left}:{right}" if left else right, lf + rf)
                   for left, lf in columns for right, rf in options]
    return [DesignColumn(name, factors) for name, factors in columns]


def parse_analysis_formula(formula: str, codecs: Mapping[str, ColumnCodec]) -> AnalysisFormula:
    """Parse an lme4 analysis formula against the columns described by ``codecs``.

    Parameters
    ----------
    formula : str
        E.g. ``"y ~ x * w + I(x^2) + (1 + x | g)"``.
    codecs : mapping of str -> ColumnCodec
        The usable columns of the data (the cluster column need not be among them).

    Returns
    -------
    AnalysisFormula

    Raises
    ------
    TypeError
        If ``formula`` is not a string.
    ValueError
        For syntax the parser does not know, several grouping factors or bars, random
        effects that are not fixed effects too, a random intercept without a fixed one,
        and variables that are not usable columns.
    """
    if not isinstance(formula, str):
        raise TypeError(f"analysis_model must be a formula string, got {formula!r}")
    text, powers = _replace_powers(formula)
    try:
        parsed = parse_formula(text)
    except ValueError as error:
        raise ValueError(f"analysis model {formula!r}: {error}") from None
    if parsed.response in powers:
        raise ValueError(f"analysis model {formula!r}: the response must be a column name")
    columns: list[DesignColumn] = []
    if parsed.intercept:
        columns.append(DesignColumn(INTERCEPT, ()))
    term_columns: dict[tuple[str, ...], list[int]] = {}
    for term in parsed.fixed:
        start = len(columns)
        for column in _code_term(term, powers, codecs, formula):
            if column.name not in [c.name for c in columns]:
                columns.append(column)
        term_columns[term] = list(range(start, len(columns)))
    if len(parsed.random) > 1:
        raise ValueError(
            f"analysis model {formula!r} has {len(parsed.random)} random-effect bars; write "
            "one bar with every effect that varies by cluster, e.g. (1 + x | g)"
        )
    random: list[int] = []
    group = None
    if parsed.random:
        bar = parsed.random[0]
        group = bar.group
        if bar.intercept:
            if not parsed.intercept:
                raise ValueError(f"analysis model {formula!r}: a random intercept needs the "
                                 "fixed intercept (do not write 0 + or - 1)")
            random.append(0)
        for slope in bar.slopes:
            if slope not in term_columns:
                shown = _shown(slope, powers)
                raise ValueError(
                    f"analysis model {formula!r}: the random slope of {shown} needs {shown} "
                    "among the fixed effects too (its random effects vary around it)"
                )
            random += term_columns[slope]
    response_codec = codecs.get(parsed.response)
    if response_codec is None:
        raise ValueError(f"analysis model {formula!r}: the response {parsed.response!r} is not "
                         "a usable column of data")
    return AnalysisFormula(formula, parsed.response, tuple(columns),
                           np.array(random, dtype=int), group)
