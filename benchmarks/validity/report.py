"""Reports: a markdown table and a figure per design, the combined summary, the README section.

``write_design_report`` writes ``<design>.md`` and ``<design>.png`` beside the design's rows in
``benchmarks/results/validity/``; ``write_summary`` writes ``summary.md`` over every design that
has rows, and (``readme=True``) puts the same compact tables into README.md between the
``<!-- validity:begin -->`` / ``<!-- validity:end -->`` markers.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.validity.design import Design
from benchmarks.validity.methods import RMethod
from benchmarks.validity.scoring import head_to_head, score, target_checks, versus_r

__all__ = ["select_run", "write_design_report", "write_summary", "compact_table",
           "targets_line", "task_minutes"]

README_BEGIN, README_END = "<!-- validity:begin -->", "<!-- validity:end -->"


def select_run(rows: pd.DataFrame, design: Design, reps: int | None, seed: int,
               m: int | None = None, maxit: int | None = None) -> pd.DataFrame:
    """The rows of one run: these settings, replications below ``reps``."""
    m, maxit = m or design.m, maxit or design.maxit
    if rows.empty:
        return rows
    chosen = rows[(rows["seed"] == seed) & (rows["m"] == m) & (rows["maxit"] == maxit)]
    if reps is not None:
        chosen = chosen[chosen["rep"] < reps]
    order = {method.label: i for i, method in enumerate(design.methods)}
    # the design says which methods are compatible (a row keeps the flag it was run with, but
    # a reclassification must not need a rerun)
    flags = {method.label: bool(method.compatible) for method in design.methods}
    compatible = chosen["method"].map(flags).where(chosen["method"].isin(flags),
                                                   chosen["compatible"]).astype(bool)
    return chosen.assign(compatible=compatible, _order=chosen["method"].map(order)).sort_values(
        ["_order", "rep"], kind="stable").drop(columns="_order")


def _fcs_labels(design: Design) -> set[str]:
    return {m.label for m in design.methods if isinstance(m, RMethod) and m.fcs}


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    return f"{value:.{digits}f}"


def _pct(value, digits: int = 1) -> str:
    if value is None or not np.isfinite(value):
        return ""
    return f"{100 * value:+.{digits}f}%"


def markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(map(str, table.columns)) + " |",
             "|" + "|".join("---" for _ in table.columns) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |"
              for row in table.itertuples(index=False)]
    return "\n".join(lines)


def results_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The full per-parameter table of a design."""
    return pd.DataFrame({
        "method": summary["method"],
        "compatible": np.where(summary["peer"] == "reference", "reference",
                               np.where(summary["compatible"].astype(bool), "yes", "no")),
        "parameter": summary["parameter"],
        "truth": summary["truth"].map(_fmt),
        "mean est.": summary["mean_estimate"].map(_fmt),
        "bias (MC s.e.)": [f"{_fmt(b)} ({_fmt(s)})" for b, s in
                           zip(summary["bias"], summary["bias_mcse"])],
        "rel. bias": summary["relative_bias"].map(_pct),
        "RMSE": summary["rmse"].map(_fmt),
        "coverage (MC s.e.)": [f"{_fmt(c, 3)} ({_fmt(s, 3)})" if np.isfinite(c) else ""
                               for c, s in zip(summary["coverage"], summary["coverage_mcse"])],
        "width": summary["width"].map(_fmt),
        "s / imputation": summary["seconds"].map(lambda v: _fmt(v, 2)),
        "n (failed)": [f"{n} ({f})" if f else f"{n}" for n, f in
                       zip(summary["n"], summary["failed"])],
    })


def compact_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One line per method: fixed-effect coverage range and worst bias, each variance
    component's relative bias, time."""
    rows = []
    for method, group in summary.groupby("method", sort=False):
        fixed = group[group["kind"] == "fixed"]
        variance = group[group["kind"] == "variance"]
        first = group.iloc[0]
        coverage = fixed["coverage"].dropna()
        rows.append({
            "method": method,
            "compatible": ("reference" if first["peer"] == "reference"
                           else "yes" if bool(first["compatible"]) else "no"),
            "fixed-effect coverage": (f"{coverage.min():.3f}–{coverage.max():.3f}"
                                      if len(coverage) else ""),
            "max abs. bias (fixed)": _fmt(fixed["bias"].abs().max()),
            "variance components, rel. bias": ", ".join(
                f"{p} {_pct(r, 0)}" for p, r in zip(variance["parameter"],
                                                     variance["relative_bias"])
                if np.isfinite(r)),
            "s": _fmt(first["seconds"], 2),
            "n": int(group["n"].max()),
        })
    return pd.DataFrame(rows)


def targets_line(design: Design, rows: pd.DataFrame, summary: pd.DataFrame) -> str:
    """One sentence: how many target checks the compatible methods meet, each miss with the
    complete-data value beside it, and the comparison with R's best FCS method."""
    checks = target_checks(summary)
    missed = checks[checks["met"] == False]  # noqa: E712 - None means "not applicable"
    applied = checks["met"].notna().sum()
    if design.no_targets:
        text = f"Absolute targets not applicable: {design.no_targets}."
        verdict = _head_to_head_verdict(design, rows)
        if verdict:
            text += f" Head to head: {verdict}."
    elif applied == 0:
        text = "Targets: no compatible method with a target in this design."
    else:
        text = f"Targets (compatible methods): {applied - len(missed)} of {applied} met"
        if len(missed):
            text += "; missed: " + "; ".join(
                line.removeprefix("- ") for line in _missed_lines(missed, rows))
        text += "."
    versus = versus_r(summary, _fcs_labels(design))
    if not versus.empty:
        both = versus[versus["worse_on_both"]]
        text += (f" Worse than R's best FCS method on both bias and coverage: {len(both)} of "
                 f"{len(versus)} comparisons"
                 + (" (" + "; ".join(f"{r.method} {r.parameter}" for r in both.itertuples())
                    + ")" if len(both) else "") + ".")
    return text


def _command(design: Design, rows: pd.DataFrame) -> str:
    first = rows.iloc[0]
    command = f"python -m benchmarks.validity {design.name} --reps {rows['rep'].nunique()}"
    if int(first["seed"]) != 1:
        command += f" --seed {int(first['seed'])}"
    if int(first["m"]) != design.m:
        command += f" --m {int(first['m'])}"
    if int(first["maxit"]) != design.maxit:
        command += f" --maxit {int(first['maxit'])}"
    return command


def task_minutes(rows: pd.DataFrame) -> pd.Series:
    """Minutes of task time (imputation, analysis, R start-up) summed per peer."""
    tasks = rows.drop_duplicates(["method", "rep"])
    return tasks.groupby("peer", sort=False)["task_seconds"].sum() / 60


def _run_facts(rows: pd.DataFrame) -> list[str]:
    facts = []
    for peer, group in rows.groupby("peer", sort=False):
        commits = ", ".join(sorted(group["commit"].astype(str).unique()))
        versions = "; ".join(sorted(group["version"].dropna().astype(str).unique()))
        facts.append(f"{peer} rows: commit {commits}" + (f" ({versions})" if versions else ""))
    per_method = rows.drop_duplicates(["method", "rep"]).groupby("method", sort=False)
    cpu = per_method["task_seconds"].sum()
    facts.append("Task time summed over replications (wall seconds of whole tasks: imputation, "
                 "analysis, R start-up; on a shared machine): "
                 + ", ".join(f"{k} {v:,.0f}" for k, v in cpu.items())
                 + f"; total {cpu.sum() / 60:,.0f} min")
    return facts


def write_design_report(design: Design, rows: pd.DataFrame, folder: Path,
                        name: str | None = None) -> tuple[Path, pd.DataFrame]:
    """``<name>.md`` and ``<name>.png`` for one run's rows; returns the md path and summary."""
    name = name or design.name
    summary = score(rows)
    reps = rows["rep"].nunique()
    first = rows.iloc[0]
    checks = target_checks(summary)
    missed = checks[checks["met"] == False]  # noqa: E712 - None means "not applicable"
    met = checks[checks["met"] == True]  # noqa: E712
    versus = versus_r(summary, _fcs_labels(design))
    lines = [
        f"# {design.title} (`{design.name}`)", "", design.description.strip(), "",
        f"Analysis: `{design.formula}` ({design.family}). {reps} replications, m = "
        f"{int(first['m'])}, maxit = {int(first['maxit'])}, seed {int(first['seed'])} "
        f"(`{_command(design, rows)}`).", "",
        *[f"- {fact}" for fact in _run_facts(rows)], "",
        "## Results", "",
        "Bias = mean(estimate - truth) with its Monte-Carlo s.e.; coverage of the 95% "
        "intervals with its MC s.e. (variance components: intervals of "
        "`pooled.variance_components()` where the method gives them); width = mean interval "
        "width; s = mean seconds of one imputation (m data sets).", "",
        markdown(results_table(summary)), "",
        "## Targets (compatible methods)", "",
        *_target_lines(design, met, missed, rows),
        "",
        "## Against R's best FCS method", "",
        _versus_text(versus), "",
        *_head_to_head_lines(design, rows),
        "## Methods", "",
        *[f"- **{m.label}** ({m.peer}; {'compatible' if m.compatible else 'NOT compatible'})"
          + (f": {m.note}" if m.note else "") for m in design.methods], "",
        f"![{design.name}]({name}.png)", "",
    ]
    path = folder / f"{name}.md"
    path.write_text("\n".join(lines))
    plot_design(design, summary, folder / f"{name}.png")
    return path, summary


def _target_lines(design: Design, met: pd.DataFrame, missed: pd.DataFrame,
                  rows: pd.DataFrame) -> list[str]:
    if design.no_targets:
        return [f"Not applicable: {design.no_targets}."]
    return [f"Met: {len(met)} of {len(met) + len(missed)} checks (fixed-effect coverage in "
            "[93, 97]%, variance components within 10% relative bias)."
            + (" Missed:" if len(missed) else ""), "", *_missed_lines(missed, rows)]


def _missed_lines(missed: pd.DataFrame, rows: pd.DataFrame) -> list[str]:
    """One line per missed target, with the complete-data analysis of the same data sets
    beside it (the replications the missing method has; designs extend some methods beyond
    others): where that misses too, the data sets (or the analysis), not the imputation,
    account for the miss."""
    lines, complete_by_method = [], {}
    for r in missed.itertuples():
        if r.method not in complete_by_method:
            complete_by_method[r.method] = _complete_on_reps_of(rows, r.method)
        complete = complete_by_method[r.method]
        if r.kind == "fixed":
            text = f"coverage {r.coverage:.3f} (MC s.e. {r.coverage_mcse:.3f}"
            if r.parameter in complete.index:
                text += f"; complete data {complete.loc[r.parameter, 'coverage']:.3f}"
        else:
            text = (f"relative bias {_pct(r.relative_bias)} (MC s.e. "
                    f"{100 * r.relative_bias_mcse:.1f}%")
            if r.parameter in complete.index:
                text += f"; complete data {_pct(complete.loc[r.parameter, 'relative_bias'])}"
        lines.append(f"- {r.method}, {r.parameter}: {text})")
    return lines


def _complete_on_reps_of(rows: pd.DataFrame, method: str) -> pd.DataFrame:
    """The complete-data analysis scored on the replications ``method`` has, by parameter."""
    reps = rows.loc[rows["method"] == method, "rep"].unique()
    chosen = rows[(rows["method"] == "complete data") & rows["rep"].isin(reps)]
    if chosen.empty:
        return pd.DataFrame(columns=["coverage", "relative_bias"])
    return score(chosen).set_index("parameter")


def _head_to_head_lines(design: Design, rows: pd.DataFrame) -> list[str]:
    if design.head_to_head is None:
        return []
    first, second = design.head_to_head
    table = head_to_head(rows, first, second)
    if table.empty:
        return []
    shown = pd.DataFrame({
        "parameter": table["parameter"], "n": table["n"],
        f"MAE {first}": table["mae_first"].map(_fmt),
        f"MAE {second}": table["mae_second"].map(_fmt),
        "difference (MC s.e.)": [f"{_fmt(d)} ({_fmt(e)})" for d, e in
                                 zip(table["mae_difference"], table["mae_difference_mcse"])],
        "coverage": table["coverage_first"].map(lambda v: _fmt(v, 2)),
        "coverage R": table["coverage_second"].map(lambda v: _fmt(v, 2)),
        "difference (MC s.e.) ": [f"{_fmt(d, 2)} ({_fmt(e, 2)})" for d, e in
                                  zip(table["coverage_difference"],
                                      table["coverage_difference_mcse"])],
    })
    verdict = _head_to_head_verdict(design, rows, table)
    return ["## Head to head (same replications)", "",
            "Mean absolute deviation from the truth and coverage of each method, and their "
            "paired differences over the replications both completed (first minus second; "
            "a positive MAE difference / negative coverage difference means the first is "
            "worse).", "", markdown(shown), "", verdict + ".", ""]


def _head_to_head_verdict(design: Design, rows: pd.DataFrame,
                          table: pd.DataFrame | None = None) -> str:
    """Whether the first method of ``design.head_to_head`` is at least as good as the second
    on every parameter (paired differences beyond 2 MC s.e.); "" without such a pair."""
    if design.head_to_head is None:
        return ""
    first, second = design.head_to_head
    table = head_to_head(rows, first, second) if table is None else table
    if table.empty:
        return ""
    worse_mae = table["mae_difference"] > 2 * table["mae_difference_mcse"]
    worse_cov = table["coverage_difference"] < -2 * table["coverage_difference_mcse"]
    with_coverage = table["coverage_difference"].notna()
    points = (f"; point estimates: MAE at most {second}'s on "
              f"{int((table['mae_difference'] <= 0).sum())} of {len(table)} parameters, "
              f"coverage at least {second}'s on "
              f"{int((table['coverage_difference'][with_coverage] >= 0).sum())} of "
              f"{int(with_coverage.sum())}")
    if not (worse_mae | worse_cov).any():
        return (f"{first} is at least as good as {second} on every parameter (no paired "
                "difference worse by more than 2 MC s.e.)" + points)
    return f"{first} is worse than {second} beyond 2 MC s.e. on: " + ", ".join(
        f"{p} ({'MAE' if m else 'coverage'})" for p, m, c in
        zip(table["parameter"], worse_mae, worse_cov) if m or c) + points


def _versus_text(versus: pd.DataFrame) -> str:
    if versus.empty:
        return "No R FCS peer rows in this run."
    both = versus[versus["worse_on_both"]]
    worse_coverage = versus["worse_coverage"].astype(object).where(
        versus["worse_coverage"].notna(), False).astype(bool)
    either = versus[(versus["worse_bias"] | worse_coverage) & ~versus["worse_on_both"]]
    text = (f"{len(versus)} comparisons (bayesimpute method x parameter); worse than R's best "
            f"FCS method on both bias and coverage (beyond 2 MC s.e.): {len(both)}.")
    if len(both):
        text += " " + "; ".join(f"{r.method} {r.parameter}" for r in both.itertuples())
    if len(either):
        text += (" Worse on one criterion: " + "; ".join(
            f"{r.method} {r.parameter} ({'bias' if r.worse_bias else 'coverage'})"
            for r in either.itertuples()) + ".")
    return text


def plot_design(design: Design, summary: pd.DataFrame, path: Path) -> None:
    """Relative bias (or bias where the truth is 0) and coverage, +/- 2 MC s.e., per
    parameter and method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parameters = list(dict.fromkeys(summary["parameter"]))
    methods = list(dict.fromkeys(summary["method"]))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.55 * len(parameters) * 2 + 2),
                                      sharey=True)
    colours = plt.get_cmap("tab10")
    step = 0.8 / max(len(methods), 1)
    for k, method in enumerate(methods):
        part = summary[summary["method"] == method].set_index("parameter")
        y = np.array([parameters.index(p) for p in part.index]) - 0.4 + (k + 0.5) * step
        relative = part["relative_bias"].notna()
        value = np.where(relative, 100 * part["relative_bias"], part["bias"])
        err = np.where(relative, 100 * part["relative_bias_mcse"], part["bias_mcse"])
        style = {"color": colours(k % 10), "marker": "o" if part["compatible"].iloc[0] else "x",
                 "linestyle": "none", "markersize": 4}
        left.errorbar(value, y, xerr=2 * err, label=method, **style)
        right.errorbar(100 * part["coverage"], y, xerr=200 * part["coverage_mcse"], **style)
    left.axvline(0, color="grey", lw=0.8)
    left.axvspan(-10, 10, color="green", alpha=0.06)
    right.axvspan(93, 97, color="green", alpha=0.1)
    right.axvline(95, color="grey", lw=0.8)
    left.set_yticks(range(len(parameters)), parameters)
    left.invert_yaxis()
    left.set_xlabel("relative bias, % (bias where the truth is 0), ± 2 MC s.e.")
    right.set_xlabel("coverage of 95% intervals, %, ± 2 MC s.e.")
    right.set_xlim(max(0, np.nanmin(100 * summary["coverage"].to_numpy(dtype=float),
                                    initial=90) - 5), 100.5)
    left.legend(fontsize=7, loc="best")
    fig.suptitle(f"{design.title} ({int(summary['n'].max())} replications; x = not "
                 "compatible)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_summary(entries: list[tuple[Design, pd.DataFrame, pd.DataFrame]], folder: Path,
                  readme: Path | None = None) -> Path:
    """``summary.md`` (and the README section): one compact table per design."""
    blocks = []
    for design, rows, summary in entries:
        first = rows.iloc[0]
        commits = ", ".join(f"{peer} {', '.join(sorted(g['commit'].astype(str).unique()))}"
                            for peer, g in rows.groupby("peer", sort=False))
        counts = rows.groupby("method")["rep"].nunique()
        partial = (f" (**partial run**: {counts.min()}–{counts.max()} of the design's "
                   f"{design.replications})" if counts.min() < design.replications else "")
        blocks += [
            f"**{design.title}** (`{design.name}`, [details]"
            f"(benchmarks/results/validity/{design.name}.md)): {rows['rep'].nunique()} "
            f"replications{partial}, m = {int(first['m'])}, maxit = {int(first['maxit'])}; "
            f"`{design.formula}`; rows from {commits}; task time "
            + ", ".join(f"{peer} {minutes:,.0f} min" for peer, minutes in
                        task_minutes(rows).items()) + ".", "",
            markdown(compact_table(summary)), "", targets_line(design, rows, summary), "",
        ]
    body = "\n".join(blocks)
    path = folder / "summary.md"
    path.write_text("# Validity study: summary\n\n" + body.replace(
        "(benchmarks/results/validity/", "(") + "\n")
    if readme is not None:
        text = readme.read_text()
        pattern = re.compile(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), re.S)
        if not pattern.search(text):
            raise ValueError(f"{readme} has no {README_BEGIN} ... {README_END} section")
        readme.write_text(pattern.sub(lambda _: f"{README_BEGIN}\n{body}{README_END}", text))
    return path
