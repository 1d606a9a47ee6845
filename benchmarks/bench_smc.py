"""Benchmark: one compatible imputation (2l.smc) of the random-slope design, m = 5, maxit = 10.

Target (issue 14): at most 2 s on this machine type. The data are the validity design's
(benchmarks/validity_smc.py: 100 clusters of 20, 30% of x missing at random given y,
analysis model ``y ~ x + (1 + x | g)``). Beside it: 2l.pmm and 2l.norm on the same data
(FCS, incompatible), and R's jomo.lmer (compatible joint model) where R and jomo are
installed, with its default burn-in 1000 and 100 iterations between imputations.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, r_available, write_table  # noqa: E402
from validity_smc import DESIGNS, R_SCRIPT, _fcs_predictors, _smc_predictors  # noqa: E402

import bayesimpute as bi  # noqa: E402

TARGET_SECONDS = 2.0


def main() -> None:
    design = DESIGNS["random_slope"]
    data, _ = design.simulate(np.random.default_rng(2024))
    rows = []
    for method in ("2l.smc", "2l.pmm", "2l.norm"):
        if method == "2l.smc":
            kwargs = dict(predictor_matrix=_smc_predictors(design, data),
                          analysis_model=design.formula)
        else:
            kwargs = dict(predictor_matrix=_fcs_predictors(design, data))

        def run(method=method, kwargs=kwargs):
            return bi.impute(data, method={"x": method}, m=5, maxit=10, seed=123, **kwargs)

        run()  # warm the imports and caches
        seconds, _ = best_of(run, repeats=5)
        cpu_start = time.process_time()
        run()
        cpu = time.process_time() - cpu_start
        rows.append({"method": f"bayesimpute {method}", "wall s (best of 5)": round(seconds, 2),
                     "cpu s": round(cpu, 2),
                     "target s": TARGET_SECONDS if method == "2l.smc" else None})
    jomo = _jomo_seconds(design, data)
    if jomo is not None:
        rows.append({"method": "R jomo.lmer (nburn 1000, nbetween 100)",
                     "wall s (best of 5)": round(jomo[0], 2), "cpu s": round(jomo[1], 2),
                     "target s": None})
    table = pd.DataFrame(rows)
    notes = [
        "impute() of the random-slope design (2,000 rows, 100 clusters, 30% of x missing), "
        "m = 5, maxit = 10, after one warm-up run; wall = best of 5, cpu = process time of "
        "one more run (the machine is shared: cpu is the figure that does not depend on load).",
        "2l.smc: analysis model y ~ x + (1 + x | g) and a random-intercept covariate model "
        "for x, both exact Gibbs (2 transitions each per visit), exact normal draws of x.",
        "R jomo.lmer: one run; wall and cpu (user + system) of the imputation call"
        + ("" if jomo is not None else " (R with jomo not installed here: not run)"),
    ]
    write_table("smc", table, notes)


def _jomo_seconds(design, data) -> tuple[float, float] | None:
    if not r_available("jomo"):
        return None
    with tempfile.TemporaryDirectory(prefix="bench-smc-") as folder:
        csv = Path(folder) / "data.csv"
        data.to_csv(csv, index=False, na_rep="NA")
        start = time.perf_counter()
        cpu_start = _children_cpu()
        subprocess.run(["Rscript", str(R_SCRIPT), str(csv), design.formula, "5", "1000", "100",
                        "123", str(Path(folder) / "out")], check=True, capture_output=True)
        return time.perf_counter() - start, _children_cpu() - cpu_start


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
