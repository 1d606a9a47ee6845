"""find_default_method: micemd's thresholds applied to bayesimpute's 2l methods."""

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi
from bayesimpute.defaults import find_default_method


def frame(n_clusters, per_cluster, seed=0, share_missing=0.2):
    rng = np.random.default_rng(seed)
    n = n_clusters * per_cluster
    g = np.repeat(np.arange(n_clusters), per_cluster)
    df = pd.DataFrame({
        "g": g,
        "x": rng.normal(size=n),
        "b": rng.integers(0, 2, n).astype(float),
        "f": pd.Categorical(rng.choice(["a", "b", "c"], n)),
        "o": pd.Categorical(rng.choice(["lo", "mid", "hi"], n), categories=["lo", "mid", "hi"],
                            ordered=True),
        "count": pd.array(rng.poisson(3, n), dtype="Int64"),
        "level2": np.repeat(rng.normal(size=n_clusters), per_cluster),
        "level2_bin": np.repeat(rng.integers(0, 2, n_clusters), per_cluster).astype(float),
        "level2_f": pd.Categorical(np.repeat(rng.choice(["u", "v", "w"], n_clusters),
                                             per_cluster)),
        "level2_o": pd.Categorical(np.repeat(rng.choice(["lo", "mid", "hi"], n_clusters),
                                             per_cluster), categories=["lo", "mid", "hi"],
                                   ordered=True),
        "complete": rng.normal(size=n),
    })
    for column in ["x", "b", "f", "o", "count", "level2", "level2_bin", "level2_f", "level2_o"]:
        df.loc[rng.random(n) < share_missing, column] = np.nan if column != "count" else pd.NA
    return df


def test_types_map_to_two_level_methods():
    methods = find_default_method(frame(10, 150), cluster="g")
    assert methods.to_dict() == {
        "g": "", "x": "2l.norm", "b": "2l.bin", "f": "2l.polyreg", "o": "2l.polr",
        "count": "2l.pois", "level2": "2lonly.pmm", "level2_bin": "2lonly.logreg",
        "level2_f": "2lonly.polyreg", "level2_o": "2lonly.polr", "complete": "",
    }
    assert set(methods.attrs["reasons"]) == {"x", "b", "f", "o", "count", "level2",
                                             "level2_bin", "level2_f", "level2_o"}
    assert "cluster-level" in methods.attrs["reasons"]["level2_f"]


def test_make_method_and_find_default_method_agree_on_cluster_level_variables():
    data = frame(10, 150)
    micemd_style = find_default_method(data, cluster="g")
    mice_style = bi.make_method(data, cluster="g")
    for column in ["level2", "level2_bin", "level2_f", "level2_o"]:
        assert micemd_style[column] == mice_style[column], column


def test_chance_constancy_is_not_taken_for_a_cluster_level_variable():
    # a row-level binary observed twice in each of 8 clusters, constant in each by chance:
    # with share 0.9 of its commonest value that happens with probability about 0.9**8
    data = pd.DataFrame({"g": np.repeat(np.arange(8), 3),
                         "b": np.tile([1.0, 1.0, np.nan], 8),
                         "x": np.arange(24.0)})
    data.loc[[0, 1], "b"] = 0.0
    assert find_default_method(data, cluster="g")["b"] == "2l.bin"
    assert bi.make_method(data, cluster="g")["b"] == "2l.bin"


@pytest.mark.parametrize("n_clusters, per_cluster", [(5, 300), (30, 20)])
def test_few_or_small_clusters_give_pmm(n_clusters, per_cluster):
    # 5 clusters < I_small = 7; 20 per cluster < ni_small = 100 in all clusters > prop_small
    assert find_default_method(frame(n_clusters, per_cluster), cluster="g")["x"] == "2l.pmm"


def test_missingness_per_cluster_counts():
    # large clusters, but x is mostly missing in 5 of 10 clusters: 50% "small" > 0.4
    df = frame(10, 150, share_missing=0.0)
    df.loc[(df["g"] < 5) & (np.arange(len(df)) % 10 != 0), "x"] = np.nan
    methods = find_default_method(df, cluster="g")
    assert methods["x"] == "2l.pmm"
    assert "50% with fewer than 100" in methods.attrs["reasons"]["x"]


def test_one_cluster_gives_single_level_methods():
    df = frame(1, 200)
    methods = find_default_method(df, cluster="g")
    assert methods["b"] == "logreg" and methods["f"] == "polyreg" and methods["x"] == "pmm"


def test_impact_defaults_are_native_categorical_methods():
    methods = find_default_method(bi.datasets.load_impact("systematic"), cluster="name")
    assert methods["ct"] == "2l.polyreg" and methods["pupil"] == "2l.polyreg"
    assert all(methods[v] == "2l.bin" for v in ["hypox", "hypots", "tsah", "edh"])
    assert methods["mort"] == "" and methods["name"] == ""


def test_bad_cluster_column_is_named():
    df = frame(3, 10)
    with pytest.raises(ValueError, match="'nope'"):
        find_default_method(df, cluster="nope")
    df.loc[0, "g"] = np.nan
    with pytest.raises(ValueError, match="'g' has 1 missing"):
        find_default_method(df, cluster="g")
