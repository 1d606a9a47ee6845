"""The analysis model's formula, as the compatible methods need it: which design columns,
each a product of variables, and which of them have random effects.

This module is the one seam between the compatible methods and the package's formula
handling: the lme4 parser of the analysis layer (:func:`bayesimpute.analysis.formula.parse_formula`,
which finds the random-effect bars) and formulaic, which expands the Wilkinson terms and
names the columns exactly as the analysis layer's fits name them. What the methods need on
top is small and fixed — per design column, the variables it multiplies (a numeric value,
or the dummy of one category) — because they re-evaluate the columns that involve the
variable being imputed at every proposed value, row by row, which building a formulaic
model matrix each time would make slow. Every parse checks that this fast evaluation equals
formulaic's model matrix on the data it was given.

Syntax (lme4 with formulaic's terms): ``y ~ x + w + x:w + (1 + x | g)``, ``x*w``, ``0 +``,
powers of a numeric variable as ``I(x**2)``; one random-effect bar on one grouping column,
whose effects are also fixed effects (the random effects vary around them). Categorical
variables enter as formulaic codes them (treatment dummies ``c[T.b]``, first level present
the reference).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import product

import numpy as np
import pandas as pd

from bayesimpute.analysis.formula import parse_formula
from bayesimpute.design.coding import ColumnCodec

__all__ = ["Factor", "DesignColumn", "AnalysisFormula", "parse_analysis_formula",
           "formula_response"]

#: a formulaic factor the compatible methods evaluate themselves: a column, or its power
_NAME = r"`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*"
_POWER = re.compile(rf"^I\(\s*({_NAME})\s*\*\*\s*(\d+)\s*\)$")
_COLUMN = re.compile(rf"^({_NAME})$")


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
        The fixed-effect design in formulaic's order, named as the analysis layer names it.
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
    def intercept(self) -> bool:
        """Whether column 0 is the intercept."""
        return bool(self.columns) and not self.columns[0].factors

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

    def matrix(self, values: Mapping[str, np.ndarray], rows: np.ndarray | None = None,
               override: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """The design ``X`` on ``rows`` (all rows when None) from the working ``values``
        (the sampler's encoding: numbers, 0/1, category codes), with the variables in
        ``override`` taking the given values on those rows instead."""
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
def formula_response(formula: str) -> str:
    """The response column of an analysis formula."""
    return parse_formula(formula).response.strip("`")


def _factor(expr: str, codecs: Mapping[str, ColumnCodec], formula: str) -> tuple[str, int]:
    """(variable, power) of a formulaic factor this module can evaluate."""
    power = _POWER.match(expr)
    name, k = (power.group(1), int(power.group(2))) if power else (expr, 1)
    if not _COLUMN.match(name) or k < 1:
        raise ValueError(
            f"analysis model {formula!r}: the compatible methods evaluate column names, their "
            f"interactions and powers written I(x**2), not {expr!r}"
        )
    name = name.strip("`")
    codec = codecs.get(name)
    if codec is None:
        raise ValueError(f"analysis model {formula!r} uses {name!r}, which is not a usable "
                         "column of the data")
    if codec.categories is not None and k > 1:
        raise ValueError(f"analysis model {formula!r}: {expr} is a power of the categorical "
                         f"{name!r}")
    return name, k


def _options(expr: str, variable: str, power: int, codec: ColumnCodec):
    """The ways a factor can appear in a column name, with what it multiplies in."""
    if codec.categories is None:
        return [(expr, (Factor(variable),) * power)]
    return [(f"{expr}{bracket}", (Factor(variable, k),))
            for k, level in enumerate(codec.categories)
            for bracket in (f"[T.{level}]", f"[{level}]")]


def _design_columns(spec: str, sample: pd.DataFrame, codecs, formula: str):
    """formulaic's model matrix of ``spec`` on ``sample`` and, per column, its factors."""
    from formulaic import Formula, model_matrix

    for term in Formula(spec):  # refuse what the methods cannot evaluate before formulaic does
        for factor in term.factors:
            if factor.expr != "1":
                _factor(factor.expr, codecs, formula)
    try:
        matrix = model_matrix(spec, sample, na_action="raise")
    except Exception as error:  # formulaic raises many unrelated types
        raise ValueError(f"analysis model {formula!r}: cannot build the design of {spec!r}: "
                         f"{error}") from error
    columns: list[DesignColumn] = []
    for structure in matrix.model_spec.structure:
        factors = [f for f in structure.term.factors if f.expr != "1"]
        pieces = []
        for factor in factors:
            variable, power = _factor(factor.expr, codecs, formula)
            pieces.append(_options(factor.expr, variable, power, codecs[variable]))
        known = {":".join(n for n, _ in combo): tuple(f for _, fs in combo for f in fs)
                 for combo in product(*pieces)} if pieces else {}
        for name in structure.columns:
            if not factors:
                columns.append(DesignColumn(str(name), ()))
            elif name in known:
                columns.append(DesignColumn(str(name), known[name]))
            else:
                raise ValueError(f"analysis model {formula!r}: cannot read design column "
                                 f"{name!r}")
    return columns, np.asarray(matrix, dtype=float)


def _decoded_sample(codecs: Mapping[str, ColumnCodec], values: Mapping[str, np.ndarray],
                    variables: list[str]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The formula's variables as formulaic reads them (user dtypes), missing cells filled
    with an observed value so that every row evaluates; also the encoded columns used."""
    encoded, decoded = {}, {}
    for variable in variables:
        column = np.asarray(values[variable], dtype=float).copy()
        present = column[~np.isnan(column)]
        column[np.isnan(column)] = present[0] if len(present) else 0.0
        encoded[variable] = column
        series = codecs[variable].decode(column, pd.RangeIndex(len(column)))
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.cat.remove_unused_categories()  # as the analysis layer does
        elif series.dtype == object or pd.api.types.is_bool_dtype(series.dtype):
            series = series.astype(float)
        decoded[variable] = series
    return pd.DataFrame(decoded), encoded


def _outside_identity(formula: str) -> str:
    """``formula`` without its ``I(...)`` terms (where ``**`` is Python's power).

    Examples
    --------
    >>> _outside_identity("y ~ I(x**2) + x**2")
    'y ~  + x**2'
    """
    out, depth, i = [], 0, 0
    while i < len(formula):
        starts_identity = (formula.startswith("I(", i)
                           and (i == 0 or not (formula[i - 1].isalnum() or formula[i - 1] in "._")))
        if depth == 0 and starts_identity:
            depth, i = 1, i + 2
            continue
        if depth:
            depth += {"(": 1, ")": -1}.get(formula[i], 0)
        else:
            out.append(formula[i])
        i += 1
    return "".join(out)


def parse_analysis_formula(formula: str, codecs: Mapping[str, ColumnCodec],
                           values: Mapping[str, np.ndarray]) -> AnalysisFormula:
    """Parse an lme4 analysis formula against the data it will be evaluated on.

    Parameters
    ----------
    formula : str
        E.g. ``"y ~ x * w + I(x**2) + (1 + x | g)"``.
    codecs : mapping of str -> ColumnCodec
        The usable columns of the data (the cluster column need not be among them).
    values : mapping of str -> ndarray
        The columns in the sampler's encoding (missing cells allowed): the design is built
        by formulaic on them once, and the fast evaluation is checked against it.

    Returns
    -------
    AnalysisFormula

    Raises
    ------
    TypeError
        If ``formula`` is not a string.
    ValueError
        For syntax the methods cannot evaluate, several bars or grouping factors, random
        effects that are not fixed effects too, a random intercept without a fixed one,
        and variables that are not usable columns.
    """
    if not isinstance(formula, str):
        raise TypeError(f"analysis_model must be a formula string, got {formula!r}")
    if "^" in formula or "**" in _outside_identity(formula):
        # formulaic reads a bare x**2 as x (Wilkinson's power of a term: its interactions
        # up to order 2), which would drop the square silently
        raise ValueError(f"analysis model {formula!r}: write powers as I(x**2) (Python "
                         "syntax inside I(), as the analysis layer reads it)")
    try:
        parsed = parse_formula(formula)
    except ValueError as error:
        raise ValueError(f"analysis model {formula!r}: {error}") from None
    response = parsed.response.strip("`")
    if not _COLUMN.match(parsed.response) or response not in codecs:
        raise ValueError(f"analysis model {formula!r}: the response {parsed.response!r} must be "
                         "a usable column of the data")
    if len(parsed.bars) > 1:
        raise ValueError(
            f"analysis model {formula!r} has {len(parsed.bars)} random-effect terms; write "
            "one bar with every effect that varies by cluster, e.g. (1 + x | g)"
        )
    group = parsed.bars[0].group if parsed.bars else ()
    if len(group) > 1:
        raise ValueError(f"analysis model {formula!r}: the random effects vary by one column, "
                         f"not by {':'.join(group)}")
    candidates = [c for c in codecs if c != response] + [response]
    variables = [v for v in parsed.variables(candidates + list(group)) if v not in group]
    sample, encoded = _decoded_sample(codecs, values, variables)
    columns, expected = _design_columns(parsed.fixed, sample, codecs, formula)
    random = _random_columns(parsed, sample, codecs, columns, formula)
    result = AnalysisFormula(formula, response, tuple(columns), random,
                             group[0] if group else None)
    if not np.allclose(result.matrix({**encoded, response: encoded[response]}), expected):
        raise ValueError(f"analysis model {formula!r}: the compatible methods' design differs "
                         "from formulaic's; please report this formula")
    return result


def _random_columns(parsed, sample, codecs, columns: list[DesignColumn],
                    formula: str) -> np.ndarray:
    if not parsed.bars:
        return np.array([], dtype=int)
    effects, _ = _design_columns(parsed.bars[0].effects, sample, codecs, formula)
    names = [c.name for c in columns]
    random = []
    for effect in effects:
        if effect.name not in names:
            shown = effect.name if effect.factors else "the random intercept"
            raise ValueError(
                f"analysis model {formula!r}: {shown} varies by cluster but is not a fixed "
                "effect; the random effects vary around fixed effects (add it to the fixed "
                "part" + ("; a random intercept needs the fixed intercept)" if not
                          effect.factors else ")")
            )
        random.append(names.index(effect.name))
    return np.array(random, dtype=int)
