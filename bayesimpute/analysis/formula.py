"""lme4 model formulas: the random-effect bars, with formulaic for every design matrix.

The fixed part and the left-hand side of every bar are ordinary Wilkinson formulas, coded by
`formulaic <https://matthewwardrop.github.io/formulaic/>`_: ``a * b``, ``a:b``, ``C(f)``,
``C(f, contr.treatment("b"))`` (reference level ``b``), ``I(x**2)``, ``log(x)``,
``np.exp(x)``, ``poly(x, 2)``, ``center(x)``, ``0 +`` / ``- 1``... with patsy-style column names
(``Intercept``, ``type[T.RCT]``). formulaic knows nothing of lme4's bars, so this module only
finds them and expands their lme4 shorthands, as lme4's ``findbars`` / ``expandDoubleVerts``
/ ``expandSlash`` do:

* ``(1 + x | g)``: correlated random intercept and slope per level of ``g``;
* ``(1 + x || g)``: the same effects, uncorrelated (one term per effect);
* ``(1 | g1 / g2)``: nested, ``(1 | g1) + (1 | g2:g1)`` (lme4's names);
* ``(1 | g1:g2)``: one level per observed combination;
* several bars on different factors: crossed or nested, as the data say.

Categorical columns: pandas categoricals keep their category order (the first level present is
the reference, unused levels are dropped); strings are sorted, as R sorts factor levels. Ordered
categoricals get treatment contrasts too (R would use polynomial ones).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["INTERCEPT", "Bar", "MixedFormula", "parse_formula", "DesignMatrices",
           "RandomTermDesign", "build_design"]

INTERCEPT = "Intercept"
_NAME = re.compile(r"^(`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*)$")


@dataclass(frozen=True)
class Bar:
    """One random-effect term ``(effects | group)`` after lme4's expansions.

    Attributes
    ----------
    effects : str
        Wilkinson formula of the effects (``"1 + x"``, ``"0 + x"``).
    group : tuple of str
        Columns whose combinations define the levels (``("class", "school")`` for
        ``class:school``).
    """

    effects: str
    group: tuple[str, ...]

    @property
    def group_name(self) -> str:
        """lme4's name of the grouping factor (``"class:school"``)."""
        return ":".join(self.group)


@dataclass(frozen=True)
class MixedFormula:
    """A parsed lme4 formula.

    Attributes
    ----------
    formula : str
        As given.
    response : str
        Left-hand side (a column name or a formulaic expression such as ``log(y)``).
    fixed : str
        Right-hand side without the bars (``"1"`` when only bars were written).
    bars : tuple of Bar
        Random-effect terms in the order written, after expansion.
    """

    formula: str
    response: str
    fixed: str
    bars: tuple[Bar, ...]

    @property
    def groups(self) -> tuple[str, ...]:
        """Distinct grouping-factor names in order of appearance."""
        return tuple(dict.fromkeys(bar.group_name for bar in self.bars))

    def variables(self, columns: Sequence[str]) -> list[str]:
        """Columns of a data set that the formula uses (response first).

        Names are read from the formula text (quoted strings skipped, backticks honoured): a
        name followed by ``(`` is a function, a dotted name starting with a module or formulaic
        namespace (``np.log``, ``contr.treatment``) is formulaic's; any other name must be a
        column.

        Raises
        ------
        ValueError
            Naming every variable that is not a column.
        """
        names: list[str] = []
        unknown: list[str] = []
        pieces = [self.response, self.fixed] + [bar.effects for bar in self.bars]
        for piece in pieces:
            for name, is_call in _identifiers(piece):
                if name in columns:
                    names.append(name)
                elif not is_call and not _is_namespace(name):
                    unknown.append(name)
        for bar in self.bars:
            for group in bar.group:
                (names if group in columns else unknown).append(group)
        if unknown:
            raise ValueError(
                f"formula {self.formula!r} uses {list(dict.fromkeys(unknown))} which are not "
                f"columns of the data (columns: {list(columns)})"
            )
        return list(dict.fromkeys(names))


_IDENTIFIER = re.compile(r"`([^`]+)`|([A-Za-z_.][A-Za-z0-9_.]*)(\s*\()?")
_STRING = re.compile(r"'[^']*'|\"[^\"]*\"")


def _identifiers(text: str) -> list[tuple[str, bool]]:
    """(name, is a function call) for every name in a formula piece."""
    out = []
    for match in _IDENTIFIER.finditer(_STRING.sub("''", text)):
        quoted, plain, call = match.groups()
        if quoted is not None:
            out.append((quoted, False))
        elif not plain[0].isdigit() and plain not in ("True", "False", "None"):
            out.append((plain, call is not None))
    return out


def _is_namespace(name: str) -> bool:
    """``np.pi``, ``contr.treatment``...: names formulaic resolves, not data columns."""
    return "." in name and name.split(".")[0] in ("np", "numpy", "contr", "math")


def _split_top_level(text: str, separators: str) -> list[str]:
    """Split on any of ``separators`` outside parentheses, backticks and quotes."""
    parts, current, depth, quote = [], [], 0, None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "`'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"formula has an unmatched ')': {text!r}")
        if char in separators and depth == 0 and quote is None:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if depth != 0 or quote is not None:
        raise ValueError(f"formula has unbalanced parentheses or quotes: {text!r}")
    parts.append("".join(current).strip())
    return parts


def _strip_outer_parentheses(term: str) -> str | None:
    """``"(a | b)"`` -> ``"a | b"`` when the parentheses enclose the whole term."""
    if not (term.startswith("(") and term.endswith(")")):
        return None
    depth = 0
    for i, char in enumerate(term):
        depth += char == "("
        depth -= char == ")"
        if depth == 0 and i < len(term) - 1:
            return None
    return term[1:-1]


def _column(token: str, formula: str) -> str:
    token = token.strip()
    if not _NAME.match(token):
        raise ValueError(
            f"formula {formula!r}: grouping factor {token!r} must be a column name "
            "(or names joined by ':' or '/')"
        )
    return token[1:-1] if token.startswith("`") else token


def _groups(text: str, formula: str) -> list[tuple[str, ...]]:
    """lme4's expandSlash: ``a/b`` -> ``b:a``, ``a``; ``a:b`` stays one factor."""
    nested = [tuple(_column(c, formula) for c in part.split(":")) for part in text.split("/")]
    out, outer = [], ()
    for level in nested:
        outer = level + outer
        out.append(outer)
    return out[::-1]


def _effect_terms(effects: str, formula: str) -> list[str]:
    """``||``: one uncorrelated term per effect, as lme4's expandDoubleVerts."""
    from formulaic import Formula

    terms = [str(t) for t in Formula(effects)]
    if not terms:
        raise ValueError(f"formula {formula!r}: a random-effect bar has no effects")
    return ["1" if t == "1" else f"0 + {t}" for t in terms]


def _parse_bar(inner: str, formula: str) -> list[Bar]:
    double = "||" in inner
    sides = [s.strip() for s in inner.split("||" if double else "|")]
    if len(sides) != 2 or not sides[0] or not sides[1]:
        raise ValueError(f"formula {formula!r}: random-effect term ({inner}) needs one '|'")
    effects = _effect_terms(sides[0], formula) if double else [sides[0]]
    return [Bar(effect, group) for group in _groups(sides[1], formula) for effect in effects]


def parse_formula(formula: str) -> MixedFormula:
    """Parse an lme4 formula such as ``"y ~ x + (1 + x | g)"``.

    Raises
    ------
    TypeError
        If ``formula`` is not a str.
    ValueError
        Without a single ``~``, with unbalanced parentheses or a malformed bar.
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a str, got {type(formula).__name__}")
    sides = _split_top_level(formula, "~")
    if len(sides) != 2 or not sides[0] or not sides[1]:
        raise ValueError(f"formula must have the form 'y ~ terms', got {formula!r}")
    fixed, bars = [], []
    for term in _split_top_level(sides[1], "+"):
        if not term:
            raise ValueError(f"formula {formula!r} has an empty term")
        inner = _strip_outer_parentheses(term)
        if inner is not None and len(_split_top_level(inner, "|")) > 1:
            bars += _parse_bar(inner, formula)
        else:
            fixed.append(term)
    response = sides[0][1:-1] if _NAME.match(sides[0]) and sides[0].startswith("`") else sides[0]
    return MixedFormula(formula, response, " + ".join(fixed) or "1", tuple(bars))


# --------------------------------------------------------------------------- design matrices


@dataclass
class RandomTermDesign:
    """The design of one random-effect term.

    Attributes
    ----------
    group : str
        Grouping-factor name (lme4's).
    effects : list of str
        Effect names (``Intercept``, ``x``).
    codes : numpy.ndarray
        Level index (0..levels-1) of every row.
    levels : pandas.Index
        Level labels.
    matrix : numpy.ndarray
        The effects' columns, shape (rows, effects).
    """

    group: str
    effects: list[str]
    codes: np.ndarray
    levels: pd.Index
    matrix: np.ndarray

    @property
    def n_groups(self) -> int:
        return len(self.levels)


@dataclass
class DesignMatrices:
    """Response, fixed-effects design and random-effect terms of one data set."""

    response: np.ndarray
    fixed: pd.DataFrame
    terms: list[RandomTermDesign]
    index: pd.Index


def _model_matrix(spec: str, rows: pd.DataFrame, formula: str) -> pd.DataFrame:
    from formulaic import model_matrix

    try:
        matrix = model_matrix(spec, rows, na_action="raise")
    except Exception as err:  # formulaic raises many unrelated types
        raise ValueError(
            f"formula {formula!r}: cannot build the design of {spec!r}: {err}") from err
    return pd.DataFrame(np.asarray(matrix, dtype=float), index=rows.index,
                        columns=[str(c) for c in matrix.columns])


def _level_codes(rows: pd.DataFrame, group: tuple[str, ...]) -> tuple[np.ndarray, pd.Index]:
    if len(group) == 1:
        codes, levels = pd.factorize(rows[group[0]], sort=True)
        return codes, pd.Index(levels)
    frame = rows.loc[:, list(group)].astype(str)
    labels = frame.agg(":".join, axis=1)
    codes, levels = pd.factorize(labels, sort=True)
    return codes, pd.Index(levels)


def _drop_unused_categories(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.copy()
    for name in out.columns:
        if isinstance(out[name].dtype, pd.CategoricalDtype):
            out[name] = out[name].cat.remove_unused_categories()
    return out


def build_design(parsed: MixedFormula, data: pd.DataFrame) -> DesignMatrices:
    """Design matrices of ``parsed`` on the complete rows of ``data`` (as R's na.omit)."""
    variables = parsed.variables(list(data.columns))
    rows = _drop_unused_categories(data.loc[:, variables].dropna())
    if rows.empty:
        raise ValueError(f"formula {parsed.formula!r}: no row is complete in {variables}")
    response = _response(parsed, rows)
    fixed = _model_matrix(parsed.fixed, rows, parsed.formula)
    terms = []
    for bar in parsed.bars:
        matrix = _model_matrix(bar.effects, rows, parsed.formula)
        if matrix.shape[1] == 0:
            raise ValueError(f"formula {parsed.formula!r}: the bar for {bar.group_name!r} is empty")
        codes, levels = _level_codes(rows, bar.group)
        terms.append(RandomTermDesign(bar.group_name, list(matrix.columns), codes, levels,
                                      matrix.to_numpy()))
    _check_duplicate_effects(parsed, terms)
    return DesignMatrices(response, fixed, _lme4_order(terms), rows.index)


def _lme4_order(terms: list[RandomTermDesign]) -> list[RandomTermDesign]:
    """lme4's mkReTrms order: when some term has more levels than the one before it, all terms
    are sorted by decreasing number of levels (``rev(order(nl))``), so that theta is laid out
    as lme4's ``getME(fit, "theta")``."""
    levels = [t.n_groups for t in terms]
    if not any(b > a for a, b in zip(levels, levels[1:])):
        return terms
    ascending = sorted(range(len(terms)), key=lambda i: levels[i])  # stable, as R's order()
    return [terms[i] for i in reversed(ascending)]


def _response(parsed: MixedFormula, rows: pd.DataFrame) -> np.ndarray | pd.Series:
    name = parsed.response.strip("`")
    if name in rows.columns:
        return rows[name]
    return _model_matrix(f"0 + {parsed.response}", rows, parsed.formula).iloc[:, 0]


def _check_duplicate_effects(parsed: MixedFormula, terms: list[RandomTermDesign]) -> None:
    seen: set[tuple[str, str]] = set()
    for term in terms:
        for effect in term.effects:
            key = (term.group, effect)
            if key in seen:
                raise ValueError(
                    f"formula {parsed.formula!r} repeats the random effect {effect!r} of "
                    f"{term.group!r}"
                )
            seen.add(key)
