"""Imputed versus observed values: densities, strip plots, box plots and scatter plots.

The Python counterparts of mice's ``densityplot`` / ``stripplot`` / ``bwplot`` and of
``ggmice(imp, aes(x, y))``. Observed values are drawn in blue, imputed values in red, the
colours ggmice uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from bayesimpute.validation import check_one_of
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bayesimpute.validation import check_one_of

__all__ = ["plot_imputed", "OBSERVED_COLOR", "IMPUTED_COLOR"]

OBSERVED_COLOR = "#006CC2"  # ggmice's observed blue
IMPUTED_COLOR = "#B61A51"  # ggmice's imputed red
KINDS = ("density", "strip", "box", "scatter")
MAX_DISCRETE = 15  # integer variables with at most this many values get jittered points
VALUE_JITTER = 0.15  # jitter half-width across discrete values (in units of one level)


# --------------------------------------------------------------------------- checks


def _check_column(imp, name: str, role: str) -> None:
    if not isinstance(name, str) or name not in imp.data.columns:
        raise ValueError(
            f"{role}={name!r} is not a column of the imputed data; columns: "
            f"{list(imp.data.columns)}"
        )


def _imputed_rows(imp, column: str) -> np.ndarray:
    """Boolean array: rows whose value of ``column`` was imputed."""
    if column not in imp.variables:
        return np.zeros(len(imp.data), dtype=bool)
    return imp.where[column].to_numpy(dtype=bool)


def _require_imputed(imp, column: str) -> None:
    if not _imputed_rows(imp, column).any():
        raise ValueError(
            f"{column!r} has no imputed values, so there is nothing to compare with the "
            f"observed ones; imputed variables: {imp.variables}"
        )


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _as_numbers(series: pd.Series) -> tuple[np.ndarray, list[str] | None]:
    """Values as floats; categorical/boolean/string columns become level codes + labels."""
    if _is_numeric(series):
        return series.to_numpy(dtype=float, na_value=np.nan), None
    categorical = series.astype("category")
    codes = categorical.cat.codes.to_numpy().astype(float)
    codes[codes < 0] = np.nan
    return codes, [str(c) for c in categorical.cat.categories]


# --------------------------------------------------------------------------- facets


def _panels(imp, by: Any, x: str, max_panels: int) -> tuple[str | None, list[Any], str]:
    """Resolve ``by`` into (column, levels, note)."""
    if by is None:
        return None, [None], ""
    if isinstance(by, str) and by == ".imp":
        return ".imp", list(range(imp.m + 1)), ""
    if isinstance(by, str):
        column = imp.cluster if by == "cluster" else by
        if column is None:
            raise ValueError("by='cluster' needs an imputation with a cluster variable")
        _check_column(imp, column, "by")
        if imp.data[column].isna().any():
            raise ValueError(f"by={column!r} has missing values; facet by a complete column")
        levels = pd.unique(imp.data[column])
        note = ""
        if len(levels) > max_panels:
            counts = (pd.Series(_imputed_rows(imp, x), index=imp.data.index)
                      .groupby(imp.data[column].to_numpy()).sum())
            counts = counts.reindex(levels)
            order = np.argsort(-counts.to_numpy(), kind="stable")[:max_panels]
            levels = [levels[i] for i in sorted(order)]
            note = (f"{max_panels} of {counts.size} {column} levels (most imputed {x}); "
                    f"pass by=[...] to choose")
        return column, list(levels), note
    if isinstance(by, Sequence) or isinstance(by, (np.ndarray, pd.Index)):
        column = imp.cluster
        if column is None:
            raise ValueError("a list for by= names clusters, but the imputation has no cluster")
        wanted = list(by)
        if not wanted:
            raise ValueError("by= is an empty list; name at least one cluster")
        present = set(pd.unique(imp.data[column]))
        unknown = [c for c in wanted if c not in present]
        if unknown:
            raise ValueError(f"clusters {unknown} are not values of {column!r}")
        return column, wanted, ""
    raise TypeError(f"by must be None, '.imp', a column name or a list of clusters, got {by!r}")


def _figure(n_panels: int, figsize, ax, sharey: bool) -> tuple[Figure, list[plt.Axes]]:
    if ax is not None:
        if n_panels != 1:
            raise ValueError("ax= draws a single panel; it cannot be combined with by=")
        return ax.figure, [ax]
    ncols = min(n_panels, 3)
    nrows = -(-n_panels // ncols)
    if figsize is None:
        figsize = (4.6 * ncols if n_panels > 1 else 6.4, 3.5 * nrows if n_panels > 1 else 4.4)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False,
                             sharex=True, sharey=sharey)
    flat = list(axes.flat)
    for extra in flat[n_panels:]:
        extra.set_visible(False)
    return fig, flat[:n_panels]


def _panel_title(column: str | None, level: Any) -> str:
    if column is None:
        return ""
    if column == ".imp":
        return "observed (.imp 0)" if level == 0 else f".imp {level}"
    return f"{column} = {level}"


# --------------------------------------------------------------------------- density


def _bandwidth(values: np.ndarray) -> float:
    """R's ``bw.nrd0`` (Silverman's rule of thumb), with a fallback for constant data."""
    n = values.size
    sd = np.std(values, ddof=1) if n > 1 else 0.0
    q75, q25 = np.percentile(values, [75, 25]) if n else (0.0, 0.0)
    spread = min(sd, (q75 - q25) / 1.34) if (q75 - q25) > 0 else sd
    if not spread > 0:
        spread = abs(values[0]) if n and values[0] != 0 else 1.0
    return 0.9 * spread * n ** (-0.2)


def _kde(values: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    z = (grid[:, None] - values[None, :]) / bandwidth
    return np.exp(-0.5 * z**2).sum(axis=1) / (values.size * bandwidth * np.sqrt(2 * np.pi))


def _draw_density(ax, observed: np.ndarray, imputed: list[np.ndarray], grid: np.ndarray,
                  labels: list[str]) -> None:
    if observed.size:
        ax.plot(grid, _kde(observed, grid, _bandwidth(observed)), color=OBSERVED_COLOR,
                lw=2.2, label="observed", gid="observed")
    for values, label in zip(imputed, labels):
        if values.size:
            ax.plot(grid, _kde(values, grid, _bandwidth(values)), color=IMPUTED_COLOR,
                    lw=1.0, alpha=0.85, label=label, gid="imputed")
    ax.set_ylim(bottom=0)


# --------------------------------------------------------------------------- main entry


def plot_imputed(
    imp,
    x: str,
    y: str | None = None,
    kind: str | None = None,
    by: str | Sequence[Any] | None = None,
    *,
    max_panels: int = 6,
    jitter: float = 0.25,
    alpha: float | None = None,
    seed: int = 0,
    ax: plt.Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Compare imputed with observed values (mice's densityplot / stripplot / bwplot, ggmice).

    Parameters
    ----------
    imp : MultipleImputation
        The result of :func:`bayesimpute.impute`.
    x : str
        The variable to show; for ``"density"``, ``"strip"`` and ``"box"`` it must have
        imputed values.
    y : str, optional
        Second variable, for ``kind="scatter"`` (x horizontal, y vertical); at least one of
        ``x`` and ``y`` must have imputed values.
    kind : {"density", "strip", "box", "scatter"}, optional
        ``"density"``: one kernel density of the observed values (blue, thick) and one of
        each imputation's imputed values (red) -- 1 + m lines per panel.
        ``"strip"``: the values by ``.imp`` (0 = observed data; 1..m = each completed
        dataset with its imputed values in red), jittered horizontally.
        ``"box"``: box plots by ``.imp``: the observed values (0) and each imputation's
        imputed values (1..m).
        ``"scatter"``: ``x`` against ``y``; rows observed in both in blue, rows with an
        imputed ``x`` or ``y`` in red, one point per imputation.
        Default: ``"scatter"`` when ``y`` is given, else ``"density"``.
    by : str or list, optional
        Facets: ``".imp"`` (one panel per imputation; for density and scatter), a column
        name such as the cluster variable (``"cluster"`` means ``imp.cluster``), or a list
        of clusters of ``imp.cluster``. A column with more than ``max_panels`` levels shows
        the ``max_panels`` levels with the most imputed values of ``x``.
    max_panels : int
        Most panels a column facet draws (default 6).
    jitter : float
        Horizontal jitter half-width of the strip plot's columns. Values of a categorical
        variable or of an integer variable with at most 15 distinct values are also
        jittered, by 0.15 of a unit, so that points do not stack.
    alpha : float, optional
        Point transparency (default chosen from the number of points).
    seed : int
        Seed of the jitter (plots are reproducible).
    ax : matplotlib.axes.Axes, optional
        Draw into this axes (single-panel plots only).
    figsize : tuple, optional
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes`` holds one axes per panel. Density lines carry ``gid`` ``"observed"`` or
        ``"imputed"``; point collections likewise.

    Raises
    ------
    ValueError
        Unknown column, unknown kind, a variable without imputed values, a non-numeric
        variable for ``"density"`` / ``"box"``, bad facets.
    """
    if kind is None:
        kind = "scatter" if y is not None else "density"
    check_one_of(kind, KINDS, name="kind")
    _check_column(imp, x, "x")
    if kind == "scatter":
        if y is None:
            raise ValueError("kind='scatter' needs a second variable y")
        _check_column(imp, y, "y")
        if not (_imputed_rows(imp, x).any() or _imputed_rows(imp, y).any()):
            raise ValueError(
                f"neither {x!r} nor {y!r} has imputed values; imputed variables: "
                f"{imp.variables}"
            )
    else:
        if y is not None:
            raise ValueError(f"y is used only by kind='scatter', not kind={kind!r}")
        _require_imputed(imp, x)
        if kind in ("density", "box") and not _is_numeric(imp.data[x]):
            raise ValueError(
                f"kind={kind!r} needs a numeric variable; {x!r} is {imp.data[x].dtype}: "
                f"use kind='strip'"
            )
    if by is not None and isinstance(by, str) and by == ".imp" and kind in ("strip", "box"):
        raise ValueError(f"kind={kind!r} already separates the imputations along the x axis; "
                         f"by='.imp' is for 'density' and 'scatter'")
    if max_panels < 1:
        raise ValueError(f"max_panels must be at least 1, got {max_panels}")
    column, levels, note = _panels(imp, by, x, max_panels)
    if kind == "density" and column == ".imp":
        levels = levels[1:]  # panel k: observed vs imputation k
    # Densities of small clusters differ in height: each panel keeps its own y scale.
    fig, axes = _figure(len(levels), figsize, ax, sharey=kind != "density")
    rng = np.random.default_rng(seed)
    completed = [imp.complete(i) for i in range(imp.m)]
    draw = {"density": _density, "strip": _strip, "box": _box, "scatter": _scatter}[kind]
    for panel_ax, level in zip(axes, levels):
        if column is None or column == ".imp":
            rows = np.ones(len(imp.data), dtype=bool)
        else:
            rows = (imp.data[column] == level).to_numpy()
        draw(panel_ax, imp, completed, x, y, rows, level if column == ".imp" else None,
             rng=rng, jitter=jitter, alpha=alpha)
        panel_ax.set_title(_panel_title(column, level), fontsize="medium")
    _label(axes, kind, x, y)
    _legend(axes, kind)
    if note:
        fig.suptitle(note, fontsize="small")
    if ax is None:
        fig.tight_layout(rect=(0, 0, 1, 0.95) if kind == "box" or note else None)
    return fig


def _label(axes, kind, x, y) -> None:
    xlabel, ylabel = {
        "density": (x, "density"),
        "strip": ("imputation (.imp; 0 = observed)", x),
        "box": ("imputation (.imp; 0 = observed)", x),
        "scatter": (x, y),
    }[kind]
    ncols = min(len(axes), 3)
    for i, panel_ax in enumerate(axes):
        if i + ncols >= len(axes):  # nothing drawn below this panel
            panel_ax.set_xlabel(xlabel)
            panel_ax.xaxis.set_tick_params(labelbottom=True)
        if i % ncols == 0:
            panel_ax.set_ylabel(ylabel)


def _legend(axes, kind) -> None:
    handles = [
        Line2D([], [], color=OBSERVED_COLOR, lw=2.2 if kind == "density" else 0,
               marker=None if kind == "density" else "o", label="observed"),
        Line2D([], [], color=IMPUTED_COLOR, lw=1.0 if kind == "density" else 0,
               marker=None if kind == "density" else "o", label="imputed"),
    ]
    if kind == "box":
        handles = [plt.Rectangle((0, 0), 1, 1, fc="none", ec=OBSERVED_COLOR, label="observed"),
                   plt.Rectangle((0, 0), 1, 1, fc="none", ec=IMPUTED_COLOR, label="imputed")]
    if kind == "box":  # boxes fill the axes: the legend goes above them
        axes[0].figure.legend(handles=handles, loc="upper right", ncol=2, fontsize="small",
                              frameon=False)
        return
    axes[0].legend(handles=handles, loc="best", fontsize="small", framealpha=0.8)


def _density(ax, imp, completed, x, y, rows, level, **_) -> None:
    where = _imputed_rows(imp, x)
    observed = imp.data[x].to_numpy(dtype=float, na_value=np.nan)[rows & ~where]
    chains = range(imp.m) if level is None else [level - 1]
    imputed = [completed[i][x].to_numpy(dtype=float)[rows & where] for i in chains]
    pooled = np.concatenate([observed, *imputed])
    pad = 3 * _bandwidth(pooled) if pooled.size else 1.0
    lo, hi = (pooled.min() - pad, pooled.max() + pad) if pooled.size else (0.0, 1.0)
    grid = np.linspace(lo, hi, 256)
    _draw_density(ax, observed, imputed, grid, [f".imp {i + 1}" for i in chains])


def _alpha(alpha, n_points: int) -> float:
    if alpha is not None:
        return alpha
    return float(np.clip(60 / max(n_points, 1) ** 0.75, 0.08, 0.9))


def _strip(ax, imp, completed, x, y, rows, level, *, rng, jitter, alpha) -> None:
    where = _imputed_rows(imp, x)
    values0, labels = _as_numbers(imp.data[x])
    observed = values0[rows & ~where]
    wobble = VALUE_JITTER if _discrete(values0, labels) else 0.0

    def spread(values: np.ndarray) -> np.ndarray:
        return values + rng.uniform(-wobble, wobble, values.size) if wobble else values

    n_points = observed.size + imp.m * rows.sum()
    a = _alpha(alpha, n_points / (imp.m + 1))
    ax.scatter(rng.uniform(-jitter, jitter, observed.size), spread(observed), s=8, alpha=a,
               color=OBSERVED_COLOR, lw=0, gid="observed", rasterized=True)
    for k, frame in enumerate(completed, start=1):
        if labels:
            values = _codes_like(frame[x], imp.data[x])
        else:
            values = frame[x].to_numpy(dtype=float)
        obs_k, imp_k = values[rows & ~where], values[rows & where]
        ax.scatter(k + rng.uniform(-jitter, jitter, obs_k.size), spread(obs_k), s=8, alpha=a,
                   color=OBSERVED_COLOR, lw=0, gid="observed", rasterized=True)
        ax.scatter(k + rng.uniform(-jitter, jitter, imp_k.size), spread(imp_k), s=8,
                   alpha=min(1.0, 2 * a), color=IMPUTED_COLOR, lw=0, gid="imputed",
                   rasterized=True)
    ax.set_xticks(range(imp.m + 1))
    if labels:
        ax.set_yticks(range(len(labels)), labels)


def _discrete(values: np.ndarray, labels) -> bool:
    """Level codes, or few integer values: worth jittering so that points do not stack."""
    if labels:
        return True
    finite = values[np.isfinite(values)]
    return bool(finite.size) and np.all(finite == np.round(finite)) \
        and np.unique(finite).size <= MAX_DISCRETE


def _codes_like(values: pd.Series, original: pd.Series) -> np.ndarray:
    """Level codes of ``values`` in the level order of ``original``."""
    categories = original.astype("category").cat.categories
    codes = pd.Categorical(values, categories=categories).codes.astype(float)
    codes[codes < 0] = np.nan
    return codes


def _box(ax, imp, completed, x, y, rows, level, **_) -> None:
    where = _imputed_rows(imp, x)
    groups = [imp.data[x].to_numpy(dtype=float, na_value=np.nan)[rows & ~where]]
    groups += [frame[x].to_numpy(dtype=float)[rows & where] for frame in completed]
    colors = [OBSERVED_COLOR] + [IMPUTED_COLOR] * imp.m
    keep = [i for i, g in enumerate(groups) if g.size]
    parts = ax.boxplot([groups[i] for i in keep], positions=keep, widths=0.6,
                       patch_artist=True, manage_ticks=False, showfliers=True)
    for i, box in zip(keep, parts["boxes"]):
        box.set(facecolor="white", edgecolor=colors[i], linewidth=1.4)
        box.set_gid("observed" if i == 0 else "imputed")
    for key in ("whiskers", "caps"):
        for j, line in enumerate(parts[key]):
            line.set_color(colors[keep[j // 2]])
    for i, line in zip(keep, parts["medians"]):
        line.set(color=colors[i], linewidth=2, gid="median")
    for i, flier in zip(keep, parts["fliers"]):
        flier.set(markeredgecolor=colors[i], markersize=3)
    ax.set_xticks(range(imp.m + 1))
    ax.set_xlim(-0.6, imp.m + 0.6)


def _scatter(ax, imp, completed, x, y, rows, level, *, rng, jitter, alpha) -> None:
    wx, wy = _imputed_rows(imp, x), _imputed_rows(imp, y)
    missing = wx | wy
    xs0, xlabels = _as_numbers(imp.data[x])
    ys0, ylabels = _as_numbers(imp.data[y])
    show_observed = level is None or level == 0
    chains = range(imp.m) if level is None else ([] if level == 0 else [level - 1])

    x_discrete, y_discrete = _discrete(xs0, xlabels), _discrete(ys0, ylabels)

    def spread(values: np.ndarray, discrete: bool) -> np.ndarray:
        if not discrete:
            return values
        return values + rng.uniform(-VALUE_JITTER, VALUE_JITTER, values.size)

    observed = rows & ~missing
    n_points = observed.sum() + len(chains) * (rows & missing).sum()
    a = _alpha(alpha, n_points)
    if show_observed:
        ax.scatter(spread(xs0[observed], x_discrete), spread(ys0[observed], y_discrete), s=10,
                   alpha=a, color=OBSERVED_COLOR, lw=0, gid="observed", rasterized=True)
    for i in chains:
        frame = completed[i]
        xs = _codes_like(frame[x], imp.data[x]) if xlabels else frame[x].to_numpy(dtype=float)
        ys = _codes_like(frame[y], imp.data[y]) if ylabels else frame[y].to_numpy(dtype=float)
        pick = rows & missing
        ax.scatter(spread(xs[pick], x_discrete), spread(ys[pick], y_discrete), s=10,
                   alpha=min(1.0, 2 * a), color=IMPUTED_COLOR, lw=0, gid="imputed",
                   rasterized=True)
    if xlabels:
        ax.set_xticks(range(len(xlabels)), xlabels)
    elif x_discrete:
        ax.set_xticks(np.unique(xs0[np.isfinite(xs0)]))
    if ylabels:
        ax.set_yticks(range(len(ylabels)), ylabels)
    elif y_discrete:
        ax.set_yticks(np.unique(ys0[np.isfinite(ys0)]))
