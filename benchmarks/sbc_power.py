"""Size and power of the simulation-based calibration tests of the custom Gibbs steps.

``tests/methods/test_calibration.py`` checks every custom step (LinearMixedGibbs with a random
slope, with and without per-cluster residual variances; the Polya-Gamma logistic and
multinomial steps with random slopes; the Heckman step for continuous and binary outcomes) by
simulation-based calibration at CI sizes and one fixed seed. This script runs the same cases at
``--seeds`` seeds, correct and with each injected error (the variance a transition returns
multiplied by 1.1: ``sigma2`` the residual variance(s), ``psi`` the random-effect covariance),
and reports how often the test fails: for the correct step that is the false-alarm rate (the
test's size), for an injected error its power.

Run ``python benchmarks/sbc_power.py [--seeds 5] [--cases NAME ...]``; writes
``benchmarks/results/sbc_power.md`` (updated after every seed) and the raw rows beside it.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import pandas as pd

from _common import markdown

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"


def _calibration_module():
    path = ROOT / "tests" / "methods" / "test_calibration.py"
    spec = importlib.util.spec_from_file_location("test_calibration", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["test_calibration"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run(calibration, names: list[str], seeds: list[int]) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        for name in names:
            case = calibration.CASES[name](seed)
            for error in [None, *case.errors]:
                start = time.perf_counter()
                result = calibration.calibrate(case, seed=seed, error=error)
                pvalues = result.pvalues()
                rows.append({
                    "case": name, "error": error or "none (correct step)", "seed": seed,
                    "failed": bool(result.failed()), "failing": ", ".join(result.failed()),
                    "min_p": min(pvalues.values()), "seconds": time.perf_counter() - start,
                })
                print(rows[-1], flush=True)
        write_report(pd.DataFrame(rows), calibration)
    return pd.DataFrame(rows)


def write_report(rows: pd.DataFrame, calibration) -> None:
    RESULTS.mkdir(exist_ok=True)
    rows.to_csv(RESULTS / "sbc_power.csv", index=False)
    table = rows.groupby(["case", "error"], sort=False).agg(
        runs=("seed", "size"), failure_rate=("failed", "mean"),
        median_min_p=("min_p", "median"), seconds=("seconds", "mean")).reset_index()
    table["failure_rate"] = table["failure_rate"].map(lambda v: f"{v:.2f}")
    table["median_min_p"] = table["median_min_p"].map(lambda v: f"{v:.2g}")
    table["seconds"] = table["seconds"].map(lambda v: f"{v:.1f}")
    text = "\n".join([
        "# Simulation-based calibration of the custom Gibbs steps: size and power", "",
        f"{pd.Timestamp.today().date()}. Cases and sizes as in tests/methods/test_calibration.py "
        f"(CI runs each at seed 0); a case fails when any of its statistics has a "
        f"chi-square p-value below {calibration.ALPHA} ({calibration.BINS} bins of the rank "
        "of the prior draw among 9 thinned posterior draws). `error`: the variance a "
        f"transition returns times {calibration.ERROR} at every transition. failure_rate of "
        "the correct step = false alarms; of an injected error = power. seconds: one "
        "calibration on this 2-core machine shared with other jobs.", "",
        markdown(table), "",
        "Raw rows: `sbc_power.csv`. Regenerate: `python benchmarks/sbc_power.py --seeds N`.",
    ]) + "\n"
    (RESULTS / "sbc_power.md").write_text(text)
    print(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    parser.add_argument("--cases", nargs="+", help="case names (default: all)")
    args = parser.parse_args(argv)
    calibration = _calibration_module()
    names = args.cases or list(calibration.CASES)
    run(calibration, names, list(range(args.seeds)))


if __name__ == "__main__":
    main()
