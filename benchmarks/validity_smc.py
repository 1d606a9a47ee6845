"""Validity simulation of the compatible method 2l.smc against 2l.norm, 2l.pmm and R jomo.

Three known-truth designs (issue 14), each with an incomplete predictor x missing at random
given the outcome (30%):

* ``random_slope``: y = 1 + 0.5 x + u0 + u1 x + e, 100 clusters of 20, var(u0) = 0.5,
  var(u1) = 0.2, cov = 0, var(e) = 1; x = a_j + e_ij (ICC 0.2). Analysis ``y ~ x + (1 + x | g)``.
* ``interaction``: y = 1 + 0.5 x + 0.3 w + 0.5 x w + u0 + e, w a complete binary
  predictor (x depends on it). Analysis ``y ~ x * w + (1 | g)``.
* ``quadratic``: y = 1 + 0.5 x + 0.3 x^2 + u0 + e. Analysis ``y ~ x + I(x^2) + (1 | g)``.

Every method's m completed data sets are analysed by the same analysis (``bi.analyze``, the
package's REML linear mixed model) and pooled by ``bi.pool`` (Rubin's rules with
Satterthwaite df; variance components: mean of the m estimates, interval on the log
scale). For 2l.smc the analysis model's own posterior (``imp.analysis_posterior()``) is
scored too, at maxit = 10 and from a longer run (maxit = 50: its intervals need more draws
than the 5 x 5 that maxit = 10 leaves after burn-in). R's ``jomo.lmer`` (joint model compatible with the analysis model) imputes the
same CSV files (``benchmarks/r/smc_jomo.R``) and its completed data are analysed in Python
like the others. The FCS methods impute x from y (and w), with a random slope of y in the
random-slope design, the usual FCS practice.

Usage::

    python benchmarks/validity_smc.py run random_slope --reps 200     # appends raw rows
    python benchmarks/validity_smc.py report                          # tables -> results/
    python benchmarks/validity_smc.py run interaction --reps 6 --reduced   # CI size

Raw rows go to ``benchmarks/results/smc_validity_<design>.csv`` (one row per replication,
method and parameter; a rerun skips what is there), the tables to
``benchmarks/results/smc_validity.md``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, markdown, r_available  # noqa: E402

import bayesimpute as bi  # noqa: E402

RUNS = RESULTS / "smc_validity_{design}.csv"  # raw rows, one file per design
REPORT = RESULTS / "smc_validity.md"
R_SCRIPT = Path(__file__).resolve().parent / "r" / "smc_jomo.R"
#: columns of the raw rows, in file order
COLUMNS = ["design", "rep", "m", "maxit", "method", "parameter", "kind", "truth", "estimate",
           "std_error", "df", "conf_low", "conf_high", "seconds", "cpu_seconds"]
MISSING_RATE = 0.30
N_CLUSTERS, CLUSTER_SIZE = 100, 20
#: iterations of the extra 2l.smc run whose analysis posterior is scored on its own
LONG_MAXIT = 50


# --------------------------------------------------------------------------------- designs
@dataclass(frozen=True)
class Design:
    """A known-truth design: simulate(rng) -> (incomplete, complete); the analysis; truths."""

    name: str
    title: str
    formula: str  # the analysis model (what 2l.smc and jomo are given)
    analysis: str  # the formula the completed data are analysed with (x2 = x^2 spelled out)
    truth: dict[str, float]
    kinds: dict[str, str]
    fcs_roles: dict[str, int]  # x's predictor-matrix row for 2l.norm / 2l.pmm
    simulate: Callable[[np.random.Generator], tuple[pd.DataFrame, pd.DataFrame]]
    columns: tuple[str, ...] = ("g", "x", "y")
    derived: dict[str, Callable[[pd.DataFrame], pd.Series]] = field(default_factory=dict)
    rename: dict[str, str] = field(default_factory=dict)  # analysis term -> reported name


def _calibrated_missing(rng: np.random.Generator, driver: np.ndarray) -> np.ndarray:
    """x missing with probability expit(a + standardised driver), a set for 30% missing."""
    z = (driver - driver.mean()) / driver.std()
    low, high = -20.0, 20.0
    for _ in range(60):
        mid = (low + high) / 2
        if (1 / (1 + np.exp(-(mid + z)))).mean() < MISSING_RATE:
            low = mid
        else:
            high = mid
    return rng.random(len(z)) < 1 / (1 + np.exp(-(mid + z)))


def _clusters() -> np.ndarray:
    return np.repeat(np.arange(1, N_CLUSTERS + 1), CLUSTER_SIZE)


def _level1_x(rng: np.random.Generator, g: np.ndarray, shift: np.ndarray | float = 0.0):
    return shift + rng.normal(0, np.sqrt(0.2), N_CLUSTERS)[g - 1] + rng.normal(0, np.sqrt(0.8),
                                                                                 len(g))


def simulate_random_slope(rng):
    g = _clusters()
    x = _level1_x(rng, g)
    u0 = rng.normal(0, np.sqrt(0.5), N_CLUSTERS)[g - 1]
    u1 = rng.normal(0, np.sqrt(0.2), N_CLUSTERS)[g - 1]
    y = 1 + 0.5 * x + u0 + u1 * x + rng.standard_normal(len(g))
    complete = pd.DataFrame({"g": g, "x": x, "y": y})
    return complete.assign(x=np.where(_calibrated_missing(rng, y), np.nan, x)), complete


def simulate_interaction(rng):
    g = _clusters()
    w = (rng.random(len(g)) < 0.5).astype(float)
    x = _level1_x(rng, g, 0.3 * w)
    u0 = rng.normal(0, np.sqrt(0.5), N_CLUSTERS)[g - 1]
    y = 1 + 0.5 * x + 0.3 * w + 0.5 * x * w + u0 + rng.standard_normal(len(g))
    complete = pd.DataFrame({"g": g, "x": x, "w": w, "y": y})
    return complete.assign(x=np.where(_calibrated_missing(rng, y), np.nan, x)), complete


def simulate_quadratic(rng):
    g = _clusters()
    x = _level1_x(rng, g)
    u0 = rng.normal(0, np.sqrt(0.5), N_CLUSTERS)[g - 1]
    y = 1 + 0.5 * x + 0.3 * x**2 + u0 + rng.standard_normal(len(g))
    complete = pd.DataFrame({"g": g, "x": x, "y": y})
    return complete.assign(x=np.where(_calibrated_missing(rng, y), np.nan, x)), complete


FIXED, VARIANCE = "fixed", "variance"
DESIGNS = {
    "random_slope": Design(
        "random_slope", "Random slope of an incomplete predictor",
        "y ~ x + (1 + x | g)", "y ~ x + (1 + x | g)",
        {"Intercept": 1.0, "x": 0.5, "g: Intercept": 0.5, "g: x": 0.2,
         "g: cov(Intercept, x)": 0.0, "residual": 1.0},
        {"Intercept": FIXED, "x": FIXED, "g: Intercept": VARIANCE, "g: x": VARIANCE,
         "g: cov(Intercept, x)": VARIANCE, "residual": VARIANCE},
        {"g": -2, "y": 2}, simulate_random_slope),
    "interaction": Design(
        "interaction", "Interaction of an incomplete predictor with a complete binary one",
        "y ~ x * w + (1 | g)", "y ~ x * w + (1 | g)",
        {"Intercept": 1.0, "x": 0.5, "w": 0.3, "x:w": 0.5, "g: Intercept": 0.5, "residual": 1.0},
        {"Intercept": FIXED, "x": FIXED, "w": FIXED, "x:w": FIXED, "g: Intercept": VARIANCE,
         "residual": VARIANCE},
        {"g": -2, "y": 1, "w": 1}, simulate_interaction, columns=("g", "x", "w", "y")),
    "quadratic": Design(
        "quadratic", "Quadratic effect of an incomplete predictor",
        "y ~ x + I(x^2) + (1 | g)", "y ~ x + x2 + (1 | g)",
        {"Intercept": 1.0, "x": 0.5, "I(x^2)": 0.3, "g: Intercept": 0.5, "residual": 1.0},
        {"Intercept": FIXED, "x": FIXED, "I(x^2)": FIXED, "g: Intercept": VARIANCE,
         "residual": VARIANCE},
        {"g": -2, "y": 1}, simulate_quadratic,
        derived={"x2": lambda d: d["x"] ** 2}, rename={"x2": "I(x^2)"}),
}


# ------------------------------------------------------------------------------ analysis rows
def analyse(design: Design, datasets: list[pd.DataFrame]) -> pd.DataFrame:
    """Pooled rows (parameter, estimate, std_error, df, conf_low, conf_high) of m data sets."""
    frames = [d.assign(**{k: f(d) for k, f in design.derived.items()}) for d in datasets]
    fits = bi.analyze(frames, design.analysis)
    if len(frames) == 1:
        return _single_fit_rows(fits.model_fits()[0], design)
    pooled = bi.pool(fits)
    summary = pooled.summary()
    fixed = pd.DataFrame({"parameter": summary.index, "estimate": summary["estimate"],
                          "std_error": summary["std_error"], "df": summary["df"],
                          "conf_low": summary["conf_low"], "conf_high": summary["conf_high"]})
    components = pooled.variance_components()
    variance = pd.DataFrame({"parameter": components.index, "estimate": components["estimate"],
                             "conf_low": components["conf_low"],
                             "conf_high": components["conf_high"]})
    return _named(pd.concat([fixed, variance], ignore_index=True), design)


def _single_fit_rows(fit, design: Design) -> pd.DataFrame:
    df = fit.term_df if fit.term_df is not None else pd.Series(fit.dfcom, index=fit.params.index)
    se = fit.std_errors
    half = stats.t.ppf(0.975, df.to_numpy(dtype=float)) * se
    fixed = pd.DataFrame({"parameter": fit.params.index, "estimate": fit.params.to_numpy(),
                          "std_error": se.to_numpy(), "df": df.to_numpy(),
                          "conf_low": (fit.params - half).to_numpy(),
                          "conf_high": (fit.params + half).to_numpy()})
    variance = pd.DataFrame({"parameter": list(fit.variance_components),
                             "estimate": list(fit.variance_components.values())})
    return _named(pd.concat([fixed, variance], ignore_index=True), design)


def _named(rows: pd.DataFrame, design: Design) -> pd.DataFrame:
    rows["parameter"] = rows["parameter"].replace(design.rename)
    return rows[rows["parameter"].isin(design.truth)]


def posterior_rows(imp, design: Design) -> pd.DataFrame:
    """The analysis model's posterior (2l.smc): mean and 95% equal-tailed interval."""
    summary = imp.analysis_posterior().summary()
    rows = pd.DataFrame({"parameter": summary.index, "estimate": summary["mean"],
                         "std_error": summary["sd"], "conf_low": summary["q2.5"],
                         "conf_high": summary["q97.5"]})
    return rows[rows["parameter"].isin(design.truth)]


# ---------------------------------------------------------------------------------- methods
def _fcs_predictors(design: Design, data: pd.DataFrame) -> pd.DataFrame:
    pred = pd.DataFrame(0, index=data.columns, columns=data.columns)
    for predictor, code in design.fcs_roles.items():
        pred.loc["x", predictor] = code
    return pred


def _smc_predictors(design: Design, data: pd.DataFrame) -> pd.DataFrame:
    pred = pd.DataFrame(0, index=data.columns, columns=data.columns)
    pred.loc["x", "g"] = -2
    for predictor in data.columns:
        if predictor not in ("g", "x", "y"):
            pred.loc["x", predictor] = 1
    return pred


def run_bayesimpute(method: str, design, data, m, maxit, seed):
    kwargs = {}
    if method == "2l.smc":
        kwargs["analysis_model"] = design.formula
        pred = _smc_predictors(design, data)
    else:
        pred = _fcs_predictors(design, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start, cpu_start = time.perf_counter(), time.process_time()
        imp = bi.impute(data, method={"x": method}, predictor_matrix=pred, m=m, maxit=maxit,
                        seed=seed, **kwargs)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        rows = analyse(design, [imp.complete(i) for i in range(m)])
    out = {f"bayesimpute {method}": rows.assign(seconds=seconds, cpu_seconds=cpu)}
    if method == "2l.smc":
        out["bayesimpute 2l.smc posterior"] = posterior_rows(imp, design).assign(
            seconds=seconds, cpu_seconds=cpu)
    return out


class JomoRun:
    """R's jomo.lmer on one replication, started at once in its own process (R works while
    Python imputes the same data); :meth:`rows` waits for it and analyses its data sets."""

    def __init__(self, design, data, m, seed, n_burn=1000, n_between=100):
        self.design, self.data, self.m = design, data, m
        self.folder = tempfile.TemporaryDirectory(prefix="smc-jomo-")
        csv = Path(self.folder.name) / "data.csv"
        data.to_csv(csv, index=False, na_rep="NA")
        self.prefix = str(Path(self.folder.name) / "out")
        self.process = subprocess.Popen(
            ["Rscript", str(R_SCRIPT), str(csv), design.formula, str(m), str(n_burn),
             str(n_between), str(seed), self.prefix],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def rows(self) -> dict[str, pd.DataFrame]:
        try:
            _, stderr = self.process.communicate(timeout=3600)
            if self.process.returncode != 0:
                raise RuntimeError(f"jomo failed: {stderr[-800:]}")
            long = pd.read_csv(self.prefix + "_imputations.csv")
            seconds = float(Path(self.prefix + "_seconds.txt").read_text())
        finally:
            self.folder.cleanup()
        # jomo returns the rows sorted by cluster, in their original order within clusters
        original = self.data.sort_values("g", kind="stable").reset_index()
        datasets = []
        for k in range(1, self.m + 1):
            one = long[long[".imp"] == k].drop(columns=".imp").reset_index(drop=True)
            if not np.allclose(original["y"], one["y"]):
                raise RuntimeError("jomo's rows do not line up with the data")
            one.index = original["index"]
            datasets.append(one.sort_index()[list(self.data.columns)])
        return {"R jomo.lmer": analyse(self.design, datasets).assign(seconds=seconds)}


def run_long_posterior(design, data, m, maxit, seed):
    """2l.smc's analysis posterior from longer chains (its intervals need more draws than
    maxit = 10 leaves after burn-in); no completed-data analysis."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start, cpu_start = time.perf_counter(), time.process_time()
        imp = bi.impute(data, method={"x": "2l.smc"}, predictor_matrix=_smc_predictors(
            design, data), m=m, maxit=maxit, seed=seed, analysis_model=design.formula)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    rows = posterior_rows(imp, design).assign(seconds=seconds, cpu_seconds=cpu)
    return {f"bayesimpute 2l.smc posterior (maxit {maxit})": rows}


def run_references(design, data, complete):
    return {"complete data": analyse(design, [complete]).assign(seconds=0.0),
            "complete cases": analyse(design, [data.dropna()]).assign(seconds=0.0)}


# ----------------------------------------------------------------------------------- runner
def replication(design: Design, rep: int, m: int, maxit: int, with_r: bool,
                done: set = frozenset(), methods: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Rows of one replication; ``methods`` (runner labels) limits what runs."""
    rng = np.random.default_rng([14, list(DESIGNS).index(design.name), rep])
    data, complete = design.simulate(rng)
    seed = 1000 + rep
    wanted = (lambda label: (rep, label) not in done
              and (methods is None or label in methods))
    jomo = JomoRun(design, data, m, seed) if with_r and wanted("R jomo.lmer") else None
    runners = [("complete data", lambda: run_references(design, data, complete))]
    for method in ("2l.smc", "2l.norm", "2l.pmm"):
        runners.append((f"bayesimpute {method}",
                        lambda method=method: run_bayesimpute(method, design, data, m, maxit,
                                                              seed)))
    if jomo is not None:
        runners.append(("R jomo.lmer", jomo.rows))
    runners.append((f"bayesimpute 2l.smc (maxit {LONG_MAXIT})",
                    lambda: run_long_posterior(design, data, m, LONG_MAXIT, seed)))
    frames = []
    for label, runner in runners:
        if not wanted(label):
            continue
        for method, rows in runner().items():
            frames.append(rows.assign(method=method))
    if not frames:
        return pd.DataFrame()
    rows = pd.concat(frames, ignore_index=True)
    rows["truth"] = rows["parameter"].map(design.truth)
    rows["kind"] = rows["parameter"].map(design.kinds)
    return rows.assign(design=design.name, rep=rep, m=m, maxit=maxit).reindex(columns=COLUMNS)


def run(design_name: str, reps: int, m: int, maxit: int, runs: Path | None = None,
        start: int = 0) -> None:
    design = DESIGNS[design_name]
    runs = runs or Path(str(RUNS).format(design=design_name))
    with_r = r_available("jomo")
    previous = pd.read_csv(runs) if runs.exists() else pd.DataFrame()
    done = set()
    if len(previous):
        mine = previous[(previous["design"] == design_name) & (previous["m"] == m)
                        & (previous["maxit"] == maxit)]
        done = {(int(r), _runner_label(meth)) for r, meth in zip(mine["rep"], mine["method"])}
    for rep in range(start, start + reps):
        started = time.perf_counter()
        rows = replication(design, rep, m, maxit, with_r, done)
        if len(rows):
            rows.to_csv(runs, mode="a", header=not runs.exists(), index=False)
        print(f"{design_name} rep {rep}: {time.perf_counter() - started:.1f} s", flush=True)


def _runner_label(method: str) -> str:
    """The runner that produced a method's rows (references come together, posteriors with
    their imputations)."""
    if method == "complete cases":
        return "complete data"
    return method.replace(" posterior", "")


# ----------------------------------------------------------------------------------- report
def score(rows: pd.DataFrame) -> pd.DataFrame:
    """Per design, method and parameter: bias, relative bias, coverage, RMSE, with MC errors."""
    def one(group: pd.DataFrame) -> pd.Series:
        truth = group["truth"].iloc[0]
        error = group["estimate"] - truth
        n = len(group)
        covered = (group["conf_low"] <= truth) & (truth <= group["conf_high"])
        has_interval = group["conf_low"].notna().all()
        return pd.Series({
            "reps": n, "truth": truth, "mean": group["estimate"].mean(),
            "bias": error.mean(), "bias_mcse": error.std(ddof=1) / np.sqrt(n),
            "rel_bias_%": 100 * error.mean() / truth if truth else np.nan,
            "rmse": np.sqrt((error**2).mean()),
            "coverage_%": 100 * covered.mean() if has_interval else np.nan,
            "coverage_mcse": (100 * np.sqrt(covered.mean() * (1 - covered.mean()) / n)
                              if has_interval else np.nan),
            "width": (group["conf_high"] - group["conf_low"]).mean() if has_interval else np.nan,
            "seconds": group["seconds"].mean(),
        })

    keys = ["design", "method", "parameter"]
    return rows.groupby(keys, sort=False)[list(rows.columns)].apply(one).reset_index()


def report(out: Path = REPORT) -> None:
    files = [Path(str(RUNS).format(design=name)) for name in DESIGNS]
    rows = pd.concat([pd.read_csv(f) for f in files if f.exists()], ignore_index=True)
    table = score(rows)
    lines = ["# Compatible imputation (2l.smc): validity simulation", "",
             "Generated by `benchmarks/validity_smc.py report` from "
             "`benchmarks/results/smc_validity_<design>.csv` (raw rows, one per replication, "
             "method and parameter). " + __doc__.split("Usage::")[0].split("\n\n", 1)[1], ""]
    for name, design in DESIGNS.items():
        part = table[table["design"] == name]
        if part.empty:
            continue
        settings = rows[rows["design"] == name][["m", "maxit"]].drop_duplicates()
        lines += [f"## {design.title} (`{design.formula}`)", "",
                  f"{int(part['reps'].max())} replications; m, maxit = "
                  + ", ".join(f"{a}, {b}" for a, b in settings.itertuples(index=False)), ""]
        shown = part.assign(**{
            c: part[c].map(lambda v, c=c: "" if pd.isna(v) else f"{v:.{_digits(c)}f}")
            for c in ["mean", "bias", "bias_mcse", "rel_bias_%", "rmse", "coverage_%",
                      "coverage_mcse", "width", "seconds"]})
        lines += [markdown(shown[["method", "parameter", "truth", "reps", "mean", "bias",
                                  "bias_mcse", "rel_bias_%", "coverage_%", "coverage_mcse",
                                  "rmse", "width", "seconds"]]), ""]
    lines += [
        "Columns: `bias` = mean estimate minus truth (`bias_mcse` its Monte-Carlo standard "
        "error); `rel_bias_%` relative to the truth; `coverage_%` of the 95% intervals (pooled "
        "t intervals for fixed effects; log-scale Rubin intervals for variances; for `2l.smc "
        "posterior` the 2.5% and 97.5% quantiles of the analysis model's posterior draws); "
        "`seconds` = imputation wall time per data set (this machine, shared).",
    ]
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _digits(column: str) -> int:
    return {"rel_bias_%": 1, "coverage_%": 1, "coverage_mcse": 1, "seconds": 2}.get(column, 4)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run")
    go.add_argument("design", choices=list(DESIGNS))
    go.add_argument("--reps", type=int, default=200)
    go.add_argument("--start", type=int, default=0)
    go.add_argument("--m", type=int, default=5)
    go.add_argument("--maxit", type=int, default=10)
    go.add_argument("--runs", type=Path, default=None,
                    help="raw rows file (default results/smc_validity_<design>.csv)")
    rep = sub.add_parser("report")
    rep.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.design, args.reps, args.m, args.maxit, args.runs, args.start)
    else:
        report(args.out)


if __name__ == "__main__":
    main()
