"""Predictor-matrix plot (ggmice's ``plot_pred``), with micemd's multilevel codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from bayesimpute.design.matrix import PREDICTOR_CODES

__all__ = ["plot_pred", "PREDICTOR_CODES"]


# One colour per code: purples for the Heckman roles, orange for the cluster, white for
# "not used", blues for fixed/random effects, greens for the same plus cluster means.
_CODE_COLOURS: dict[int, str] = {
    -4: "#7B3294",
    -3: "#C2A5CF",
    -2: "#F1A340",
    0: "#FFFFFF",
    1: "#92C5DE",
    2: "#0571B0",
    3: "#A6DBA0",
    4: "#1B7837",
}
_CODES = sorted(PREDICTOR_CODES)


def plot_pred(
    predictor_matrix: pd.DataFrame,
    method: pd.Series | Mapping[str, str] | None = None,
    *,
    not_imputed: Literal["grey", "omit", "show"] = "grey",
    label: bool = True,
    rotate: bool = True,
    ax: Axes | None = None,
) -> Figure:
    """Plot a predictor matrix: every code in its own colour, with a legend in words.

    Parameters
    ----------
    predictor_matrix : pandas.DataFrame
        Rows = variables to impute, columns = predictors, integer codes among
        -4, -3, -2, 0, 1, 2, 3, 4 (see :data:`PREDICTOR_CODES`).
    method : pandas.Series or mapping, optional
        Imputation method per variable (``""`` = not imputed), as from
        ``bi.make_method``; shown to the right of each row. Rows it does not name are
        labelled ``""``.
    not_imputed : {"grey", "omit", "show"}
        What to do with rows whose method is ``""``: fade them (default), leave them
        out, or show them like the others. Ignored without ``method``.
    label : bool
        Write each code in its cell.
    rotate : bool
        Turn the predictor names 90 degrees.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The grid is ``fig.axes[0]`` (y tick labels: imputed variables, x tick labels:
        predictors); the methods are the tick labels of ``fig.axes[0].child_axes[0]``.

    Raises
    ------
    TypeError
        If ``predictor_matrix`` is not a DataFrame.
    ValueError
        If a cell is missing or not one of the codes (the message names the cell), or
        ``not_imputed`` is unknown.
    """
    codes = _validated_codes(predictor_matrix)
    if not_imputed not in ("grey", "omit", "show"):
        raise ValueError(f"not_imputed must be 'grey', 'omit' or 'show', got {not_imputed!r}")
    methods = _methods_for_rows(codes, method)
    if methods is not None and not_imputed == "omit":
        codes = codes.loc[methods != ""]
        methods = methods.loc[codes.index]
        if codes.empty:
            raise ValueError("every row has method ''; nothing left to show")

    n_rows, n_cols = codes.shape
    fig, ax = _pred_axes(ax, codes, rotate)
    colours = ListedColormap([_CODE_COLOURS[c] for c in _CODES])
    # Boundaries halfway between the codes map each integer to its own colour.
    norm = BoundaryNorm(np.array(_CODES + [_CODES[-1] + 1]) - 0.5, colours.N)
    values = codes.to_numpy()
    ax.imshow(values, cmap=colours, norm=norm, aspect="equal")
    _draw_grid(ax, n_rows, n_cols)
    if label:
        _write_codes(ax, values)
    if methods is not None and not_imputed == "grey":
        _fade_rows(ax, np.flatnonzero(methods.to_numpy() == ""), n_cols)
    _label_pred_axes(ax, codes, methods, rotate)
    _add_code_legend(ax, values)
    return fig


def _validated_codes(predictor_matrix: object) -> pd.DataFrame:
    """Check type, completeness and codes; return the matrix as integers."""
    if not isinstance(predictor_matrix, pd.DataFrame):
        raise TypeError(
            f"predictor_matrix must be a pandas DataFrame, got {type(predictor_matrix).__name__}"
        )
    if predictor_matrix.empty:
        raise ValueError("predictor_matrix is empty")
    for row in predictor_matrix.index:
        for column in predictor_matrix.columns:
            value = predictor_matrix.at[row, column]
            if not _is_valid_code(value):
                shown = value.item() if isinstance(value, np.generic) else value
                raise ValueError(
                    f"predictor_matrix.loc[{row!r}, {column!r}] = {shown!r} is not a valid "
                    f"code; allowed: {_CODES}"
                )
    return predictor_matrix.astype(np.int64)


def _is_valid_code(value: object) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return np.isfinite(number) and number == int(number) and int(number) in PREDICTOR_CODES


def _methods_for_rows(codes: pd.DataFrame, method) -> pd.Series | None:
    """The method of each row of the matrix, ``""`` where ``method`` names none."""
    if method is None:
        return None
    if isinstance(method, Mapping):
        method = pd.Series(dict(method), dtype=object)
    if not isinstance(method, pd.Series):
        raise TypeError(f"method must be a pandas Series or a mapping, got {type(method).__name__}")
    return method.reindex(codes.index).fillna("").astype(str)


def _pred_axes(ax: Axes | None, codes: pd.DataFrame, rotate: bool) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    n_rows, n_cols = codes.shape
    longest = max(len(str(c)) for c in codes.columns)
    width = 4.5 + 0.5 * n_cols  # room on the right for the methods and the legend
    height = 2.4 + 0.45 * n_rows + 0.07 * longest
    size = (min(max(width, 6.0), 18.0), min(max(height, 3.5), 18.0))
    return plt.subplots(figsize=size, layout="constrained")


def _draw_grid(ax: Axes, n_rows: int, n_cols: int) -> None:
    ax.set_xticks(np.arange(n_cols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n_rows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="black", linewidth=0.6)
    ax.tick_params(which="both", length=0)


def _write_codes(ax: Axes, values: np.ndarray) -> None:
    for (i, j), code in np.ndenumerate(values):
        dark = code in (-4, 2, 4)
        colour = "white" if dark else "black"
        ax.text(j, i, str(code), ha="center", va="center", fontsize=9, color=colour)


def _fade_rows(ax: Axes, rows: np.ndarray, n_cols: int) -> None:
    """Grey out the rows that are not imputed: their codes are not used."""
    for i in rows:
        ax.add_patch(
            Rectangle(
                (-0.5, i - 0.5), n_cols, 1,
                facecolor="#DDDDDD", alpha=0.75, edgecolor="none", zorder=2,
            )
        )


def _label_pred_axes(
    ax: Axes, codes: pd.DataFrame, methods: pd.Series | None, rotate: bool
) -> None:
    n_rows, n_cols = codes.shape
    ax.set_xticks(range(n_cols), [str(c) for c in codes.columns], rotation=90 if rotate else 0)
    ax.set_yticks(range(n_rows), [str(r) for r in codes.index])
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xlabel("Predictor (column)")
    ax.set_ylabel("Imputation target (row)")
    if methods is not None:
        right = ax.secondary_yaxis("right")
        right.set_yticks(range(n_rows), [m if m else "(not imputed)" for m in methods])
        right.tick_params(length=0)
        right.set_ylabel("Imputation method", labelpad=10)


def _add_code_legend(ax: Axes, values: np.ndarray) -> None:
    """Legend in words for the codes that occur in the matrix."""
    present = [c for c in _CODES if (values == c).any()]
    handles = [
        Patch(facecolor=_CODE_COLOURS[c], edgecolor="black", label=f"{c}: {PREDICTOR_CODES[c]}")
        for c in present
    ]
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.03), ncol=2,
        frameon=False, title="Code",
    )
