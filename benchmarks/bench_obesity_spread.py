"""Seed-to-seed spread of the obesity case study under the tutorial's random-slope specification.

The tutorial (``pred_mar[pred_mar == 1] <- 2``) gives every predictor of every imputation
model a random slope, with 5 regions: 2l.heckman's Weight model then has 10 random effects
(intercept, Age, Height, FamOb, Gender in the selection and the outcome equation) and
2l.norm / 2l.pmm / 2l.bin have 5 each. How much the pooled results move between seeds is
what the random-effect covariance prior decides here: 5 clusters say little about a 10 x 10
covariance matrix.

For each of ``--seeds`` seeds (m = 5, maxit = 10 as in ``models/obesity.toml``) the script
imputes, pools two analyses and records imputed-value summaries:

- the tutorial's analysis ``BMI ~ Age + FamOb + Gender + (1 + Age | Cluster)``;
- the random-intercept analysis ``BMI ~ Age + FamOb + Gender + (1 | Cluster)``, which does
  not depend on how the analysis layer fits random slopes (it is being replaced);
- the mean imputed Weight over all missing rows, over the sporadically missing rows and
  over region 3 (never asked), with the s.d. of the region-3 mean over the m imputations,
  the mean imputed BMI, and the posterior mean of rho.

The report gives, per quantity, the mean over seeds, the standard deviation over seeds and,
for pooled coefficients, that standard deviation and the max - min range in units of the
mean pooled standard error. With m = 5 the Monte Carlo part of a pooled estimate has
variance about B / m (B the between-imputation variance), so a seed-to-seed s.d. well below
one pooled s.e. is what a well-mixing run gives.

Run ``python benchmarks/bench_obesity_spread.py [--seeds 10] [--label NAME]``; writes
``benchmarks/results/obesity_spread_<label>.md`` and the raw rows beside it (``.csv``).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayesimpute as bi
from bayesimpute.model_file import load_model_file

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
MODEL_FILE = ROOT / "models" / "obesity.toml"
ANALYSES = {
    "slope": "BMI ~ Age + FamOb + Gender + (1 + Age | Cluster)",
    "intercept": "BMI ~ Age + FamOb + Gender + (1 | Cluster)",
}


def tutorial_specification() -> tuple[pd.DataFrame, dict]:
    """The model file's imputation model with every fixed predictor (code 1) made random (2)."""
    model = load_model_file(MODEL_FILE)
    pred = model.predictor_matrix.copy()
    pred[pred == 1] = 2
    kwargs = model.impute_kwargs()
    kwargs["predictor_matrix"] = pred
    return model.data, kwargs


def run_seed(data: pd.DataFrame, kwargs: dict, seed: int) -> list[dict]:
    """One imputation at ``seed``; rows of (quantity, value, std_error)."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = bi.impute(data, **{**kwargs, "seed": seed})
    seconds = time.perf_counter() - start
    rows = [{"seed": seed, "quantity": "seconds", "value": seconds, "std_error": np.nan}]
    for label, formula in ANALYSES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = bi.pool(imp.analyze(formula)).summary()
        for term, row in table.iterrows():
            rows.append({"seed": seed, "quantity": f"{label}: {term}",
                         "value": float(row["estimate"]), "std_error": float(row["std_error"]),
                         "between": between_variance(row, imp.m)})
    rows += [{"seed": seed, "quantity": name, "value": value, "std_error": np.nan}
             for name, value in imputed_summaries(data, imp).items()]
    return rows


def between_variance(row: pd.Series, m: int) -> float:
    """B of Rubin's rules from the pooled row: lambda = (1 + 1/m) B / T, T = se^2."""
    return float(row["lambda"]) * float(row["std_error"]) ** 2 / (1.0 + 1.0 / m)


def imputed_summaries(data: pd.DataFrame, imp) -> dict[str, float]:
    """Means of the imputed Weight and BMI (averaged over the m data sets) and of rho."""
    missing = data["Weight"].isna()
    never_asked = missing & ~data.groupby("Cluster")["Weight"].transform(lambda v: v.notna().any())
    sporadic = missing & ~never_asked
    completed = [imp.complete(i) for i in range(imp.m)]
    out = {
        "mean imputed Weight": np.mean([c.loc[missing, "Weight"].mean() for c in completed]),
        "mean imputed Weight, sporadic": np.mean([c.loc[sporadic, "Weight"].mean()
                                                 for c in completed]),
        "mean imputed Weight, region never asked": np.mean(
            [c.loc[never_asked, "Weight"].mean() for c in completed]),
        # the posterior predictive s.d. of an unasked region's mean, as the m draws show it
        "sd over imputations of that mean": np.std(
            [c.loc[never_asked, "Weight"].mean() for c in completed], ddof=1),
        "sd imputed Weight": np.mean([c.loc[missing, "Weight"].std() for c in completed]),
        "mean imputed BMI": np.mean([c.loc[data["BMI"].isna(), "BMI"].mean()
                                     for c in completed]),
    }
    posterior = imp.idata.posterior
    if "Weight_rho" in posterior:
        half = posterior.sizes["draw"] // 2
        out["posterior mean rho (last half)"] = float(posterior["Weight_rho"][:, half:].mean())
    return out


def spread(runs: pd.DataFrame, m: int) -> pd.DataFrame:
    """Per quantity: mean and s.d. over seeds, and for coefficients both in pooled s.e.s."""
    grouped = runs.groupby("quantity", sort=False)
    table = grouped.agg(seeds=("seed", "size"), mean=("value", "mean"), sd=("value", "std"),
                        low=("value", "min"), high=("value", "max"),
                        mean_se=("std_error", "mean"),
                        between=("between", "mean")).reset_index()
    table["sd / se"] = table["sd"] / table["mean_se"]
    # what finite m alone gives: the pooled mean of m draws varies with variance B / m
    table["mc_sd"] = np.sqrt(table.pop("between") / m)
    table["sd / mc_sd"] = table["sd"] / table["mc_sd"]
    table["range / se"] = (table["high"] - table["low"]) / table["mean_se"]
    return table


def complete_case_line(data: pd.DataFrame) -> str:
    """Complete-case estimates and standard errors of both analyses, for scale."""
    parts = []
    for label, formula in ANALYSES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = bi.analyze(data.dropna(), formula).model_fits()[0]
        terms = ", ".join(f"{t} {fit.params[t]:.3f} ({fit.std_errors[t]:.3f})"
                          for t in fit.params.index)
        parts.append(f"{label}: {terms}")
    return "Complete cases, estimate (s.e.): " + "; ".join(parts) + "."


def write_report(runs: pd.DataFrame, label: str, note: str, m: int, maxit: int,
                 reference: str = "") -> Path:
    RESULTS.mkdir(exist_ok=True)
    runs.to_csv(RESULTS / f"obesity_spread_{label}.csv", index=False)
    table = spread(runs, m)
    for column in ("mean", "sd", "low", "high", "mean_se", "sd / se", "range / se", "mc_sd",
                   "sd / mc_sd"):
        table[column] = table[column].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    by_seed = runs[runs["quantity"].isin(
        ["slope: FamOb[T.yes]", "intercept: FamOb[T.yes]", "mean imputed Weight"])]
    wide = by_seed.pivot(index="seed", columns="quantity", values="value").reset_index()
    wide = wide.map(lambda v: f"{v:.3f}" if isinstance(v, float) else v)
    from _common import markdown  # noqa: PLC0415 - benchmarks/ is the script's folder

    text = "\n".join([
        f"# Obesity, tutorial specification (every predictor a random slope): spread over "
        f"seeds ({label})", "",
        f"{pd.Timestamp.today().date()}; {note}", "",
        "Imputation: models/obesity.toml (2l.norm Age, 2l.pmm Height, 2l.bin FamOb, "
        "2l.heckman Weight with Time as exclusion restriction, passive BMI) with every "
        "predictor code 1 made 2, as the tutorial's `pred_mar[pred_mar == 1] <- 2`; "
        f"m = {m}, maxit = {maxit}; 5 regions. `slope:` rows pool the tutorial's analysis "
        f"`{ANALYSES['slope']}`, `intercept:` rows `{ANALYSES['intercept']}` (not affected "
        "by how the analysis layer fits random slopes). sd / se and range / se: the "
        "standard deviation and the max - min range of the pooled estimate over seeds, in "
        "units of the mean pooled standard error. mc_sd = sqrt(B / m), B the "
        "between-imputation variance (mean over seeds): the seed-to-seed s.d. that finite m "
        "alone explains; sd / mc_sd well above 1 means the chains do not reach the same "
        "distribution within maxit (or B itself varies a lot between seeds).", "",
        markdown(table), "",
        reference, "",
        "Per seed:", "",
        markdown(wide), "",
        f"Raw rows: `obesity_spread_{label}.csv`. Regenerate: "
        f"`python benchmarks/bench_obesity_spread.py --label {label}"
        f"{'' if maxit == 10 else f' --maxit {maxit}'}`. seconds: wall time of one "
        "impute() on a 2-core machine shared with other jobs (not a timing benchmark).",
    ]) + "\n"
    path = RESULTS / f"obesity_spread_{label}.md"
    path.write_text(text)
    print(text)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 1..N")
    parser.add_argument("--label", default="current")
    parser.add_argument("--note", default="", help="a line on the code state measured")
    parser.add_argument("--maxit", type=int, help="override the model file's maxit")
    args = parser.parse_args(argv)
    data, kwargs = tutorial_specification()
    if args.maxit:
        kwargs["maxit"] = args.maxit
    runs: list[dict] = []
    for seed in range(1, args.seeds + 1):
        runs += run_seed(data, kwargs, seed)
        print(f"seed {seed} done", flush=True)
    write_report(pd.DataFrame(runs), args.label, args.note, int(kwargs["m"]),
                 int(kwargs["maxit"]), complete_case_line(data))


if __name__ == "__main__":
    main()
