"""bayesimpute.method_table: one kind x level table behind every default method."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi
from bayesimpute.design.coding import VariableKind
from bayesimpute.method_table import DEFAULT_METHODS, Level, default_method_for
from bayesimpute.methods import get_method
from bayesimpute.methods.cluster_level.two_level_only import cluster_level_method


@pytest.mark.parametrize("kind", list(VariableKind))
@pytest.mark.parametrize("level", list(Level))
def test_every_entry_is_a_registered_method_for_its_kind(kind, level):
    method = get_method(default_method_for(kind, level))
    assert kind in method.kinds or method.name == "ml.pmm"  # ml.pmm matches ordered codes
    assert method.cluster_level == (level is Level.CLUSTER)


def columns(n_clusters: int = 8, per_cluster: int = 6) -> pd.DataFrame:
    """One incomplete row-level and one cluster-level column of every kind."""
    rng = np.random.default_rng(0)
    n = n_clusters * per_cluster
    row = {
        VariableKind.CONTINUOUS: rng.normal(size=n),
        VariableKind.BINARY: rng.integers(0, 2, n).astype(float),
        VariableKind.CATEGORICAL: pd.Categorical(rng.choice(list("abc"), n)),
        VariableKind.ORDERED: pd.Categorical(rng.choice(list("abc"), n), ordered=True),
    }
    per = {kind: np.repeat(values[rng.permutation(n)[:n_clusters]], per_cluster)
           for kind, values in row.items()}
    data = pd.DataFrame({"g": np.repeat(np.arange(n_clusters), per_cluster)})
    for kind in VariableKind:
        data[f"row_{kind.name}"] = row[kind]
        data[f"cluster_{kind.name}"] = pd.Series(per[kind]).astype(data[f"row_{kind.name}"].dtype)
        data.loc[[1, 20], [f"row_{kind.name}", f"cluster_{kind.name}"]] = np.nan
    return data


def test_make_method_find_default_method_and_cluster_level_method_read_it():
    data = columns()
    single = bi.make_method(data.drop(columns="g"))
    two = bi.make_method(data, cluster="g")
    micemd = bi.find_default_method(data, cluster="g")
    for kind in VariableKind:
        row, cluster = f"row_{kind.name}", f"cluster_{kind.name}"
        assert single[row] == DEFAULT_METHODS[kind][Level.SINGLE]
        assert two[row] == DEFAULT_METHODS[kind][Level.TWO]
        assert two[cluster] == micemd[cluster] == DEFAULT_METHODS[kind][Level.CLUSTER]
        assert cluster_level_method(kind) == DEFAULT_METHODS[kind][Level.CLUSTER]


def test_several_cluster_identifiers_take_the_several_level_column():
    data = columns().assign(region=lambda d: d["g"] // 4)
    method = bi.make_method(data, cluster=["g", "region"])
    for kind in VariableKind:
        assert method[f"row_{kind.name}"] == DEFAULT_METHODS[kind][Level.SEVERAL]
