"""The designs of the validity study, one module per design family."""

from __future__ import annotations

from benchmarks.validity.design import Design
from benchmarks.validity.designs import (
    categorical,
    cluster_level,
    count,
    heckman,
    impact,
    logistic,
    nonlinear,
    random_intercept,
    random_slope,
)

_MODULES = (random_intercept, random_slope, nonlinear, categorical, count, cluster_level,
            logistic, heckman, impact)

DESIGNS: dict[str, Design] = {d.name: d for module in _MODULES for d in module.DESIGNS}


def get_design(name: str) -> Design:
    """The design called ``name``; unknown names get the list of known ones."""
    try:
        return DESIGNS[name]
    except KeyError:
        raise KeyError(f"unknown design {name!r}; designs: {', '.join(DESIGNS)}") from None
