import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi


@pytest.fixture()
def frame():
    rng = np.random.default_rng(1)
    n = 400
    a = rng.normal(size=n)
    b = a + rng.normal(scale=0.5, size=n)  # strongly correlated with a
    noise = rng.normal(size=n)  # unrelated
    c = rng.normal(size=n)
    data = pd.DataFrame({"a": a, "b": b, "noise": noise, "c": c, "g": np.repeat(np.arange(20), 20)})
    data.loc[:99, "b"] = np.nan
    # c's missingness is driven by noise: noise predicts r_c although not c itself
    data.loc[noise > 1.0, "c"] = np.nan
    return data


def test_correlated_predictors_kept_and_unrelated_dropped(frame):
    pred = bi.quickpred(frame.drop(columns="g"), mincor=0.1)
    assert pred.loc["b", "a"] == 1
    assert pred.loc["b", "noise"] == 0
    assert pred.loc["c", "noise"] == 1  # through the response indicator of c
    assert (pred.loc[["a", "noise"]] == 0).all().all()  # complete variables get empty rows
    assert np.all(np.diag(pred) == 0)


def test_include_exclude_minpuc_and_cluster(frame):
    pred = bi.quickpred(frame, include=["noise"], exclude=["a"], cluster="g")
    assert pred.loc["b", "noise"] == 1 and pred.loc["b", "a"] == 0
    assert pred.loc["b", "g"] == -2 and pred.loc["c", "g"] == -2
    both_missing = frame.assign(d=frame["b"])  # d missing exactly where b is: puc = 0
    pred = bi.quickpred(both_missing, minpuc=0.5, cluster="g")
    assert pred.loc["b", "d"] == 0


def test_unknown_names_are_errors(frame):
    with pytest.raises(ValueError, match="include"):
        bi.quickpred(frame, include=["nope"])
