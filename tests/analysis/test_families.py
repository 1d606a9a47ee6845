"""The one family table and the callers that read it."""

import pytest

from bayesimpute import model_file
from bayesimpute.analysis import core, glmm
from bayesimpute.analysis.families import (
    FAMILIES,
    FAMILY_TABLE,
    LAPLACE_FAMILIES,
    check_family,
)


def test_laplace_families_are_the_non_gaussian_ones():
    assert FAMILIES == ("gaussian", "binomial", "poisson")
    assert LAPLACE_FAMILIES == ("binomial", "poisson")
    assert {f.link for f in FAMILY_TABLE.values()} == {"identity", "logit", "log"}


def test_every_caller_reads_the_one_table():
    assert core.FAMILIES is FAMILIES
    assert model_file.FAMILIES is FAMILIES
    assert not hasattr(glmm, "FAMILIES")


def test_check_family_refuses_what_the_caller_does_not_allow():
    assert check_family("binomial", LAPLACE_FAMILIES).name == "binomial"
    with pytest.raises(ValueError, match=r"one of \('binomial', 'poisson'\), got 'gaussian'"):
        check_family("gaussian", LAPLACE_FAMILIES)
    with pytest.raises(ValueError, match="got 'gamma'"):
        check_family("gamma")
