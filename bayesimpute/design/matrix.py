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

With several cluster identifiers (levels) in a row, codes 3 and 4 add the predictor's
mean over its cluster at *every* level (``x.mean[class]``, ``x.mean[school]``), as
miceadds' ``ml.lmer`` aggregates lower-level variables to each higher level.

The structure of the design (which columns, which dummies) is fixed once per target;
each visit only refills the numbers from the current completed data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayesimpute.design.coding import ColumnCodec, VariableKind
from bayesimpute.design.levels import ClusterLevel

__all__ = ["PREDICTOR_CODES", "DesignColumn", "TargetDesign", "cluster_means", "prune_predictors",
           "Note"]

PREDICTOR_CODES = {
    -4: "outcome equation only",
    -3: "selection equation only (exclusion restriction)",
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
    #: the level whose cluster mean this column is (several levels); None: the one cluster
    mean_level: str | None = None


def _expand(predictor: str, codec: ColumnCodec, code: int,
            mean_levels: Sequence[str] = ()) -> list[DesignColumn]:
    random = code in RANDOM_CODES
    if codec.kind in (VariableKind.CATEGORICAL, VariableKind.ORDERED) or (
        codec.categories is not None
    ):
        # treatment dummies, first category the reference (an ordered factor enters the
        # same way: its levels need not be equally spaced)
        columns = [
            DesignColumn(f"{predictor}[{codec.categories[k]}]", predictor, k, False, random, code)
            for k in range(1, codec.n_categories)
        ]
    else:
        columns = [DesignColumn(predictor, predictor, None, False, random, code)]
    if code in CLUSTER_MEAN_CODES and len(mean_levels) > 1:
        columns += [
            DesignColumn(f"{c.name}.mean[{level}]", predictor, c.level, True, False, code, level)
            for level in mean_levels for c in list(columns)
        ]
    elif code in CLUSTER_MEAN_CODES:
        columns += [
            DesignColumn(f"{c.name}.cluster_mean", predictor, c.level, True, False, code)
            for c in list(columns)
        ]
    return columns


class TargetDesign:
    """The fixed structure of one target's design, and how to fill it each visit."""

    def __init__(self, target: str, roles: dict[str, int], codecs: dict[str, ColumnCodec],
                 *, multilevel: bool, mean_levels: Sequence[str] = ()):
        self.target = target
        self.multilevel = multilevel
        intercept_role = 2 if multilevel else 1
        self.columns = [DesignColumn("Intercept", "", None, False, multilevel, intercept_role)]
        for predictor, code in roles.items():
            if code in (0, -2) or predictor == target:
                continue
            self.columns += _expand(predictor, codecs[predictor], code, mean_levels)
        if not multilevel:
            self.columns = [
                DesignColumn(c.name, c.source, c.level, c.cluster_mean, False, c.role,
                             c.mean_level)
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
    def mean_levels(self) -> list[str | None]:
        """Per column, the level whose cluster mean it is (None for the others)."""
        return [c.mean_level for c in self.columns]

    @property
    def roles(self) -> np.ndarray:
        return np.array([c.role for c in self.columns], dtype=int)

    def build(self, values: dict[str, np.ndarray], cluster: np.ndarray | None,
              n_clusters: int, levels: Mapping[str, ClusterLevel] | None = None) -> np.ndarray:
        """Fill X (n, p) from the current values of the predictors.

        ``levels`` (name -> level) supplies the codes of the cluster means at each level
        when the design has several.
        """
        n = len(next(iter(values.values())))
        # column-major: each column is written and later read (gathers of the observed
        # rows, per-cluster sums) as one contiguous vector, several times faster at 10^7 rows
        X = np.empty((n, len(self.columns)), order="F")
        means: dict[tuple[str, int | None, str | None], np.ndarray] = {}
        for j, column in enumerate(self.columns):
            if not column.source:
                X[:, j] = 1.0
                continue
            raw = values[column.source]
            col = raw if column.level is None else (raw == column.level).astype(float)
            if column.level is not None:
                col[np.isnan(raw)] = np.nan
            if column.cluster_mean:
                key = (column.source, column.level, column.mean_level)
                if key not in means:
                    if column.mean_level is None:
                        means[key] = cluster_means(col, cluster, n_clusters)
                    else:
                        level = levels[column.mean_level]
                        means[key] = cluster_means(col, level.codes, level.n_clusters)
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


# --- predictors the models cannot use -----------------------------------------------------------
class Note(str):
    """A message for ``logged_events`` that also knows which variable it concerns.

    It is a ``str``, so lists of notes read as lists of messages; ``variable`` is the
    imputed variable whose model changed, or the column the note is about ("" for the
    whole run).
    """

    variable: str

    def __new__(cls, text: str, variable: str = "") -> Note:
        note = super().__new__(cls, text)
        note.variable = variable
        return note

    def __reduce__(self):
        return (Note, (str(self), self.variable))


#: |correlation| above which the later of two predictors is dropped (mice's find.collinear)
COLLINEAR_THRESHOLD = 0.999
#: 1 - R^2 below which a predictor is a linear combination of earlier ones
RANK_TOLERANCE = 1e-9
#: fewest rows two columns must share before their correlation is trusted
MIN_OVERLAP = 10


def _is_dummy_coded(codec: ColumnCodec) -> bool:
    return codec.categories is not None


def _drop(matrix: pd.DataFrame, rows: list[str], predictor: str, reason: str,
          notes: list[str]) -> None:
    if not rows:
        return
    for row in rows:
        matrix.at[row, predictor] = 0
    where = f"the model of {rows[0]!r}" if len(rows) == 1 else f"the models of {rows}"
    variable = rows[0] if len(rows) == 1 else predictor
    notes.append(Note(f"predictor {predictor!r} removed from {where}: {reason}", variable))


def _remove_constants(matrix, encoded, rows, notes) -> None:
    for predictor, values in encoded.items():
        users = [r for r in rows if matrix.at[r, predictor] not in (0, -2)]
        if users and len(np.unique(values[~np.isnan(values)])) <= 1:
            _drop(matrix, users, predictor, "constant (a single observed value)", notes)


def _remove_pairwise_collinear(matrix, encoded, codecs, rows, notes) -> None:
    numeric = [c for c in encoded if not _is_dummy_coded(codecs[c])
               and any(matrix.at[r, c] not in (0, -2) for r in rows)]
    if len(numeric) < 2:
        return
    frame = pd.DataFrame({c: encoded[c] for c in numeric})
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = frame.corr(min_periods=MIN_OVERLAP).abs().to_numpy()
    for j, later in enumerate(numeric):
        twins = [numeric[i] for i in range(j) if corr[i, j] > COLLINEAR_THRESHOLD]
        if not twins:
            continue
        users = [r for r in rows if matrix.at[r, later] not in (0, -2)
                 and any(matrix.at[r, t] not in (0, -2) for t in twins)]
        _drop(matrix, users, later, f"collinear with {twins} (|r| > {COLLINEAR_THRESHOLD})", notes)


def _dependencies(correlation: np.ndarray) -> dict[int, list[int]]:
    """Columns that are linear combinations of earlier independent ones, and of which.

    Column ``j`` is dependent when its residual variance after regressing it on the
    earlier independent columns is below :data:`RANK_TOLERANCE` of its variance (R^2 above
    ``1 - RANK_TOLERANCE``). Works on the correlation matrix, so the cost does not grow
    with the number of rows.
    """
    found: dict[int, list[int]] = {}
    basis: list[int] = []
    for j in range(len(correlation)):
        residual, partners = 1.0, []
        if basis:
            coefficients = np.linalg.lstsq(correlation[np.ix_(basis, basis)],
                                           correlation[basis, j], rcond=None)[0]
            residual = 1.0 - float(correlation[basis, j] @ coefficients)
            scale = max(np.abs(coefficients).max(), 1e-300)
            partners = [b for b, c in zip(basis, coefficients) if abs(c) > 1e-6 * scale]
        if residual < RANK_TOLERANCE:
            found[j] = partners
        else:
            basis.append(j)
    return found


def _remove_linear_combinations(matrix, encoded, codecs, rows, notes) -> None:
    """Per model: a numeric predictor in the span of earlier ones on the complete cases.

    Categorical predictors are left out: an empty level on the complete cases would look
    like a dependency.
    """
    numeric = [c for c in encoded if not _is_dummy_coded(codecs[c])]
    if len(numeric) < 2:
        return
    values = np.column_stack([encoded[c] for c in numeric])
    position = {c: k for k, c in enumerate(numeric)}
    for row in rows:
        names = [c for c in numeric if matrix.at[row, c] not in (0, -2)]
        if len(names) < 2:
            continue
        X = values[:, [position[c] for c in names]]
        X = X[~np.isnan(X).any(axis=1)]
        if len(X) < max(20, 5 * (len(names) + 1)):
            continue  # too few complete cases to tell a real dependency from chance
        sd = X.std(axis=0)
        varying = sd > 0  # constant on the complete cases only: not evidence of anything
        Z = (X[:, varying] - X[:, varying].mean(axis=0)) / sd[varying]
        kept_names = [n for n, v in zip(names, varying) if v]
        for k, partners in _dependencies(Z.T @ Z / len(Z)).items():
            _drop(matrix, [row], kept_names[k], "a linear combination of "
                  f"{[kept_names[j] for j in partners]} (complete cases)", notes)


def _count_design_columns(row: str, matrix: pd.DataFrame, codecs, multilevel: bool) -> int:
    roles = {c: int(v) for c, v in matrix.loc[row].items() if v and c in codecs}
    return len(TargetDesign(row, roles, codecs, multilevel=multilevel).columns)


def prune_predictors(data: pd.DataFrame, codecs: dict[str, ColumnCodec],
                     model_rows: dict[str, bool], matrix: pd.DataFrame, where: pd.DataFrame,
                     notes: list[str]) -> pd.DataFrame:
    """Remove predictors the models cannot use, once, before sampling (mice's loggedEvents).

    Constant predictors (one observed value) leave every model; of two predictors whose
    correlation exceeds :data:`COLLINEAR_THRESHOLD` the later one leaves the models that
    use both; a numeric predictor that is a linear combination of earlier ones on the
    complete cases leaves that model. Each removal is described in ``notes``.

    Parameters
    ----------
    data, codecs
        The data and the codecs of its usable columns.
    model_rows : dict
        Variables imputed by a model -> whether the model is multilevel.
    matrix : DataFrame
        The checked predictor matrix (not modified).
    where : DataFrame
        Cells to impute (their values, if any, do not count as observed).
    notes : list of str
        Receives one message per removal and per model with more design columns than
        observed rows.

    Returns
    -------
    DataFrame
        The predictor matrix without the removed predictors.

    Raises
    ------
    ValueError
        When a model had predictors and all of them were removed. (A model given no
        predictor at all, e.g. a random-intercept-only 2l model, is legitimate.)
    """
    matrix = matrix.copy()
    rows = list(model_rows)
    given = {r: [c for c in matrix.columns if matrix.at[r, c] not in (0, -2)] for r in rows}
    encoded = {}
    for c in codecs:
        if any(matrix.at[r, c] not in (0, -2) for r in rows):
            values = codecs[c].encode(data[c])
            values[where[c].to_numpy()] = np.nan  # cells to impute are not observations
            encoded[c] = values
    _remove_constants(matrix, encoded, rows, notes)
    _remove_pairwise_collinear(matrix, encoded, codecs, rows, notes)
    _remove_linear_combinations(matrix, encoded, codecs, rows, notes)
    for row in rows:
        if given[row] and all(matrix.at[row, c] in (0, -2) for c in given[row]):
            raise ValueError(
                f"no predictor remains in the model of {row!r}: {given[row]} were all removed "
                f"({'; '.join(n for n in notes if repr(row) in n)}); give it other "
                "predictors, or set its row of the predictor matrix to 0 for an "
                "intercept-only model"
            )
        n_observed = int((data[row].notna() & ~where[row]).sum())
        p = _count_design_columns(row, matrix, codecs, model_rows[row])
        if p > n_observed:
            notes.append(Note(
                f"the model of {row!r} has {p} design columns but {n_observed} observed rows: "
                "the coefficients are identified only through their prior; consider fewer "
                "predictors", row,
            ))
    return matrix
