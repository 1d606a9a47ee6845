"""Correlation heat map of the incomplete data (ggmice's ``plot_corr``)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure

from bayesimpute.exploration import correlation_matrix

__all__ = ["plot_corr", "figure_and_axes", "annotate_cells"]


def plot_corr(
    data: pd.DataFrame,
    variables: Sequence[Hashable] | None = None,
    *,
    method: str = "pearson",
    label: bool = True,
    digits: int = 2,
    diagonal: bool = True,
    rotate: bool = False,
    cmap: str | Colormap = "RdBu_r",
    ax: Axes | None = None,
) -> Figure:
    """Heat map of the pairwise-complete correlations, values written in the cells.

    Parameters
    ----------
    data : pandas.DataFrame
        The incomplete data.
    variables : sequence of hashable, optional
        Columns to show. Default: numeric and ordered categorical columns (ordered
        categories as level codes); unordered categoricals are left out.
    method : {"pearson", "spearman", "kendall"}
        Correlation coefficient.
    label : bool
        Write each correlation, rounded to ``digits``, in its cell.
    digits : int
        Decimals of the written correlations.
    diagonal : bool
        Show the diagonal (all ones); ``False`` blanks it, as ggmice does.
    rotate : bool
        Turn the column labels 90 degrees.
    cmap : str or Colormap
        Diverging colour map, centred at 0 (limits -1 and 1).
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; the heat map is ``fig.axes[0]``, the colour bar ``fig.axes[1]``.
        Cells whose correlation is undefined (a constant column) stay blank.
    """
    corr = correlation_matrix(data, variables, method=method)
    values = corr.to_numpy(dtype=float).copy()
    if not diagonal:
        np.fill_diagonal(values, np.nan)

    n = len(corr)
    longest = max(len(str(c)) for c in corr.columns)
    # The row labels and the rotated column labels take room beside and below the grid.
    fig, ax = figure_and_axes(
        ax, width=2.4 + 0.75 * n + 0.09 * longest, height=1.6 + 0.65 * n + 0.07 * longest
    )
    image = ax.imshow(
        np.ma.masked_invalid(values), cmap=cmap, norm=Normalize(-1.0, 1.0), aspect="equal"
    )
    if label:
        annotate_cells(ax, values, fmt=f"{{:.{digits}f}}", image=image)
    labels = [str(v) for v in corr.columns]
    ax.set_xticks(
        range(n), labels, rotation=90 if rotate else 45, ha="center" if rotate else "right"
    )
    ax.set_yticks(range(n), labels)
    ax.tick_params(length=0)
    ax.set_title(f"{method.capitalize()} correlations (pairwise complete)")
    colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    colorbar.set_label("correlation")
    return fig


def annotate_cells(
    ax: Axes,
    values: np.ndarray,
    fmt: str = "{:.2f}",
    image=None,
    fontsize: float | None = None,
) -> list:
    """Write every finite value of a heat map in its cell, in a colour readable on it.

    Parameters
    ----------
    ax : Axes
        Axes holding the heat map drawn with ``imshow`` (cell ``(i, j)`` at ``x=j, y=i``).
    values : numpy.ndarray
        The cell values; NaN cells are left empty.
    fmt : str
        ``str.format`` pattern for a value.
    image : AxesImage, optional
        The heat map; its colours decide black or white text.
    fontsize : float, optional
        Text size; default scales down as the grid grows.

    Returns
    -------
    list of matplotlib.text.Text
    """
    if fontsize is None:
        fontsize = 9 if max(values.shape) <= 12 else 7
    texts = []
    for (i, j), value in np.ndenumerate(values):
        if not np.isfinite(value):
            continue
        colour = "black"
        if image is not None:
            r, g, b, _ = image.cmap(image.norm(value))
            # Relative luminance: white text on dark cells, black on light ones.
            colour = "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"
        text = fmt.format(value)
        if text.startswith("-") and float(text) == 0.0:
            text = text[1:]  # "-0.00" reads as a sign that is not there
        texts.append(ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=fontsize))
    return texts


def figure_and_axes(ax: Axes | None, width: float, height: float) -> tuple[Figure, Axes]:
    """Use the given axes or make a figure sized for a grid, kept within a screen.

    Parameters
    ----------
    ax : matplotlib.axes.Axes or None
        Axes to draw on; None makes a new figure.
    width, height : float
        The size the grid wants, in inches (clipped to 4-16 by 3-16).

    Returns
    -------
    (matplotlib.figure.Figure, matplotlib.axes.Axes)
        The figure and the axes to draw on.

    Examples
    --------
    >>> from bayesimpute.plots.correlation import figure_and_axes
    >>> fig, ax = figure_and_axes(None, width=2.0, height=20.0)
    >>> [float(x) for x in fig.get_size_inches()]
    [4.0, 16.0]
    """
    if ax is not None:
        return ax.figure, ax
    size = (min(max(width, 4.0), 16.0), min(max(height, 3.0), 16.0))
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    return fig, ax
