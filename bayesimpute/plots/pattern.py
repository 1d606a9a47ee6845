"""Missing-data pattern plot (ggmice's ``plot_pattern``)."""

from __future__ import annotations

from collections.abc import Hashable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from bayesimpute.exploration import TOTAL_ROW, md_pattern
from bayesimpute.validation import check_cluster, check_frame

__all__ = ["plot_pattern", "OBSERVED_COLOUR", "MISSING_COLOUR"]

# ggmice's colours: blue = observed, red = missing.
OBSERVED_COLOUR = "#006CC2"
MISSING_COLOUR = "#B61A51"


def plot_pattern(
    data: pd.DataFrame,
    cluster: Hashable | None = None,
    npat: int | None = None,
    rotate: bool = False,
    *,
    ax: Axes | None = None,
) -> Figure:
    """Plot the missing-data patterns: one row per pattern, one column per variable.

    Left of each row its frequency, right of it the number of missing variables in it;
    above each column the variable name, below it the variable's number of missing
    values. Blue cells are observed, red cells missing. Rows follow mice's
    ``md.pattern`` order (complete pattern first).

    Parameters
    ----------
    data : pandas.DataFrame
        The incomplete data.
    cluster : hashable, optional
        Cluster column. It is left out of the pattern columns; instead an extra
        ``clusters`` column says in how many clusters each pattern occurs (``k/N``),
        and the cells of a pattern are the more transparent the fewer clusters show it
        (as ggmice does).
    npat : int, optional
        Show only the ``npat`` most frequent patterns (the title says how many rows the
        hidden patterns hold). Default all.
    rotate : bool
        Turn the variable names 90 degrees.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The grid is ``fig.axes[0]``: its left y tick labels are the pattern counts, its
        bottom x tick labels the missing counts per variable. ``ax.child_axes`` holds
        the top axis (variable names) and the right axis (missing per pattern).
    """
    check_frame(data)
    if cluster is not None:
        check_cluster(data, cluster)
        variables = data.drop(columns=[cluster])
    else:
        variables = data
    table = md_pattern(variables)
    patterns = table.drop(index=TOTAL_ROW)
    totals = table.loc[TOTAL_ROW]
    shown = _most_frequent(patterns, npat)
    columns = [c for c in table.columns if c not in ("count", "n_missing")]

    presence = _cluster_presence(data, cluster, columns, shown) if cluster is not None else None
    n_rows, n_cols = len(shown), len(columns) + (presence is not None)
    fig, ax = _pattern_axes(ax, n_rows, n_cols, columns, rotate)
    _draw_cells(ax, shown[columns].to_numpy(), presence)
    _label_pattern_axes(ax, shown, totals, columns, presence, rotate)
    _add_legend_and_title(ax, shown, patterns, len(data))
    return fig


def _most_frequent(patterns: pd.DataFrame, npat: int | None) -> pd.DataFrame:
    """Keep the ``npat`` most frequent patterns, in their md.pattern order."""
    if npat is None:
        return patterns
    if isinstance(npat, bool) or not isinstance(npat, (int, np.integer)) or npat < 1:
        raise ValueError(f"npat must be a positive integer, got {npat!r}")
    keep = patterns["count"].sort_values(ascending=False, kind="stable").index[:npat]
    return patterns.loc[patterns.index.isin(keep)]


def _cluster_presence(
    data: pd.DataFrame, cluster: Hashable, columns: list, shown: pd.DataFrame
) -> pd.Series:
    """Number of clusters in which each shown pattern occurs."""
    observed = data[columns].notna().astype(np.int8)
    keys = observed.astype(str).agg("".join, axis=1)
    clusters_per_key = keys.groupby(data[cluster].to_numpy()).unique()
    pattern_keys = shown[columns].astype(str).agg("".join, axis=1)
    counts = {key: 0 for key in pattern_keys}
    for keys_in_cluster in clusters_per_key:
        for key in set(keys_in_cluster) & counts.keys():
            counts[key] += 1
    presence = pattern_keys.map(counts)
    presence.attrs["n_clusters"] = int(data[cluster].nunique())
    return presence


def _pattern_axes(
    ax: Axes | None, n_rows: int, n_cols: int, columns: list, rotate: bool
) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    longest = max(len(str(c)) for c in columns)
    # Room above the grid for the names: horizontal names need width, rotated ones height.
    cell_width = max(0.55, 0.085 * longest) if not rotate else 0.5
    width = 2.6 + cell_width * n_cols
    height = 2.6 + 0.3 * n_rows + (0.08 * longest if rotate else 0)
    size = (min(max(width, 5), 18), min(max(height, 3.5), 20))
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    return fig, ax


def _draw_cells(ax: Axes, grid: np.ndarray, presence: pd.Series | None) -> None:
    """One rectangle per cell; opacity follows the share of clusters with the pattern."""
    n_rows, n_vars = grid.shape
    for i in range(n_rows):
        alpha = 0.75
        if presence is not None:
            alpha = 0.2 + 0.6 * presence.iloc[i] / presence.attrs["n_clusters"]
        for j in range(n_vars):
            colour = OBSERVED_COLOUR if grid[i, j] == 1 else MISSING_COLOUR
            ax.add_patch(
                Rectangle((j, i), 1, 1, facecolor=colour, alpha=alpha, edgecolor="none")
            )
            ax.add_patch(Rectangle((j, i), 1, 1, fill=False, edgecolor="black", linewidth=0.6))
        if presence is not None:
            ax.add_patch(
                Rectangle((n_vars, i), 1, 1, facecolor="white", edgecolor="black", linewidth=0.6)
            )
            ax.text(
                n_vars + 0.5, i + 0.5, f"{presence.iloc[i]}/{presence.attrs['n_clusters']}",
                ha="center", va="center", fontsize=8,
            )
    n_cols = n_vars + (presence is not None)
    ax.set_xlim(0, n_cols)
    ax.set_ylim(n_rows, 0)  # first pattern on top, as in mice and ggmice


def _label_pattern_axes(
    ax: Axes,
    shown: pd.DataFrame,
    totals: pd.Series,
    columns: list,
    presence: pd.Series | None,
    rotate: bool,
) -> None:
    n_rows = len(shown)
    x_names = [str(c) for c in columns] + (["clusters"] if presence is not None else [])
    x_counts = [str(int(totals[c])) for c in columns] + ([""] if presence is not None else [])
    x_ticks = np.arange(len(x_names)) + 0.5
    y_ticks = np.arange(n_rows) + 0.5

    ax.set_xticks(x_ticks, x_counts)
    ax.set_yticks(y_ticks, [str(int(c)) for c in shown["count"]])
    ax.set_xlabel("Number of missing entries per column")
    ax.set_ylabel("Pattern frequency")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)

    top = ax.secondary_xaxis("top")
    top.set_xticks(x_ticks, x_names, rotation=90 if rotate else 0)
    top.tick_params(length=0)
    top.set_xlabel("Column name")
    right = ax.secondary_yaxis("right")
    right.set_yticks(y_ticks, [str(int(n)) for n in shown["n_missing"]])
    right.tick_params(length=0)
    right.set_ylabel("Number of missing entries\nper pattern")
    for axis in (top, right):
        for spine in axis.spines.values():
            spine.set_visible(False)
    if n_rows > 30:
        ax.tick_params(axis="y", labelsize=7)
        right.tick_params(axis="y", labelsize=7)


def _add_legend_and_title(ax: Axes, shown: pd.DataFrame, patterns: pd.DataFrame, n: int) -> None:
    handles = [
        Patch(facecolor=OBSERVED_COLOUR, alpha=0.75, edgecolor="black", label="observed"),
        Patch(facecolor=MISSING_COLOUR, alpha=0.75, edgecolor="black", label="missing"),
    ]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1 if len(shown) > 3 else -0.25),
        ncol=2,
        frameon=False,
    )
    title = f"Missing-data patterns ({len(patterns)} patterns, {n} rows)"
    if len(shown) < len(patterns):
        hidden = int(patterns["count"].sum() - shown["count"].sum())
        title = (
            f"The {len(shown)} most frequent of {len(patterns)} missing-data patterns\n"
            f"({hidden} of {n} rows are in patterns not shown)"
        )
    ax.set_title(title)
