"""The lme4 / lmerTest / glmer reference fits written by benchmarks/r/reference_fits.R.

Every number the analysis tests compare against is read from tests/reference/ through this
module; the R script is the only thing that writes those files.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

import bayesimpute as bi

REFERENCE = Path(__file__).resolve().parents[1] / "reference"


@lru_cache(maxsize=None)
def table(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / name)


def fits() -> pd.DataFrame:
    return table("lme4_fits.csv").set_index("model")


def fixed(model: str) -> pd.DataFrame:
    frame = table("lme4_fixed.csv")
    return frame[frame["model"] == model].set_index("term")


def components(model: str) -> pd.Series:
    frame = table("lme4_varcorr.csv")
    rows = frame[frame["model"] == model]
    return pd.Series(rows["value"].to_numpy(dtype=float), index=rows["component"])


def theta(model: str) -> np.ndarray:
    return np.array([float(v) for v in fits().loc[model, "theta"].split()])


@lru_cache(maxsize=None)
def dataset(name: str) -> pd.DataFrame:
    """The rows R fitted (before its na.omit): shipped data through the loaders, or a
    simulated CSV."""
    if name == "popmis":
        return bi.datasets.load_popmis()
    if name == "brandsma":
        return bi.datasets.load_brandsma()
    if name == "obesity":
        return bi.datasets.load_obesity()
    if name == "impact":
        data = bi.datasets.load_impact("complete")
        # R fits motor_score as an unordered factor (treatment contrasts, as the published
        # tables); bayesimpute codes every categorical with treatment contrasts.
        return data
    return pd.read_csv(REFERENCE / f"sim_{name}.csv")


def spec(model: str) -> tuple[pd.DataFrame, str, str, bool]:
    row = fits().loc[model]
    return dataset(row["data"]), row["formula"], row["family"], bool(row["reml"])
