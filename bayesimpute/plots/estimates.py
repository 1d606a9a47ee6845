"""Forest plot comparing the estimates of several analyses (the tutorial's ``plot_models``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

__all__ = ["plot_estimates", "estimates_table"]

MARKERS = ["o", "s", "D", "^", "v", "P", "X", "h"]
_INTERCEPT_ALIASES = {"(Intercept)": "Intercept", "intercept": "Intercept", "const": "Intercept"}


# --------------------------------------------------------------------------- inputs


def _from_frame(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    frame = frame.copy()
    if "term" in frame.columns:
        frame = frame.set_index("term")
    needed = ["estimate", "conf_low", "conf_high"]
    absent = [c for c in needed if c not in frame.columns]
    if absent and "std_error" in frame.columns and "estimate" in frame.columns:
        z = stats.norm.ppf(0.975)
        frame["conf_low"] = frame["estimate"] - z * frame["std_error"]
        frame["conf_high"] = frame["estimate"] + z * frame["std_error"]
    elif absent:
        raise ValueError(
            f"analysis {name!r}: a DataFrame needs columns estimate, conf_low, conf_high "
            f"(or estimate and std_error); it lacks {absent}"
        )
    return frame[needed].astype(float)


def _from_single_fit(fit: Any, name: str, conf_level: float) -> pd.DataFrame:
    from bayesimpute.analysis import as_model_fit

    model_fit = as_model_fit(fit)
    se = model_fit.std_errors
    # Per-term Satterthwaite df where the fit has them (as pool() uses), else residual df.
    df = model_fit.term_df if model_fit.term_df is not None else model_fit.dfcom
    quantile = stats.t.ppf(0.5 + conf_level / 2, df)  # t with infinite df is the normal
    return pd.DataFrame({"estimate": model_fit.params, "conf_low": model_fit.params - quantile * se,
                         "conf_high": model_fit.params + quantile * se})


def _table_of(result: Any, name: str, conf_level: float) -> pd.DataFrame:
    from bayesimpute.analysis import AnalysisResults
    from bayesimpute.pooling import PooledResult, pool

    if isinstance(result, pd.DataFrame):
        table = _from_frame(result, name)
    elif isinstance(result, PooledResult):
        table = _from_frame(result.summary(), name)
    elif isinstance(result, AnalysisResults) or (
        isinstance(result, Sequence) and not isinstance(result, (str, tuple))
    ):
        items = list(result)
        if len(items) == 1:  # e.g. a complete-case analysis: one fit, nothing to pool
            table = _from_single_fit(items[0], name, conf_level)
        else:
            table = _from_frame(pool(result, conf_level=conf_level).summary(), name)
    else:
        try:
            table = _from_single_fit(result, name, conf_level)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"analysis {name!r}: expected a PooledResult, fits from analyze(), one fitted "
                f"model, or a DataFrame with estimate/conf_low/conf_high; got "
                f"{type(result).__name__} ({err})"
            ) from err
    table.index = [_INTERCEPT_ALIASES.get(str(t), str(t)) for t in table.index]
    return table


def estimates_table(analyses: Mapping[str, Any], terms: Sequence[str] | None = None,
                    *, conf_level: float = 0.95) -> pd.DataFrame:
    """The numbers :func:`plot_estimates` draws, long form.

    Returns
    -------
    pandas.DataFrame
        Columns ``analysis, term, estimate, conf_low, conf_high``, one row per analysis and
        term (terms in the order of ``terms`` or of first appearance).
    """
    if not isinstance(analyses, Mapping) or not analyses:
        raise TypeError("analyses must be a non-empty dict {name: result, ...}")
    tables = {str(name): _table_of(result, str(name), conf_level)
              for name, result in analyses.items()}
    order: list[str] = []
    for table in tables.values():
        order += [t for t in table.index if t not in order]
    if terms is not None:
        if isinstance(terms, str):
            terms = [terms]
        wanted = [_INTERCEPT_ALIASES.get(t, t) for t in terms]
        unknown = [t for t in wanted if t not in order]
        if unknown:
            raise ValueError(f"terms {unknown} are in none of the analyses; terms: {order}")
        order = wanted
    rows = [
        {"analysis": name, "term": term, **table.loc[term].to_dict()}
        for term in order for name, table in tables.items() if term in table.index
    ]
    return pd.DataFrame(rows, columns=["analysis", "term", "estimate", "conf_low", "conf_high"])


# --------------------------------------------------------------------------- plot


def plot_estimates(
    analyses: Mapping[str, Any],
    terms: Sequence[str] | None = None,
    *,
    shared_axis: bool = False,
    reference: float | Mapping[str, float] | None = None,
    conf_level: float = 0.95,
    ncols: int | None = None,
    colors: Sequence[str] | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Forest plot of the estimates and intervals of several analyses, term by term.

    The Python counterpart of the tutorial's ``plot_models``: compare complete-case,
    MAR and MNAR analyses (or a published table) at a glance.

    Parameters
    ----------
    analyses : dict
        ``{name: result}`` in the order to draw. A result is a
        :class:`~bayesimpute.pooling.PooledResult` (from :func:`bayesimpute.pool`), the fits
        of :meth:`MultipleImputation.analyze` (pooled here; a single fit, such as a
        complete-case analysis, is shown with its own interval), one fitted model, or a
        DataFrame indexed by term (or with a ``term`` column) holding ``estimate``,
        ``conf_low``, ``conf_high`` (or ``estimate`` and ``std_error``: a normal 95%
        interval). ``(Intercept)`` is read as ``Intercept``.
    terms : list of str, optional
        Terms to show, in this order (default: all, in order of first appearance).
    shared_axis : bool
        ``False`` (default): one panel per term, each with its own x scale (estimates of
        different size stay readable). ``True``: one axes, terms stacked, common x scale.
    reference : float or dict, optional
        Vertical reference line(s): one value for every term (e.g. 0), or ``{term: value}``.
    conf_level : float
        Interval level used where intervals are computed here.
    ncols : int, optional
        Panels per row (default: up to 3).
    colors : list of str, optional
        One colour per analysis (default: matplotlib's cycle).
    figsize : tuple, optional

    Returns
    -------
    matplotlib.figure.Figure
        Each point estimate is a marker line with ``gid`` ``"<analysis>|<term>"`` whose x is
        the estimate; its interval is a horizontal line from ``conf_low`` to ``conf_high``.

    Raises
    ------
    TypeError
        ``analyses`` is not a dict, or holds an object that is not a result.
    ValueError
        Unknown terms; a DataFrame without estimate / interval columns.
    """
    table = estimates_table(analyses, terms, conf_level=conf_level)
    names = list(dict.fromkeys(table["analysis"]))
    names = [str(n) for n in analyses if str(n) in names] or names
    order = list(dict.fromkeys(table["term"]))
    if colors is None:
        cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
        colors = [cycle[i % len(cycle)] for i in range(len(names))]
    elif len(colors) < len(names):
        raise ValueError(f"colors has {len(colors)} entries for {len(names)} analyses")
    style = {name: (colors[i], MARKERS[i % len(MARKERS)]) for i, name in enumerate(names)}
    k = len(names)
    offsets = {name: (k - 1) / 2 - i for i, name in enumerate(names)}  # first on top

    def reference_of(term: str) -> float | None:
        if isinstance(reference, Mapping):
            value = reference.get(term)
            return None if value is None else float(value)
        return None if reference is None else float(reference)

    if shared_axis:
        height = 0.9 + 0.32 * len(order) * max(k, 2)
        fig, ax = plt.subplots(figsize=figsize or (7.0, height))
        spacing = k + 1
        for j, term in enumerate(order):
            centre = (len(order) - 1 - j) * spacing
            rows = table[table["term"] == term]
            for _, row in rows.iterrows():
                _draw_point(ax, row, centre + offsets[row["analysis"]] * 0.9, style)
            ref = reference_of(term)
            if ref is not None:
                ax.plot([ref, ref], [centre - spacing / 2, centre + spacing / 2], ls=":",
                        color="0.4", lw=1, gid=f"reference|{term}")
        ax.set_yticks([(len(order) - 1 - j) * spacing for j in range(len(order))], order)
        ax.set_ylim(-spacing / 2, (len(order) - 0.5) * spacing)
        ax.set_xlabel(f"estimate ({conf_level:.0%} interval)")
        ax.grid(axis="x", color="0.9")
        ax.set_axisbelow(True)
        axes = [ax]
    else:
        ncols = ncols or min(len(order), 3)
        nrows = -(-len(order) // ncols)
        width = max(3.6, 1.2 + max(len(n) for n in names) * 0.075)
        fig, grid = plt.subplots(
            nrows, ncols, squeeze=False, sharey=True,
            figsize=figsize or (1.6 + width * ncols, 0.8 + nrows * (0.5 + 0.38 * k)),
        )
        axes = list(grid.flat)
        for extra in axes[len(order):]:
            extra.set_visible(False)
        axes = axes[: len(order)]
        for ax, term in zip(axes, order):
            rows = table[table["term"] == term]
            for _, row in rows.iterrows():
                _draw_point(ax, row, offsets[row["analysis"]], style)
            ref = reference_of(term)
            if ref is not None:
                ax.axvline(ref, ls=":", color="0.4", lw=1, gid=f"reference|{term}")
            ax.set_title(term, fontsize="medium")
            ax.set_ylim(-k / 2, k / 2)
            ax.grid(axis="x", color="0.9")
            ax.set_axisbelow(True)
            ax.margins(x=0.15)
        for i, ax in enumerate(axes):
            ax.set_yticks([offsets[n] for n in names], names)
            if i % ncols:
                ax.tick_params(axis="y", left=False)
        fig.supxlabel(f"estimate ({conf_level:.0%} interval)", fontsize="medium")
    if shared_axis and k > 1:
        handles = [plt.Line2D([], [], color=style[n][0], marker=style[n][1], ls="-", label=n)
                   for n in names]
        axes[0].legend(handles=handles, fontsize="small", loc="best", framealpha=0.85)
    fig.tight_layout()
    return fig


def _draw_point(ax, row: pd.Series, y: float, style) -> None:
    color, marker = style[row["analysis"]]
    gid = f"{row['analysis']}|{row['term']}"
    ax.plot([row["conf_low"], row["conf_high"]], [y, y], color=color, lw=1.8,
            solid_capstyle="butt", gid=f"interval|{gid}")
    ax.plot([row["estimate"]], [y], color=color, marker=marker, ms=6.5, ls="none", gid=gid)
