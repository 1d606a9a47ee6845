"""Heat map of the share missing per variable and cluster."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bayesimpute.exploration import missingness_summary
from bayesimpute.plots.correlation import figure_and_axes, annotate_cells

__all__ = ["plot_missingness"]

# Beyond this many clusters the cell texts would be unreadable.
_MAX_ANNOTATED_CLUSTERS = 40


def plot_missingness(
    data: pd.DataFrame,
    cluster: Hashable,
    variables: Sequence[Hashable] | None = None,
    *,
    incomplete_only: bool = False,
    annotate: bool | None = None,
    digits: int = 2,
    rotate: bool = True,
    cmap: str | Colormap = "Reds",
    ax: Axes | None = None,
) -> Figure:
    """Heat map of the share missing per variable (rows) and cluster (columns).

    Cells where a variable is missing entirely (systematic missingness) get a thick
    black frame; the right-hand labels give each variable's classification
    (complete / sporadic / systematic, see :func:`bayesimpute.missingness_summary`).

    Parameters
    ----------
    data : pandas.DataFrame
        The incomplete data.
    cluster : hashable
        The cluster column (completely observed).
    variables : sequence of hashable, optional
        Variables to show; default every column except ``cluster``.
    incomplete_only : bool
        Leave out the variables that are never missing.
    annotate : bool, optional
        Write the shares in the cells; default yes when there are at most 40 clusters.
    digits : int
        Decimals of the written shares.
    rotate : bool
        Turn the cluster labels 90 degrees (long study names need it).
    cmap : str or Colormap
        Sequential colour map, limits 0 and 1.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The heat map is ``fig.axes[0]``, the colour bar ``fig.axes[1]``; the
        classification labels are on ``fig.axes[0].child_axes[0]``.
    """
    summary = missingness_summary(data, cluster, variables)
    shares = summary.shares
    if incomplete_only:
        shares = shares[summary.classification["status"] != "complete"]
        if shares.empty:
            raise ValueError("no variable has missing values; nothing to show")
    values = shares.to_numpy(dtype=float)
    n_vars, n_clusters = values.shape
    if annotate is None:
        annotate = n_clusters <= _MAX_ANNOTATED_CLUSTERS

    fig, ax = figure_and_axes(ax, width=3.2 + 0.55 * n_clusters, height=1.8 + 0.45 * n_vars)
    image = ax.imshow(values, cmap=cmap, norm=Normalize(0.0, 1.0), aspect="auto")
    if annotate:
        annotate_cells(ax, values, fmt=f"{{:.{digits}f}}", image=image, fontsize=8)
    _frame_systematic_cells(ax, values)
    _label_axes(ax, shares, summary.classification, cluster, rotate)
    colorbar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.01)
    colorbar.set_label("share missing")
    return fig


def _frame_systematic_cells(ax: Axes, values: np.ndarray) -> None:
    """Outline the cells that are entirely missing: the ones that need a 2l model."""
    for i, j in zip(*np.nonzero(values == 1.0)):
        frame = Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2.5)
        ax.add_patch(frame)


def _label_axes(
    ax: Axes, shares: pd.DataFrame, classification: pd.DataFrame, cluster: Hashable, rotate: bool
) -> None:
    n_vars, n_clusters = shares.shape
    step = max(1, int(np.ceil(n_clusters / 50)))  # thin the labels of very many clusters
    positions = list(range(0, n_clusters, step))
    ax.set_xticks(
        positions,
        [str(shares.columns[p]) for p in positions],
        rotation=90 if rotate else 0,
        fontsize=9 if n_clusters <= 40 else 7,
    )
    ax.set_yticks(range(n_vars), [str(v) for v in shares.index])
    ax.tick_params(length=0)
    ax.set_xlabel(f"cluster ({cluster})")
    ax.set_ylabel("variable")
    ax.set_title("Share missing per variable and cluster")
    status = ax.secondary_yaxis("right")
    status.set_yticks(range(n_vars), [classification.at[v, "status"] for v in shares.index])
    status.tick_params(length=0)
