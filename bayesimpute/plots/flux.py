"""Influx-outflux plot (mice's ``fluxplot``)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bayesimpute.exploration import flux

__all__ = ["plot_flux"]

# Labels closer than this (in data units) are nudged apart vertically.
_LABEL_GAP = 0.045


def plot_flux(
    data: pd.DataFrame,
    local: Sequence[Hashable] | None = None,
    *,
    ax: Axes | None = None,
) -> Figure:
    """Scatter of outflux against influx, one labelled point per variable.

    Variables near the top left (high outflux, low influx) are good predictors; those
    at the bottom right are well connected to the observed data and easier to impute.
    The dashed line is ``outflux = 1 - influx``. Variables with identical statistics
    (typically all the complete ones, at influx 0 and outflux 1) share one point and
    one label listing them all.

    Parameters
    ----------
    data : pandas.DataFrame
        The incomplete data.
    local : sequence of hashable, optional
        Variables to show (see :func:`bayesimpute.flux`); default all.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; default a new square figure.

    Returns
    -------
    matplotlib.figure.Figure
        The scatter is ``fig.axes[0]``; its texts are the variable labels.
    """
    stats = flux(data, local)
    if stats["outflux"].isna().all():
        raise ValueError("the data have no missing values: influx and outflux are undefined")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 6.5), layout="constrained")
    else:
        fig = ax.figure

    groups = _group_identical(stats)
    ax.plot([0, 1], [1, 0], linestyle="--", color="grey", linewidth=1)
    ax.scatter(groups["influx"], groups["outflux"], color="#B61A51", zorder=3)
    _place_labels(ax, groups)
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    ax.set_aspect("equal")
    ax.set_xlabel("Influx")
    ax.set_ylabel("Outflux")
    ax.set_title("Influx-outflux pattern")
    ax.grid(alpha=0.3)
    return fig


def _group_identical(stats: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct (influx, outflux) point with the names of its variables."""
    rounded = stats[["influx", "outflux"]].round(10)
    groups = rounded.groupby(["influx", "outflux"], sort=False).apply(
        lambda g: ", ".join(str(v) for v in g.index), include_groups=False
    )
    return groups.rename("label").reset_index()


def _place_labels(ax: Axes, groups: pd.DataFrame) -> None:
    """Label every point to its right; labels of near points are stacked, not overlaid."""
    placed: list[tuple[float, float]] = []
    for row in groups.sort_values("outflux", ascending=False).itertuples():
        x, y = float(row.influx), float(row.outflux)
        label_y = y
        for px, py in placed:
            if abs(px - x) < 0.25 and abs(py - label_y) < _LABEL_GAP:
                label_y = py - _LABEL_GAP
        placed.append((x, label_y))
        shifted = label_y != y
        # Labels of points near the right edge go to the left so they stay inside; a
        # shifted label sits further out, joined to its point by a leader line.
        right_side = x < 0.7
        offset = 0.07 if shifted else 0.02
        text_x = x + (offset if right_side else -offset)
        ax.annotate(
            _wrap(row.label), xy=(x, y), xytext=(text_x, label_y),
            ha="left" if right_side else "right", va="center", fontsize=9,
            arrowprops=dict(arrowstyle="-", color="grey", lw=0.6, shrinkB=0) if shifted else None,
        )


def _wrap(label: str, width: int = 40) -> str:
    """Break a long list of names into lines of about ``width`` characters."""
    lines, current = [], ""
    for name in label.split(", "):
        candidate = f"{current}, {name}" if current else name
        if len(candidate) > width and current:
            lines.append(current + ",")
            current = name
        else:
            current = candidate
    lines.append(current)
    return "\n".join(lines)
