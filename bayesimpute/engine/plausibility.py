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

from bayesimpute.engine.coding import VariableKind

__all__ = ["OUT_OF_RANGE_SDS", "out_of_range_events"]

#: how many observed standard deviations beyond the observed range count as "far outside"
OUT_OF_RANGE_SDS = 3.0


def _observed_bounds(values: np.ndarray, n_sd: float) -> tuple[float, float, float, float] | None:
    observed = values[~np.isnan(values)]
    if len(observed) < 2:
        return None
    low, high = float(observed.min()), float(observed.max())
    margin = n_sd * float(observed.std(ddof=1))
    if margin == 0:  # a constant column: any other value is outside, but keep a scale
        margin = n_sd * max(abs(low), 1.0) * 1e-9
    return low, high, low - margin, high + margin


def out_of_range_events(plan: Any, traces: Sequence[Any], n_sd: float = OUT_OF_RANGE_SDS,
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
    n_sd : float
        Width of the tolerated margin, in observed standard deviations.
    offset : int
        Iterations run before these traces (a continued run), added to the reported
        iteration.

    Returns
    -------
    list of dict
        Rows with keys ``iteration``, ``chain`` (1-based), ``variable`` and ``event``.
    """
    events: list[dict[str, Any]] = []
    for variable in plan.visit_sequence:
        if plan.codecs[variable].kind is not VariableKind.CONTINUOUS:
            continue  # codes of binary / categorical variables cannot leave their range
        observed = np.where(plan.where[variable], np.nan, plan.values[variable])
        bounds = _observed_bounds(observed, n_sd)
        if bounds is None:
            continue
        low, high, floor, ceiling = bounds
        for chain, trace in enumerate(traces):
            draws = trace.imputations.get(variable)
            if not draws:
                continue
            stacked = np.vstack(draws)
            outside = (stacked < floor) | (stacked > ceiling)
            if not outside.any():
                continue
            first = offset + int(np.flatnonzero(outside.any(axis=1))[0])
            flagged = stacked[outside]
            extreme = float(flagged[np.argmax(np.abs(flagged - (low + high) / 2))])
            events.append({
                "iteration": first + 1, "chain": chain + 1, "variable": variable,
                "event": (f"{int(outside.sum())} imputed value(s) of {variable!r} lie more than "
                          f"{n_sd:g} observed SDs outside the observed range [{low:.4g}, "
                          f"{high:.4g}] (most extreme {extreme:.4g}, first at iteration "
                          f"{first + 1}); check this variable's model and post-processing"),
            })
    return events
