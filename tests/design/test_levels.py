"""Cluster levels: nesting read from the data, parents, chains of nested levels."""

import numpy as np
import pandas as pd

from bayesimpute.design.levels import chains, is_nested, make_level, row_levels


def frame():
    rng = np.random.default_rng(0)
    school = np.repeat(np.arange(6), 12)
    klass = np.repeat(np.arange(18), 4)          # 3 classes per school, unique labels
    district = school // 3                         # 2 districts
    other = rng.integers(0, 5, len(school))       # crossed with everything
    return pd.DataFrame({"school": school, "klass": klass, "district": district, "other": other})


def test_nesting_is_read_from_the_data():
    f = frame()
    school, klass, other = make_level(f["school"]), make_level(f["klass"]), make_level(f["other"])
    assert is_nested(klass, school) and not is_nested(school, klass)
    assert not is_nested(klass, other) and not is_nested(other, school)


def test_restarting_labels_are_not_nested():
    f = frame()
    restarting = make_level((f["klass"] % 3).rename("klass"))  # class 0, 1, 2 in every school
    assert not is_nested(restarting, make_level(f["school"]))


def test_parents_and_chains():
    f = frame()
    levels = row_levels([make_level(f[c]) for c in ["district", "klass", "other", "school"]])
    names = [lv.name for lv in levels]
    assert names == ["klass", "school", "other", "district"]  # most clusters first
    parents = {lv.name: lv.parent for lv in levels}
    assert parents == {"klass": "school", "school": "district", "other": None, "district": None}
    assert [[names[k] for k in c] for c in chains(levels)] == [["klass", "school", "district"],
                                                               ["other"]]


def test_make_level_keeps_labels_sorted():
    level = make_level(pd.Series(["b", "a", "b", "c"], name="g"))
    assert list(level.labels) == ["a", "b", "c"] and level.codes.tolist() == [1, 0, 1, 2]
