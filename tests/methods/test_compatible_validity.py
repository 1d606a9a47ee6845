"""Reduced version of the validity simulation (benchmarks/validity_smc.py) for CI.

The committed run (200 data sets per design, README and benchmarks/results/smc_validity.md)
measures bias and coverage; this one runs three data sets of the random-slope design with
small m and maxit and checks the claim that matters at that size: on every data set the FCS
method 2l.pmm loses slope variance that 2l.smc keeps, relative to the analysis of the same
data before deletion, and 2l.smc's fixed effects are not grossly off.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from validity_smc import DESIGNS, replication  # noqa: E402


def test_random_slope_variance_kept_where_fcs_loses_it():
    design = DESIGNS["random_slope"]
    rows = pd.concat([
        replication(design, rep, m=2, maxit=6, with_r=False,
                    methods=("complete data", "bayesimpute 2l.smc", "bayesimpute 2l.pmm"))
        for rep in range(3)], ignore_index=True)
    slope = rows[rows["parameter"] == "g: x"].pivot(index="rep", columns="method",
                                                    values="estimate")
    complete = slope["complete data"]
    smc = (slope["bayesimpute 2l.smc"] - complete) / complete
    pmm = (slope["bayesimpute 2l.pmm"] - complete) / complete
    # 2l.pmm's loss is about 20% of the slope variance; the imputation noise of either
    # method about 5-8% of it per data set
    assert (pmm < smc).all(), (smc, pmm)
    assert smc.abs().max() < 0.25 and pmm.mean() < -0.08, (smc, pmm)
    fixed = rows[(rows["method"] == "bayesimpute 2l.smc") & (rows["kind"] == "fixed")]
    error = (fixed["estimate"] - fixed["truth"]).abs()
    assert (error < 4 * fixed["std_error"]).all()
    assert np.isfinite(rows["estimate"]).all()
