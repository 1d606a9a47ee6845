"""Declared options: bad values refused by impute() before any sampling, in one format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi
from bayesimpute.methods import get_method
from bayesimpute.methods.options import Integer, NoneOr, OneOf, Real, Text


def small():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(6), 5)
    data = pd.DataFrame({"g": g, "x": rng.normal(size=30), "y": rng.normal(size=30)})
    data.loc[[1, 7, 13, 20], "y"] = np.nan
    return data


@pytest.mark.parametrize("options, message", [
    ({"donors": 0}, "donors must be an integer >= 1, got 0"),
    ({"donors": "three"}, "donors must be an integer >= 1, got 'three'"),
    ({"n_steps": 0}, "n_steps must be an integer >= 1, got 0"),
    ({"target_accept": 1.5}, r"target_accept must be a number in \(0.0, 1.0\), got 1.5"),
    ({"sampler": "hmc"}, "sampler must be one of 'gibbs', 'nuts', got 'hmc'"),
    ({"re_scale": -1}, "re_scale must be a number > 0.0, got -1"),
])
def test_bad_option_values_are_refused_before_sampling(options, message, monkeypatch):
    method = get_method("2l.pmm")
    visits = []
    monkeypatch.setattr(method, "update", lambda self, data, rng: visits.append(1))
    with pytest.raises(ValueError, match=r"method_options for 'y' \(2l.pmm\): " + message):
        bi.impute(small(), method={"y": "2l.pmm"}, cluster="g", m=1, maxit=1, seed=1,
                  method_options={"y": options})
    assert visits == []


def test_a_good_value_is_used():
    imp = bi.impute(small(), method={"y": "2l.pmm"}, cluster="g", m=1, maxit=1, seed=1,
                    method_options={"y": {"donors": 2, "re_scale": 0.25}})
    assert imp.spec.method_options["y"]["donors"] == 2


@pytest.mark.parametrize("constraint, good, bad", [
    (Integer(1), [1, 7, np.int64(3)], [0, 2.5, True, "1"]),
    (Integer(0, 3), [0, 3], [-1, 4]),
    (Real(0.0, open_low=True), [0.1, 2, np.float64(3.0)], [0.0, -1, float("inf"), False, "1"]),
    (Real(0.0, 1.0, open_low=True, open_high=True), [0.5], [0.0, 1.0]),
    (OneOf("a", "b"), ["a", "b"], ["c", None, ["a"]]),
    (NoneOr(Text()), [None, "g"], [3]),
])
def test_constraints_accept_and_refuse(constraint, good, bad):
    assert all(constraint.accepts(v) for v in good)
    assert not any(constraint.accepts(v) for v in bad)


def test_describe_method_lists_options_and_priors_under_given_options():
    description = bi.describe_method("2l.norm", {"heterogeneous": True, "re_scale": 0.25})
    assert description.family == "gaussian"
    assert "heterogeneous" in set(description.options["option"])
    parameters = [p.parameter for p in description.priors]
    assert "sigma2_j" in parameters and "sigma2" not in parameters
    assert "A=0.25" in str(description.priors[-1])
    with pytest.raises(ValueError, match="donors"):
        bi.describe_method("2l.pmm", {"donors": 0})
    assert bi.describe_method("2l.binary").name == "2l.bin"
