"""The small data set of the engine's run tests (checkpoints, keep/store, Dask): two
incomplete continuous variables in 12 clusters of 10."""

import numpy as np
import pandas as pd


def two_incomplete_variables(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 120
    data = pd.DataFrame({"g": np.repeat(np.arange(12), 10), "x": rng.normal(size=n),
                         "y": rng.normal(size=n)})
    data.loc[rng.random(n) < 0.3, "x"] = np.nan
    data.loc[rng.random(n) < 0.3, "y"] = np.nan
    return data
