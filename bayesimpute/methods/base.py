"""The contract between the FCS loop and a conditional imputation method.

The sampler knows nothing about any particular model. At every visit it hands a method
a :class:`MethodData` (the target, which rows are observed and which to impute, and the
design built from the predictor roles) and receives a :class:`Draw` (the imputed values,
the current parameters and the sampler's own statistics). A method instance lives for
one variable in one chain, so it keeps its parameter state between visits: that is what
lets each visit advance the chain a few transitions instead of refitting from scratch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from bayesimpute.design.coding import ColumnCodec, VariableKind
from bayesimpute.design.levels import ClusterLevel
from bayesimpute.methods.options import check_option

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["MethodData", "Draw", "ImputationMethod", "MethodError", "SetupContext"]


class MethodError(RuntimeError):
    """A conditional model failed; the sampler adds variable, iteration and chain."""


@dataclass
class MethodData:
    """Everything a method sees at one visit, on the sampler's numeric scale.

    Attributes
    ----------
    target : str
        Name of the variable being imputed.
    kind : VariableKind
        Kind of the target.
    y : ndarray, shape (n,)
        Current values of the target (observed values and the previous imputations).
    observed : ndarray of bool, shape (n,)
        Rows whose observed target value enters the model (mice's ``ry``).
    impute : ndarray of bool, shape (n,)
        Rows to impute (mice's ``wy``).
    X : ndarray, shape (n, p)
        Fixed-effect design; column 0 is the intercept.
    x_names : list of str
        Names of the columns of ``X``.
    random : ndarray of int
        Indices into ``X`` of the columns with a random effect (0 = random intercept);
        empty for single-level methods.
    cluster : ndarray of int or None
        Cluster code 0..n_clusters-1 per row, None when no cluster is given.
    n_clusters : int
        Number of clusters (0 without a cluster).
    cluster_labels : ndarray or None
        The user's cluster labels, in code order.
    n_categories : int
        Number of categories for categorical targets (0 otherwise).
    x_roles : ndarray of int or None
        The predictor-matrix code of each column of ``X`` (None where no matrix made it).
    categories : list or None
        The categories of a categorical target, in code order; None for other kinds.
    mean_levels : list of (str or None)
        Per column of ``X``, the cluster level whose mean it is (None for other columns and
        for the one cluster of a two-level model); empty when not given.
    cluster_levels : tuple of ClusterLevel
        Every cluster identifier of the model, lowest level first, each with its parent
        level (see :mod:`bayesimpute.design.levels`); one entry for a two-level model,
        empty without a cluster. With several, ``cluster`` is the lowest level's codes.
    columns : mapping of str -> ndarray
        Read-only views of every working column of the run as the sampler holds it at this
        visit (numbers, 0/1, category codes; imputed cells hold their latest imputations).
        They are views: copy what must outlive the visit.
        For methods whose model involves more than their design ``X``, such as the
        analysis model of the compatible methods (:mod:`bayesimpute.methods.compatible.smc`).
    codecs : mapping of str -> ColumnCodec
        The codec (kind, categories) of every column in ``columns``.
    """

    target: str
    kind: VariableKind
    y: np.ndarray
    observed: np.ndarray
    impute: np.ndarray
    X: np.ndarray
    x_names: list[str]
    random: np.ndarray
    cluster: np.ndarray | None
    n_clusters: int
    cluster_labels: np.ndarray | None = None
    n_categories: int = 0
    x_roles: np.ndarray | None = None
    categories: list | None = None
    mean_levels: list[str | None] = field(default_factory=list)
    cluster_levels: tuple[ClusterLevel, ...] = ()
    columns: Mapping[str, np.ndarray] = field(default_factory=dict)
    codecs: Mapping[str, ColumnCodec] = field(default_factory=dict)

    @property
    def Z(self) -> np.ndarray:  # noqa: N802 - the usual name of the random-effects design
        return self.X[:, self.random]

    @property
    def z_names(self) -> list[str]:
        return [self.x_names[i] for i in self.random]


@dataclass
class Draw:
    """What one visit returns.

    Attributes
    ----------
    values : ndarray, shape (impute.sum(),)
        Imputed values for the rows flagged in ``MethodData.impute``, in row order.
    parameters : dict of str -> ndarray
        The model's parameters after this visit (same shapes at every visit).
    stats : dict of str -> float
        The sampler's statistics for this visit (e.g. divergences, step size).
    events : list of str
        Things worth logging (e.g. separation detected, predictors dropped).
    """

    values: np.ndarray
    parameters: dict[str, np.ndarray] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SetupContext:
    """The validated run a method may check itself against before sampling.

    Handed to :meth:`ImputationMethod.check_setup`; everything is read-only by convention.

    Attributes
    ----------
    data : DataFrame
        The incomplete data.
    cluster : str or None
        The cluster column.
    method : Series
        Method per column (``""`` = not imputed).
    predictor_matrix : DataFrame
        The checked predictor matrix (integer codes).
    where : DataFrame
        Cells to impute.
    codecs : mapping of str -> ColumnCodec
        The codec of every usable column.
    """

    data: pd.DataFrame
    cluster: str | None
    method: pd.Series
    predictor_matrix: pd.DataFrame
    where: pd.DataFrame
    codecs: Mapping[str, ColumnCodec]


class ImputationMethod(ABC):
    """Base class of the conditional imputation methods.

    Subclasses set ``name``, ``kinds`` (the variable kinds they impute) and
    ``multilevel`` (whether a cluster identifier is required), and register themselves
    with :func:`bayesimpute.methods.register_method`.
    """

    name: ClassVar[str]
    kinds: ClassVar[frozenset[VariableKind]]
    multilevel: ClassVar[bool] = False
    #: how many cluster identifiers (levels) the method's model takes; None: any number
    max_levels: ClassVar[int | None] = 1
    cluster_level: ClassVar[bool] = False
    #: whether the model describes the response indicator itself (a selection model), so
    #: that observed cells cannot be over-imputed through ``where``
    models_response: ClassVar[bool] = False
    #: the method's own option declarations (:mod:`bayesimpute.methods.options`): a
    #: constraint or an :class:`~bayesimpute.methods.options.Option` per option name, for
    #: the options that :data:`~bayesimpute.methods.options.OPTIONS` does not declare or that
    #: this method restricts further (its choices); checked when the method is made
    option_constraints: ClassVar[dict[str, Any]] = {}
    #: whether the method takes the run's ``analysis_model`` (``impute(analysis_model=...)``)
    #: as its option of that name
    uses_analysis_model: ClassVar[bool] = False
    #: parameter names and the dims of their trailing axes, filled in by subclasses
    #: through :meth:`parameter_dims` once the design is known.

    def __init__(self, variable: str, options: Mapping[str, Any] | None = None):
        self.variable = variable
        self.options = dict(options or {})
        unknown = set(self.options) - set(self.default_options())
        if unknown:
            raise ValueError(
                f"method_options for {variable!r} ({self.name}): unknown option(s) "
                f"{sorted(unknown)}; valid options are {sorted(self.default_options())}"
            )
        for option, value in self.options.items():  # the user's values, before any sampling
            check_option(type(self), variable, option, value)
        self.options = {**self.default_options(), **self.options}

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        """Options a user may set through ``method_options`` and their defaults."""
        return {}

    @classmethod
    def declared_priors(cls, options: Mapping[str, Any] | None = None) -> list:
        """The priors of the method's model, as :class:`~bayesimpute.methods.core.priors.Prior`
        objects, under ``options`` (its defaults where None); each names the option that sets
        it, if any. Every built-in method declares its priors (the contract suite checks)."""
        return []

    @classmethod
    def resolved_options(cls, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults updated with ``options``."""
        return {**cls.default_options(), **dict(options or {})}

    def check_setup(self, context: SetupContext) -> list[str]:
        """Checks that need the whole specification, run once before any sampling.

        Raise ``ValueError`` (or ``TypeError``) naming the column or argument at fault;
        return messages worth logging (they go to ``logged_events``). The default checks
        nothing.
        """
        return []

    @abstractmethod
    def update(self, data: MethodData, rng: np.random.Generator) -> Draw:
        """Advance the parameters given the current data and draw the imputations."""

    def parameter_dims(self, data: MethodData) -> dict[str, tuple[tuple[str, list], ...]]:
        """Per parameter, its trailing dims as ``((dim_name, coord_values), ...)``."""
        return {}

    def get_state(self) -> dict[str, np.ndarray]:
        """The parameter state needed to continue the chain exactly (for checkpoints)."""
        return {}

    def set_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore a state returned by :meth:`get_state`."""
