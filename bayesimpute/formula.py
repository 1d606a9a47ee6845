"""lme4-style model formulas: parsing and design matrices.

Supported syntax (the part of R's formula language that multilevel analysis models use):

* ``y ~ x + z`` main effects; ``x:z`` interactions; ``x*z`` = ``x + z + x:z``;
* ``0 +`` / ``- 1`` drop the intercept, ``1 +`` keeps it (the default);
* random-effect bars ``(1 | g)``, ``(1 + x | g)``, ``(0 + x | g)``, ``(x | g)``; several bars
  may use the same grouping factor (their effects are then uncorrelated, as in lme4);
* names that are not Python identifiers in backticks: ```BMI (kg/m2)```.

Numeric and boolean columns enter as they are. Categorical columns (pandas categoricals keep
their category order; strings are sorted, as R sorts factor levels) become treatment dummies
with the first observed level as reference, named patsy-style: ``type[T.RCT]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["RandomTerm", "ParsedFormula", "parse_formula", "design_matrix", "INTERCEPT"]

INTERCEPT = "Intercept"

_NAME = re.compile(r"^(`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*)$")


@dataclass(frozen=True)
class RandomTerm:
    """One random-effect bar ``(intercept + slopes | group)``.

    Attributes
    ----------
    group : str
        Column holding the cluster identifier.
    intercept : bool
        Whether the bar has a random intercept.
    slopes : tuple of tuple of str
        The slope terms; each term is a tuple of column names (more than one = interaction).
    """

    group: str
    intercept: bool
    slopes: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class ParsedFormula:
    """A parsed lme4-style formula.

    Attributes
    ----------
    formula : str
        The formula as given.
    response : str
        Name of the outcome column.
    intercept : bool
        Whether the fixed part has an intercept.
    fixed : tuple of tuple of str
        Fixed-effect terms, each a tuple of column names (interactions have several).
    random : tuple of RandomTerm
        The random-effect bars, in the order written.
    """

    formula: str
    response: str
    intercept: bool
    fixed: tuple[tuple[str, ...], ...]
    random: tuple[RandomTerm, ...]

    @property
    def groups(self) -> tuple[str, ...]:
        """Distinct grouping factors, in order of first appearance."""
        return tuple(dict.fromkeys(term.group for term in self.random))

    @property
    def variables(self) -> tuple[str, ...]:
        """Every column the formula uses (response first), without duplicates."""
        names = [self.response]
        names += [v for term in self.fixed for v in term]
        for bar in self.random:
            names += [v for term in bar.slopes for v in term] + [bar.group]
        return tuple(dict.fromkeys(names))


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is not inside parentheses or backticks."""
    parts, depth, quoted, current = [], 0, False, []
    for char in text:
        if char == "`":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"formula has an unmatched ')': {text!r}")
        if char == sep and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0 or quoted:
        raise ValueError(f"formula has unbalanced parentheses or backticks: {text!r}")
    parts.append("".join(current))
    return [p.strip() for p in parts]


def _name(token: str, formula: str) -> str:
    token = token.strip()
    if not _NAME.match(token):
        raise ValueError(
            f"formula term {token!r} in {formula!r} is not a column name; only names, ':' and '*' "
            "interactions, 0/1 and random-effect bars are supported"
        )
    return token[1:-1] if token.startswith("`") else token


def _expand_term(token: str, formula: str) -> list[tuple[str, ...]]:
    """Expand one ``+``-separated term: ``a*b`` -> a, b, a:b; ``a:b`` -> (a, b)."""
    factors = [f.strip() for f in _split_top_level(token, "*")]
    if len(factors) > 1:
        # a*b*c = all interactions of the factors, in R's order (main effects first).
        expanded: list[tuple[str, ...]] = [()]
        for factor in factors:
            pieces = _expand_term(factor, formula)
            expanded += [old + new for old in expanded for new in pieces]
        unique = sorted(dict.fromkeys(t for t in expanded if t), key=len)
        return unique
    names = tuple(_name(part, formula) for part in _split_top_level(token, ":"))
    return [names]


def _parse_terms(rhs: str, formula: str) -> tuple[bool, list[tuple[str, ...]], list[str]]:
    """Return (intercept, fixed terms, bar strings) of a right-hand side."""
    intercept, fixed, bars = True, [], []
    # "- 1" is the only subtraction R users write in these models; turn it into a token.
    rhs = re.sub(r"(?<!\+ )-\s*1\b", "+ -1", rhs).strip()
    rhs = rhs[1:] if rhs.startswith("+") else rhs
    for token in _split_top_level(rhs, "+"):
        if token == "":
            raise ValueError(f"formula {formula!r} has an empty term")
        if token in ("0", "-1"):
            intercept = False
        elif token == "1":
            intercept = True
        elif token.startswith("(") and token.endswith(")") and "|" in token:
            bars.append(token[1:-1])
        elif token.startswith("-"):
            raise ValueError(f"formula {formula!r}: removing terms ({token!r}) is not supported")
        else:
            fixed += [t for t in _expand_term(token, formula) if t not in fixed]
    return intercept, fixed, bars


def _parse_bar(bar: str, formula: str) -> RandomTerm:
    if "||" in bar:
        raise ValueError(f"formula {formula!r}: '||' is not supported; write separate bars")
    sides = _split_top_level(bar, "|")
    if len(sides) != 2:
        raise ValueError(f"formula {formula!r}: random-effect term ({bar}) needs one '|'")
    intercept, slopes, nested = _parse_terms(sides[0], formula)
    if nested:
        raise ValueError(f"formula {formula!r}: nested bars inside ({bar}) are not allowed")
    return RandomTerm(group=_name(sides[1], formula), intercept=intercept, slopes=tuple(slopes))


def parse_formula(formula: str) -> ParsedFormula:
    """Parse an lme4-style formula such as ``"y ~ x + z + (1 + x | g)"``.

    Parameters
    ----------
    formula : str
        The model formula.

    Returns
    -------
    ParsedFormula

    Raises
    ------
    TypeError
        If ``formula`` is not a string.
    ValueError
        If the formula has no ``~``, unbalanced parentheses, or unsupported syntax.
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a str, got {type(formula).__name__}")
    sides = _split_top_level(formula, "~")
    if len(sides) != 2 or not sides[0] or not sides[1]:
        raise ValueError(f"formula must have the form 'y ~ terms', got {formula!r}")
    response = _name(sides[0], formula)
    intercept, fixed, bars = _parse_terms(sides[1], formula)
    random = tuple(_parse_bar(bar, formula) for bar in bars)
    for bar in random:
        if not bar.intercept and not bar.slopes:
            raise ValueError(f"formula {formula!r}: a random-effect bar for {bar.group!r} is empty")
    return ParsedFormula(formula, response, intercept, tuple(fixed), random)


def check_columns(parsed: ParsedFormula, data: pd.DataFrame) -> None:
    """Raise ``ValueError`` naming every formula variable that is not a column of ``data``."""
    missing = [v for v in parsed.variables if v not in data.columns]
    if missing:
        raise ValueError(
            f"formula {parsed.formula!r} uses {missing} which are not columns of the data "
            f"(columns: {list(data.columns)})"
        )


def _levels(column: pd.Series) -> list | None:
    """Observed levels in model order, or None for a numeric column."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        present = set(column.dropna().unique())
        return [c for c in column.cat.categories if c in present]
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return None
    # Strings and other objects: sorted, as R's factor() orders levels.
    return sorted(column.dropna().unique(), key=str)


def _coded(column: pd.Series, name: str) -> dict[str, np.ndarray]:
    """Columns that code one variable: itself if numeric, else treatment dummies."""
    levels = _levels(column)
    if levels is None:
        return {name: column.to_numpy(dtype=float)}
    values = column.to_numpy(dtype=object)
    return {f"{name}[T.{level}]": (values == level).astype(float) for level in levels[1:]}


def design_matrix(
    data: pd.DataFrame, terms: tuple[tuple[str, ...], ...], intercept: bool
) -> pd.DataFrame:
    """Build the model matrix of ``terms`` (treatment coding, patsy-style names).

    Parameters
    ----------
    data : pandas.DataFrame
        Rows to code; must hold every variable of ``terms`` (no missing values expected).
    terms : tuple of tuple of str
        Terms as in :attr:`ParsedFormula.fixed`; a term with several names is an interaction,
        coded as the products of its variables' columns.
    intercept : bool
        Whether to put a column ``Intercept`` of ones first.

    Returns
    -------
    pandas.DataFrame
        Float columns, same index as ``data``.
    """
    columns: dict[str, np.ndarray] = {}
    if intercept:
        columns[INTERCEPT] = np.ones(len(data))
    coded = {v: _coded(data[v], v) for term in terms for v in term}
    for term in terms:
        product: dict[str, np.ndarray] = {"": np.ones(len(data))}
        for variable in term:
            product = {
                (f"{left}:{right}" if left else right): lvec * rvec
                for left, lvec in product.items()
                for right, rvec in coded[variable].items()
            }
        columns.update(product)
    return pd.DataFrame(columns, index=data.index)
