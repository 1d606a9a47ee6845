"""Missing-data pattern plot: rows, counts and labels match md_pattern."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle

import bayesimpute as bi
from bayesimpute.plots.pattern import MISSING_COLOUR


def _labels(ticklabels) -> list[str]:
    return [t.get_text() for t in ticklabels]


def _missing_cells(ax) -> int:
    return sum(
        isinstance(p, Rectangle)
        and p.get_fill()
        and p.get_facecolor()[:3] == pytest.approx(to_rgb(MISSING_COLOUR))
        for p in ax.patches
    )


@pytest.fixture(scope="module")
def impact() -> pd.DataFrame:
    return bi.datasets.load_impact("systematic")


def test_pattern_rows_counts_and_margins():
    df = pd.DataFrame(
        {"a": [1, 2, 3, 4, 5, 6], "b": [1, 2, 3, 4, 5, None], "c": [1, 2, 3, None, None, None]}
    )
    fig = bi.plot_pattern(df)
    ax = fig.axes[0]
    assert _labels(ax.get_yticklabels()) == ["3", "2", "1"]  # pattern frequencies
    assert _labels(ax.get_xticklabels()) == ["0", "1", "3"]  # missing per column
    top, right = ax.child_axes
    assert _labels(top.get_xticklabels()) == ["a", "b", "c"]
    assert _labels(right.get_yticklabels()) == ["0", "1", "2"]  # missing per pattern
    assert _missing_cells(ax) == 3  # one cell in pattern 2, two in pattern 3


def test_pattern_npat_keeps_most_frequent(impact):
    table = bi.md_pattern(impact).iloc[:-1]
    fig = bi.plot_pattern(impact, npat=5)
    ax = fig.axes[0]
    counts = [int(t) for t in _labels(ax.get_yticklabels())]
    assert len(counts) == 5
    assert sorted(counts, reverse=True) == sorted(table["count"], reverse=True)[:5]
    assert "5 most frequent of 61" in ax.get_title()
    # Column margins still count every row.
    assert _labels(ax.get_xticklabels())[-1] == str(impact["ct"].isna().sum())


def test_pattern_all_patterns_by_default(impact):
    ax = bi.plot_pattern(impact).axes[0]
    assert len(ax.get_yticklabels()) == len(bi.md_pattern(impact)) - 1


def test_pattern_cluster_column(impact):
    fig = bi.plot_pattern(impact, cluster="name", npat=3, rotate=True)
    ax = fig.axes[0]
    top = ax.child_axes[0]
    names = _labels(top.get_xticklabels())
    assert names[-1] == "clusters" and "name" not in names
    assert top.get_xticklabels()[0].get_rotation() == 90
    texts = [t.get_text() for t in ax.texts]
    # The complete pattern cannot occur where ct was never measured: 12 of 15 studies.
    assert texts[0] == "12/15"
    assert all(t.endswith("/15") for t in texts)


def test_pattern_bad_input(impact):
    with pytest.raises(TypeError, match="DataFrame"):
        bi.plot_pattern(impact.to_numpy())
    with pytest.raises(ValueError, match="npat"):
        bi.plot_pattern(impact, npat=0)
    with pytest.raises(ValueError, match="'study'"):
        bi.plot_pattern(impact, cluster="study")


def test_pattern_leaves_input_alone(impact):
    before = impact.copy()
    bi.plot_pattern(impact, cluster="name", npat=2)
    pd.testing.assert_frame_equal(impact, before)
    assert np.all(impact.columns == before.columns)
