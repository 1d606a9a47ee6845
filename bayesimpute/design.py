"""Predictor roles -> the design a method sees (fixed effects, random slopes, cluster means).

mice / miceadds / micemd predictor-matrix codes:

====  =====================================================
code  role of the predictor in the row's imputation model
====  =====================================================
0     not used
1     fixed effect
2     fixed effect + random slope
3     fixed effect + its cluster mean as a fixed effect
4     fixed effect + random slope + cluster mean
-2    cluster identifier
-3    selection equation only (2l.heckman: exclusion restriction)
-4    outcome equation only (2l.heckman)
====  =====================================================

The structure of the design (which columns, which dummies) is fixed once per target;
each visit only refills the numbers from the current completed data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayesimpute.coding import ColumnCodec, VariableKind

__all__ = ["PREDICTOR_CODES", "DesignColumn", "TargetDesign", "cluster_means"]

PREDICTOR_CODES = {
    -4: "outcome equation only",
    -3: "selection equation only",
    -2: "cluster identifier",
    0: "not used",
    1: "fixed effect",
    2: "random slope",
    3: "fixed effect + cluster mean",
    4: "random slope + cluster mean",
}
RANDOM_CODES = {2, 4}
CLUSTER_MEAN_CODES = {3, 4}


@dataclass(frozen=True)
class DesignColumn:
    """One column of X: which predictor, which level (for dummies), mean or not."""

    name: str
    source: str
    level: int | None  # dummy for category code ``level``; None for numeric values
    cluster_mean: bool
    random: bool
    role: int


def _expand(predictor: str, codec: ColumnCodec, code: int) -> list[DesignColumn]:
    random = code in RANDOM_CODES
    if codec.kind in (VariableKind.CATEGORICAL, VariableKind.ORDERED) or (
        codec.categories is not None
    ):
        # treatment dummies, first category the reference (an ordered factor enters the
        # same way: its levels need not be equally spaced)
        columns = [
            DesignColumn(f"{predictor}[{codec.categories[k]}]", predictor, k, False, random, code)
            for k in range(1, codec.n_levels)
        ]
    else:
        columns = [DesignColumn(predictor, predictor, None, False, random, code)]
    if code in CLUSTER_MEAN_CODES:
        columns += [
            DesignColumn(f"{c.name}.cluster_mean", predictor, c.level, True, False, code)
            for c in list(columns)
        ]
    return columns


class TargetDesign:
    """The fixed structure of one target's design, and how to fill it each visit."""

    def __init__(self, target: str, roles: dict[str, int], codecs: dict[str, ColumnCodec],
                 *, multilevel: bool):
        self.target = target
        self.multilevel = multilevel
        intercept_role = 2 if multilevel else 1
        self.columns = [DesignColumn("Intercept", "", None, False, multilevel, intercept_role)]
        for predictor, code in roles.items():
            if code in (0, -2) or predictor == target:
                continue
            self.columns += _expand(predictor, codecs[predictor], code)
        if not multilevel:
            self.columns = [
                DesignColumn(c.name, c.source, c.level, c.cluster_mean, False, c.role)
                for c in self.columns
            ]
        self.sources = sorted({c.source for c in self.columns if c.source})

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def random(self) -> np.ndarray:
        return np.array([i for i, c in enumerate(self.columns) if c.random], dtype=int)

    @property
    def roles(self) -> np.ndarray:
        return np.array([c.role for c in self.columns], dtype=int)

    def build(self, values: dict[str, np.ndarray], cluster: np.ndarray | None,
              n_clusters: int) -> np.ndarray:
        """Fill X (n, p) from the current values of the predictors."""
        n = len(next(iter(values.values())))
        X = np.empty((n, len(self.columns)))
        means: dict[tuple[str, int | None], np.ndarray] = {}
        for j, column in enumerate(self.columns):
            if not column.source:
                X[:, j] = 1.0
                continue
            raw = values[column.source]
            col = raw if column.level is None else (raw == column.level).astype(float)
            if column.level is not None:
                col[np.isnan(raw)] = np.nan
            if column.cluster_mean:
                key = (column.source, column.level)
                if key not in means:
                    means[key] = cluster_means(col, cluster, n_clusters)
                col = means[key]
            X[:, j] = col
        return X


def cluster_means(values: np.ndarray, cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """Per-row mean of ``values`` over the row's cluster (NaN ignored), as miceadds does
    with the current completed data: manifest means that include imputed values."""
    ok = ~np.isnan(values)
    sums = np.bincount(cluster[ok], weights=values[ok], minlength=n_clusters)
    counts = np.bincount(cluster[ok], minlength=n_clusters)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
    return mean[cluster]
