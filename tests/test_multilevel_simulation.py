"""The multi-level validity simulations (benchmarks/bench_multilevel_sim.py).

CI checks the simulations' analysis (the package's lme4-exact ``bi.analyze`` with the
simulations' formula) against lme4 on cross-classified data (numbers from
benchmarks/r/scotssec_reference.R), the simulated designs, and two reduced replications
of the nested design, which can show what one replication shows: the ml methods land near
the complete-data fit, while imputing with the school as the only cluster inflates the class
variance. The full study (100 replications per design, the criteria of the module docstring)
is the slow test; on main it misses one criterion, the crossed design's w (-0.42 pooled s.e.
against 0.4; benchmarks/results/multilevel_sim.md and multilevel_w_probe.md say why).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sim = _load("bench_multilevel_sim")


def test_simulation_analysis_matches_lme4_on_scotssec():
    r = pd.read_csv(BENCH / "results" / "scotssec_r.csv")
    r = r[r["analysis"] == "complete"].set_index("term")
    data = bi.datasets.load_scotssec().assign(male=lambda d: (d["sex"] == "M").astype(float))
    # the simulations' model form (random intercepts of two crossed factors), as they fit it
    assert sim.FORMULA["crossed"] == "y ~ x + w + (1 | primary) + (1 | secondary)"
    assert sim.FORMULA["nested"] == "y ~ x + w + (1 | school) + (1 | klass)"
    fit = bi.analyze([data], "attain ~ verbal + male + social + (1 | primary) + (1 | second)")[0]
    names = {"Intercept": "Intercept", "verbal": "verbal", "male": "sexM", "social": "social"}
    for ours, theirs in names.items():
        assert np.isclose(fit.params[ours], r.at[theirs, "estimate"], rtol=1e-4, atol=1e-6)
        assert np.isclose(np.sqrt(fit.cov.at[ours, ours]), r.at[theirs, "std_error"], rtol=1e-3)
    for component in ("primary: Intercept", "second: Intercept", "residual"):
        assert np.isclose(fit.variance_components[component], r.at[component, "estimate"],
                          rtol=1e-3)


def test_nested_design():
    complete, data = sim.simulate_nested(seed=3)
    assert complete.shape == (3000, 5) and not complete.isna().any().any()
    assert complete.groupby("klass")["school"].nunique().max() == 1
    assert complete.groupby("klass")["w"].nunique().max() == 1  # w lives at class level
    never = data.groupby("school")["w"].apply(lambda v: v.isna().all())
    assert never.sum() >= 5  # 10% of 50 schools never measure w
    assert 0.2 < data["x"].isna().mean() < 0.45 and data["y"].notna().all()


def test_crossed_design():
    complete, data = sim.simulate_crossed(seed=3)
    assert (complete.groupby("primary")["secondary"].nunique() > 1).all()
    assert complete.groupby("primary")["w"].nunique().max() == 1
    never = data.groupby("primary")["w"].apply(lambda v: v.isna().all())
    assert never.sum() >= 4


@pytest.fixture(scope="module")
def reduced_runs() -> pd.DataFrame:
    runs = [sim.run_replication("nested", seed, m=3, maxit=5, methods=("complete", "ml", "2l"))
            for seed in (21, 22)]
    return pd.concat(runs, ignore_index=True)


def test_reduced_nested_simulation(reduced_runs):
    wide = reduced_runs.pivot_table(index=["replication", "term"], columns="method",
                                    values="estimate")
    se = reduced_runs[reduced_runs["method"] == "ml"].set_index(["replication", "term"])["std_error"]
    for rep in (21, 22):
        for term in ("x", "w"):
            gap = abs(wide.at[(rep, term), "ml"] - wide.at[(rep, term), "complete"])
            assert gap < 2 * se[(rep, term)], (rep, term, gap)
    klass = wide.xs("klass: Intercept", level="term")
    # ml keeps the class variance near the complete-data value; 2l (school only) inflates it
    assert (abs(klass["ml"] / klass["complete"] - 1) < 0.35).all(), klass
    assert ((klass["2l"] - klass["complete"]) > (klass["ml"] - klass["complete"])).all(), klass


@pytest.mark.slow
def test_full_study_meets_the_criteria():
    """The committed study's sizes (100 nested, 300 crossed replications; a few minutes
    here): every ml criterion is met."""
    sizes = {"nested": 100, "crossed": 300}
    runs = pd.concat([sim.run_replication(design, seed, methods=("ml",))
                      for design, n in sizes.items() for seed in range(1, n + 1)],
                     ignore_index=True)
    table = sim.summarise(runs)
    assert table["met"].all(), table[~table["met"]]
