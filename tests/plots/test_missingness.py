"""Missingness heat map: annotations equal the shares, systematic cells framed."""

import numpy as np
import pytest
from matplotlib.patches import Rectangle

import bayesimpute as bi


def test_missingness_annotations_equal_shares():
    df = bi.datasets.load_obesity()
    shares = bi.missingness_summary(df, cluster="Cluster").shares
    fig = bi.plot_missingness(df, cluster="Cluster")
    ax = fig.axes[0]
    written = np.array([t.get_text() for t in ax.texts]).reshape(shares.shape)
    expected = np.vectorize("{:.2f}".format)(shares.to_numpy())
    np.testing.assert_array_equal(written, expected)
    # ... which are the shares to two decimals.
    np.testing.assert_allclose(written.astype(float), shares.to_numpy(), atol=0.005 + 1e-9)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(shares.index)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3", "4", "5"]
    status = [t.get_text() for t in ax.child_axes[0].get_yticklabels()]
    assert status[list(shares.index).index("Weight")] == "systematic"


def test_missingness_frames_systematic_cells_impact():
    df = bi.datasets.load_impact("systematic")
    ax = bi.plot_missingness(df, cluster="name", incomplete_only=True).axes[0]
    variables = [t.get_text() for t in ax.get_yticklabels()]
    clusters = [t.get_text() for t in ax.get_xticklabels()]
    assert variables == ["pupil", "ct", "hypox", "hypots", "tsah", "edh"]
    frames = [p for p in ax.patches if isinstance(p, Rectangle) and not p.get_fill()]
    framed = {(variables[round(p.get_y() + 0.5)], clusters[round(p.get_x() + 0.5)]) for p in frames}
    assert framed == {("ct", "CSTAT"), ("ct", "HIT II"), ("ct", "NABIS")}


def test_missingness_many_clusters_not_annotated_by_default():
    fig = bi.plot_missingness(bi.datasets.load_popmis(), cluster="school", incomplete_only=True)
    ax = fig.axes[0]
    assert len(ax.texts) == 0
    assert [t.get_text() for t in ax.get_yticklabels()] == ["popular"]


def test_missingness_errors():
    df = bi.datasets.load_popmis()
    with pytest.raises(ValueError, match="'klas'"):
        bi.plot_missingness(df, cluster="klas")
    with pytest.raises(TypeError):
        bi.plot_missingness(df.to_dict(), cluster="school")
    with pytest.raises(ValueError, match="no variable"):
        bi.plot_missingness(df.drop(columns="popular"), cluster="school", incomplete_only=True)
