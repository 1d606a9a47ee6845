"""Why ct III deviates on impact_incomplete.csv: what a correct MAR imputation targets.

The issue's criterion compares pooled estimates on ``impact_incomplete.csv`` with the fit to
the complete data. For ``ct`` (24% missing) this script separates what the observed data say
from what the deleted values happened to be:

1. how ``ct`` was made missing: a logistic model of its missingness on the study and on every
   variable of the complete data (the deleted values included);
2. the analysis ``mort ~ type + age + motor_score + pupil + ct + (1 | name)`` on the complete
   data, on the rows whose ``ct`` is kept and on the rows whose ``ct`` was deleted;
3. multiple imputation of ``ct`` alone (every other column at its true value), with
   ``2l.polyreg`` and ``polyreg``, and with the tutorial's workaround (``ct`` coded 1, 2, 3
   and imputed by ``2l.pmm``), over several seeds, m = 5.

If ``ct`` is missing completely at random within studies, a correctly specified imputation
model targets the estimate of the rows that kept ``ct``; the complete-data value also
contains the deleted rows' own chance association, which no MAR method can recover.

Run ``python benchmarks/impact_ct_diagnostic.py``; writes ``results/impact_ct.md``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pandas as pd
import statsmodels.formula.api as smf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown, write_table  # noqa: E402

import bayesimpute as bi  # noqa: E402

FORMULA = "mort ~ type + age + motor_score + pupil + ct + (1 | name)"
TERMS = ["ct[T.III]", "ct[T.IV/V]"]
SEEDS = (123, 1, 2, 3)
CT_CODES = {"I/II": 1.0, "III": 2.0, "IV/V": 3.0}


def missingness_model(complete: pd.DataFrame, missing: pd.Series) -> pd.DataFrame:
    """Logit of 'ct deleted' on study and every variable at its true value."""
    data = complete.assign(deleted=missing.astype(int))
    formula = ("deleted ~ C(name) + mort + type + age + C(motor_score) + C(pupil) + C(ct)"
               " + hypox + hypots + tsah + edh")
    fit = smf.logit(formula, data).fit(disp=0, maxiter=200)
    rows = [t for t in fit.params.index if not t.startswith(("C(name)", "Intercept", "type"))]
    return pd.DataFrame({"term": rows, "coefficient": fit.params[rows].round(3).to_numpy(),
                         "z": fit.tvalues[rows].round(2).to_numpy()})


def subset_fits(complete: pd.DataFrame, missing: pd.Series) -> pd.DataFrame:
    rows = []
    subsets = [("all rows (complete data)", slice(None)), ("rows whose ct is kept", ~missing),
               ("rows whose ct was deleted", missing)]
    for label, keep in subsets:
        fit = bi.analyze(complete.loc[keep], FORMULA, family="binomial").model_fits()[0]
        se = fit.std_errors
        rows.append({"rows": label, "n": int(len(complete.loc[keep])),
                     **{t: f"{fit.params[t]:.3f} ({se[t]:.3f})" for t in TERMS}})
    return pd.DataFrame(rows)


def impute_ct_only(complete: pd.DataFrame, incomplete: pd.DataFrame) -> pd.DataFrame:
    data = complete.copy()
    data["ct"] = incomplete["ct"]
    pred = bi.make_predictor_matrix(data, cluster="name")
    integer = data.assign(ct=data["ct"].map(CT_CODES).astype(float))
    rows = []
    for label, frame, method in [("2l.polyreg", data, "2l.polyreg"),
                                 ("polyreg", data, "polyreg"),
                                 ("2l.pmm, ct coded 1/2/3 (tutorial)", integer, "2l.pmm")]:
        for seed in SEEDS:
            imp = bi.impute(frame, method={"ct": method}, predictor_matrix=pred, m=5, maxit=5,
                            seed=seed)
            completed = [_as_factor(imp.complete(i)) for i in range(5)]
            pooled = bi.pool(bi.analyze(completed, FORMULA, family="binomial")).summary()
            rows.append({"ct imputed by": label, "seed": seed,
                         **{t: round(float(pooled.loc[t, "estimate"]), 3) for t in TERMS}})
    table = pd.DataFrame(rows)
    means = table.groupby("ct imputed by", sort=False)[TERMS].mean().round(3).reset_index()
    means["seed"] = "mean"
    return pd.concat([table, means], ignore_index=True)


def _as_factor(frame: pd.DataFrame) -> pd.DataFrame:
    if frame["ct"].dtype.kind == "f":  # the integer-coded variant: back to the factor
        labels = {v: k for k, v in CT_CODES.items()}
        values = frame["ct"].round().clip(1, 3).map(labels)
        frame = frame.assign(ct=pd.Categorical(values, categories=list(CT_CODES)))
    return frame


def main() -> None:
    warnings.filterwarnings("ignore")
    complete = bi.datasets.load_impact("complete")
    incomplete = bi.datasets.load_impact("incomplete")
    missing = incomplete["ct"].isna()
    share = missing.groupby(incomplete["name"]).mean()
    notes = [
        f"ct deleted in {missing.mean():.1%} of rows; per study: "
        + ", ".join(f"{k} {v:.2f}" for k, v in share.items()) + ".",
        "Missingness of ct given study and every true value (logit; study terms omitted):\n\n"
        + markdown(missingness_model(complete, missing)),
        "Complete-data analysis on row subsets, estimate (s.e.):\n\n"
        + markdown(subset_fits(complete, missing)),
        "Only ct missing, every other column at its true value; m = 5, maxit = 5:\n\n"
        + markdown(impute_ct_only(complete, incomplete)),
    ]
    write_table("impact_ct", pd.DataFrame({"reference": ["complete-data fit (R glmer)"],
                                           "ct[T.III]": [0.810], "ct[T.IV/V]": [0.832]}), notes)


if __name__ == "__main__":
    main()
