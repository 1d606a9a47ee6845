"""The default imputation method of each variable kind, at each level: one table.

:func:`~bayesimpute.engine.spec.make_method`, :func:`~bayesimpute.defaults.find_default_method`
and :func:`~bayesimpute.methods.cluster_level.two_level_only.cluster_level_method` all read
it, so the defaults cannot drift apart. It imports only the variable kinds, so every layer
may use it.
"""

from __future__ import annotations

from enum import Enum

from bayesimpute.design.coding import VariableKind

__all__ = ["Level", "DEFAULT_METHODS", "default_method_for"]


class Level(Enum):
    """Where a variable's imputation model lives."""

    SINGLE = "single-level"    # no cluster
    TWO = "two-level"          # a row-level variable in clusters
    CLUSTER = "cluster-level"  # constant within every cluster: one value per cluster
    SEVERAL = "several-level"  # several cluster identifiers (nested or crossed): ml.*


#: kind -> level -> method name (the ml.* family has no ordinal model: ordered factors
#: with several levels are matched on, as continuous variables are)
DEFAULT_METHODS: dict[VariableKind, dict[Level, str]] = {
    VariableKind.CONTINUOUS: {Level.SINGLE: "pmm", Level.TWO: "2l.pmm",
                              Level.CLUSTER: "2lonly.pmm", Level.SEVERAL: "ml.pmm"},
    VariableKind.BINARY: {Level.SINGLE: "logreg", Level.TWO: "2l.bin",
                          Level.CLUSTER: "2lonly.logreg", Level.SEVERAL: "ml.bin"},
    VariableKind.CATEGORICAL: {Level.SINGLE: "polyreg", Level.TWO: "2l.polyreg",
                               Level.CLUSTER: "2lonly.polyreg", Level.SEVERAL: "ml.polyreg"},
    VariableKind.ORDERED: {Level.SINGLE: "polr", Level.TWO: "2l.polr",
                           Level.CLUSTER: "2lonly.polr", Level.SEVERAL: "ml.pmm"},
}


def default_method_for(kind: VariableKind, level: Level) -> str:
    """The default method for a variable of this kind at this level.

    Parameters
    ----------
    kind : VariableKind
        The variable's kind (continuous, binary, categorical, ordered).
    level : Level
        Single-level, two-level (row-level in clusters), cluster-level or several levels.

    Returns
    -------
    str
        The method's registered name.

    Examples
    --------
    >>> from bayesimpute.design.coding import VariableKind
    >>> from bayesimpute.method_table import Level, default_method_for
    >>> default_method_for(VariableKind.BINARY, Level.CLUSTER)
    '2lonly.logreg'
    """
    return DEFAULT_METHODS[kind][level]
