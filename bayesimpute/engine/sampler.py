"""The FCS (chained-equations) loop. It knows nothing of any particular model.

For each chain (imputation stream): fill the missing cells with random observed values,
then for ``maxit`` iterations visit the variables in turn. A model variable hands its
method the current data and gets back imputations (and the method's parameters); a
passive variable is recomputed from its formula; ``post`` adjusts the imputations.

Chains are independent and each has its own ``numpy.random.Generator`` spawned from the
run's seed, so the same seed gives the same imputations whether chains run one after
another or in parallel processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from bayesimpute.design.coding import ColumnCodec
from bayesimpute.design.matrix import TargetDesign
from bayesimpute.design.levels import ClusterLevel, make_level, row_levels
from bayesimpute.methods import MethodData, get_method
from bayesimpute.engine.spec import ImputationSpec, is_passive, model_clusters

__all__ = ["SamplerPlan", "ChainTrace", "ChainRunner", "SamplerError", "make_plan", "run_chain",
           "chain_seeds"]


class SamplerError(RuntimeError):
    """A conditional model failed; the message names variable, iteration and chain."""


@dataclass
class SamplerPlan:
    """Everything a chain needs, in a form that pickles to worker processes."""

    values: dict[str, np.ndarray]
    codecs: dict[str, ColumnCodec]
    index: pd.Index
    cluster: np.ndarray | None
    cluster_labels: np.ndarray | None
    n_clusters: int
    where: dict[str, np.ndarray]
    visit_sequence: list[str]
    methods: dict[str, str]
    options: dict[str, dict[str, Any]]
    designs: dict[str, TargetDesign]
    post: dict[str, Callable]
    #: per model variable, its cluster levels (lowest first, parents set); the fields
    #: ``cluster`` / ``cluster_labels`` / ``n_clusters`` above are the run's first cluster
    model_levels: dict[str, tuple[ClusterLevel, ...]] = field(default_factory=dict)


@dataclass
class ChainTrace:
    """What one chain records: per iteration imputations, summaries, parameters, stats.

    ``keep="all"`` records every iteration's imputations, ``keep="last"`` only the latest
    (memory O(n) instead of O(maxit x n)); summaries, parameters and stats are recorded
    at every iteration either way.
    """

    imputations: dict[str, list[np.ndarray]] = field(default_factory=dict)
    chain_mean: list[list[float]] = field(default_factory=list)
    chain_var: list[list[float]] = field(default_factory=list)
    parameters: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)
    stats: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    parameter_dims: dict[str, dict[str, tuple]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    keep: str = "all"

    def add_imputations(self, variable: str, values: np.ndarray) -> None:
        """Record one iteration's imputations of ``variable`` as ``keep`` says."""
        if self.keep == "last":
            self.imputations[variable] = [values.copy()]
        else:
            self.imputations.setdefault(variable, []).append(values.copy())


def make_plan(spec: ImputationSpec) -> SamplerPlan:
    """Encode the data and fix the design structure of every model variable."""
    data = spec.data
    cluster_codes = cluster_labels = None
    n_clusters = 0
    clusters = spec.clusters or ([spec.cluster] if spec.cluster is not None else [])
    levels = {name: make_level(data[name]) for name in clusters}
    if spec.cluster is not None:
        first = levels[spec.cluster]
        cluster_codes, cluster_labels, n_clusters = first.codes, first.labels, first.n_clusters
    values = {c: codec.encode(data[c]) for c, codec in spec.codecs.items()}
    designs, model_levels = {}, {}
    for variable in spec.imputed:
        name = spec.method[variable]
        if is_passive(name):
            continue
        roles = {p: int(code) for p, code in spec.predictor_matrix.loc[variable].items() if code}
        names = model_clusters(spec, variable) if spec.clusters else clusters
        model_levels[variable] = row_levels([levels[n] for n in names])
        mean_levels = [level.name for level in model_levels[variable]]
        designs[variable] = TargetDesign(
            variable, roles, spec.codecs, multilevel=get_method(name).multilevel,
            mean_levels=mean_levels if len(mean_levels) > 1 else (),
        )
    return SamplerPlan(
        values=values, codecs=spec.codecs, index=data.index, cluster=cluster_codes,
        cluster_labels=cluster_labels, n_clusters=n_clusters,
        where={v: spec.where[v].to_numpy() for v in spec.imputed},
        visit_sequence=spec.imputed, methods={v: spec.method[v] for v in spec.imputed},
        options=spec.method_options, designs=designs, post=spec.post,
        model_levels=model_levels,
    )


def chain_seeds(seed: Any, m: int) -> list[np.random.SeedSequence]:
    """One independent seed sequence per chain, derived from the run's seed."""
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**63))
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return root.spawn(m)


class ChainRunner:
    """The state of one chain while it runs.

    ``where`` may flag observed cells too (over-imputation, as micemd's ``overimpute``
    uses): as in mice, such a cell keeps its observed value in the working data, so it
    still serves as a predictor of the other variables, but it is left out of its own
    variable's model fit (which uses the observed cells not flagged), and its imputations
    are recorded, never written over the observed value.
    """

    def __init__(self, plan: SamplerPlan, chain: int, rng: np.random.Generator):
        self.plan, self.chain, self.rng = plan, chain, rng
        self.current = {c: v.copy() for c, v in plan.values.items()}
        #: the latest imputations of every cell flagged in ``where`` (observed ones included)
        self.draws: dict[str, np.ndarray] = {}
        self.methods = {
            v: get_method(name)(v, plan.options.get(v))
            for v, name in plan.methods.items() if not is_passive(name)
        }
        self.trace = ChainTrace()
        # per variable, what never changes along the chain (each costs a pass over n rows)
        self._fit_rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # fit rows, impute rows
        self._written: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # positions, their mask

    # --- start ---------------------------------------------------------------------------
    def initial_fill(self) -> None:
        """mice's start: each missing cell takes a random observed, unflagged value.

        A variable of a cluster-level method (``cluster_level = True``) starts constant
        within clusters, as its method keeps it: one random value per cluster, or the
        cluster's own observed value where it has one.
        """
        for variable in self.plan.visit_sequence:
            if is_passive(self.plan.methods[variable]):
                continue
            column, wy = self.plan.values[variable], self.plan.where[variable]
            pool = column[~wy & ~np.isnan(column)]
            if len(pool) == 0:
                raise SamplerError(f"column {variable!r} has no observed value to start from")
            cluster_level = get_method(self.plan.methods[variable]).cluster_level
            if cluster_level and self.plan.cluster is not None:
                values = self._cluster_start(column, wy, pool)
            else:
                values = self.rng.choice(pool, size=int(wy.sum()))
            self._store(variable, values)
        for variable in self.plan.visit_sequence:
            if is_passive(self.plan.methods[variable]):
                self._store(variable, self._passive(variable))

    def _cluster_start(self, column: np.ndarray, wy: np.ndarray, pool: np.ndarray) -> np.ndarray:
        cluster, n_clusters = self.plan.cluster, self.plan.n_clusters
        start = self.rng.choice(pool, size=n_clusters)
        known = ~wy & ~np.isnan(column)
        start[cluster[known]] = column[known]
        return start[cluster[wy]]

    def _store(self, variable: str, values: np.ndarray) -> None:
        """Record the imputations of ``variable``; only missing cells enter the working data."""
        self.draws[variable] = values
        if variable not in self._written:
            wy = self.plan.where[variable]
            missing = np.isnan(self.plan.values[variable][wy])
            self._written[variable] = (np.flatnonzero(wy)[missing], missing)
        positions, missing = self._written[variable]
        self.current[variable][positions] = values[missing]

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a saved chain state (imputations, method states, generator)."""
        for variable, values in state["imputations"].items():
            self._store(variable, np.asarray(values, dtype=float).copy())
        self.rng.bit_generator.state = state["rng"]
        for variable, method_state in state["methods"].items():
            if method_state:
                self.methods[variable].set_state(method_state)

    # --- one iteration ----------------------------------------------------------------------
    def iterate(self, iteration: int) -> None:
        for variable in self.plan.visit_sequence:
            if is_passive(self.plan.methods[variable]):
                values = self._passive(variable)
            else:
                values = self._impute(variable, iteration)
            values = self._post(variable, values, iteration)
            self._store(variable, values)
            self.trace.add_imputations(variable, values)
        self.record_summaries()

    def record_summaries(self) -> None:
        """mice's chainMean / chainVar of the current imputations."""
        imputed = [self.draws[v] for v in self.plan.visit_sequence]
        self.trace.chain_mean.append([float(np.mean(x)) if len(x) else np.nan for x in imputed])
        self.trace.chain_var.append(
            [float(np.var(x, ddof=1)) if len(x) > 1 else np.nan for x in imputed])

    def _method_data(self, variable: str) -> MethodData:
        plan, design = self.plan, self.plan.designs[variable]
        levels = plan.model_levels.get(variable, ())
        cluster, labels, n_clusters = plan.cluster, plan.cluster_labels, plan.n_clusters
        if levels:  # the model's own (lowest) cluster, the run's first one for two levels
            cluster, labels, n_clusters = levels[0].codes, levels[0].labels, levels[0].n_clusters
        X = design.build(self.current, cluster, n_clusters, {lv.name: lv for lv in levels})
        if variable not in self._fit_rows:
            self._fit_rows[variable] = self._read_only_masks(variable)
        observed_mask, impute = self._fit_rows[variable]
        if np.isnan(X).any():  # a predictor missing and not imputed: leave its rows out
            usable = ~np.isnan(X).any(axis=1)
            observed_mask, impute = observed_mask & usable, impute & usable
            X = np.where(usable[:, None], X, 0.0)
        codec = plan.codecs[variable]
        return MethodData(
            target=variable, kind=codec.kind, y=self.current[variable], observed=observed_mask,
            impute=impute, X=X,
            x_names=design.names, random=design.random, cluster=cluster,
            n_clusters=n_clusters, cluster_labels=labels, n_categories=codec.n_categories,
            x_roles=design.roles, categories=codec.categories,
            mean_levels=design.mean_levels, cluster_levels=levels,
            columns=self._read_only_columns(), codecs=plan.codecs,
        )

    def _read_only_masks(self, variable: str) -> tuple[np.ndarray, np.ndarray]:
        """The rows the model of ``variable`` learns from (observed cells not flagged for
        (over-)imputation) and the rows it imputes, read-only: every visit shares them."""
        where = self.plan.where[variable]
        fit_rows = ~np.isnan(self.plan.values[variable]) & ~where
        impute = where.view()
        for mask in (fit_rows, impute):
            mask.flags.writeable = False
        return fit_rows, impute

    def _read_only_columns(self) -> MappingProxyType:
        """Views of the working columns that a method cannot write through."""
        views = {}
        for name, values in self.current.items():
            view = values.view()
            view.flags.writeable = False
            views[name] = view
        return MappingProxyType(views)

    def _impute(self, variable: str, iteration: int) -> np.ndarray:
        data = self._method_data(variable)
        if data.impute is not self._fit_rows[variable][1] and not np.array_equal(
                data.impute, self.plan.where[variable]):
            raise SamplerError(
                f"{variable!r}: some cells to impute have a predictor that is missing and not "
                "imputed; impute that predictor too or drop it from this row"
            )
        method = self.methods[variable]
        try:
            draw = method.update(data, self.rng)
        except Exception as error:  # noqa: BLE001 - re-raised with where it happened
            raise SamplerError(
                f"imputing {variable!r} with {self.plan.methods[variable]} failed at iteration "
                f"{iteration + 1}, chain {self.chain + 1}: {error}"
            ) from error
        values = np.asarray(draw.values, dtype=float)
        if values.shape != (int(data.impute.sum()),) or not np.all(np.isfinite(values)):
            raise SamplerError(
                f"{self.plan.methods[variable]} returned {values.shape[0]} values with "
                f"{int((~np.isfinite(values)).sum())} non-finite for {variable!r} at iteration "
                f"{iteration + 1}, chain {self.chain + 1}"
            )
        self._record(variable, method, data, draw, iteration)
        return values

    def _record(self, variable, method, data, draw, iteration) -> None:
        params = self.trace.parameters.setdefault(variable, {})
        for name, value in draw.parameters.items():
            params.setdefault(name, []).append(np.asarray(value, dtype=float))
        if variable not in self.trace.parameter_dims:
            self.trace.parameter_dims[variable] = method.parameter_dims(data)
        stats = self.trace.stats.setdefault(variable, {})
        for name, value in draw.stats.items():
            stats.setdefault(name, []).append(float(value))
        for message in draw.events:
            self.trace.events.append(
                {"iteration": iteration + 1, "chain": self.chain + 1, "variable": variable,
                 "event": message}
            )

    def _passive(self, variable: str) -> np.ndarray:
        formula = self.plan.methods[variable].strip()[1:]
        frame = pd.DataFrame(self.current, copy=False)
        result = frame.eval(formula, engine="python")
        return np.asarray(result, dtype=float)[self.plan.where[variable]]

    def _post(self, variable: str, values: np.ndarray, iteration: int) -> np.ndarray:
        function = self.plan.post.get(variable)
        if function is None:
            return values
        index = self.plan.index[self.plan.where[variable]]
        try:
            adjusted = function(pd.Series(values, index=index, name=variable))
        except Exception as error:  # noqa: BLE001 - re-raised with where it happened
            raise SamplerError(
                f"post[{variable!r}] failed at iteration {iteration + 1}, chain "
                f"{self.chain + 1}: {error}"
            ) from error
        adjusted = np.asarray(adjusted)
        if adjusted.shape != values.shape:
            raise ValueError(
                f"post[{variable!r}] returned {adjusted.shape} values, expected {values.shape}"
            )
        if not np.issubdtype(adjusted.dtype, np.number) or not np.all(np.isfinite(adjusted)):
            raise ValueError(
                f"post[{variable!r}] must return finite numbers (iteration {iteration + 1}, "
                f"chain {self.chain + 1})"
            )
        return adjusted.astype(float)

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to continue this chain exactly."""
        return {
            "imputations": {v: self.draws[v].copy() for v in self.plan.visit_sequence},
            "rng": self.rng.bit_generator.state,
            "methods": {v: method.get_state() for v, method in self.methods.items()},
        }


def run_chain(
    plan: SamplerPlan,
    chain: int,
    seed: np.random.SeedSequence,
    n_iterations: int,
    start: dict[str, Any] | None = None,
    on_iteration: Callable[[], None] | None = None,
    iteration_offset: int = 0,
) -> ChainTrace:
    """Run one chain for ``n_iterations`` iterations, from scratch or from ``start``."""
    runner = ChainRunner(plan, chain, np.random.default_rng(seed))
    runner.initial_fill()  # also fills passive columns; a restored state overwrites the rest
    if start is not None:
        runner.restore(start)
    if n_iterations == 0:
        for variable in plan.visit_sequence:
            runner.trace.imputations[variable] = [runner.draws[variable].copy()]
        runner.record_summaries()
    for iteration in range(iteration_offset, iteration_offset + n_iterations):
        runner.iterate(iteration)
        if on_iteration is not None:
            on_iteration()
    runner.trace.state = runner.snapshot()
    return runner.trace
