"""The common scorer: bias, relative bias, RMSE, coverage with its Monte-Carlo error, width, time.

Input: tidy rows (one per replication x method x parameter, with ``truth``). Output: one row per
(method, parameter). Monte-Carlo standard errors: ``sd(error) / sqrt(n)`` for the bias and
``sqrt(c (1 - c) / n)`` for a coverage ``c`` over ``n`` intervals. Only rows with status "ok" and a
finite estimate are scored; failures are counted (``failed``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["score", "gross_errors", "target_checks", "versus_r", "head_to_head",
           "COVERAGE_TARGET", "VARIANCE_TARGET"]

#: the issue's targets for compatible methods
COVERAGE_TARGET = (0.93, 0.97)
VARIANCE_TARGET = 0.10
#: the reduced CI run fails only below / beyond these
GROSS_COVERAGE, GROSS_RELATIVE_BIAS = 0.70, 0.30


def score(rows: pd.DataFrame) -> pd.DataFrame:
    """Per design, method and parameter (those with a truth): the scores above."""
    scored = rows[rows["truth"].notna()]
    keys = ["design", "method", "peer", "compatible", "parameter", "kind"]
    table = [
        {**dict(zip(keys, key)), **_scores(group)}
        for key, group in scored.groupby(keys, sort=False)
    ]
    return pd.DataFrame(table)


def _scores(group: pd.DataFrame) -> dict:
    ok = group[(group["status"] == "ok") & np.isfinite(group["estimate"].astype(float))]
    failed = len(group) - len(ok)
    estimate, truth = ok["estimate"].astype(float), ok["truth"].astype(float)
    error = estimate - truth
    n = len(ok)
    mean_truth = float(truth.mean()) if n else float(group["truth"].mean())
    bias = float(error.mean()) if n else np.nan
    bias_mcse = float(error.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
    relative = mean_truth != 0 and np.isfinite(mean_truth)
    low, high = ok["conf_low"].astype(float), ok["conf_high"].astype(float)
    has_interval = np.isfinite(low) & np.isfinite(high)
    covered = ((low <= truth) & (truth <= high))[has_interval]
    n_int = int(has_interval.sum())
    coverage = float(covered.mean()) if n_int else np.nan
    std_error = ok["std_error"].astype(float)
    return {
        "truth": mean_truth, "n": n, "failed": failed,
        "mean_estimate": float(estimate.mean()) if n else np.nan,
        "bias": bias, "bias_mcse": bias_mcse,
        "relative_bias": bias / mean_truth if relative else np.nan,
        "relative_bias_mcse": bias_mcse / abs(mean_truth) if relative else np.nan,
        "mae": float(error.abs().mean()) if n else np.nan,
        "rmse": float(np.sqrt((error**2).mean())) if n else np.nan,
        "empirical_se": float(estimate.std(ddof=1)) if n > 1 else np.nan,
        "mean_se": float(std_error.mean()) if std_error.notna().any() else np.nan,
        "coverage": coverage,
        "coverage_mcse": float(np.sqrt(coverage * (1 - coverage) / n_int)) if n_int else np.nan,
        "intervals": n_int,
        "width": float((high - low)[has_interval].mean()) if n_int else np.nan,
        "seconds": float(ok["seconds"].astype(float).mean()) if n else np.nan,
    }


def gross_errors(rows: pd.DataFrame, parameters: list[str] | None = None) -> list[str]:
    """What the reduced CI run fails on.

    Per method: coverage of the fixed-effect intervals, pooled over terms and replications,
    below 70%; any parameter whose relative bias is beyond 30% by more than 3 standard errors
    of the mean estimate; any failed task. With a few replications the sample s.d. of the
    estimates is itself too noisy to judge by, so the standard error of the mean is taken from
    the methods' own standard errors (``std_error``, or an interval's width / 3.92), as
    ``sqrt(mean(se^2) / n)``; only where no row has one (imputed means) from the sample s.d.
    with a t quantile of the same tail probability.
    """
    errors = []
    checked = rows if parameters is None else rows[rows["parameter"].isin(parameters)]
    checked = checked[checked["truth"].notna()]
    for method, group in checked.groupby("method"):
        if (group["status"] != "ok").any():
            notes = group.loc[group["status"] != "ok", "note"].unique()
            errors.append(f"{method}: {int((group['status'] != 'ok').sum())} failed rows "
                          f"({notes[0]})")
        fixed = group[(group["kind"] == "fixed") & (group["status"] == "ok")]
        if len(fixed):
            covered = ((fixed["conf_low"] <= fixed["truth"])
                       & (fixed["truth"] <= fixed["conf_high"])).mean()
            if covered < GROSS_COVERAGE:
                errors.append(f"{method}: fixed-effect coverage {covered:.0%} over "
                              f"{len(fixed)} intervals (< {GROSS_COVERAGE:.0%})")
    ok = checked[checked["status"] == "ok"]
    for (method, parameter), group in ok.groupby(["method", "parameter"], sort=False):
        truth = float(group["truth"].mean())
        if truth == 0:
            continue
        bias = float((group["estimate"] - group["truth"]).mean())
        if abs(bias / truth) <= GROSS_RELATIVE_BIAS:
            continue
        if abs(bias) > _gross_threshold(group):
            errors.append(f"{method}: {parameter} relative bias {bias / truth:+.0%} "
                          f"over {len(group)} replications")
    return errors


def _gross_threshold(group: pd.DataFrame) -> float:
    """Three standard errors of the mean estimate (see :func:`gross_errors`)."""
    from scipy import stats

    n = len(group)
    se = group["std_error"].astype(float)
    se = se.where(se.notna(), (group["conf_high"] - group["conf_low"]).astype(float) / 3.92)
    if se.notna().any():
        return 3.0 * float(np.sqrt(np.nanmean(se**2) / n))
    if n < 3:
        return np.inf
    quantile = stats.t.ppf(stats.norm.cdf(3.0), n - 1)
    return quantile * float(group["estimate"].std(ddof=1) / np.sqrt(n))


def target_checks(summary: pd.DataFrame) -> pd.DataFrame:
    """The issue's targets, per compatible method and parameter: fixed-effect coverage in
    [93, 97]% and variance components within 10% relative bias; ``met`` is None where the
    target does not apply (no interval, zero truth, an incompatible method, a reference)."""
    table = summary.copy()
    fixed = table["kind"] == "fixed"
    variance = table["kind"] == "variance"
    applies = table["compatible"].astype(bool) & (table["peer"] != "reference")
    coverage_met = table["coverage"].between(*COVERAGE_TARGET)
    variance_met = table["relative_bias"].abs() <= VARIANCE_TARGET
    met = pd.Series([None] * len(table), index=table.index, dtype=object)
    met[applies & fixed & table["coverage"].notna()] = coverage_met
    met[applies & variance & table["relative_bias"].notna()] = variance_met
    table["target"] = np.where(fixed, "coverage in [93, 97]%",
                               np.where(variance, "|relative bias| <= 10%", ""))
    table["met"] = met
    return table


def versus_r(summary: pd.DataFrame, fcs_labels: set[str]) -> pd.DataFrame:
    """Each compatible bayesimpute method against R's best FCS method, per parameter.

    R's best is taken separately for bias (smallest |bias|) and for coverage (closest to 95%).
    bayesimpute is "worse" on one criterion when its gap exceeds twice the combined Monte-Carlo
    standard error (independent errors assumed: conservative, the data sets are shared);
    ``worse_on_both`` is the issue's failure condition.
    """
    rows = []
    r_rows = summary[summary["method"].isin(fcs_labels)]
    ours = summary[(summary["peer"] == "bayesimpute") & summary["compatible"].astype(bool)]
    for row in ours.itertuples():
        peers = r_rows[r_rows["parameter"] == row.parameter]
        if peers.empty:
            continue
        best_bias = peers.loc[peers["bias"].abs().idxmin()]
        worse_bias = (abs(row.bias) - abs(best_bias["bias"])
                      > 2 * np.hypot(row.bias_mcse, best_bias["bias_mcse"]))
        worse_coverage = None
        if np.isfinite(row.coverage) and peers["coverage"].notna().any():
            gaps = (peers["coverage"] - 0.95).abs()
            best_cov = peers.loc[gaps.idxmin()]
            worse_coverage = bool(abs(row.coverage - 0.95) - abs(best_cov["coverage"] - 0.95)
                                  > 2 * np.hypot(row.coverage_mcse, best_cov["coverage_mcse"]))
        rows.append({
            "method": row.method, "parameter": row.parameter,
            "bias": row.bias, "best_r_bias": best_bias["bias"],
            "best_r_method": best_bias["method"], "worse_bias": bool(worse_bias),
            "coverage": row.coverage, "worse_coverage": worse_coverage,
            "worse_on_both": bool(worse_bias and worse_coverage),
        })
    return pd.DataFrame(rows)


def head_to_head(rows: pd.DataFrame, first: str, second: str) -> pd.DataFrame:
    """Two methods on the same replications, per parameter: mean absolute error and coverage
    of each, and their paired differences (first minus second) with Monte-Carlo standard
    errors ``sd(d) / sqrt(n)`` over the replications both completed."""
    ok = rows[(rows["status"] == "ok") & rows["truth"].notna()]
    ok = ok.assign(abs_error=(ok["estimate"] - ok["truth"]).abs(),
                   covered=((ok["conf_low"] <= ok["truth"]) & (ok["truth"] <= ok["conf_high"]))
                   .where(ok["conf_low"].notna()))
    table = []
    for parameter in dict.fromkeys(ok["parameter"]):
        part = ok[ok["parameter"] == parameter]
        a = part[part["method"] == first].set_index("rep")
        b = part[part["method"] == second].set_index("rep")
        reps = a.index.intersection(b.index)
        if len(reps) < 2:
            continue
        a, b = a.loc[reps], b.loc[reps]
        d_mae = a["abs_error"] - b["abs_error"]
        d_cov = (a["covered"].astype(float) - b["covered"].astype(float)).dropna()
        table.append({
            "parameter": parameter, "n": len(reps),
            "mae_first": a["abs_error"].mean(), "mae_second": b["abs_error"].mean(),
            "mae_difference": d_mae.mean(),
            "mae_difference_mcse": d_mae.std(ddof=1) / np.sqrt(len(reps)),
            "coverage_first": a["covered"].astype(float).mean(),
            "coverage_second": b["covered"].astype(float).mean(),
            "coverage_difference": d_cov.mean() if len(d_cov) else np.nan,
            "coverage_difference_mcse": (d_cov.std(ddof=1) / np.sqrt(len(d_cov))
                                         if len(d_cov) > 1 else np.nan),
        })
    return pd.DataFrame(table)
