"""The validated specification of an imputation run.

Everything a user can get wrong is checked here, before any sampling starts, and each
error names the column or argument at fault: the problem (:func:`build_spec`) and where
and how the chains run (:func:`check_run_arguments`: ``n_jobs``, ``client``, ``backend``,
``keep``, ``store``). The sampler only ever sees an
:class:`ImputationSpec`.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesimpute.design.clusters import is_cluster_level, varying_cluster_labels
from bayesimpute.design.coding import ColumnCodec, VariableKind, make_codec
from bayesimpute.design.matrix import PREDICTOR_CODES, Note, prune_predictors
from bayesimpute.design.levels import chains, make_level, row_levels
from bayesimpute.methods import ImputationMethod, SetupContext, available_methods, get_method
from bayesimpute.method_table import Level, default_method_for
from bayesimpute.methods.cluster_level.two_level_only import cluster_level_method
from bayesimpute.validation import check_cluster, check_imputable_frame, check_one_of, warn_user

__all__ = [
    "ImputationSpec",
    "build_spec",
    "make_method",
    "make_predictor_matrix",
    "is_passive",
    "passive_inputs",
    "to_pandas_frame",
    "model_clusters",
    "ROLE_NAMES",
    "KEEP_CHOICES",
    "BACKENDS",
    "RunArguments",
    "check_run_arguments",
    "check_keep",
    "check_store",
    "check_n_jobs",
    "check_backend",
]

#: Named roles accepted beside mice's integer codes.
ROLE_NAMES = {
    "none": 0, "fixed": 1, "random": 2, "fixed+mean": 3, "random+mean": 4,
    "cluster": -2, "selection": -3, "outcome": -4,
}
_HECKMAN_CODES = {-3, -4}


@dataclass
class ImputationSpec:
    """A checked imputation problem; built by :func:`build_spec`."""

    data: pd.DataFrame
    codecs: dict[str, ColumnCodec]
    cluster: str | None
    method: pd.Series
    predictor_matrix: pd.DataFrame
    visit_sequence: list[str]
    where: pd.DataFrame
    post: dict[str, Callable]
    method_options: dict[str, dict[str, Any]]
    m: int
    maxit: int
    seed: Any
    #: what the engine changed or noticed, as :class:`~bayesimpute.design.matrix.Note` strings
    #: (``note.variable`` says which variable each concerns)
    warnings: list[str] = field(default_factory=list)
    #: every cluster identifier of the run (``cluster`` is the first); one for two levels
    clusters: list[str] = field(default_factory=list)

    @property
    def imputed(self) -> list[str]:
        """Variables that get imputations, in visit order."""
        return [v for v in self.visit_sequence if self.where[v].any()]


# --- where and how the chains run -------------------------------------------------------------
#: which iterations' imputations a run keeps
KEEP_CHOICES = ("all", "last")
#: where the chains run (:func:`bayesimpute.engine.backends.make_backend`)
BACKENDS = ("serial", "joblib", "dask")


def check_keep(keep: Any) -> str | None:
    """``keep`` if it is ``"all"``, ``"last"`` or None (the size decides), else raise.

    Examples
    --------
    >>> from bayesimpute.engine.spec import check_keep
    >>> check_keep("last")
    'last'
    """
    return check_one_of(keep, (*KEEP_CHOICES, None), name="keep")


def check_store(store: Any) -> str | None:
    """The absolute path of the ``store`` folder (None for none); it need not exist yet.

    Workers on other processes need the same absolute path, so a relative one is resolved
    here. Raises TypeError for what is no path and ValueError for the path of a file.

    Examples
    --------
    >>> from bayesimpute.engine.spec import check_store
    >>> check_store(None) is None
    True
    """
    if store is None:
        return None
    if not isinstance(store, (str, os.PathLike)):
        raise TypeError(f"store must be a folder path, got {type(store).__name__}")
    folder = Path(store).resolve()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"store {str(store)!r} is a file, not a folder")
    return str(folder)


def check_n_jobs(n_jobs: Any) -> int:
    """``n_jobs`` as an int: local processes, ``-1`` for all cores; 0 and bools are refused.

    Examples
    --------
    >>> from bayesimpute.engine.spec import check_n_jobs
    >>> check_n_jobs(-1)
    -1
    """
    if isinstance(n_jobs, (bool, np.bool_)) or not isinstance(n_jobs, (int, np.integer)) \
            or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero integer, got {n_jobs!r}")
    return int(n_jobs)


def check_backend(backend: Any, client: Any = None) -> str | None:
    """``backend`` if it is one of :data:`BACKENDS` or None and agrees with ``client``.

    A Dask client runs the chains on its cluster, so with one only ``"dask"`` (or None)
    is accepted.

    Examples
    --------
    >>> from bayesimpute.engine.spec import check_backend
    >>> check_backend("joblib")
    'joblib'
    """
    check_one_of(backend, (*BACKENDS, None), name="backend")
    if client is not None and backend not in (None, "dask"):
        raise ValueError(f"a Dask client runs the chains on its cluster; backend={backend!r} "
                         "contradicts it (leave backend unset or use 'dask')")
    return backend


@dataclass(frozen=True)
class RunArguments:
    """The checked execution arguments of a run: built by :func:`check_run_arguments`."""

    n_jobs: int
    client: Any
    backend: str | None
    keep: str | None
    store: str | None


def check_run_arguments(*, n_jobs: Any = 1, client: Any = None, backend: Any = None,
                        keep: Any = None, store: Any = None) -> RunArguments:
    """Check where and how the chains run, before anything is built or sampled.

    Parameters
    ----------
    n_jobs, client, backend
        As for :func:`bayesimpute.impute` (:func:`check_n_jobs`, :func:`check_backend`).
    keep : {"all", "last"}, optional
        :func:`check_keep`.
    store : path, optional
        :func:`check_store`.

    Returns
    -------
    RunArguments
        The arguments, ``n_jobs`` an int and ``store`` an absolute path.

    Examples
    --------
    >>> from bayesimpute.engine.spec import check_run_arguments
    >>> check_run_arguments(n_jobs=2, keep="last").n_jobs
    2
    >>> check_run_arguments(keep="every")
    Traceback (most recent call last):
    ...
    ValueError: keep must be one of 'all', 'last', None, got 'every'
    """
    return RunArguments(n_jobs=check_n_jobs(n_jobs), client=client,
                        backend=check_backend(backend, client), keep=check_keep(keep),
                        store=check_store(store))


# --- helpers a user calls ---------------------------------------------------------------------
def model_clusters(spec: ImputationSpec, variable: str) -> list[str]:
    """The cluster identifiers of ``variable``'s model: its row's -2 columns, or every
    cluster of the run when its row codes none (``cluster=`` names them for all rows)."""
    row = spec.predictor_matrix.loc[variable]
    coded = [c for c in spec.clusters if row.get(c, 0) == -2]
    return coded or list(spec.clusters)


def _as_cluster_list(cluster: str | Sequence[str] | None) -> list[str]:
    if cluster is None:
        return []
    if isinstance(cluster, str):
        return [cluster]
    if not isinstance(cluster, Sequence) or not all(isinstance(c, str) for c in cluster):
        raise TypeError(f"cluster must be a column name or a list of column names, got {cluster!r}")
    if len(set(cluster)) != len(cluster):
        raise ValueError(f"cluster lists a column twice: {list(cluster)}")
    return list(cluster)


def is_passive(method: str) -> bool:
    return isinstance(method, str) and method.strip().startswith("~")


def passive_inputs(formula: str, columns) -> list[str]:
    """Column names used by a passive formula such as ``"~ Weight / Height**2"``."""
    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", formula))
    return [c for c in columns if c in names]


def _default_method(series: pd.Series, cluster: pd.Series | None, several: bool = False) -> str:
    kind = make_codec(series).kind
    if several:  # several cluster identifiers: the ml.* methods (a level-2/3 target is found)
        return default_method_for(kind, Level.SEVERAL)
    if cluster is None:
        return default_method_for(kind, Level.SINGLE)
    if is_cluster_level(series, cluster):
        return default_method_for(kind, Level.CLUSTER)
    return default_method_for(kind, Level.TWO)


def make_method(data: Any, cluster: str | Sequence[str] | None = None) -> pd.Series:
    """Default method per column, as mice's ``make.method`` but aware of clusters.

    Complete columns and the cluster column get ``""``. Without a cluster: ``pmm``,
    ``logreg``, ``polyreg``, ``polr`` by type. With a cluster: ``2l.pmm``, ``2l.bin``,
    ``2l.polyreg``, ``2l.polr`` by type, and for a cluster-level variable (constant within
    every cluster, :func:`~bayesimpute.design.clusters.is_cluster_level`) the
    cluster-level method of the same family: ``2lonly.pmm``, ``2lonly.logreg``,
    ``2lonly.polyreg``, ``2lonly.polr``, which impute one value per cluster.
    :func:`~bayesimpute.defaults.find_default_method` makes the same choice for those.
    With several clusters (``cluster=["school", "class"]``): ``ml.pmm`` (which finds the
    level a variable lives at), ``ml.bin``, ``ml.polyreg``; ordered factors get ``ml.pmm``.

    ``data`` may be any frame :func:`to_pandas_frame` converts (polars, pyarrow, ...).
    """
    data = to_pandas_frame(data)
    check_imputable_frame(data)
    clusters = _as_cluster_list(cluster)
    for name in clusters:
        check_cluster(data, name)
    groups = data[clusters[0]] if len(clusters) == 1 else None
    methods = {}
    for column in data.columns:
        if column in clusters or not data[column].isna().any():
            methods[column] = ""
        else:
            methods[column] = _default_method(data[column], groups, len(clusters) > 1)
    return pd.Series(methods, dtype=object, name="method")


def make_predictor_matrix(data: Any,
                          cluster: str | Sequence[str] | None = None) -> pd.DataFrame:
    """mice's default predictor matrix: every other column a fixed-effect predictor (1).

    With ``cluster``, the cluster column is coded -2 in every other row and its own row is
    all zeros. ``cluster`` may list several columns (``["school", "class"]``): each is
    coded -2, which is how a row declares a model with random effects at several levels.
    """
    data = to_pandas_frame(data)
    check_imputable_frame(data)
    columns = list(data.columns)
    matrix = pd.DataFrame(1, index=columns, columns=columns, dtype=int)
    np.fill_diagonal(matrix.values, 0)
    clusters = _as_cluster_list(cluster)
    for name in clusters:
        check_cluster(data, name)
        matrix[name] = -2
    for name in clusters:
        matrix.loc[name, :] = 0
    return matrix


# --- validation --------------------------------------------------------------------------------
def to_pandas_frame(data: Any, argument: str = "data") -> pd.DataFrame:
    """``data`` as a pandas DataFrame, converting other data-frame libraries' frames.

    A pandas DataFrame is returned as it is. A frame with a ``to_pandas()`` method (polars,
    pyarrow, cuDF, Modin, ...) or the data-frame interchange protocol (``__dataframe__``)
    is converted once; nothing of those libraries is imported here, so none is a
    dependency. Missing values (polars ``null``, arrow nulls) become pandas' missing
    values, polars ``Categorical`` columns unordered and ``Enum`` columns ordered
    categoricals. The results (completed data, tables) are pandas objects.

    Raises
    ------
    TypeError
        For anything else, naming the conversion to use (a numpy array needs column names:
        ``pd.DataFrame(array, columns=[...])``).
    """
    if isinstance(data, pd.DataFrame):
        return data
    kind = f"{type(data).__module__.split('.')[0]}.{type(data).__name__}"
    if isinstance(data, np.ndarray):
        raise TypeError(
            f"{argument} is a numpy array; methods, predictors and the cluster are named by "
            f"column, so give it names: pd.DataFrame(array, columns=[...])"
        )
    if isinstance(data, pd.Series):
        raise TypeError(f"{argument} is a pandas Series; pass a DataFrame ({argument}.to_frame())")
    if type(data).__name__ == "LazyFrame":
        raise TypeError(f"{argument} is a lazy frame ({kind}); collect it first "
                        f"({argument}.collect())")
    for convert in (_via_to_pandas, _via_interchange):
        frame = convert(data)
        if frame is not None:
            return frame
    raise TypeError(
        f"{argument} must be a pandas DataFrame or a frame that converts to one (to_pandas() "
        f"or the data-frame interchange protocol, e.g. polars or pyarrow); got {kind}"
    )


def _via_to_pandas(data: Any) -> pd.DataFrame | None:
    to_pandas = getattr(data, "to_pandas", None)
    if not callable(to_pandas):
        return None
    try:
        frame = to_pandas()
    except ImportError:  # e.g. polars without pyarrow: the interchange protocol may still work
        return None
    return frame if isinstance(frame, pd.DataFrame) else None


def _via_interchange(data: Any) -> pd.DataFrame | None:
    if not hasattr(data, "__dataframe__"):
        return None
    return pd.api.interchange.from_dataframe(data)


def _check_count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _check_seed(seed: Any) -> None:
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"seed must be an int, a numpy Generator or SeedSequence, or None; got {seed!r}"
        )
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")


def _normalise_matrix(predictor_matrix: Any, columns: list[str]) -> pd.DataFrame:
    if isinstance(predictor_matrix, np.ndarray):
        if predictor_matrix.shape != (len(columns), len(columns)):
            raise ValueError(
                f"predictor_matrix has shape {predictor_matrix.shape}, expected "
                f"{(len(columns), len(columns))} (one row and column per data column)"
            )
        predictor_matrix = pd.DataFrame(predictor_matrix, index=columns, columns=columns)
    if not isinstance(predictor_matrix, pd.DataFrame):
        raise TypeError("predictor_matrix must be a pandas DataFrame or a square numpy array")
    _check_matrix_labels(predictor_matrix, columns)
    if predictor_matrix.shape[0] != predictor_matrix.shape[1]:
        raise ValueError(
            f"predictor_matrix must be square (rows = imputed variables, columns = "
            f"predictors), got shape {predictor_matrix.shape}"
        )
    matrix = predictor_matrix
    if _has_strings(matrix):  # role names -> codes; unknown names fail the code check below
        matrix = matrix.map(_role_code)
    matrix = matrix.reindex(index=columns, columns=columns, fill_value=0)
    values = matrix.to_numpy()
    if not np.all(np.isin(values, list(PREDICTOR_CODES))):
        bad = [(r, c) for r in columns for c in columns if matrix.at[r, c] not in PREDICTOR_CODES]
        raise ValueError(
            f"predictor_matrix has illegal code(s) at {bad[:5]} (value "
            f"{matrix.at[bad[0][0], bad[0][1]]!r}); allowed codes: {sorted(PREDICTOR_CODES)}"
        )
    return matrix.astype(int)


def _check_matrix_labels(matrix: pd.DataFrame, columns: list[str]) -> None:
    """Every row and column label must be a data column; a typo is named, with the likely
    intended column (``pred.loc["y", "xx"] = 1`` silently adds a column ``xx``)."""
    for axis, labels in (("row", matrix.index), ("column", matrix.columns)):
        unknown = [x for x in labels if x not in columns]
        if not unknown:
            continue
        hints = []
        for label in unknown[:5]:
            close = difflib.get_close_matches(str(label), columns, n=1)
            hints.append(f"{label!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(
            f"predictor_matrix {axis} label(s) not in data: {', '.join(hints)}; assigning "
            "pred.loc[row, name] with a name that is not a column adds a new one. Data "
            f"columns: {columns}"
        )


def _role_code(value: Any) -> Any:
    """A role name ("random", "cluster", ...) as its integer code; anything else as is."""
    return ROLE_NAMES.get(value.strip().lower(), value) if isinstance(value, str) else value


def _has_strings(frame: pd.DataFrame) -> bool:
    return any(frame[c].dtype == object for c in frame.columns)


def _resolve_clusters(matrix: pd.DataFrame, cluster: str | Sequence[str] | None) -> list[str]:
    """Every cluster identifier of the run: ``cluster`` (one name or several) and the
    columns coded -2. A row may code several -2 columns: a model with several levels,
    which only methods that take several (``ml.*``) accept (checked with the methods)."""
    coded = [c for c in matrix.columns if (matrix[c] == -2).any()]
    given = _as_cluster_list(cluster)
    if not given:
        return coded
    extra = [c for c in coded if c not in given]
    if extra:
        raise ValueError(
            f"cluster={cluster!r} but the predictor_matrix codes {coded} as cluster (-2)"
        )
    return given


def _normalise_method(method: Any, data: pd.DataFrame, clusters: list[str]) -> pd.Series:
    columns = list(data.columns)
    if method is None:
        return make_method(data, clusters or None)
    if isinstance(method, str):
        method = {c: (method if data[c].isna().any() and c not in clusters else "")
                  for c in columns}
    if isinstance(method, Mapping):
        method = pd.Series(dict(method), dtype=object)
    if not isinstance(method, pd.Series):
        raise TypeError("method must be a pandas Series, a dict column -> method, or a string")
    unknown = [str(c) for c in method.index if c not in columns]
    if unknown:
        raise ValueError(f"method names columns not found in data: {unknown}")
    method = method.reindex(columns).fillna("").astype(object)
    for column, name in method.items():
        if not isinstance(name, str):
            raise TypeError(f"method for column {column!r} must be a string, got {name!r}")
    return method


def _row_clusters(matrix: pd.DataFrame, clusters: list[str], row: str) -> list[str]:
    coded = [c for c in clusters if matrix.at[row, c] == -2]
    return coded or list(clusters)


def _check_methods(method: pd.Series, codecs: dict[str, ColumnCodec], clusters: list[str],
                   matrix: pd.DataFrame, data: pd.DataFrame) -> None:
    for column, name in method.items():
        if not name:
            continue
        if column in clusters:
            raise ValueError(f"the cluster column {column!r} cannot be imputed (method {name!r})")
        if is_passive(name):
            inputs = passive_inputs(name, data.columns)
            if not inputs:
                raise ValueError(
                    f"passive formula for {column!r} ({name!r}) uses no column of data"
                )
            continue
        cls = get_method(name)
        kind = codecs[column].kind
        if kind not in cls.kinds:
            raise ValueError(
                f"method {name!r} cannot impute column {column!r}: it is {kind}, and "
                f"{name!r} imputes {', '.join(sorted(str(k) for k in cls.kinds))} variables"
            )
        if cls.multilevel and not clusters:
            raise ValueError(
                f"method {name!r} for column {column!r} needs a cluster: pass cluster= or "
                "code the cluster column -2 in the predictor matrix"
            )
        row_clusters = _row_clusters(matrix, clusters, column)
        if cls.multilevel and cls.max_levels is not None and len(row_clusters) > cls.max_levels:
            several = "ml." + name.split(".", 1)[-1]
            several = several if several in available_methods() else "an ml.* method"
            raise ValueError(
                f"predictor_matrix row {column!r} has more than one cluster code (-2): "
                f"{row_clusters}, but method {name!r} takes {cls.max_levels}; use {several} "
                "(nested or crossed levels) or code a single cluster -2 in this row"
            )
        heckman_codes = [c for c in matrix.columns if matrix.at[column, c] in _HECKMAN_CODES]
        if heckman_codes and "heckman" not in name:
            raise ValueError(
                f"predictor_matrix row {column!r} uses codes -3/-4 (at {heckman_codes}), which "
                f"only 2l.heckman understands; method is {name!r}"
            )
        if getattr(cls, "cluster_level", False):
            _check_cluster_level(data, column, row_clusters[0])


def _check_cluster_level(data: pd.DataFrame, column: str, cluster: str) -> None:
    varying = varying_cluster_labels(data[column], data[cluster])
    if varying:
        raise ValueError(
            f"column {column!r} is imputed by a cluster-level (2lonly) method but varies "
            f"within cluster(s) {varying[:10]} of {cluster!r}"
        )


def _warn_row_level_methods(data: pd.DataFrame, method: pd.Series,
                            codecs: dict[str, ColumnCodec], cluster: str | None,
                            notes: list[str]) -> None:
    """A row-level method on a cluster-level variable: a warning, not an error.

    The method imputes row by row, so rows of one cluster can get different values of a
    variable that is constant within every cluster in the observed data. That is a warning
    rather than an error because the detection
    (:func:`~bayesimpute.design.clusters.is_cluster_level`) reads the observed values
    only: a user may know that the variable can vary within a cluster.
    """
    if cluster is None:
        return
    for column in _model_rows(method):
        chosen = get_method(method[column])
        # cluster-level methods keep the variable constant; ml.* methods find its level
        if chosen.cluster_level or chosen.max_levels is None or chosen.max_levels > 1:
            continue
        if not is_cluster_level(data[column], data[cluster]):
            continue
        suggestion = cluster_level_method(codecs[column].kind)
        message = (
            f"column {column!r} is constant within every cluster of {cluster!r} (a "
            f"cluster-level variable), but {method[column]!r} imputes it row by row, so rows "
            f"of one cluster can get different values; use {suggestion!r} to impute one "
            "value per cluster"
        )
        warn_user(message, UserWarning)
        notes.append(Note(message, column))


def _normalise_where(where: Any, data: pd.DataFrame) -> pd.DataFrame:
    if where is None:
        return data.isna()
    if hasattr(where, "to_pandas") or hasattr(where, "__dataframe__"):
        where = to_pandas_frame(where, "where")  # polars, pyarrow, ...
    if isinstance(where, np.ndarray):
        if where.shape != data.shape:
            raise ValueError(f"where has shape {where.shape}, data has shape {data.shape}")
        where = pd.DataFrame(where, index=data.index, columns=data.columns)
    if not isinstance(where, pd.DataFrame):
        raise TypeError("where must be a boolean DataFrame or array shaped like data")
    if where.shape != data.shape or list(where.columns) != list(data.columns):
        raise ValueError(
            f"where must have the same shape and columns as data; got {where.shape}"
        )
    if not all(pd.api.types.is_bool_dtype(where[c]) for c in where.columns):
        raise TypeError("where must be boolean (True = impute this cell)")
    return where.set_axis(data.index, axis=0).astype(bool)


def _check_overimputation(data: pd.DataFrame, where: pd.DataFrame, method: pd.Series) -> None:
    """Observed cells flagged in ``where`` are over-imputed; a selection model cannot be.

    2l.heckman's selection equation models whether each value was observed, so an observed
    value posing as missing would corrupt it.
    """
    for column in _model_rows(method):
        flagged = int((where[column] & data[column].notna()).sum())
        if flagged and getattr(get_method(method[column]), "models_response", False):
            raise ValueError(
                f"where flags {flagged} observed value(s) of {column!r} for imputation, but "
                f"{method[column]} models whether each value was observed and cannot "
                "over-impute observed cells; flag only its missing cells"
            )


def _check_visit_sequence(visit_sequence: Any, method: pd.Series) -> list[str]:
    active = [c for c, name in method.items() if name]
    if visit_sequence is None:
        return active
    visit_sequence = list(visit_sequence)
    unknown = [v for v in visit_sequence if v not in method.index]
    if unknown:
        raise ValueError(f"visit_sequence names columns not found in data: {unknown}")
    idle = [v for v in visit_sequence if not method[v]]
    if idle:
        raise ValueError(f"visit_sequence lists columns without a method: {idle}")
    return visit_sequence


def _check_post(post: Any, columns: list[str]) -> dict[str, Callable]:
    if post is None:
        return {}
    if not isinstance(post, Mapping):
        raise TypeError("post must be a dict column -> callable")
    for column, function in post.items():
        if column not in columns:
            raise ValueError(f"post names column {column!r}, which is not in data")
        if not callable(function):
            raise TypeError(f"post[{column!r}] must be callable, got {type(function).__name__}")
    return dict(post)


def _check_options(method_options: Any, method: pd.Series) -> dict[str, dict]:
    if method_options is None:
        return {}
    if not isinstance(method_options, Mapping):
        raise TypeError("method_options must be a dict column -> dict of options")
    out = {}
    for column, options in method_options.items():
        if column not in method.index:
            raise ValueError(f"method_options names column {column!r}, which is not in data")
        if not method[column] or is_passive(method[column]):
            raise ValueError(f"method_options given for {column!r}, which has no model method")
        if not isinstance(options, Mapping):
            raise TypeError(f"method_options[{column!r}] must be a dict")
        get_method(method[column])(column, options)  # raises on unknown options
        out[column] = dict(options)
    return out


def _distribute_analysis_model(analysis_model: Any, method: pd.Series,
                               method_options: Any) -> Any:
    """``impute(analysis_model=...)`` becomes the option of that name of every method that
    takes one (an option given per column wins)."""
    if analysis_model is None:
        return method_options
    if not isinstance(analysis_model, str):
        raise TypeError(f"analysis_model must be a formula string, got {analysis_model!r}")
    users = [c for c in _model_rows(method) if get_method(method[c]).uses_analysis_model]
    if not users:
        raise ValueError(
            f"analysis_model={analysis_model!r} is used only by the compatible methods "
            "('2l.smc', 'smc') and no column is imputed by one; give the incomplete "
            "variables of the analysis model such a method, e.g. method={'x': '2l.smc'}"
        )
    if method_options is not None and not isinstance(method_options, Mapping):
        raise TypeError("method_options must be a dict column -> dict of options")
    options = {c: dict(o) if isinstance(o, Mapping) else o
               for c, o in (method_options or {}).items()}
    for column in users:
        own = options.setdefault(column, {})
        if isinstance(own, dict):
            own.setdefault("analysis_model", analysis_model)
    return options


def _check_method_setups(context: SetupContext, options: dict[str, dict],
                         notes: list[str]) -> None:
    """Each method's own checks against the whole specification (before sampling).

    Only methods that define checks are instantiated here: building a method has no other
    effect at this point, and the chains build theirs afresh.
    """
    for column in _model_rows(context.method):
        cls = get_method(context.method[column])
        if not context.where[column].any() or cls.check_setup is ImputationMethod.check_setup:
            continue
        instance = cls(column, options.get(column))
        notes.extend(Note(message, column) for message in instance.check_setup(context))


def _zero_diagonal(matrix: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    diagonal = [c for c in matrix.columns if matrix.at[c, c] != 0]
    if diagonal:
        message = (f"predictor_matrix diagonal set to 0 for {diagonal} (a variable cannot "
                   "predict itself)")
        warn_user(message, UserWarning)
        notes.append(Note(message, diagonal[0] if len(diagonal) == 1 else ""))
        matrix = matrix.copy()
        for c in diagonal:
            matrix.at[c, c] = 0
    return matrix


def _model_rows(method: pd.Series) -> list[str]:
    """Columns imputed by a model (not passive, not idle)."""
    return [c for c, name in method.items() if name and not is_passive(name)]


def _used_columns(method: pd.Series, matrix: pd.DataFrame, data: pd.DataFrame,
                  clusters: list[str]) -> list[str]:
    """Columns the sampler touches: imputed ones, their predictors, passive inputs."""
    used = {c for c, name in method.items() if name}
    for row in _model_rows(method):
        used.update(c for c in matrix.columns if matrix.at[row, c] not in (0, -2))
    for c, name in method.items():
        if is_passive(name):
            used.update(passive_inputs(name, data.columns))
    return [c for c in data.columns if c in used and c not in clusters]


def _make_codecs(data: pd.DataFrame, used: list[str], clusters: list[str],
                 notes: list[str]) -> dict[str, ColumnCodec]:
    """Codecs of the usable columns; an unusable (text, date) column is an error only
    when the run needs it, otherwise it passes through unchanged and a note says so."""
    codecs = {}
    for column in data.columns:
        if column in clusters:
            continue
        try:
            codecs[column] = make_codec(data[column])
        except TypeError:
            if column in used:
                raise
            notes.append(Note(f"column {column!r} (dtype {data[column].dtype}) is neither "
                              "imputed nor used as a predictor: passed through unchanged",
                              column))
    return codecs


def _check_finite(data: pd.DataFrame, codecs: dict[str, ColumnCodec]) -> None:
    """inf is never a missing-value marker: it would poison every sum the models take."""
    for column, codec in codecs.items():
        if codec.categories is not None:
            continue
        count = int(np.isinf(codec.encode(data[column])).sum())
        if count:
            raise ValueError(
                f"column {column!r} has {count} infinite value(s) (inf or -inf); replace them "
                "with NaN to impute them, or with finite values"
            )


def _check_observed(data: pd.DataFrame, where: pd.DataFrame, used: list[str],
                    method: pd.Series, notes: list[str]) -> None:
    """No observed value: error for a used column; more than 90% missing: a warning."""
    for column in used:
        observed = int((data[column].notna() & ~where[column]).sum())
        if observed == 0:
            raise ValueError(
                f"column {column!r} has no observed values (every cell is missing or to be "
                "imputed): there is nothing to learn its model from; drop the column"
            )
        if method.get(column) and not is_passive(method[column]):
            share = 1.0 - observed / len(data)
            if share > 0.9:
                message = (f"column {column!r} is {share:.0%} missing: its imputations rest on "
                           f"{observed} observed value(s) and mostly reflect the model")
                warn_user(message, UserWarning)
                notes.append(Note(message, column))


def _check_clusters(data: pd.DataFrame, clusters: list[str], method: pd.Series,
                    notes: list[str]) -> None:
    for cluster in clusters:
        _check_cluster_count(data, cluster, method, notes)


def _check_cluster_count(data: pd.DataFrame, cluster: str, method: pd.Series,
                         notes: list[str]) -> None:
    """A two-level model needs several clusters to identify the between-cluster variance.

    A single cluster is an error rather than a silent single-level fallback: the user asked
    for a multilevel model and should choose ``norm`` / ``pmm`` knowingly.
    """
    multilevel = [c for c in _model_rows(method) if get_method(method[c]).multilevel]
    if cluster is None or not multilevel:
        return
    n_clusters = int(data[cluster].nunique())
    if n_clusters < 2:
        raise ValueError(
            f"cluster column {cluster!r} has a single cluster, so {multilevel} cannot be "
            "imputed by a two-level method; use a single-level method (norm, pmm, logreg, "
            "polyreg) or check the cluster column"
        )
    if n_clusters < 10:
        message = (f"cluster column {cluster!r} has only {n_clusters} clusters: the "
                   "between-cluster variance is weakly identified and its prior matters")
        warn_user(message, UserWarning)
        notes.append(Note(message, cluster))


def _note_crossed_levels(data: pd.DataFrame, clusters: list[str], matrix: pd.DataFrame,
                         method: pd.Series, notes: list[str]) -> None:
    """Log each model whose levels are (partly) crossed: it may be meant, or it may be
    class labels that restart within each school, which then need relabelling."""
    seen: set[tuple[str, ...]] = set()
    for row in _model_rows(method):
        names = tuple(_row_clusters(matrix, clusters, row))
        if len(names) < 2 or names in seen or not get_method(method[row]).multilevel:
            continue
        seen.add(names)
        levels = row_levels([make_level(data[name]) for name in names])
        if len(chains(levels)) > 1:
            notes.append(Note(
                f"cluster levels {list(names)} are not all nested (crossed random effects); "
                "if lower-level labels restart within each higher cluster, make them unique "
                "(e.g. school + '/' + class) to nest them", row))


def _check_incomplete_predictors(data: pd.DataFrame, where: pd.DataFrame, method: pd.Series,
                                 matrix: pd.DataFrame) -> None:
    """A predictor that stays missing on a row to impute leaves that row without a design."""
    imputed = [c for c, name in method.items() if name]
    # cells that are still missing once every imputed variable is filled in
    stays_missing = data.isna().to_numpy() & ~(where.to_numpy() & data.columns.isin(imputed))
    columns = list(data.columns)
    for row in _model_rows(method):
        rows = where[row].to_numpy()
        used = np.isin(matrix.loc[row].to_numpy(), (0, -2), invert=True)
        clashes = stays_missing[rows][:, used].sum(axis=0)  # O(rows to impute x predictors)
        if clashes.any():
            first = int(np.flatnonzero(clashes)[0])
            predictor = [c for c, u in zip(columns, used) if u][first]
            clash = int(clashes[first])
            raise ValueError(
                f"predictor {predictor!r} of {row!r} is missing and not imputed on {clash} "
                f"row(s) where {row!r} is to be imputed: give {predictor!r} a method, or set "
                f"predictor_matrix.loc[{row!r}, {predictor!r}] = 0"
            )


def build_spec(
    data: pd.DataFrame,
    *,
    method: Any = None,
    predictor_matrix: Any = None,
    cluster: str | Sequence[str] | None = None,
    m: int = 5,
    maxit: int = 10,
    seed: Any = None,
    where: Any = None,
    visit_sequence: Any = None,
    post: Any = None,
    method_options: Any = None,
    analysis_model: str | None = None,
) -> ImputationSpec:
    """Validate every argument of :func:`bayesimpute.impute` and return the spec.

    Every check runs here, before any sampling. Errors name the column or argument at
    fault; things the engine changes (zeroed diagonal, removed predictors, ...) are kept in
    ``spec.warnings`` and end up in ``MultipleImputation.logged_events``.

    Checks, in order (errors name the column or argument):

    - ``data`` a non-empty DataFrame (or a frame :func:`to_pandas_frame` converts) with
      unique string column labels; ``m`` >= 1 and
      ``maxit`` >= 0 integers (not bool; ``maxit=0`` only fills starting values); ``seed``
      an int >= 0, a numpy Generator or SeedSequence, or None.
    - ``predictor_matrix``: known names (a stray label is named), square, legal codes or
      role names; a non-zero diagonal is zeroed with a warning. A row coding several columns
      -2 has several cluster levels (nested or crossed, read from the data), which only
      methods taking several levels (``ml.*``) accept; ``cluster`` may name one column or a
      list.
    - the cluster columns: present, no missing ids; ids of any type (int, float, string,
      categorical) keep their labels; a level crossed with the others is logged.
    - column dtypes: NaN, None, ``pd.NA`` and nullable dtypes (Int64, Float64, boolean) are
      all missing values and give identical imputations; bool columns are binary; free
      text (object / string) and date-time columns are an error when the run uses them
      and pass through untouched when it does not; ``inf`` is an error, never missing.
    - methods: known names, fitting the column's kind, a cluster for 2l methods, 2lonly
      variables constant within clusters; a row-level method on a variable that is
      constant within every cluster gives a warning naming the 2lonly method to use.
    - a used column with no observed value is an error; an imputed one more than 90%
      missing gives a warning.
    - clusters: a single cluster is an error for 2l methods (there is no silent
      single-level fallback: choose norm / pmm / logreg / polyreg instead); fewer than
      10 clusters give a warning that the between-cluster variance is weakly identified;
      one-row clusters are fine.
    - a predictor missing and not imputed on a row to impute is an error.
    - ``analysis_model`` (a formula) becomes the option of that name of every method that
      takes one (the compatible methods), unless given per column in ``method_options``;
      each method then checks itself against the whole specification
      (:meth:`~bayesimpute.methods.ImputationMethod.check_setup`).
    - constant and collinear predictors are removed (:func:`~bayesimpute.design.matrix.prune_predictors`,
      a logged event each); removing all the predictors a model was given is an error; a
      model with more design columns than observed rows is logged (the priors keep it
      proper).

    Raises
    ------
    TypeError
        For arguments of the wrong type and columns of an unusable dtype (text, dates).
    ValueError
        For values the run cannot use.
    """
    data = to_pandas_frame(data)
    check_imputable_frame(data)
    m = _check_count("m", m, 1)
    maxit = _check_count("maxit", maxit, 0)
    _check_seed(seed)
    columns = list(data.columns)
    notes: list[str] = []
    if predictor_matrix is None:
        matrix = make_predictor_matrix(data, cluster)
    else:
        matrix = _zero_diagonal(_normalise_matrix(predictor_matrix, columns), notes)
    clusters = _resolve_clusters(matrix, cluster)
    for name in clusters:
        check_cluster(data, name)
    cluster = clusters[0] if clusters else None
    if clusters:
        matrix = matrix.copy()
        matrix.loc[clusters, :] = 0
    method = _normalise_method(method, data, clusters)
    where = _normalise_where(where, data)
    used = _used_columns(method, matrix, data, clusters)
    codecs = _make_codecs(data, used, clusters, notes)
    _check_finite(data, codecs)
    _check_methods(method, codecs, clusters, matrix, data)
    _warn_row_level_methods(data, method, codecs, cluster, notes)
    _check_observed(data, where, used, method, notes)
    _check_clusters(data, clusters, method, notes)
    _note_crossed_levels(data, clusters, matrix, method, notes)
    _check_incomplete_predictors(data, where, method, matrix)
    models = {c: get_method(method[c]).multilevel for c in _model_rows(method) if where[c].any()}
    matrix = prune_predictors(data, codecs, models, matrix, where, notes)
    _check_overimputation(data, where, method)
    options = _check_options(_distribute_analysis_model(analysis_model, method, method_options),
                             method)
    _check_method_setups(SetupContext(data, cluster, method, matrix, where, codecs), options,
                         notes)
    return ImputationSpec(
        data=data.copy(), codecs=codecs, cluster=cluster, method=method, predictor_matrix=matrix,
        visit_sequence=_check_visit_sequence(visit_sequence, method), where=where,
        post=_check_post(post, columns), method_options=options,
        m=m, maxit=maxit, seed=seed, warnings=notes, clusters=clusters,
    )
