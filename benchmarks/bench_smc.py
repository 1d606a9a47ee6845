"""Benchmark: one compatible imputation (2l.smc) of the random-slope design, m = 5, maxit = 10.

Target (issue 14): at most 2 s on this machine type. The data are replication 0 of the
validity study's random-slope design (``benchmarks/validity/designs/random_slope.py``: 100
clusters of 20, 30% of x missing at random given y, analysis model ``y ~ x + (1 + x | g)``),
imputed with that design's method entries. Beside it: 2l.pmm and 2l.norm on the same data
(FCS, incompatible), and R's jomo.lmer (compatible joint model; burn-in 1000, 200 iterations
between imputations, as in the study) where R and jomo are installed.

Usage: ``python benchmarks/bench_smc.py`` -> ``benchmarks/results/smc.md``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
from _common import best_of, write_table  # noqa: E402

import bayesimpute as bi  # noqa: E402
from benchmarks.validity.designs.random_slope import RANDOM_SLOPE  # noqa: E402
from benchmarks.validity.methods import Settings  # noqa: E402
from benchmarks.validity.runner import replication  # noqa: E402

TARGET_SECONDS = 2.0
SETTINGS = Settings(m=5, maxit=10, seed=1)
METHODS = ("bayesimpute 2l.smc", "bayesimpute 2l.pmm", "bayesimpute 2l.norm")
JOMO = "R jomo.lmer (SMC)"


def impute_call(label: str, data: pd.DataFrame):
    """``bi.impute`` exactly as the validity study calls it for the method ``label``."""
    method = RANDOM_SLOPE.method(label)
    builder = method.predictors or RANDOM_SLOPE.predictors
    options = {column: dict(values) for column, values in method.options.items()} or None

    def run():
        return bi.impute(data, method=dict(method.method), predictor_matrix=builder(data),
                         m=SETTINGS.m, maxit=SETTINGS.maxit, seed=123, method_options=options)

    return run


def main() -> None:
    load_before = os.getloadavg()
    data = replication(RANDOM_SLOPE, SETTINGS.seed, 0)[0].data
    rows = []
    for label in METHODS:
        run = impute_call(label, data)
        run()  # warm the imports and the pytensor cache
        seconds, _ = best_of(run, repeats=5)
        cpu_start = time.process_time()
        run()
        cpu = time.process_time() - cpu_start
        rows.append({"method": label, "wall s (best of 5)": round(seconds, 2),
                     "cpu s": round(cpu, 2),
                     "target s": TARGET_SECONDS if label.endswith("2l.smc") else None})
    jomo = RANDOM_SLOPE.method(JOMO)
    jomo_note = "R jomo.lmer: not run (R with jomo not installed here)"
    if jomo.available() is None:
        seconds = float(jomo.run(RANDOM_SLOPE, replication(RANDOM_SLOPE, SETTINGS.seed, 0)[0],
                                 SETTINGS, 123)["seconds"].iloc[0])
        rows.append({"method": JOMO, "wall s (best of 5)": round(seconds, 2), "cpu s": None,
                     "target s": None})
        jomo_note = ("R jomo.lmer: one run, wall seconds of the jomo.lmer call inside R "
                     "(nburn 1000, nbetween 200, nimp 5)")
    load_after = os.getloadavg()
    table = pd.DataFrame(rows)
    notes = [
        "impute() of replication 0 of the random-slope validity design (2,000 rows, 100 "
        "clusters, 30% of x missing), m = 5, maxit = 10, after one warm-up run; wall = best "
        "of 5, cpu = process time of one more run.",
        "2l.smc: analysis model y ~ x + (1 + x | g) and a random-intercept covariate model for "
        "x, both exact Gibbs (2 transitions each per visit), exact normal draws of x, 20 "
        "burn-in cycles at the first visit.",
        jomo_note,
        f"Machine load (1-minute load average, 2 cores shared with other developers): "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after.",
    ]
    write_table("smc", table, notes)


if __name__ == "__main__":
    main()
