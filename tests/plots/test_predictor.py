"""Predictor-matrix plot: codes in the cells, methods beside the rows, legend in words."""

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi
from bayesimpute.plots import PREDICTOR_CODES


@pytest.fixture
def pred() -> pd.DataFrame:
    columns = ["Cluster", "Time", "Height", "Weight", "BMI"]
    matrix = pd.DataFrame(0, index=columns, columns=columns)
    matrix.loc["Height", ["Cluster", "Weight"]] = [-2, 2]
    matrix.loc["Weight", ["Cluster", "Time", "Height"]] = [-2, -3, -4]
    matrix.loc["BMI", ["Height", "Weight"]] = [1, 3]
    return matrix


@pytest.fixture
def method() -> pd.Series:
    return pd.Series(
        {
            "Cluster": "",
            "Time": "",
            "Height": "2l.pmm",
            "Weight": "2l.heckman",
            "BMI": "~ Weight / Height**2",
        }
    )


def test_pred_cells_methods_and_legend(pred, method):
    fig = bi.plot_pred(pred, method)
    ax = fig.axes[0]
    written = np.array([int(t.get_text()) for t in ax.texts]).reshape(pred.shape)
    np.testing.assert_array_equal(written, pred.to_numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == list(pred.index)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(pred.columns)
    methods = [t.get_text() for t in ax.child_axes[0].get_yticklabels()]
    not_imputed = ["(not imputed)", "(not imputed)"]
    assert methods == [*not_imputed, "2l.pmm", "2l.heckman", "~ Weight / Height**2"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [f"{code}: {PREDICTOR_CODES[code]}" for code in (-4, -3, -2, 0, 1, 2, 3)]
    assert "-3: selection equation only (exclusion restriction)" in legend
    # Each code has its own colour.
    image = ax.images[0]
    colours = {code: tuple(image.to_rgba(np.array([[code]]))[0, 0]) for code in PREDICTOR_CODES}
    assert len(set(colours.values())) == len(PREDICTOR_CODES)


def test_pred_omit_and_grey(pred, method):
    ax = bi.plot_pred(pred, method, not_imputed="omit").axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Height", "Weight", "BMI"]
    grey = bi.plot_pred(pred, method).axes[0]
    assert len(grey.patches) == 2  # one grey band per non-imputed row
    assert len(bi.plot_pred(pred, method, not_imputed="show").axes[0].patches) == 0


def test_pred_without_method_has_no_method_axis(pred):
    ax = bi.plot_pred(pred, label=False).axes[0]
    assert len(ax.child_axes) == 0 and len(ax.texts) == 0


def test_pred_rejects_bad_codes(pred):
    bad = pred.copy()
    bad.loc["Weight", "BMI"] = 5
    with pytest.raises(ValueError, match=r"\['Weight', 'BMI'\] = 5"):
        bi.plot_pred(bad)
    gap = pred.astype(float)
    gap.loc["Height", "Time"] = np.nan
    with pytest.raises(ValueError, match="'Height', 'Time'"):
        bi.plot_pred(gap)
    with pytest.raises(TypeError, match="DataFrame"):
        bi.plot_pred(pred.to_numpy())
    with pytest.raises(ValueError, match="not_imputed"):
        bi.plot_pred(pred, not_imputed="hide")
