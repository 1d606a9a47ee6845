"""Imputation models as TOML files: the same form for the case studies and for users.

A model file names the data, the cluster, the method and predictor roles of each
imputed variable, the run settings and the analysis::

    [data]
    dataset = "popmis"          # bundled: popmis, impact, impact_incomplete,
                                # impact_systematic, obesity; or path = "my.csv"
    cluster = "school"

    [imputation]
    m = 5
    maxit = 10
    seed = 123

    [imputation.method]
    popular = "2l.pmm"

    [imputation.predictors.popular]   # roles: integers or names (fixed, random, ...)
    school = -2
    sex = 2
    texp = 1

    [imputation.options.popular]      # method_options
    donors = 5

    [analysis]
    formula = "popular ~ texp + sex + (1 | school)"
    family = "gaussian"

A variable listed under ``[imputation.method]`` without a predictors table uses mice's
default row (every other column a fixed effect, the cluster -2). When a method imputes from
the analysis model (``2l.smc``, ``smc``), ``[analysis] formula`` is that model too.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bayesimpute import datasets
from bayesimpute.engine.spec import ROLE_NAMES, make_predictor_matrix
from bayesimpute.methods import get_method

__all__ = ["ModelFile", "load_model_file", "BUNDLED_DATASETS"]

BUNDLED_DATASETS = {
    "popmis": datasets.load_popmis,
    "impact": lambda: datasets.load_impact("complete"),
    "impact_complete": lambda: datasets.load_impact("complete"),
    "impact_incomplete": lambda: datasets.load_impact("incomplete"),
    "impact_systematic": lambda: datasets.load_impact("systematic"),
    "obesity": datasets.load_obesity,
}


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


def _load_data(section: dict, base: Path) -> pd.DataFrame:
    if "dataset" in section:
        name = section["dataset"]
        if name not in BUNDLED_DATASETS:
            raise ValueError(f"[data] dataset {name!r} unknown; bundled: {sorted(BUNDLED_DATASETS)}")
        data = BUNDLED_DATASETS[name]()
    elif "path" in section:
        path = (base / section["path"]).resolve()
        # keep_default_na=False: a level literally called "None" must stay a level
        data = pd.read_csv(path, keep_default_na=False, na_values=section.get("na_values", ["NA", ""]))
        for column in section.get("categorical", []):
            data[column] = data[column].astype("category")
    else:
        raise ValueError("[data] needs either dataset = \"...\" or path = \"...\"")
    if "columns" in section:
        missing = [c for c in section["columns"] if c not in data.columns]
        if missing:
            raise ValueError(f"[data] columns not in the data: {missing}")
        data = data[section["columns"]]
    return data


def _role(value: Any, variable: str, predictor: str) -> int:
    if isinstance(value, str):
        if value not in ROLE_NAMES:
            raise ValueError(
                f"[imputation.predictors.{variable}] {predictor} = {value!r}: unknown role; "
                f"use an integer code or one of {sorted(ROLE_NAMES)}"
            )
        return ROLE_NAMES[value]
    return int(value)


def _predictor_matrix(data, cluster, methods, tables) -> pd.DataFrame:
    matrix = make_predictor_matrix(data, cluster)
    for variable, roles in tables.items():
        if variable not in methods:
            raise ValueError(f"[imputation.predictors.{variable}] has no method in [imputation.method]")
        unknown = [p for p in roles if p not in data.columns]
        if unknown:
            raise ValueError(f"[imputation.predictors.{variable}] names unknown columns {unknown}")
        matrix.loc[variable, :] = 0
        for predictor, value in roles.items():
            matrix.loc[variable, predictor] = _role(value, variable, predictor)
    return matrix


def load_model_file(path: str | Path) -> ModelFile:
    """Parse and check a model file (errors name the section and key at fault)."""
    path = Path(path)
    with path.open("rb") as handle:
        config = tomllib.load(handle)
    unknown = set(config) - {"data", "imputation", "analysis"}
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}")
    data = _load_data(config.get("data", {}), path.parent)
    cluster = config.get("data", {}).get("cluster")
    imputation = dict(config.get("imputation", {}))
    methods = imputation.pop("method", {})
    unknown_vars = [v for v in methods if v not in data.columns]
    if unknown_vars:
        raise ValueError(f"[imputation.method] names unknown columns {unknown_vars}")
    method = pd.Series({c: methods.get(c, "") for c in data.columns}, dtype=object)
    matrix = _predictor_matrix(data, cluster, methods, imputation.pop("predictors", {}))
    options = imputation.pop("options", {})
    settings = {k: imputation.pop(k) for k in ("m", "maxit", "seed", "n_jobs") if k in imputation}
    if imputation:
        raise ValueError(f"[imputation] unknown key(s) {sorted(imputation)}")
    return ModelFile(path, data, cluster, method, matrix, settings, options,
                     dict(config.get("analysis", {})))
