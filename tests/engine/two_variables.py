"""The small data set of the engine's run tests (checkpoints, keep/store, Dask): two
incomplete continuous variables in clusters of 10 (12 unless told)."""

import numpy as np
import pandas as pd


def two_incomplete_variables(seed: int, n_clusters: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 10 * n_clusters
    data = pd.DataFrame({"g": np.repeat(np.arange(n_clusters), 10), "x": rng.normal(size=n),
                         "y": rng.normal(size=n)})
    data.loc[rng.random(n) < 0.3, "x"] = np.nan
    data.loc[rng.random(n) < 0.3, "y"] = np.nan
    return data
