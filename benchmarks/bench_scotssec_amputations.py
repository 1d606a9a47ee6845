"""ScotsSec over repeated amputations: where does the primary-school variance gap come from?

The case study (notebooks/cross_classified.ipynb) imputes one amputation of ScotsSec, and its
pooled primary-school variance lies above the complete-data value (0.294 against 0.217).
One amputation cannot say whether that is the method or how that deletion fell. Here the
complete data are amputated again and again, by three mechanisms that differ in one thing
each, and each amputation is imputed with the case study's model (ml.norm for verbal and
attain, crossed random intercepts for primary and secondary school, every predictor with its
means at both levels) and analysed with its analysis model:

- ``file``: the mechanism of benchmarks/r/export_scotssec.R (verbal's deletion depends on
  the true attain, also where attain is deleted: not MAR there), with the file's 16 primary
  schools that never measure verbal;
- ``mar``: verbal's deletion depends on attain only where attain stays observed (fully MAR),
  with the same never-measured schools;
- ``mar, sporadic``: as ``mar`` without the never-measured schools.

Reported per mechanism and variance component: the mean over the amputations of the pooled
estimate relative to the complete-data estimate, minus 1, with its Monte-Carlo s.e., and the
same for the complete cases; and the distribution over the amputations of the case study's
check statistic z (the gap in missing-information standard errors), whose mean and s.d. are
0 and 1 where the imputation is right. ``python benchmarks/bench_scotssec_amputations.py [N]``
(N amputations per mechanism, default 20) writes benchmarks/results/scotssec_amputations.md.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_table

import bayesimpute as bi

FORMULA = "attain ~ verbal + sex + social + (1 | primary) + (1 | second)"
CLUSTERS = ["primary", "second"]
COMPONENTS = ["primary: Intercept", "second: Intercept", "residual"]
MECHANISMS = ("file", "mar", "mar, sporadic")
M, MAXIT = 10, 10


def amputate(complete: pd.DataFrame, never: np.ndarray, mechanism: str,
             rng: np.random.Generator) -> pd.DataFrame:
    """The export script's probabilities; ``mechanism`` as in the module docstring."""
    z_attain = ((complete["attain"] - complete["attain"].mean())
                / complete["attain"].std()).to_numpy()
    p_attain = expit(-2.1 + 0.8 * (complete["social"] > 0).to_numpy()
                     + 0.5 * (complete["sex"] == "M").to_numpy())
    attain_deleted = rng.random(len(complete)) < p_attain
    p_verbal = expit(-1.3 + 0.9 * z_attain)
    if mechanism != "file":  # MAR: where attain is deleted, verbal's deletion ignores it
        p_verbal = np.where(attain_deleted, expit(-1.3), p_verbal)
    verbal_deleted = rng.random(len(complete)) < p_verbal
    if mechanism != "mar, sporadic":
        verbal_deleted |= never
    data = complete.copy()
    data.loc[verbal_deleted, "verbal"] = np.nan
    data.loc[attain_deleted, "attain"] = np.nan
    return data


def case_study_model(data: pd.DataFrame) -> dict:
    """The notebook's imputation model: ml.norm, every predictor coded 3."""
    method = bi.make_method(data, cluster=CLUSTERS)
    method[["verbal", "attain"]] = "ml.norm"
    pred = bi.make_predictor_matrix(data, cluster=CLUSTERS)
    for row in ("verbal", "attain"):
        for column in ("attain", "verbal", "sex", "social"):
            if column != row:
                pred.at[row, column] = 3
    return {"method": method, "predictor_matrix": pred}


def one_amputation(complete, never, reference, mechanism: str, k: int) -> dict:
    rng = np.random.default_rng([2026, MECHANISMS.index(mechanism), k])
    data = amputate(complete, never, mechanism, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular fits (second-school variance ~ 0) expected
        imp = bi.impute(data, m=M, maxit=MAXIT, seed=k, **case_study_model(data))
        components = bi.pool(imp.analyze(FORMULA)).variance_components()
        cc = bi.analyze(data.dropna(), FORMULA)[0].variance_components
    row = {"mechanism": mechanism, "amputation": k}
    for c in COMPONENTS:
        row[f"ml.norm {c}"] = components.at[c, "estimate"] / reference[c] - 1
        row[f"complete cases {c}"] = cc[c] / reference[c] - 1
        row[f"z {c}"] = missing_information_z(components.loc[c], reference[c])
    return row


def missing_information_z(component: pd.Series, complete_value: float) -> float:
    """The case study's check: (mean log estimate - log complete-data estimate) /
    sqrt((1 + 1/m) B), B the between-imputation variance of the log estimates. Under a
    correct imputation model it is about N(0, 1) over amputations."""
    missing_info_se = component["transformed_se"] * np.sqrt(component["riv"]
                                                             / (1 + component["riv"]))
    return (component["transformed_estimate"] - np.log(complete_value)) / missing_info_se


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for mechanism, group in runs.groupby("mechanism", sort=False):
        for analysis in ("ml.norm", "complete cases"):
            for c in COMPONENTS:
                values = group[f"{analysis} {c}"]
                z = group[f"z {c}"] if analysis == "ml.norm" else None
                rows.append({"mechanism": mechanism, "analysis": analysis, "component": c,
                             "mean relative difference": round(values.mean(), 3),
                             "mc_se": round(values.std(ddof=1) / np.sqrt(len(values)), 3),
                             "z: mean": None if z is None else round(z.mean(), 2),
                             "z: sd": None if z is None else round(z.std(ddof=1), 2),
                             "share abs(z) > 2": None if z is None else round(
                                 (z.abs() > 2).mean(), 2),
                             "amputations": len(values)})
    return pd.DataFrame(rows)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    complete = bi.datasets.load_scotssec()
    incomplete = bi.datasets.load_scotssec("incomplete")
    never = incomplete.groupby("primary")["verbal"].transform(
        lambda v: v.isna().all()).to_numpy()
    reference = bi.analyze(complete, FORMULA)[0].variance_components
    start = time.perf_counter()
    runs = pd.DataFrame([one_amputation(complete, never, reference, mechanism, k)
                         for mechanism in MECHANISMS for k in range(n)])
    seconds = time.perf_counter() - start
    runs.to_csv(Path(__file__).resolve().parent / "results" / "scotssec_amputations_runs.csv",
                index=False)
    notes = [
        (f"{n} amputations per mechanism of the complete ScotsSec data; ml.norm m = {M}, "
         f"maxit = {MAXIT}; {seconds:.0f} s in all on this (shared) machine."),
        ("Relative difference: pooled estimate (mean of the m REML estimates) / complete-data "
         "REML estimate - 1, averaged over the amputations; the complete-data values are "
         + ", ".join(f"{c} {reference[c]:.3f}" for c in COMPONENTS) + "."),
        (f"{int(never.sum())} pupils in the {len(np.unique(incomplete['primary'][never]))} "
         "primary schools that never measure verbal in the file (kept by 'file' and 'mar')."),
        "The second-school variance is near zero (0.006): its relative difference is noise.",
    ]
    write_table("scotssec_amputations", summarise(runs), notes)


if __name__ == "__main__":
    main()
