"""Imputation models as TOML files: the same form for the case studies and for users.

A model file names the data, the cluster, the method and predictor roles of each
imputed variable, the run settings and the analysis::

    [data]
    dataset = "brandsma"        # bundled: brandsma, popmis, impact, impact_incomplete,
                                # impact_systematic, obesity; or path = "my.csv"
    cluster = "sch"
    columns = ["sch", "lpo", "iqv", "ses", "den"]   # keep these columns (in this order)
    categorical = ["den"]       # unordered factors (CSV columns are read as numbers/text)
    ordered = []                # ordered factors
    [data.levels]               # level order of a factor (first = reference)
    den = [1, 2, 3, 4]
    [data.reference]            # or only the reference level, moved first
    den = 1

    [imputation]
    m = 5
    maxit = 10
    seed = 123
    defaults = "make_method"    # every incomplete column not listed below gets
                                # make_method's (or "find_default_method"'s) choice

    [imputation.method]
    lpo = "2l.pmm"

    [imputation.predictors.lpo] # the whole row: unlisted columns are 0 (not used)
    sch = "cluster"             # integers or names: cluster, fixed, random, ...
    iqv = "random"
    ses = "fixed"

    [imputation.options.lpo]    # method_options
    donors = 5

    [analysis]
    formula = "lpo ~ iqv + ses + den + (1 + iqv | sch)"
    family = "gaussian"

Every section and key is checked: an unknown or misspelt key, a value of the wrong type,
a column that is not in the data, a level the data do not have, each is an error naming
the section and key. The README's "Model files" table lists every key.
When a method imputes from the analysis model (``2l.smc``, ``smc``), ``[analysis] formula``
is that model too.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesimpute import datasets
from bayesimpute.analysis.families import FAMILIES
from bayesimpute.defaults import find_default_method
from bayesimpute.engine.spec import ROLE_NAMES, make_method, make_predictor_matrix
from bayesimpute.methods import get_method
from bayesimpute.validation import check_columns, check_one_of

__all__ = ["ModelFile", "ModelFileError", "load_model_file", "BUNDLED_DATASETS", "KEYS"]

BUNDLED_DATASETS: dict[str, Callable[[], pd.DataFrame]] = {
    "brandsma": datasets.load_brandsma,
    "popmis": datasets.load_popmis,
    "impact": lambda: datasets.load_impact("complete"),
    "impact_complete": lambda: datasets.load_impact("complete"),
    "impact_incomplete": lambda: datasets.load_impact("incomplete"),
    "impact_systematic": lambda: datasets.load_impact("systematic"),
    "obesity": datasets.load_obesity,
}

#: the valid keys of every section (the README's table documents each)
KEYS = {
    "data": {"dataset", "path", "cluster", "columns", "na_values", "categorical", "ordered",
             "levels", "reference"},
    "imputation": {"m", "maxit", "seed", "n_jobs", "defaults", "method", "predictors",
                   "options"},
    "analysis": {"formula", "family"},
}
DEFAULTS = {"make_method": make_method, "find_default_method": find_default_method}


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names the file, section and key."""


@dataclass
class ModelFile:
    """A parsed model file: the data and every argument of :func:`bayesimpute.impute`."""

    path: Path
    data: pd.DataFrame
    cluster: str | None
    method: pd.Series
    predictor_matrix: pd.DataFrame
    settings: dict[str, Any]
    method_options: dict[str, dict[str, Any]]
    analysis: dict[str, Any] = field(default_factory=dict)

    def impute_kwargs(self) -> dict[str, Any]:
        kwargs = {
            "method": self.method, "predictor_matrix": self.predictor_matrix,
            "cluster": self.cluster, "method_options": self.method_options or None,
            **self.settings,
        }
        if self.analysis.get("formula") and any(
                name and not name.startswith("~") and get_method(name).uses_analysis_model
                for name in self.method):
            kwargs["analysis_model"] = self.analysis["formula"]
        return kwargs


class _Checker:
    """Type checks that name the file, section and key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, message: str) -> ModelFileError:
        return ModelFileError(f"{self.path.name}: [{where}] {message}")

    def table(self, value: Any, where: str) -> dict:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a table, got {value!r}")
        return dict(value)

    def keys(self, table: dict, section: str) -> None:
        unknown = sorted(set(table) - KEYS[section])
        if unknown:
            raise self.fail(section, f"unknown key(s) {unknown}; valid keys: "
                                     f"{sorted(KEYS[section])}")

    def string(self, value: Any, where: str, key: str) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"{key} must be a string, got {value!r}")
        return value

    def integer(self, value: Any, where: str, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"{key} must be an integer, got {value!r}")
        return value

    def strings(self, value: Any, where: str, key: str) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, f"{key} must be a list of strings, got {value!r}")
        return value

    def columns(self, names: list[str], data: pd.DataFrame, where: str, key: str) -> None:
        """The package's one column check, its message placed in the file."""
        try:
            check_columns(data, names, f"{key}:")
        except ValueError as error:
            raise self.fail(where, str(error)) from None

    def one_of(self, value: Any, choices, where: str, key: str) -> Any:
        """The package's one "must be one of" check, its message placed in the file."""
        try:
            return check_one_of(value, choices, name=key)
        except ValueError as error:
            raise self.fail(where, str(error)) from None


# --- [data] ---------------------------------------------------------------------------------------
def _read_source(section: dict, base: Path, check: _Checker) -> pd.DataFrame:
    sources = [k for k in ("dataset", "path") if k in section]
    if len(sources) != 1:
        raise check.fail("data", 'needs exactly one of dataset = "..." (bundled) or '
                                 f'path = "file.csv"; got {sources or "neither"}')
    if "dataset" in section:
        name = check.string(section["dataset"], "data", "dataset")
        if name not in BUNDLED_DATASETS:
            raise check.fail("data", f"dataset {name!r} unknown; bundled: "
                                     f"{sorted(BUNDLED_DATASETS)}")
        if "na_values" in section:
            raise check.fail("data", "na_values applies to path = ... (a CSV file), not to a "
                                     "bundled dataset")
        return BUNDLED_DATASETS[name]()
    path = (base / check.string(section["path"], "data", "path")).resolve()
    if not path.is_file():
        raise check.fail("data", f"path {section['path']!r}: no such file ({path})")
    na_values = check.strings(section.get("na_values", ["NA", ""]), "data", "na_values")
    # keep_default_na=False: a level literally called "None" must stay a level
    return pd.read_csv(path, keep_default_na=False, na_values=na_values)


def _declared_levels(section: dict, check: _Checker, data: pd.DataFrame) -> dict[str, Any]:
    """Per factor column: whether ordered, and its declared levels / reference (or None)."""
    unordered = check.strings(section.get("categorical", []), "data", "categorical")
    ordered = check.strings(section.get("ordered", []), "data", "ordered")
    both = sorted(set(unordered) & set(ordered))
    if both:
        raise check.fail("data", f"{both} listed in both categorical and ordered")
    levels = check.table(section.get("levels", {}), "data.levels")
    reference = check.table(section.get("reference", {}), "data.reference")
    for key, table in (("levels", levels), ("reference", reference)):
        check.columns(list(table), data, f"data.{key}", "the table")
    check.columns(unordered + ordered, data, "data", "categorical / ordered")
    factors = {}
    for column in dict.fromkeys([*unordered, *ordered, *levels, *reference]):
        is_ordered = column in ordered or (
            column not in unordered and isinstance(data[column].dtype, pd.CategoricalDtype)
            and data[column].cat.ordered)
        given = levels.get(column)
        if given is not None and (not isinstance(given, list) or not given):
            raise check.fail("data.levels", f"{column} must be a non-empty list of levels, "
                                            f"got {given!r}")
        factors[column] = (is_ordered, given, reference.get(column))
    return factors


def _as_factor(series: pd.Series, ordered: bool, levels: list | None, reference: Any,
               check: _Checker) -> pd.Series:
    """The column as a categorical with the declared level order.

    Values and levels are matched by their text, with whole numbers written without a
    decimal point, so ``den = [1, 2]`` matches a CSV column read as 1.0, 2.0 (numbers with
    missing values) as well as a text column "1", "2".
    """
    present = list(pd.unique(series.dropna()))
    if levels is not None:
        categories = list(levels)
        texts = [_text(v) for v in categories]
        if len(set(texts)) < len(texts):
            raise check.fail("data.levels", f"{series.name}: repeated levels in {levels!r}")
        unknown = sorted({_text(v) for v in present} - set(texts))
        if unknown:
            raise check.fail("data.levels", f"{series.name}: the data have value(s) {unknown} "
                                            f"that are not among the levels {levels!r}")
    elif isinstance(series.dtype, pd.CategoricalDtype):
        categories = list(series.cat.categories)
    else:
        categories = sorted(present, key=_sort_key)
        if all(_is_whole(v) for v in categories):
            categories = [int(v) for v in categories]
    if reference is not None:
        position = [i for i, c in enumerate(categories) if _text(c) == _text(reference)]
        if not position:
            raise check.fail("data.reference", f"{series.name} = {reference!r} is not a level; "
                                               f"levels: {[_text(c) for c in categories]}")
        i = position[0]
        categories = [categories[i], *categories[:i], *categories[i + 1:]]
    lookup = {_text(c): c for c in categories}
    values = [lookup[_text(v)] if pd.notna(v) else None for v in series]
    return pd.Series(pd.Categorical(values, categories=categories, ordered=ordered),
                     index=series.index, name=series.name)


def _is_whole(value: Any) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, bool) and float(value).is_integer())


def _text(value: Any) -> str:
    return str(int(value)) if _is_whole(value) else str(value)


def _sort_key(value: Any) -> tuple:
    return (0, value, "") if isinstance(value, (int, float, np.number)) else (1, 0, str(value))


def _load_data(section: dict, base: Path, check: _Checker) -> pd.DataFrame:
    check.keys(section, "data")
    data = _read_source(section, base, check)
    if "columns" in section:
        columns = check.strings(section["columns"], "data", "columns")
        check.columns(columns, data, "data", "columns")
        data = data[columns]
    data = data.copy()
    for column, (ordered, levels, reference) in _declared_levels(section, check, data).items():
        data[column] = _as_factor(data[column], ordered, levels, reference, check)
    if "cluster" in section:
        cluster = check.string(section["cluster"], "data", "cluster")
        check.columns([cluster], data, "data", "cluster")
    return data


# --- [imputation] ---------------------------------------------------------------------------------
def _role(value: Any, variable: str, predictor: str, check: _Checker) -> int:
    where = f"imputation.predictors.{variable}"
    if isinstance(value, str):
        if value.strip().lower() not in ROLE_NAMES:
            raise check.fail(where, f"{predictor} = {value!r}: unknown role; use an integer "
                                    f"code or one of {sorted(ROLE_NAMES)}")
        return ROLE_NAMES[value.strip().lower()]
    return check.integer(value, where, predictor)


def _methods(imputation: dict, data: pd.DataFrame, cluster: str | None,
             check: _Checker) -> pd.Series:
    listed = check.table(imputation.get("method", {}), "imputation.method")
    check.columns(list(listed), data, "imputation.method", "the table")
    for column, name in listed.items():
        check.string(name, "imputation.method", column)
    choice = imputation.get("defaults")
    if choice is None:
        base = pd.Series("", index=data.columns, dtype=object)
    else:
        check.string(choice, "imputation", "defaults")
        check.one_of(choice, sorted(DEFAULTS), "imputation", "defaults")
        if choice == "find_default_method" and cluster is None:
            raise check.fail("imputation", 'defaults = "find_default_method" needs [data] '
                                           "cluster")
        base = DEFAULTS[choice](data, cluster=cluster).astype(object)
    return pd.Series({c: listed.get(c, base[c]) for c in data.columns}, dtype=object,
                     name="method")


def _predictor_matrix(data: pd.DataFrame, cluster: str | None, method: pd.Series,
                      tables: dict, check: _Checker) -> pd.DataFrame:
    matrix = make_predictor_matrix(data, cluster)
    for variable, roles in tables.items():
        where = f"imputation.predictors.{variable}"
        if variable not in data.columns:
            raise check.fail(where, f"{variable!r} is not a column of the data")
        if not method[variable]:
            raise check.fail(where, f"{variable!r} has no method (list it in "
                                    "[imputation.method] or set [imputation] defaults)")
        roles = check.table(roles, where)
        check.columns(list(roles), data, where, "the table")
        matrix.loc[variable, :] = 0
        for predictor, value in roles.items():
            matrix.loc[variable, predictor] = _role(value, variable, predictor, check)
    return matrix


def _options(tables: Any, method: pd.Series, check: _Checker) -> dict[str, dict[str, Any]]:
    tables = check.table(tables, "imputation.options")
    out = {}
    for variable, options in tables.items():
        where = f"imputation.options.{variable}"
        if variable not in method.index or not method[variable]:
            raise check.fail(where, f"{variable!r} has no method to take options")
        out[variable] = check.table(options, where)
    return out


def _settings(imputation: dict, check: _Checker) -> dict[str, Any]:
    return {k: check.integer(imputation[k], "imputation", k)
            for k in ("m", "maxit", "seed", "n_jobs") if k in imputation}


def _analysis(section: Any, check: _Checker) -> dict[str, Any]:
    section = check.table(section, "analysis")
    check.keys(section, "analysis")
    if "formula" in section:
        check.string(section["formula"], "analysis", "formula")
    if "family" in section:
        check.one_of(section["family"], list(FAMILIES), "analysis", "family")
    if "family" in section and "formula" not in section:
        raise check.fail("analysis", "family given without a formula")
    return section


def load_model_file(path: str | Path) -> ModelFile:
    """Parse and check a model file (errors name the file, section and key at fault).

    Raises
    ------
    ModelFileError
        (a ``ValueError``) for anything the file gets wrong; TOML syntax errors are
        reported the same way, with the line.
    FileNotFoundError
        When the model file itself does not exist.
    """
    path = Path(path)
    check = _Checker(path)
    with path.open("rb") as handle:
        try:
            config = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise ModelFileError(f"{path.name}: not valid TOML: {error}") from None
    unknown = sorted(set(config) - set(KEYS))
    if unknown:
        raise ModelFileError(f"{path.name}: unknown section(s) {unknown}; valid sections: "
                             f"{sorted(KEYS)}")
    section = check.table(config.get("data", {}), "data")
    data = _load_data(section, path.parent, check)
    cluster = section.get("cluster")
    imputation = check.table(config.get("imputation", {}), "imputation")
    check.keys(imputation, "imputation")
    method = _methods(imputation, data, cluster, check)
    predictors = check.table(imputation.get("predictors", {}), "imputation.predictors")
    matrix = _predictor_matrix(data, cluster, method, predictors, check)
    return ModelFile(path, data, cluster, method, matrix, _settings(imputation, check),
                     _options(imputation.get("options", {}), method, check),
                     _analysis(config.get("analysis", {}), check))
