"""Sensitivity analysis: rho-prior sweeps, delta adjustment, tipping point, plot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from bayesimpute import sensitivity

FORMULA = "y ~ x + (1 | g)"


@pytest.fixture(scope="module")
def mnar_data() -> pd.DataFrame:
    """Five clusters; y missing more often when its error is high (rho > 0 selection)."""
    rng = np.random.default_rng(8)
    g = np.repeat(np.arange(5), 64)
    x, t = rng.normal(size=len(g)), rng.normal(size=len(g))
    e_sel = rng.normal(size=len(g))
    y = 1.0 + 0.5 * x + rng.normal(0, 0.3, 5)[g] + 0.6 * e_sel + 0.8 * rng.normal(size=len(g))
    observed = 0.3 + 0.8 * t + e_sel > 0
    return pd.DataFrame({"g": g, "x": x, "t": t, "y": np.where(observed, y, np.nan)})


def _model(data: pd.DataFrame):
    meth = pd.Series("", index=data.columns)
    meth["y"] = "2l.heckman"
    pred = pd.DataFrame(0, index=data.columns, columns=data.columns)
    pred.loc["y", ["g", "x", "t"]] = [-2, 1, -3]
    return {"method": meth, "predictor_matrix": pred, "m": 2, "maxit": 2, "seed": 4}


def test_delta_sweep_shifts_imputations(mnar_data):
    table = sensitivity.delta_sweep(mnar_data, variable="y", deltas=[0.0, 1.0, 2.0],
                                    analysis=FORMULA, **_model(mnar_data))
    assert list(table.columns[:2]) == ["delta", "term"]
    assert set(table["term"]) >= {"Intercept", "x"}
    means = table.groupby("delta")["mean_imputed"].first()
    # same seed: the Heckman fit uses only the observed y, so the chains coincide and the
    # post hook moves every imputed value by delta
    assert means[1.0] - means[0.0] == pytest.approx(1.0, abs=0.3)
    assert means[2.0] - means[0.0] == pytest.approx(2.0, abs=0.3)
    intercept = table[table["term"] == "Intercept"].set_index("delta")["estimate"]
    assert intercept[0.0] < intercept[1.0] < intercept[2.0]
    assert (table["conf_low"] < table["estimate"]).all()
    assert (table["estimate"] < table["conf_high"]).all()


def test_multiplicative_delta_and_bad_scale(mnar_data):
    with pytest.raises(ValueError, match="scale"):
        sensitivity.delta_sweep(mnar_data, variable="y", deltas=[1.0], analysis=FORMULA,
                                scale="log", **_model(mnar_data))


def test_rho_prior_sweep_orders_imputations(mnar_data):
    table = sensitivity.rho_prior_sweep(
        mnar_data, variable="y", priors=[-0.6, 0.6, ("normal_atanh", 0.0, 1.0)],
        analysis=FORMULA, **_model(mnar_data),
    )
    assert list(table["setting"].unique()) == ["rho = -0.6", "rho = 0.6", "normal_atanh(0, 1)"]
    means = table.groupby("setting", sort=False)["mean_imputed"].first()
    # rho > 0: the observed rows have high errors, so the missing values are imputed lower
    assert means["rho = 0.6"] < means["rho = -0.6"] - 0.3


def _table(deltas, lows, highs, term="x"):
    return pd.DataFrame({"delta": deltas, "term": term, "estimate": np.add(lows, highs) / 2,
                         "conf_low": lows, "conf_high": highs})


def test_tipping_point_interpolates():
    table = _table([-2.0, -1.0, 0.0, 1.0, 2.0], [-0.5, 0.1, 0.4, 0.7, 1.0],
                   [0.5, 1.1, 1.4, 1.7, 2.0])
    # the lower bound crosses 0 between delta -2 (-0.5) and -1 (0.1): at -1 - 0.1/0.6
    assert sensitivity.tipping_point(table, "x") == pytest.approx(-1 - 1 / 6)


def test_tipping_point_either_direction_or_none():
    never = _table([0.0, 1.0], [0.2, 0.4], [1.0, 1.2])
    assert np.isnan(sensitivity.tipping_point(never, "x"))
    # interval covers 0 at delta 0 and leaves it: lower bound -0.2 -> 0.4, crossing at 1/3
    becomes = _table([0.0, 1.0], [-0.2, 0.4], [1.0, 1.2])
    assert sensitivity.tipping_point(becomes, "x") == pytest.approx(1 / 3)
    with pytest.raises(KeyError, match="term"):
        sensitivity.tipping_point(never, "nope")


def test_plot_sensitivity_numeric_and_labelled():
    table = _table([0.0, 1.0, 2.0], [0.1, 0.3, 0.5], [0.9, 1.1, 1.3])
    fig = sensitivity.plot_sensitivity(table, "x", null=0.0, reference={"x": 0.5})
    ax = fig.axes[0]
    assert ax.get_title() == "x" and ax.get_xlabel() == "delta"
    assert np.allclose(ax.lines[0].get_ydata(), table["estimate"])
    labelled = table.assign(setting=["a", "b", "c"]).drop(columns="delta")
    fig = sensitivity.plot_sensitivity(labelled)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "b", "c"]
