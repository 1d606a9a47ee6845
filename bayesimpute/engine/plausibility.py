"""Post-run plausibility checks on the imputed values.

A model that has gone wrong (a near-singular fit, a runaway random effect, a ``post``
adjustment with the wrong sign of magnitude) usually shows first as imputations far
outside anything observed. These checks do not change any value; they describe what they
find as rows for ``MultipleImputation.logged_events``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bayesimpute.design.coding import VariableKind
from bayesimpute.settings import settings

__all__ = ["OUT_OF_RANGE_SDS", "OutOfRangeTally", "out_of_range_events", "order_events"]

#: how many observed standard deviations beyond the observed range count as "far outside":
#: the default of ``bi.settings["plausibility.out_of_range_sds"]``, which a run reads
OUT_OF_RANGE_SDS = settings.default("plausibility.out_of_range_sds")


def _observed_bounds(values: np.ndarray, n_sd: float) -> tuple[float, float, float, float] | None:
    observed = values[~np.isnan(values)]
    if len(observed) < 2:
        return None
    low, high = float(observed.min()), float(observed.max())
    margin = n_sd * float(observed.std(ddof=1))
    if margin == 0:  # a constant column: any other value is outside, but keep a scale
        margin = n_sd * max(abs(low), 1.0) * 1e-9
    return low, high, low - margin, high + margin


class OutOfRangeTally:
    """Counts far-out imputations of one chain iteration by iteration.

    A chain that keeps only its last imputations (``keep="last"``) or streams them to disk
    feeds every iteration's draws here as it goes, so the check still covers all iterations
    while only O(variables) numbers are held.
    """

    def __init__(self, plan: Any, n_sd: float = OUT_OF_RANGE_SDS):
        self.n_sd = n_sd
        self.bounds: dict[str, tuple[float, float, float, float]] = {}
        for variable in plan.visit_sequence:
            if plan.codecs[variable].kind is not VariableKind.CONTINUOUS:
                continue  # codes of binary / categorical variables cannot leave their range
            observed = np.where(plan.where[variable], np.nan, plan.values[variable])
            bounds = _observed_bounds(observed, n_sd)
            if bounds is not None:
                self.bounds[variable] = bounds
        #: per variable: [first iteration (0-based), count, most extreme value]
        self.found: dict[str, list] = {}

    def add(self, variable: str, iteration: int, values: np.ndarray) -> None:
        """Take one iteration's imputations of ``variable`` (``iteration`` 0-based)."""
        if variable not in self.bounds:
            return
        low, high, floor, ceiling = self.bounds[variable]
        outside = (values < floor) | (values > ceiling)
        if not outside.any():
            return
        flagged = values[outside]
        extreme = float(flagged[np.argmax(np.abs(flagged - (low + high) / 2))])
        entry = self.found.setdefault(variable, [iteration, 0, extreme])
        entry[1] += int(outside.sum())
        if abs(extreme - (low + high) / 2) > abs(entry[2] - (low + high) / 2):
            entry[2] = extreme

    def events(self, chain: int) -> list[dict[str, Any]]:
        """One event per flagged variable (``chain`` 0-based), in visit order."""
        events = []
        for variable, (first, count, extreme) in self.found.items():
            low, high = self.bounds[variable][:2]
            events.append({
                "iteration": first + 1, "chain": chain + 1, "variable": variable,
                "event": (f"{count} imputed value(s) of {variable!r} lie more than "
                          f"{self.n_sd:g} observed SDs outside the observed range [{low:.4g}, "
                          f"{high:.4g}] (most extreme {extreme:.4g}, first at iteration "
                          f"{first + 1}); check this variable's model and post-processing"),
            })
        return events


def out_of_range_events(plan: Any, traces: Sequence[Any], n_sd: float | None = None,
                        offset: int = 0) -> list[dict[str, Any]]:
    """Flag continuous variables whose imputations fall far outside the observed range.

    A value is flagged when it lies more than ``n_sd`` observed standard deviations below
    the observed minimum or above the observed maximum. One event per variable and chain
    reports the first iteration concerned, how many values were flagged over all
    iterations, and the most extreme one. The cost is one pass over the stored draws.

    Parameters
    ----------
    plan : SamplerPlan
        The run's plan (observed values, cells imputed, column kinds).
    traces : sequence of ChainTrace
        The chains' records; ``trace.imputations[variable]`` holds one array per
        iteration.
    n_sd : float, optional
        Width of the tolerated margin, in observed standard deviations; default
        ``bi.settings["plausibility.out_of_range_sds"]``.
    offset : int
        Iterations run before these traces (a continued run), added to the reported
        iteration.

    Returns
    -------
    list of dict
        Rows with keys ``iteration``, ``chain`` (1-based), ``variable`` and ``event``,
        ordered by variable (visit order), then chain.
    """
    n_sd = settings["plausibility.out_of_range_sds"] if n_sd is None else n_sd
    tallies = []
    for trace in traces:
        tally = OutOfRangeTally(plan, n_sd)
        for variable in plan.visit_sequence:
            for iteration, values in enumerate(trace.imputations.get(variable) or []):
                tally.add(variable, offset + iteration, values)
        tallies.append(tally)
    return order_events([tally.events(chain) for chain, tally in enumerate(tallies)],
                        plan.visit_sequence)


def order_events(per_chain: Sequence[list[dict[str, Any]]], variables: Sequence[str]
                 ) -> list[dict[str, Any]]:
    """Out-of-range events of all chains, ordered by variable (visit order), then chain."""
    rank = {variable: i for i, variable in enumerate(variables)}
    rows = [event for events in per_chain for event in events]
    return sorted(rows, key=lambda e: (rank[e["variable"]], e["chain"]))
