"""Scale benchmarks: synthetic two-level data from 10^5 to 10^7 rows, and chains on Dask workers.

Two incomplete continuous variables, 2l.norm, maxit = 5.

- (b) 100,000 rows / 5,000 clusters, m = 2: at most 20 s (R mice 2l.pmm: 45 s, 2l.pan: 77 s
  on this machine type).
- (c) 1,000,000 rows / 50,000 clusters, m = 2: at most 12 x (b).
- (d) 10,000,000 rows / 500,000 clusters, m = 2: peak memory of the largest process at most
  8 GB and time at most 12 x (c). Run here with the default ``keep`` (which is "last" at this
  size), and on a local Dask cluster of 2 worker processes with ``store=`` (imputations
  streamed to disk), where the largest process is the larger of the client and the workers.
- (p) m = 8 chains of (b) on a local Dask cluster of 1 and of 2 worker processes: speed-up.

Each serial case runs in a fresh process; peak memory is its resident-set high-water mark
(``ru_maxrss``); a Dask worker reports its own. The Dask timings start once the workers have
imported bayesimpute. ``--skip-large`` leaves out (d) (for a quick check).
R runs on the same data where mice/pan are installed (only for case b).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import r_available, run_r, write_table  # noqa: E402

CASES = {"b": (100_000, 5_000), "c": (1_000_000, 50_000), "d": (10_000_000, 500_000)}
MEMORY_LIMIT_MB = 8 * 1000  # 8 GB
# mice's 2l.pan (miceadds' 2l.pmm is not in Debian's archive).
R_SCRIPT = """
suppressMessages({library(mice)})
d <- read.csv("%s")
pred <- make.predictorMatrix(d); pred[,] <- 0
pred["y", c("g", "x1", "x2")] <- c(-2, 2, 1); pred["x1", c("g", "y", "x2")] <- c(-2, 1, 1)
meth <- make.method(d); meth[] <- ""; meth[c("x1", "y")] <- "2l.pan"
t <- system.time(imp <- mice(d, m = 2, maxit = 5, method = meth, predictorMatrix = pred,
                             seed = 1, printFlag = FALSE))
cat("SECONDS", t[["elapsed"]], "\\n")
"""


def simulate(n_rows: int, n_clusters: int, seed: int = 1) -> pd.DataFrame:
    """y = 1 + 0.5 x1 + 0.3 x2 + u0 + u1 x1 + e; x1 and y 30% missing at random on x2."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_clusters, n_rows)
    x2 = rng.normal(size=n_rows)
    x1 = 0.4 * x2 + rng.normal(size=n_rows) + rng.normal(scale=0.5, size=n_clusters)[g]
    u0 = rng.normal(scale=0.7, size=n_clusters)
    u1 = rng.normal(scale=0.3, size=n_clusters)
    y = 1 + 0.5 * x1 + 0.3 * x2 + u0[g] + u1[g] * x1 + rng.normal(size=n_rows)
    data = pd.DataFrame({"g": g, "x1": x1, "x2": x2, "y": y})
    for column in ("x1", "y"):
        p = 1 / (1 + np.exp(-(-0.85 + 0.8 * x2)))
        data.loc[rng.random(n_rows) < p, column] = np.nan
    return data


def impute_arguments(data: pd.DataFrame, m: int = 2) -> dict:
    import bayesimpute as bi

    pred = bi.make_predictor_matrix(data, cluster="g")
    pred.loc["y", "x1"] = 2
    return dict(method={"x1": "2l.norm", "y": "2l.norm"}, predictor_matrix=pred, m=m, maxit=5,
                seed=1)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(n_rows: int, n_clusters: int) -> dict:
    """Time one impute() in this (fresh) process; report peak RSS."""
    import bayesimpute as bi

    data = simulate(n_rows, n_clusters)
    arguments = impute_arguments(data)
    start = time.perf_counter()
    imp = bi.impute(data, **arguments)
    seconds = time.perf_counter() - start
    assert not imp.complete(1).isna().any().any()
    return {"seconds": seconds, "peak_mb": _peak_mb(), "keep": imp.keep,
            "missing": int(data.isna().sum().sum())}


def _worker_peak_mb() -> float:
    import resource as worker_resource

    return worker_resource.getrusage(worker_resource.RUSAGE_SELF).ru_maxrss / 1024


def _warm_up(client) -> None:
    """Import bayesimpute on every worker and compile what the design needs, untimed."""
    import bayesimpute as bi

    client.run(lambda: __import__("bayesimpute"))
    small = simulate(2_000, 100)
    bi.impute(small, client=client, **impute_arguments(small, m=len(client.ncores())))


def run_dask_case(n_rows: int, n_clusters: int, m: int, n_workers: int,
                  store: bool) -> dict:
    """Time one impute() on a fresh local Dask cluster of ``n_workers`` processes."""
    import distributed

    import bayesimpute as bi

    data = simulate(n_rows, n_clusters)
    arguments = impute_arguments(data, m=m)
    with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, memory_limit=0) as cluster, \
            distributed.Client(cluster) as client, \
            tempfile.TemporaryDirectory(prefix="bayesimpute-store-") as folder:
        _warm_up(client)
        start = time.perf_counter()
        imp = bi.impute(data, client=client, store=folder if store else None, **arguments)
        seconds = time.perf_counter() - start
        assert not imp.complete(m - 1).isna().any().any()
        workers_mb = max(client.run(_worker_peak_mb).values())
        digest = float(sum(imp.idata.posterior_predictive[v].isel(draw=-1).values.sum()
                           for v in imp.variables))
        del imp
    return {"seconds": seconds, "client_mb": _peak_mb(), "worker_mb": workers_mb,
            "digest": digest}


def _fresh(*arguments: str) -> dict:
    """Run this script with ``arguments`` in a fresh process; its JSON result, with the
    machine's load averages (1, 5, 15 min, as ``uptime`` prints them) before and after."""
    before = os.getloadavg()
    out = subprocess.run([sys.executable, __file__, *arguments], check=True,
                         capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["load"] = (before, os.getloadavg())
    print(f"{' '.join(arguments)}: {result.get('seconds', 0):.1f} s, load before "
          f"{_loads(before)}, after {_loads(result['load'][1])}", file=sys.stderr)
    return result


def _loads(averages) -> str:
    return " / ".join(f"{x:.1f}" for x in averages)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--case":
        print(json.dumps(run_case(int(sys.argv[2]), int(sys.argv[3]))))
        return
    if len(sys.argv) == 7 and sys.argv[1] == "--dask-case":
        rows, clusters, m, workers, store = map(int, sys.argv[2:])
        print(json.dumps(run_dask_case(rows, clusters, m, workers, bool(store))))
        return
    skip_large = "--skip-large" in sys.argv
    _fresh("--case", "2000", "100")  # warm the compile cache once, in its own process
    cases = [c for c in CASES if not (skip_large and c == "d")]
    results = {case: _fresh("--case", *map(str, CASES[case])) for case in cases}
    parallel = {k: _fresh("--dask-case", *map(str, CASES["b"]), "8", str(k), "0")
                for k in (1, 2)}
    if not skip_large:
        results["d-dask"] = _fresh("--dask-case", *map(str, CASES["d"]), "2", "2", "1")
    r_seconds = None
    if r_available("mice", "pan"):
        csv = Path(tempfile.gettempdir()) / "bayesimpute_scale_b.csv"
        simulate(*CASES["b"]).to_csv(csv, index=False)
        r_seconds = run_r(R_SCRIPT % csv)
    write_table("scale", _table(results, parallel, r_seconds),
                _notes(results, parallel, r_seconds))


def _table(results: dict, parallel: dict, r_seconds: float | None) -> pd.DataFrame:
    rows = []
    limit = {"b": (20.0, "<= 20 s")}
    if "c" in results:
        b_limit = 12 * results["b"]["seconds"]
        limit["c"] = (b_limit, f"<= 12 x (b) = {b_limit:.1f} s")
    if "d" in results:
        c_limit = 12 * results["c"]["seconds"]
        limit["d"] = (c_limit, f"<= 12 x (c) = {c_limit:.1f} s, <= {MEMORY_LIMIT_MB} MB")
        limit["d-dask"] = limit["d"]
    for case, r in results.items():
        n_rows, n_clusters = CASES[case[0]]
        peak = r.get("peak_mb", max(r.get("client_mb", 0), r.get("worker_mb", 0)))
        seconds_limit, text = limit[case]
        met = r["seconds"] <= seconds_limit and (case[0] != "d" or peak <= MEMORY_LIMIT_MB)
        rows.append({
            "case": case, "rows": n_rows, "clusters": n_clusters, "m": 2,
            "where": "2 Dask workers, store=" if case == "d-dask" else "this process",
            "keep": r.get("keep", "all (on disk)"),
            "impute() s": round(r["seconds"], 2), "largest process MB": round(peak),
            "target": text, "met": met,
            "R mice 2l.pan s": round(r_seconds, 1) if (case == "b" and r_seconds) else None,
            "load before → after": _load_cell(r),
        })
    for k, r in parallel.items():
        rows.append({
            "case": f"p{k}", "rows": CASES["b"][0], "clusters": CASES["b"][1], "m": 8,
            "where": f"{k} Dask worker{'s' if k > 1 else ''}", "keep": "all",
            "impute() s": round(r["seconds"], 2),
            "largest process MB": round(max(r["client_mb"], r["worker_mb"])),
            "target": "speed-up reported", "met": None, "R mice 2l.pan s": None,
            "load before → after": _load_cell(r),
        })
    return pd.DataFrame(rows)


def _load_cell(result: dict) -> str:
    before, after = result["load"]
    return f"{before[0]:.1f} → {after[0]:.1f}"


def _notes(results: dict, parallel: dict, r_seconds: float | None) -> list[str]:
    notes = [
        "2l.norm for x1 and y (y: random slope of x1), maxit = 5; serial cases one fresh "
        "process each (peak = its max RSS), Dask cases a fresh LocalCluster each "
        "(largest process = max of the client's and the workers' max RSS).",
        f"ratio c / b = {results['c']['seconds'] / results['b']['seconds']:.1f}"
        if "c" in results else "",
    ]
    if "d" in results:
        notes.append(f"ratio d / c = {results['d']['seconds'] / results['c']['seconds']:.1f} "
                     f"(target <= 12); d's default keep: {results['d']['keep']}")
        notes.append(f"d on 2 Dask workers with store=: client peak "
                     f"{results['d-dask']['client_mb']:.0f} MB, worker peak "
                     f"{results['d-dask']['worker_mb']:.0f} MB")
    speedup = parallel[1]["seconds"] / parallel[2]["seconds"]
    same = parallel[1]["digest"] == parallel[2]["digest"]
    notes.append(f"m = 8 chains of (b): 1 worker {parallel[1]['seconds']:.2f} s, 2 workers "
                 f"{parallel[2]['seconds']:.2f} s, speed-up {speedup:.2f} (2 cores shared with "
                 f"other work); same imputations on 1 and 2 workers: {same}")
    notes.append("load: the 1-min load average before → after each case (column); 1 / 5 / 15 "
                 "min before and after: " + "; ".join(
                     f"{case} {_loads(r['load'][0])} → {_loads(r['load'][1])}"
                     for case, r in [*results.items(), *((f"p{k}", r) for k, r in
                                                         parallel.items())]))
    notes.append("load average (1, 5, 15 min) when the table was written: "
                 + ", ".join(f"{x:.1f}" for x in os.getloadavg())
                 + f" on {os.cpu_count()} cores shared with other developers' jobs; the "
                 f"benchmark ran at niceness {os.nice(0)}")
    notes.append("R reference on this machine type (../shared/data/README.md / issue 2): "
                 "2l.pmm 45 s, 2l.pan 77 s at case (b)."
                 + ("" if r_seconds else " R not installed here: not rerun."))
    return [n for n in notes if n]


if __name__ == "__main__":
    main()
