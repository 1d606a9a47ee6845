"""The README's figures on the `2l.smc posterior` rows of the validity study, from the
committed CSVs in ``benchmarks/results/validity/`` (nothing is rerun).

Per design: the posterior's fixed effects (coverage, also per block of 300 replications as
the runs were extended, the truth below / above the interval, mean posterior sd against the
sampling s.d. of the posterior mean) and, over every
posterior replication, the weakest scored parameter's bulk ESS and the largest R-hat
recorded in each row's note.

Usage: ``python benchmarks/validity_posterior_checks.py`` ->
``benchmarks/results/validity_posterior_checks.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _common import write_table  # noqa: E402

VALIDITY = ROOT / "benchmarks" / "results" / "validity"
POSTERIOR = "bayesimpute 2l.smc posterior"
BLOCK = 300  # the size by which the runs were extended
NOTE = r"max R-hat (?P<rhat>[\d.]+), min bulk ESS (?P<ess>\d+)"


def posterior_rows() -> pd.DataFrame:
    frames = []
    for path in sorted(VALIDITY.glob("*.csv")):
        rows = pd.read_csv(path, keep_default_na=False, na_values=["NA", "nan", ""],
                           low_memory=False)
        frames.append(rows[rows["method"] == POSTERIOR])
    return pd.concat(frames, ignore_index=True)


def fixed_effects(rows: pd.DataFrame) -> pd.DataFrame:
    fixed = rows[rows["kind"] == "fixed"].copy()
    fixed["below"] = fixed["truth"] < fixed["conf_low"]
    fixed["above"] = fixed["truth"] > fixed["conf_high"]
    table = fixed.groupby(["design", "parameter"]).agg(
        n=("rep", "size"), below=("below", "mean"), above=("above", "mean"),
        mean_sd=("std_error", "mean"), sampling_sd=("estimate", "std"))
    table.insert(1, "coverage", 1.0 - table["below"] - table["above"])
    fixed["covered"] = ~(fixed["below"] | fixed["above"])
    blocks = fixed.groupby(["design", "parameter", fixed["rep"] // BLOCK])["covered"].mean()
    table.insert(2, f"coverage per {BLOCK}", blocks.groupby(level=[0, 1]).agg(
        lambda block: " / ".join(f"{c:.3f}" for c in block)))
    table["sd_ratio"] = table["mean_sd"] / table["sampling_sd"]
    return table.reset_index().round(4)


def chain_diagnostics(rows: pd.DataFrame) -> list[str]:
    per_rep = rows.drop_duplicates(["design", "rep"])
    found = per_rep["note"].str.extract(NOTE).astype(float)
    ess, rhat = found["ess"], found["rhat"]
    return [f"{len(per_rep)} posterior replications: weakest parameter's bulk ESS median "
            f"{ess.median():.0f} (min {ess.min():.0f}) of 400 draws; largest R-hat median "
            f"{rhat.median():.3f}, above 1.05 in {np.mean(rhat > 1.05):.1%}, max "
            f"{rhat.max():.3f}"]


def main() -> None:
    rows = posterior_rows()
    write_table("validity_posterior_checks", fixed_effects(rows), chain_diagnostics(rows))


if __name__ == "__main__":
    main()
