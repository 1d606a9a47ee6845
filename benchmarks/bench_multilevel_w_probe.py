"""Why the crossed simulation's primary-level w comes out attenuated (bench_multilevel_sim.py).

In the crossed design (40 primary schools, w at primary level, about 28 of them observing
w) the pooled coefficient of w under ml.norm lies below the complete-data fit. This probe
asks whether that is ml.norm or the imputation problem itself. The crossed design, with x
restored (only w missing), is imputed three ways and analysed by the simulation's model:

* ``ml``: ml.norm with both identifiers, every predictor coded 3, as in the simulation
  (w is imputed at its level: primary-school means of y and x, and their secondary-school
  means averaged over the school's pupils);
* ``norm_draw``: an independent textbook Bayesian linear regression (mice's ``norm``: sigma2
  from its scaled inverse chi-square, beta from its normal posterior) of w on the same four
  aggregates of the observed schools;
* ``norm_fixed``: the same regression at its least-squares fit, without parameter draws
  (improper: it shows how much of the gap the parameter uncertainty makes).

Each row is the mean of the m = 5 estimates of w minus the complete-data estimate of the
same replication (paired, so the Monte-Carlo error is that of the difference).

Run: ``python benchmarks/bench_multilevel_w_probe.py FIRST LAST`` (replication seeds); rows go
to results/multilevel_w_probe_runs_FIRST.csv; ``... 0 0`` summarises every saved file into
results/multilevel_w_probe.md.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_multilevel_sim as sim  # noqa: E402
from _common import RESULTS, write_table  # noqa: E402

M = 5
FORMULA = sim.FORMULA["crossed"]


def primary_aggregates(data: pd.DataFrame) -> pd.DataFrame:
    """Per primary school: mean y and x, their secondary-school means averaged, and w."""
    by_primary = data.groupby("primary")
    secondary_means = data.groupby("secondary")[["y", "x"]].transform("mean")
    return pd.DataFrame({
        "y": by_primary["y"].mean(), "x": by_primary["x"].mean(),
        "y_secondary": secondary_means["y"].groupby(data["primary"]).mean(),
        "x_secondary": secondary_means["x"].groupby(data["primary"]).mean(),
        "w": by_primary["w"].first(),
    })


def regression_imputations(data: pd.DataFrame, rng: np.random.Generator,
                           draw: bool) -> list[pd.DataFrame]:
    """m completed data sets, w imputed per primary school from the aggregates."""
    units = primary_aggregates(data)
    X = np.column_stack([np.ones(len(units)),
                         units[["y", "x", "y_secondary", "x_secondary"]].to_numpy()])
    observed = units["w"].notna().to_numpy()
    X_obs, w_obs = X[observed], units["w"].to_numpy()[observed]
    gram = X_obs.T @ X_obs
    beta_hat = np.linalg.solve(gram, X_obs.T @ w_obs)
    residual = w_obs - X_obs @ beta_hat
    df = len(w_obs) - X.shape[1]
    completed = []
    for _ in range(M):
        if draw:
            sigma2 = residual @ residual / rng.chisquare(df)
            chol = np.linalg.cholesky(np.linalg.inv(gram) * sigma2)
            beta = beta_hat + chol @ rng.standard_normal(len(beta_hat))
        else:
            sigma2, beta = residual @ residual / df, beta_hat
        w = units["w"].to_numpy().copy()
        noise = np.sqrt(sigma2) * rng.standard_normal((~observed).sum())
        w[~observed] = X[~observed] @ beta + noise
        per_row = pd.Series(w, index=units.index).reindex(data["primary"]).to_numpy()
        completed.append(data.assign(w=per_row))
    return completed


def mean_w(frames: list[pd.DataFrame]) -> float:
    import bayesimpute as bi

    return float(np.mean([fit.params["w"] for fit in bi.analyze(frames, FORMULA)]))


def run_replication(seed: int) -> dict:
    import bayesimpute as bi

    complete, data = sim.simulate_crossed(seed)
    data = data.assign(x=complete["x"])
    rng = np.random.default_rng(seed)
    row = {"replication": seed, "complete": mean_w([complete])}
    row["norm_draw"] = mean_w(regression_imputations(data, rng, draw=True))
    row["norm_fixed"] = mean_w(regression_imputations(data, rng, draw=False))
    predictors = sim.predictor_matrix(data, sim.impute_methods("crossed")["ml"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = bi.impute(data, cluster=["primary", "secondary"], method={"w": "ml.norm"},
                        predictor_matrix=predictors, m=M, maxit=2, seed=seed)
    row["ml"] = mean_w([imp.complete(k) for k in range(M)])
    return row


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    def paired(a: pd.Series, b: pd.Series, label: str) -> dict:
        gap = a - b
        return {"comparison": label, "mean difference": round(gap.mean(), 4),
                "mc_se": round(gap.std() / np.sqrt(len(gap)), 4), "replications": len(gap)}

    rows = [paired(runs[c], runs["complete"], f"{c} - complete")
            for c in ("ml", "norm_draw", "norm_fixed")]
    rows.append(paired(runs["ml"], runs["norm_draw"], "ml - norm_draw"))
    rows.append(paired(runs["norm_draw"], runs["norm_fixed"], "norm_draw - norm_fixed"))
    return pd.DataFrame(rows)


def main() -> None:
    threadpool_limits(1)
    first, last = int(sys.argv[1]), int(sys.argv[2])
    if last >= first > 0:
        rows = pd.DataFrame([run_replication(seed) for seed in range(first, last + 1)])
        rows.to_csv(RESULTS / f"multilevel_w_probe_runs_{first}.csv", index=False)
    files = sorted(RESULTS.glob("multilevel_w_probe_runs_*.csv"))
    runs = pd.concat([pd.read_csv(f) for f in files]).drop_duplicates("replication")
    notes = [
        "Crossed design of bench_multilevel_sim.py with x restored: only w (primary level) "
        "missing; m = 5; the coefficient of w, mean of the m fits minus the complete-data fit.",
        "ml: ml.norm (maxit = 2: w is the only incomplete variable); norm_draw: Bayesian linear "
        "regression of w on the same primary-level aggregates; norm_fixed: that regression "
        "without parameter draws (improper).",
    ]
    write_table("multilevel_w_probe", summarise(runs), notes)


if __name__ == "__main__":
    main()
