"""Every registered method's imputations on one small frame, for the same-draws test.

``python tests/reference/method_draws.py`` rewrites ``method_draws.csv`` from the code as it
stands; it was run once before the methods were reorganised by family (issue 25), so the
contract suite ``tests/methods/test_contract.py`` shows that moving code changed no draw. Rerun it only
when a method's model or step changes on purpose, and say so in the commit. Rerun for issue 26
(the scale moves of :mod:`bayesimpute.methods.core.scale_moves` in the 2l.*, ml.*, 2l.heckman
and 2l.smc steps): the rows of every other method stayed identical. Rerun for issue 26 again
(the exact Gibbs steps of polr, 2l.polr, 2lonly.polr, 2l.pois and 2l.nb replace NUTS as their
default sampler): only those rows changed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayesimpute as bi

OUT = Path(__file__).with_name("method_draws.csv")

#: target column of each registered (non-alias) method, and how it is called
CASES: dict[str, dict] = {
    "norm": {"target": "x"},
    "pmm": {"target": "x"},
    "2l.norm": {"target": "x"},
    "2l.pmm": {"target": "x"},
    "logreg": {"target": "b"},
    "2l.bin": {"target": "b"},
    "polyreg": {"target": "c"},
    "2l.polyreg": {"target": "c"},
    "polr": {"target": "o"},
    "2l.polr": {"target": "o"},
    "2l.pois": {"target": "k"},
    "2l.nb": {"target": "k"},
    "2lonly.norm": {"target": "w"},
    "2lonly.pmm": {"target": "w"},
    "2lonly.logreg": {"target": "wb"},
    "2lonly.polyreg": {"target": "wc"},
    "2lonly.polr": {"target": "wo"},
    "ml.norm": {"target": "x", "ml": True},
    "ml.pmm": {"target": "x", "ml": True},
    "ml.bin": {"target": "b", "ml": True},
    "ml.polyreg": {"target": "c", "ml": True},
    "2l.heckman": {"target": "x", "heckman": True},
    "2l.smc": {"target": "x", "options": {"analysis_model": "y ~ x + (1 | g)"}},
    "smc": {"target": "x", "options": {"analysis_model": "y ~ x"}},
}


def frame(seed: int = 20261207) -> pd.DataFrame:
    """96 rows in 12 clusters (g) within 4 schools (s); one column of each kind."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(12), 8)
    s = g // 3
    u = rng.normal(0, 0.6, 12)[g]
    x = u + rng.normal(size=96)
    y = 1 + 0.5 * x + u + rng.normal(size=96)
    w = rng.normal(size=12)[g]
    eta = 0.8 * x + u
    data = pd.DataFrame({
        "s": s, "g": g, "x": x, "y": y,
        "b": (eta + rng.logistic(size=96) > 0).astype(float),
        "c": pd.Categorical(np.select([eta < -0.5, eta < 0.5], ["p", "q"], "r")),
        "o": pd.Categorical(np.digitize(eta + rng.normal(size=96), [-1, 0, 1]),
                            categories=[0, 1, 2, 3], ordered=True),
        "k": rng.poisson(np.exp(0.5 + 0.4 * x)).astype(float),
        "t": rng.normal(size=96),
        "w": w,
        "wb": (w + rng.normal(size=12)[g] > 0).astype(float),
        "wc": pd.Categorical(np.array(["e", "f", "h"])[rng.integers(0, 3, 12)[g]]),
        "wo": pd.Categorical(rng.integers(0, 3, 12)[g], categories=[0, 1, 2], ordered=True),
    })
    return data


def incomplete(data: pd.DataFrame, target: str, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = data.copy()
    if target.startswith("w"):  # cluster-level: whole clusters missing
        missing = np.isin(out["g"], rng.choice(12, 4, replace=False))
    else:
        missing = rng.random(len(out)) < 0.3
    out.loc[missing, target] = np.nan
    return out


def run(name: str, case: dict, maxit: int = 2) -> bi.MultipleImputation:
    target = case["target"]
    data = incomplete(frame(), target)
    if case.get("ml"):
        data = data.drop(columns=["w", "wb", "wc", "wo"])
        return bi.impute(data, cluster=["s", "g"], method={target: name}, m=2, maxit=maxit, seed=5,
                         method_options={target: case.get("options", {})})
    pred = bi.make_predictor_matrix(data, cluster="g")
    if case.get("heckman"):
        pred.loc[target, "t"] = -3
    if name.endswith("smc"):
        pred.loc[target, "y"] = 0
    if name in ("norm", "pmm", "logreg", "polyreg", "polr", "smc"):
        pred.loc[target, "g"] = 0
    return bi.impute(data, method={target: name}, predictor_matrix=pred, m=2, maxit=maxit, seed=5,
                     method_options={target: case.get("options", {})})


def rows(name: str, imp: bi.MultipleImputation, target: str) -> list[dict]:
    out = []
    missing = imp.data[target].isna().to_numpy()
    for chain in range(imp.m):
        values = imp.complete(chain)[target].to_numpy()[missing]
        out += [{"method": name, "chain": chain, "what": "imputed", "index": i, "value": str(v)}
                for i, v in zip(np.flatnonzero(missing), values)]
    for var, array in imp.idata.posterior.data_vars.items():
        if var.startswith(target + "_"):
            vals = np.asarray(array.values, dtype=float)
            out.append({"method": name, "chain": -1, "what": var, "index": -1,
                        "value": repr(float(np.nansum(vals)))})
    return out


def main() -> None:
    records = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, case in CASES.items():
            records += rows(name, run(name, case), case["target"])
            print(name, flush=True)
    pd.DataFrame(records).to_csv(OUT, index=False)


if __name__ == "__main__":
    main()
