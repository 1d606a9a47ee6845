"""Influx-outflux plot: one labelled point per distinct (influx, outflux)."""

import numpy as np
import pytest

import bayesimpute as bi


def test_flux_points_and_labels_match_flux():
    df = bi.datasets.load_obesity()
    stats = bi.flux(df)
    fig = bi.plot_flux(df)
    ax = fig.axes[0]
    points = ax.collections[0].get_offsets()
    labels = {t.get_text().replace("\n", " ") for t in ax.texts}
    # Complete variables coincide at (0, 1) and share one label; so do Weight and BMI.
    assert "Cluster, Time, Gender" in labels and "Weight, BMI" in labels
    assert len(points) == len(labels) == 5
    for text in ax.texts:
        name = text.get_text().split(",")[0]
        point = (stats.loc[name, "influx"], stats.loc[name, "outflux"])
        assert tuple(text.xy) == pytest.approx(point)
    assert ax.get_xlabel() == "Influx" and ax.get_ylabel() == "Outflux"
    np.testing.assert_allclose(sorted(points[:, 0]), sorted(set(stats["influx"].round(10))))


def test_flux_errors():
    complete = bi.datasets.load_impact("complete")
    with pytest.raises(ValueError, match="no missing values"):
        bi.plot_flux(complete)
    with pytest.raises(ValueError, match="'nope'"):
        bi.plot_flux(bi.datasets.load_popmis(), local=["popular", "nope"])
