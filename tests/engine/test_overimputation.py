"""``where`` on observed cells (over-imputation), mice's rule.

A flagged observed cell keeps its observed value in the working data (so the other
variables' models see the observed value), is left out of its own variable's fit, and gets
imputations that are recorded and returned by ``complete()``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi
from bayesimpute.design.coding import VariableKind
from bayesimpute.methods import Draw, ImputationMethod, MethodData, register_method

N = 300


def make_data(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=N)
    y = 1.0 + 2.0 * x + rng.normal(size=N)
    data = pd.DataFrame({"x": x, "y": y})
    data.loc[rng.random(N) < 0.2, "y"] = np.nan
    return data


def overimpute_where(data: pd.DataFrame, column: str, share: float, seed: int) -> pd.DataFrame:
    """The missing cells plus a random ``share`` of the observed cells of ``column``."""
    rng = np.random.default_rng(seed)
    where = data.isna()
    observed = np.flatnonzero(data[column].notna())
    flagged = rng.choice(observed, size=int(share * len(observed)), replace=False)
    where.iloc[flagged, where.columns.get_loc(column)] = True
    return where


@register_method("test.record")
class RecordingMethod(ImputationMethod):
    """Imputes the observed mean and records every MethodData it was handed."""

    kinds = frozenset({VariableKind.CONTINUOUS})
    seen: ClassVar[list[MethodData]] = []

    def update(self, data: MethodData, rng: np.random.Generator) -> Draw:
        type(self).seen.append(data)
        mean = float(np.mean(data.y[data.observed]))
        return Draw(np.full(int(data.impute.sum()), mean))


def test_flagged_observed_cells_stay_observed_in_the_working_data():
    data = make_data()
    where = overimpute_where(data, "x", 0.1, seed=1)
    flagged = where["x"].to_numpy() & data["x"].notna().to_numpy()
    RecordingMethod.seen.clear()
    imp = bi.impute(data, method={"x": "norm", "y": "test.record"}, where=where, m=1, maxit=3,
                    seed=2)
    assert len(RecordingMethod.seen) == 3
    for seen in RecordingMethod.seen:
        x_column = seen.X[:, seen.x_names.index("x")]
        # y's model sees the observed x, never an imputation of it
        np.testing.assert_array_equal(x_column[flagged], data["x"].to_numpy()[flagged])
    # the imputations of the flagged x cells are recorded and returned by complete()
    completed = imp.complete(0)
    draws = imp.idata.posterior_predictive["x"].isel(chain=0, draw=-1).to_numpy()
    np.testing.assert_array_equal(completed.loc[where["x"], "x"].to_numpy(), draws)
    assert not np.allclose(completed.loc[flagged, "x"], data.loc[flagged, "x"])


def test_own_fit_uses_unflagged_observed_rows_only():
    data = make_data()
    where = overimpute_where(data, "y", 0.1, seed=3)
    flagged = where["y"].to_numpy() & data["y"].notna().to_numpy()
    RecordingMethod.seen.clear()
    bi.impute(data, method={"y": "test.record"}, where=where, m=1, maxit=2, seed=4)
    for seen in RecordingMethod.seen:
        assert not seen.observed[flagged].any()
        assert seen.impute[flagged].all()
        # and the target there still holds the observed values (no fill overwrote them)
        np.testing.assert_array_equal(seen.y[flagged], data["y"].to_numpy()[flagged])
        np.testing.assert_array_equal(seen.observed, data["y"].notna().to_numpy() & ~flagged)


def test_overimputations_centre_on_the_unflagged_fit():
    """micemd's overimpute use: imputations of observed cells scatter around the
    predictions of the model fitted without them, with the model's residual spread."""
    data = make_data(seed=5)
    where = overimpute_where(data, "y", 0.1, seed=6)
    flagged = where["y"].to_numpy() & data["y"].notna().to_numpy()
    fit_rows = data["y"].notna().to_numpy() & ~flagged
    design = np.column_stack([np.ones(N), data["x"]])
    coef, residual, *_ = np.linalg.lstsq(design[fit_rows], data["y"][fit_rows], rcond=None)
    sigma = np.sqrt(residual[0] / (fit_rows.sum() - 2))
    prediction = design[flagged] @ coef

    imp = bi.impute(data, method={"y": "norm"}, where=where, m=4, maxit=30, seed=7)
    draws = imp.idata.posterior_predictive["y"].isel(draw=slice(5, None))
    rows = np.flatnonzero(where["y"].to_numpy())
    position = np.isin(rows, np.flatnonzero(flagged))
    imputed = draws.to_numpy()[:, :, position]  # (chain, draw, flagged rows)
    errors = imputed - prediction
    # mean error: each draw adds N(0, sigma^2) noise plus posterior uncertainty of the line;
    # 4 x 25 draws of ~22 rows; the line's uncertainty is shared, so bound with its s.e.
    line_se = sigma * np.sqrt(np.mean(np.sum((design[flagged] @ np.linalg.inv(
        design[fit_rows].T @ design[fit_rows])) * design[flagged], axis=1)))
    assert abs(errors.mean()) < 4 * line_se
    # spread around the line: the residual s.d. (plus a little parameter uncertainty)
    assert errors.std() == pytest.approx(sigma, rel=0.1)
    # the coefficients match those of the unflagged fit (standardised scale -> raw slope)
    beta = imp.idata.posterior["y_beta"].isel(draw=slice(5, None)).mean(("chain", "draw"))
    slope = float(beta.sel(y_x="x")) * data["y"][fit_rows].std(ddof=0) / data["x"].std(ddof=0)
    slope_se = sigma / np.sqrt(np.sum((data["x"][fit_rows] - data["x"][fit_rows].mean()) ** 2))
    assert slope == pytest.approx(coef[1], abs=3 * slope_se)


def test_selection_model_refuses_to_overimpute():
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"g": np.repeat(np.arange(10), 20), "x": rng.normal(size=200)})
    data["y"] = data["x"] + rng.normal(size=200)
    data.loc[rng.random(200) < 0.3, "y"] = np.nan
    where = overimpute_where(data, "y", 0.1, seed=1)
    with pytest.raises(ValueError, match="over-impute"):
        bi.impute(data, method={"y": "2l.heckman"}, cluster="g", where=where, m=1, maxit=1)
