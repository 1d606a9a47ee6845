"""popmis: pooled results of bayesimpute's 2l methods next to R mice's, seed by seed.

R's own two-level methods (mice 3.15 from Debian: 2l.pan, 2l.lmer, 2l.norm; miceadds is not
in Debian's archive) impute the same data with the same predictor roles; every set of
completed datasets is analysed and pooled by the same Python code, so differences come from
the imputations only. Writes benchmarks/results/popmis_vs_r.md.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import r_available, write_table  # noqa: E402

import bayesimpute as bi  # noqa: E402

SEEDS = (123, 1, 2)
FORMULA = "popular ~ texp + sex + (1 | school)"
R_SCRIPT = """
suppressMessages(library(mice))
d <- read.csv("{csv}")
pred <- make.predictorMatrix(d); pred[,] <- 0
pred["popular", c("school", "sex", "texp")] <- c(-2, 2, 1)
meth <- make.method(d); meth[] <- ""; meth["popular"] <- "{method}"
imp <- mice(d, m = 5, maxit = 10, method = meth, predictorMatrix = pred, seed = {seed},
            printFlag = FALSE)
write.csv(complete(imp, "long"), "{out}", row.names = FALSE)
"""


def summarise(label: str, seed: int, datasets: list[pd.DataFrame]) -> dict:
    pooled = bi.pool(bi.analyze(datasets, FORMULA))
    summary, components = pooled.summary(), pooled.variance_components()
    row = {"imputation": label, "seed": seed}
    for term in ("Intercept", "texp", "sex"):
        row[term] = round(summary.loc[term, "estimate"], 3)
    for term in ("Intercept", "texp", "sex"):
        row[f"RIV {term}"] = round(summary.loc[term, "riv"], 3)
    row["school var"] = round(components.loc["school: Intercept", "estimate"], 3)
    row["resid var"] = round(components.loc["residual", "estimate"], 3)
    row["ICC"] = round(components.loc["icc", "estimate"], 3)
    return row


def r_datasets(method: str, seed: int, csv: Path, workdir: Path) -> list[pd.DataFrame]:
    out = workdir / f"r_{method}_{seed}.csv"
    script = R_SCRIPT.format(csv=csv, method=method, seed=seed, out=out)
    subprocess.run(["Rscript", "-e", script], check=True, capture_output=True)
    long = pd.read_csv(out)
    return [g.drop(columns=[".imp", ".id"]).reset_index(drop=True) for _, g in long.groupby(".imp")]


def main() -> None:
    data = bi.datasets.load_popmis()
    pred = bi.make_predictor_matrix(data, cluster="school")
    pred.loc["popular", :] = 0
    pred.loc["popular", ["school", "sex", "texp"]] = [-2, 2, 1]
    rows = []
    for method in ("2l.norm", "2l.pmm"):
        for seed in SEEDS:
            imp = bi.impute(data, method={"popular": method}, predictor_matrix=pred, m=5,
                            maxit=10, seed=seed)
            rows.append(summarise(f"bayesimpute {method}", seed, [imp.complete(i) for i in range(5)]))
    have_r = r_available("mice", "pan", "lme4")
    if have_r:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            csv = workdir / "popmis.csv"
            data.to_csv(csv, index=False)
            for method in ("2l.pan", "2l.lmer", "2l.norm"):
                for seed in SEEDS:
                    rows.append(summarise(f"R mice {method}", seed, r_datasets(method, seed, csv, workdir)))
    notes = [
        "m = 5, maxit = 10; popular imputed with school -2, sex 2 (random slope), texp 1.",
        "Published (miceadds 2l.pmm): 3.599, 0.092, 0.852; RIV 0.146, 0.239, 0.616; "
        "variances 0.470 / 0.462, ICC 0.504.",
        "RIV of the school-level terms (Intercept, texp) is small for every proper method: the "
        "school means lose little information when 42% of pupils are missing; RIV of sex varies "
        "widely between seeds at m = 5.",
    ] + ([] if have_r else ["R not installed here: R rows not run."])
    write_table("popmis_vs_r", pd.DataFrame(rows), notes)


if __name__ == "__main__":
    main()
