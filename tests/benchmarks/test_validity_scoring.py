"""The validity study's scorer, store and seeds on synthetic rows with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.validity.design import FIXED, VARIANCE
from benchmarks.validity.designs import DESIGNS, get_design
from benchmarks.validity.designs._common import calibrated_logit
from benchmarks.validity.methods import Settings
from benchmarks.validity.runner import contains, git_commit, replication, tasks_to_run
from benchmarks.validity.scoring import (
    gross_errors,
    head_to_head,
    score,
    target_checks,
    versus_r,
)
from benchmarks.validity.store import RowStore


def rows_for(estimates, truth, *, half=0.1, method="m", peer="bayesimpute", parameter="b",
             kind=FIXED, compatible=True, status=None):
    estimates = np.asarray(estimates, dtype=float)
    n = len(estimates)
    return pd.DataFrame({
        "design": "d", "method": method, "peer": peer, "compatible": compatible,
        "parameter": parameter, "kind": kind, "rep": np.arange(n), "seed": 1, "m": 5,
        "maxit": 10, "estimate": estimates, "std_error": half / 2,
        "conf_low": estimates - half, "conf_high": estimates + half, "truth": truth,
        "seconds": 2.0, "status": status or ["ok"] * n, "note": "",
    })


def test_score_known_answers():
    # errors -0.2, 0.0, +0.05, +0.15 around truth 1: two intervals of half-width 0.1 cover
    rows = rows_for([0.8, 1.0, 1.05, 1.15], truth=1.0)
    row = score(rows).iloc[0]
    errors = np.array([-0.2, 0.0, 0.05, 0.15])
    assert row["n"] == 4 and row["failed"] == 0
    assert row["bias"] == pytest.approx(errors.mean())
    assert row["bias_mcse"] == pytest.approx(errors.std(ddof=1) / 2)
    assert row["relative_bias"] == pytest.approx(errors.mean() / 1.0)
    assert row["rmse"] == pytest.approx(np.sqrt((errors**2).mean()))
    assert row["mae"] == pytest.approx(np.abs(errors).mean())
    assert row["coverage"] == pytest.approx(0.5)
    assert row["coverage_mcse"] == pytest.approx(np.sqrt(0.25 / 4))
    assert row["width"] == pytest.approx(0.2)
    assert row["empirical_se"] == pytest.approx(np.std([0.8, 1.0, 1.05, 1.15], ddof=1))


def test_score_counts_failures_and_skips_relative_bias_at_zero_truth():
    rows = rows_for([0.1, -0.1, np.nan], truth=0.0, status=["ok", "ok", "failed"])
    row = score(rows).iloc[0]
    assert row["n"] == 2 and row["failed"] == 1
    assert row["bias"] == pytest.approx(0.0)
    assert np.isnan(row["relative_bias"])


def test_score_without_intervals_has_no_coverage():
    rows = rows_for([0.5, 0.6], truth=0.5, kind=VARIANCE).assign(conf_low=np.nan,
                                                                 conf_high=np.nan)
    row = score(rows).iloc[0]
    assert np.isnan(row["coverage"]) and row["intervals"] == 0


def test_gross_errors_flags_low_coverage():
    good = rows_for(np.full(10, 1.0), truth=1.0)
    assert gross_errors(good) == []
    # intervals of half-width 0.1 around 1.2: none covers 1, and the bias is 20% only
    bad = rows_for(np.full(10, 1.2) + np.linspace(-0.01, 0.01, 10), truth=1.0)
    errors = gross_errors(bad)
    assert len(errors) == 1 and "coverage 0%" in errors[0]


def test_gross_errors_relative_bias_needs_both_size_and_precision():
    # 40% bias where each estimate has s.e. 0.02: 0.2 is 24 s.e. of the mean: a gross error
    precise = rows_for(np.full(6, 0.7), truth=0.5, half=0.04, kind=VARIANCE)
    assert any("relative bias +40%" in e for e in gross_errors(precise))
    # the same bias with s.e. 0.3 per estimate: 3 s.e. of the mean is 0.37 > 0.2
    noisy = rows_for(np.full(6, 0.7), truth=0.5, half=0.6, kind=VARIANCE)
    assert not any("relative bias" in e for e in gross_errors(noisy))
    # a precise 20% bias is within the gross-error bound
    small = rows_for(np.full(6, 0.6), truth=0.5, half=0.04, kind=VARIANCE)
    assert gross_errors(small) == []


def test_gross_errors_without_standard_errors_uses_the_spread():
    rows = rows_for([0.69, 0.7, 0.71, 0.7], truth=0.5, kind="imputed mean")
    rows = rows.assign(std_error=np.nan, conf_low=np.nan, conf_high=np.nan)
    assert any("relative bias" in e for e in gross_errors(rows))
    spread = rows.assign(estimate=[0.1, 1.3, 0.1, 1.3])  # mean 0.7, s.e. of the mean 0.35
    assert gross_errors(spread) == []


def test_gross_errors_reports_failed_tasks():
    rows = rows_for([1.0, np.nan], truth=1.0, status=["ok", "failed"])
    assert any("failed rows" in e for e in gross_errors(rows))


def test_target_checks_only_for_compatible_methods():
    covered = rows_for(np.full(10, 1.0), truth=1.0)  # coverage 100%: outside [93, 97]
    other = rows_for(np.full(10, 1.0), truth=1.0, method="other", compatible=False)
    checks = target_checks(score(pd.concat([covered, other])))
    assert checks.set_index("method").loc["m", "met"] is False or \
        checks.set_index("method").loc["m", "met"] == False  # noqa: E712
    assert checks.set_index("method").loc["other", "met"] is None


def test_versus_r_worse_on_both():
    rng = np.random.default_rng(1)
    truth = 1.0
    ours = rows_for(1.3 + rng.normal(0, 0.01, 50), truth)                # biased, 0% coverage
    theirs = rows_for(1.0 + rng.normal(0, 0.05, 50), truth, method="R x", peer="R")
    table = versus_r(score(pd.concat([ours, theirs])), {"R x"})
    assert bool(table.loc[0, "worse_on_both"])
    table = versus_r(score(pd.concat([theirs.assign(method="m", peer="bayesimpute"),
                                      theirs])), {"R x"})
    assert not bool(table.loc[0, "worse_on_both"])


def test_store_reuses_rows_of_the_same_settings_only(tmp_path):
    store = RowStore(tmp_path, "d")
    first = rows_for([1.0], truth=1.0).assign(rep=0)
    store.add(first)
    assert store.done(seed=1, m=5, maxit=10) == {("m", 0)}
    assert store.done(seed=1, m=3, maxit=10) == set()
    store.consolidate()
    assert (tmp_path / "d.csv").exists() and not list(store.fragments.glob("*.csv"))
    store.add(first.assign(estimate=2.0))  # a refreshed row replaces the committed one
    rows = store.consolidate()
    assert len(rows) == 1 and rows["estimate"].iloc[0] == 2.0


def test_store_counts_only_rows_of_current_commits(tmp_path):
    store = RowStore(tmp_path, "d")
    store.add(rows_for([1.0], truth=1.0).assign(rep=0, commit="old"))
    store.add(rows_for([1.0], truth=1.0, method="R x", peer="R").assign(rep=0, commit="old"))
    store.add(rows_for([1.0], truth=1.0).assign(rep=1, commit="new"))
    assert store.done(seed=1, m=5, maxit=10, current=lambda c: c == "new") == {("m", 1)}
    assert len(store.done(seed=1, m=5, maxit=10)) == 3


def test_since_recomputes_only_rows_older_than_the_revision(tmp_path):
    design = get_design("ri_mar")
    store = RowStore(tmp_path, design.name)
    for label, commit in (("complete data", "unknown"), ("complete cases", git_commit())):
        store.add(rows_for([1.0], truth=1.0, method=label, peer="reference").assign(
            rep=0, commit=commit))
    chosen = ["complete data", "complete cases"]
    settings = Settings(m=5, maxit=10, seed=1)

    def planned(**since):
        tasks, _ = tasks_to_run(design, 2, settings, "now", store, chosen, **since)
        return {(t.method, rep) for t in tasks for rep in t.reps}

    assert planned() == {("complete data", 1), ("complete cases", 1)}
    assert planned(since="HEAD") == {("complete data", 0), ("complete data", 1),
                                     ("complete cases", 1)}


def test_contains_reads_git_ancestry():
    head = git_commit().removesuffix("+dirty")
    assert contains("HEAD")(head) and contains("HEAD")(head + "+dirty")
    assert not contains("HEAD")("unknown")
    with pytest.raises(ValueError, match="no-such-revision"):
        contains("no-such-revision")


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_replications_are_reproducible_and_differ(name):
    design = get_design(name)
    data, seed = replication(design, 7, 0)
    again, seed_again = replication(design, 7, 0)
    other, seed_other = replication(design, 7, 1)
    pd.testing.assert_frame_equal(data.data, again.data)
    assert seed == seed_again and seed != seed_other
    assert not data.data.equals(other.data)
    assert data.data.isna().any().any(), "a design must delete something"
    observed = data.data.notna()
    pd.testing.assert_frame_equal(data.data[observed], data.complete[observed],
                                  check_dtype=False)
    assert set(data.truth.index) == set(data.kinds.index)


def test_calibrated_logit_hits_the_rate():
    linear = np.random.default_rng(2).normal(size=5000)
    assert calibrated_logit(linear, 0.3).mean() == pytest.approx(0.3, abs=1e-6)


def test_head_to_head_pairs_replications():
    a = rows_for([1.05, 0.95, 1.3], truth=1.0, method="a")     # |errors| .05 .05 .3, covers 2
    b = rows_for([1.0, 1.2, 1.0, 5.0], truth=1.0, method="b")  # 4th rep has no partner
    row = head_to_head(pd.concat([a, b]), "a", "b").iloc[0]
    assert row["n"] == 3
    assert row["mae_first"] == pytest.approx(0.4 / 3)
    assert row["mae_second"] == pytest.approx(0.2 / 3)
    d = np.array([0.05, -0.15, 0.3])
    assert row["mae_difference"] == pytest.approx(d.mean())
    assert row["mae_difference_mcse"] == pytest.approx(d.std(ddof=1) / np.sqrt(3))
    assert row["coverage_first"] == pytest.approx(2 / 3)
    assert row["coverage_difference"] == pytest.approx(2 / 3 - 2 / 3)


def test_targets_line_names_misses_and_skips_designs_without_targets():
    from dataclasses import replace

    from benchmarks.validity.report import targets_line

    rows = rows_for(np.full(10, 1.0), truth=1.0)  # coverage 100%: outside [93, 97]
    summary = score(rows)
    design = get_design("ri_mar")
    line = targets_line(design, rows, summary)
    assert line.startswith("Targets (compatible methods): 0 of 1 met; missed: m, b: coverage")
    line = targets_line(replace(design, no_targets="a reason"), rows, summary)
    assert line.startswith("Absolute targets not applicable: a reason.")


def test_a_miss_is_set_beside_the_complete_data_on_the_same_replications():
    """A design may extend the complete data beyond a method (600 against 200): the miss line
    quotes the complete data's coverage on the method's replications only."""
    from benchmarks.validity.report import targets_line

    method = rows_for(np.full(10, 1.0), truth=1.0)  # reps 0-9, coverage 100%: a miss
    # complete data: covers on reps 0-9, misses on reps 10-29 (coverage 1/3 over all 30)
    complete = rows_for(np.r_[np.full(10, 1.0), np.full(20, 2.0)], truth=1.0,
                        method="complete data", peer="reference")
    rows = pd.concat([method, complete], ignore_index=True)
    line = targets_line(get_design("ri_mar"), rows, score(rows))
    assert "m, b: coverage 1.000 (MC s.e. 0.000; complete data 1.000)" in line, line


def test_select_run_takes_the_compatibility_flag_from_the_design():
    from benchmarks.validity.report import select_run

    design = get_design("logistic")
    approximate, compatible = "bayesimpute 2l.norm", "bayesimpute 2l.smc"
    rows = pd.concat([
        rows_for([0.7, 0.7], truth=0.7, method=approximate, compatible=True),  # run as "yes"
        rows_for([0.7, 0.7], truth=0.7, method=compatible, compatible=False),
        rows_for([0.7, 0.7], truth=0.7, method="no longer listed", compatible=True),
    ])
    chosen = select_run(rows, design, None, seed=1)
    flags = chosen.groupby("method")["compatible"].first()
    assert not flags[approximate] and flags[compatible] and flags["no longer listed"]
    assert chosen["compatible"].dtype == bool
