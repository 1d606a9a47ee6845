"""Reduced validity study: every design, few replications, small m and maxit.

Each design's CI methods (``ci=True``) must show no gross error: fixed-effect coverage over all
intervals of the run at least 70%, no relative bias beyond 30% by more than 3 Monte-Carlo
standard errors, no failed task (:func:`benchmarks.validity.scoring.gross_errors`). The full
study (``python -m benchmarks.validity all``) is what the README quotes; this only catches a
broken method. The last test shows that it does: single-level pmm on clustered data.
"""

from __future__ import annotations

import pytest

from benchmarks.validity.designs import DESIGNS, get_design
from benchmarks.validity.runner import run_reduced
from benchmarks.validity.scoring import gross_errors


@pytest.mark.parametrize("name", list(DESIGNS))
def test_no_gross_error(name, tmp_path):
    design = get_design(name)
    rows = run_reduced(design, tmp_path)
    assert rows["rep"].nunique() == design.reduced.reps
    errors = gross_errors(rows, list(design.reduced.checked or rows["parameter"].unique()))
    assert errors == [], f"{name}: {errors}"


def test_catches_single_level_imputation_of_clustered_data(tmp_path):
    """pmm ignores the clusters: the school variance collapses and the check says so."""
    rows = run_reduced(get_design("ri_mar"), tmp_path, methods=["bayesimpute pmm"])
    errors = gross_errors(rows)
    assert any("g: Intercept relative bias" in e for e in errors), errors
    assert any("icc relative bias" in e for e in errors), errors


def test_catches_a_mar_method_under_mnar(tmp_path):
    """2l.norm on the rho = 0.9 Heckman design: the intercept is far off and the check says so."""
    design = get_design("heckman_rho09")
    rows = run_reduced(design, tmp_path, methods=["bayesimpute 2l.norm"])
    errors = gross_errors(rows, list(design.reduced.checked or rows["parameter"].unique()))
    assert any("Intercept relative bias" in e for e in errors), errors
