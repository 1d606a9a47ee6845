"""Correlation heat map: cell texts are the rounded correlations."""

import numpy as np
import pytest

import bayesimpute as bi


def test_corr_cell_texts_equal_rounded_correlations():
    df = bi.datasets.load_obesity()
    variables = ["Time", "Height", "Age", "Weight", "BMI"]
    fig = bi.plot_corr(df, variables)
    ax = fig.axes[0]
    expected = df[variables].corr().round(2).to_numpy()
    written = np.array([float(t.get_text()) for t in ax.texts]).reshape(expected.shape)
    np.testing.assert_allclose(written, expected)
    assert [t.get_text() for t in ax.get_yticklabels()] == variables
    image = ax.images[0]
    assert image.norm.vmin == -1 and image.norm.vmax == 1  # centred at 0
    assert len(fig.axes) == 2  # heat map and colour bar


def test_corr_default_variables_and_options():
    df = bi.datasets.load_impact("systematic")
    ax = bi.plot_corr(df, digits=1, diagonal=False).axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert "motor_score" in labels and "ct" not in labels and "name" not in labels
    n = len(labels)
    assert len(ax.texts) == n * n - n  # diagonal blank
    assert all(len(t.get_text().split(".")[1]) == 1 for t in ax.texts)


def test_corr_constant_column_left_blank():
    df = bi.datasets.load_popmis()
    ax = bi.plot_corr(df, ["popular", "const", "sex"]).axes[0]
    assert len(ax.texts) == 4  # only popular/sex pairs are defined


def test_corr_errors():
    df = bi.datasets.load_obesity()
    with pytest.raises(ValueError, match="'FamOb'"):
        bi.plot_corr(df, ["Age", "FamOb"])
    with pytest.raises(ValueError, match="'Mass'"):
        bi.plot_corr(df, ["Age", "Mass"])
    with pytest.raises(TypeError):
        bi.plot_corr([1, 2, 3])
