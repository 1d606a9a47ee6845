"""How fast every model parameter of the imputation chains mixes (issue 26).

For an MCMC imputer the speed that matters is the effective draws per second of its slowest
parameter. Each grid point simulates one data set with an incomplete target (about 30%
missing at random given a complete predictor ``x``), imputes it with the target's default
multilevel method (``m`` chains of ``maxit`` FCS iterations, the first tenth dropped) and
reports, over every scalar parameter of the imputation model in ``imp.idata.posterior``
(fixed effects, variance components, correlations, residual variances, cutpoints; the
per-cluster effects are left out), the smallest bulk ESS (ArviZ), per kept iteration and per
second of the run's wall time, and which parameter it was, with the largest R-hat.

Grid: ICC 0, 0.01, 0.04, 0.2, 0.5; 10, 50 and 500 clusters; cluster sizes 5 and 20;
continuous (2l.norm), binary (2l.bin), ordered with 4 levels (2l.polr) and count (2l.pois)
targets; three nested levels with a class variance near zero and crossed factors (ml.norm).
The ICC is that of the target's latent scale (binary and ordered: logistic residual of
variance pi^2 / 3; count: the log-mean's random intercept has variance ICC / (1 - ICC)).

Run: ``python benchmarks/bench_mixing.py LABEL [--families continuous,binary,...]
[--chains 4] [--iterations 200] [--quick]``. Writes results/mixing_runs_LABEL.csv (one row per
grid point) and results/mixing_LABEL.md (the table); ``--compare BEFORE AFTER [NAME]`` writes
results/NAME.md (default mixing.md), the two labels side by side. ``--sampler nuts`` runs the
methods that have a ``sampler`` option with NUTS (``results/mixing_glmm.md``: the ordinal and
count methods' exact Gibbs steps against NUTS).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_table  # noqa: E402

import bayesimpute as bi  # noqa: E402
from bayesimpute.diagnostics import diagnostics_of, parameter_elements  # noqa: E402

ICCS = (0.0, 0.01, 0.04, 0.2, 0.5)
CLUSTERS = (10, 50, 500)
SIZES = (5, 20)
#: family -> (method, the grid's clusters, sizes); NUTS families get a smaller grid (cost)
FAMILIES = {
    "continuous": ("2l.norm", CLUSTERS, SIZES),
    "binary": ("2l.bin", CLUSTERS, SIZES),
    "ordered": ("2l.polr", (10, 50), (20,)),
    "count": ("2l.pois", (10, 50), (20,)),
    "nested": ("ml.norm", (10, 50), (20,)),
    "crossed": ("ml.norm", (10, 50), (20,)),
}
LOGISTIC_VARIANCE = np.pi**2 / 3


def simulate(family: str, icc: float, n_clusters: int, size: int, seed: int) -> pd.DataFrame:
    """One data set of the grid point; the target ``y`` about 30% MAR given ``x``."""
    rng = np.random.default_rng(seed)
    n = n_clusters * size
    g = np.repeat(np.arange(n_clusters), size)
    x = rng.normal(size=n)
    data = {"g": g, "x": x}
    if family in ("continuous", "nested", "crossed"):
        residual = 1.0 - icc
        if family == "nested":  # classes of 5 within g; a class variance near zero
            data["klass"] = g * 4 + rng.integers(0, 4, n)
            effects = rng.normal(0, np.sqrt(icc), n_clusters)[g] + rng.normal(
                0, np.sqrt(0.005), 4 * n_clusters)[data["klass"]]
        elif family == "crossed":  # a second factor crossed with g, half the variance
            data["h"] = rng.integers(0, max(n_clusters // 2, 2), n)
            effects = (rng.normal(0, np.sqrt(icc), n_clusters)[g]
                       + rng.normal(0, np.sqrt(icc / 2), n_clusters)[data["h"]])
        else:
            effects = rng.normal(0, np.sqrt(icc), n_clusters)[g]
        y = 0.5 * x + effects + rng.normal(0, np.sqrt(residual), n)
    else:
        latent_variance = icc / (1.0 - icc) * (1.0 if family == "count" else LOGISTIC_VARIANCE)
        eta = 0.5 * x + rng.normal(0, np.sqrt(latent_variance), n_clusters)[g]
        if family == "count":
            y = rng.poisson(np.exp(0.5 + eta)).astype(float)
        else:
            latent = eta + rng.logistic(size=n)
            cuts = [0.0] if family == "binary" else [-1.0, 0.0, 1.0]
            y = np.digitize(latent, cuts).astype(float)
    data["y"] = y
    frame = pd.DataFrame(data)
    if family == "ordered":
        frame["y"] = pd.Categorical(frame["y"].astype(int), categories=[0, 1, 2, 3],
                                    ordered=True)
    missing = rng.random(n) < 1.0 / (1.0 + np.exp(-(-0.95 + 0.8 * x)))
    frame.loc[missing, "y"] = np.nan
    return frame


def impute_args(family: str, method: str, sampler: str | None = None) -> dict:
    cluster = {"nested": ["g", "klass"], "crossed": ["g", "h"]}.get(family, "g")
    options = {"method_options": {"y": {"sampler": sampler}}} if sampler else {}
    return {"method": {"y": method}, "cluster": cluster, **options}


def slowest(imp, burn: int) -> dict:
    """Smallest bulk ESS and largest R-hat over the target's scalar parameters."""
    elements = parameter_elements(imp, ["y"]).isel(draw=slice(burn, None))
    # the per-cluster effects are not parameters here (older versions kept ml's in)
    elements = elements[[n for n in elements.data_vars if not re.search(r"_u(_|\[)", n)]]
    diagnosed = diagnostics_of(elements)
    ess = {name: float(diagnosed[name].sel(statistic="ess_bulk")) for name in elements}
    rhat = {name: float(diagnosed[name].sel(statistic="rhat")) for name in elements}
    ess = {k: v for k, v in ess.items() if np.isfinite(v)}
    worst = min(ess, key=ess.get)
    worst_variance = min((k for k in ess if "psi" in k or "sigma" in k), key=ess.get,
                         default=None)
    kept = elements.sizes["chain"] * elements.sizes["draw"]
    return {"slowest": worst.removeprefix("y_"), "ess_bulk": ess[worst],
            "ess_per_iteration": ess[worst] / kept,
            "variance_ess_per_iteration": (ess[worst_variance] / kept
                                           if worst_variance else np.nan),
            "max_rhat": max(v for v in rhat.values() if np.isfinite(v))}


def run_point(family: str, icc: float, n_clusters: int, size: int, chains: int,
              iterations: int, seed: int, sampler: str | None = None) -> dict:
    method = FAMILIES[family][0]
    data = simulate(family, icc, n_clusters, size, seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = bi.impute(data, m=chains, maxit=iterations, seed=seed,
                        **impute_args(family, method, sampler))
    seconds = time.perf_counter() - start
    row = {"family": family, "method": method, "icc": icc, "clusters": n_clusters,
           "size": size, "seconds": seconds, **slowest(imp, iterations // 10)}
    row["ess_per_second"] = row["ess_bulk"] / seconds
    return row


def grid(families, quick: bool):
    for family in families:
        _, clusters, sizes = FAMILIES[family]
        iccs = (0.0, 0.04, 0.2) if quick else ICCS
        clusters = (50,) if quick else clusters
        for icc in iccs:
            for n_clusters in clusters:
                for size in sizes:
                    yield family, icc, n_clusters, size


KEY = ["family", "method", "icc", "clusters", "size"]


def compare(before: str, after: str, name: str = "mixing") -> None:
    """results/NAME.md (default mixing.md): the two labels' runs side by side."""
    runs = [pd.read_csv(RESULTS / f"mixing_runs_{label}.csv") for label in (before, after)]
    merged = runs[0].merge(runs[1], on=KEY, how="right", suffixes=(f"_{before}", f"_{after}"))
    shown = merged[KEY].copy()
    for column in ("variance_ess_per_iteration", "ess_per_iteration", "ess_per_second",
                   "max_rhat"):
        for label in (before, after):
            shown[f"{column} {label}"] = merged[f"{column}_{label}"].round(3)
    shown[f"slowest {after}"] = merged[f"slowest_{after}"]
    shown["seconds ratio"] = (merged[f"seconds_{after}"] / merged[f"seconds_{before}"]).round(2)
    write_table(name, shown, [
        f"`{before}` and `{after}`: `python benchmarks/bench_mixing.py LABEL` on each version "
        "(results/mixing_runs_LABEL.csv, their settings in results/mixing_LABEL.md); same "
        "data sets and seeds.",
        "variance_ess_per_iteration: smallest bulk ESS per kept draw over the variance "
        "components and residual variances; ess_per_iteration / ess_per_second: over every "
        "scalar parameter (fixed effects too); max_rhat: largest R-hat over all of them.",
    ])


def main(argv=None) -> None:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "--compare":
        return compare(*argv[1:4])
    parser = argparse.ArgumentParser()
    parser.add_argument("label")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--sampler", choices=("gibbs", "nuts"), default=None,
                        help="the sampler option of the methods that have one (default: theirs)")
    args = parser.parse_args(argv)
    rows = []
    with threadpool_limits(1):
        for point in grid(args.families.split(","), args.quick):
            rows.append(run_point(*point, args.chains, args.iterations, args.seed,
                                  args.sampler))
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rows[-1].items()},
                  flush=True)
    table = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / f"mixing_runs_{args.label}.csv", index=False)
    shown = table.round({"seconds": 2, "ess_bulk": 1, "ess_per_iteration": 3,
                         "variance_ess_per_iteration": 3, "max_rhat": 3, "ess_per_second": 1})
    write_table(f"mixing_{args.label}", shown, [
        f"{args.chains} chains x {args.iterations} FCS iterations, the first "
        f"{args.iterations // 10} dropped; one data set per grid point (seed {args.seed}), "
        "about 30% of y MAR given x; one BLAS thread.",
        "ess_per_iteration: the smallest bulk ESS over the target model's scalar parameters "
        "(`slowest`) per kept draw; variance_ess_per_iteration: the same over the variance "
        "components and residual variances only; ess_per_second: that smallest ESS per "
        "second of the whole run (imputation included).",
    ])


if __name__ == "__main__":
    main()
