"""What a validity design is: known-truth data, the analysis model and the methods to compare.

A design simulates one replication at a time from a numpy Generator (``simulate``); a
replication carries the incomplete data, the complete data it was made from, and the true
value of every scored parameter. The methods are entries of ``methods``: bayesimpute methods
by name and options (:class:`~benchmarks.validity.methods.PythonMethod`), R peers by script and
recipe (:class:`~benchmarks.validity.methods.RMethod`) and the complete-data / complete-case
references. Adding a method to the study is adding one entry to that list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from benchmarks.validity.methods import Method

__all__ = ["Design", "Replication", "Reduced", "FIXED", "VARIANCE", "IMPUTED_MEAN"]

#: kinds of scored parameters
FIXED, VARIANCE, IMPUTED_MEAN = "fixed", "variance", "imputed mean"


@dataclass
class Replication:
    """One simulated data set.

    Attributes
    ----------
    data : DataFrame
        The incomplete data handed to every method.
    complete : DataFrame
        The same rows before deletion (for the complete-data reference).
    truth : Series
        True value of every scored parameter, indexed by the names the pooled tables use
        (fixed effects ``Intercept``, ``x``, ``c[T.b]``; variance components ``g: Intercept``,
        ``residual``; imputed means by their name in ``imputed_means``).
    kinds : Series
        ``FIXED``, ``VARIANCE`` or ``IMPUTED_MEAN`` per parameter of ``truth``.
    imputed_means : dict
        Name -> (column, boolean row mask): the mean over the m completed data sets of the
        column over those rows is scored against the complete data's mean there.
    """

    data: pd.DataFrame
    complete: pd.DataFrame
    truth: pd.Series
    kinds: pd.Series
    imputed_means: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = set(self.truth.index) - set(self.kinds.index)
        if missing:
            raise ValueError(f"parameters without a kind: {sorted(missing)}")
        for name, (column, mask) in self.imputed_means.items():
            self.truth[name] = float(self.complete.loc[mask, column].mean())
            self.kinds[name] = IMPUTED_MEAN


@dataclass(frozen=True)
class Reduced:
    """Settings of the reduced CI run of a design (its ``ci`` methods only).

    ``checked`` names the parameters whose gross errors fail the run (None: all scored ones);
    a design leaves out a parameter only where its methods are known not to recover it (and
    says so in ``why``).
    """

    reps: int = 6
    m: int = 3
    maxit: int = 5
    checked: tuple[str, ...] | None = None
    why: str = ""


@dataclass(frozen=True)
class Design:
    """A known-truth simulation design.

    Attributes
    ----------
    name : str
        Identifier (file names, the runner's DESIGN argument).
    title : str
        One line for tables.
    description : str
        Markdown: data-generating model, missingness mechanism, truths (goes into the report).
    simulate : callable
        ``simulate(rng) -> Replication``.
    formula, family : str
        The analysis model, lme4 syntax, fitted to every completed data set.
    methods : tuple of Method
        The compared methods.
    predictors : callable, optional
        ``predictors(data) -> predictor matrix`` shared by the bayesimpute methods (a method may
        override it).
    replications : int
        Size of the committed full run.
    reduced : Reduced
        Settings of the CI run.
    m, maxit : int
        Imputations and iterations of the full run.
    head_to_head : (str, str), optional
        Two method labels compared replication by replication in the report (paired
        differences of absolute error and coverage), where the design's criterion is such a
        comparison (IMPACT: bayesimpute's native methods against R's 2l.pmm).
    no_targets : str
        Why the issue's absolute targets (coverage in [93, 97]%, variance components within
        10%) do not apply to this design ("" where they do): IMPACT's truth is the
        complete-data fit of the same data, so its intervals should cover it more often than
        95%, and its criterion is the head to head.
    """

    name: str
    title: str
    description: str
    simulate: Callable[[np.random.Generator], Replication]
    formula: str
    methods: tuple[Method, ...]
    family: str = "gaussian"
    predictors: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    replications: int = 200
    reduced: Reduced = Reduced()
    m: int = 5
    maxit: int = 10
    head_to_head: tuple[str, str] | None = None
    no_targets: str = ""

    def method(self, label: str) -> Method:
        """The method with this label."""
        for method in self.methods:
            if method.label == label:
                return method
        raise KeyError(f"design {self.name!r} has no method {label!r}; it has "
                       f"{[m.label for m in self.methods]}")
