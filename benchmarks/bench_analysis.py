"""Benchmark of the analysis layer: seconds per fit against lme4 on the reference models.

For every reference model of benchmarks/r/reference_models.R: bayesimpute's complete analysis
of one data set (``bi.analyze``: the fit, plus lmerTest's Satterthwaite df and the variance-
component standard errors that pooling uses) and the fit alone, against lme4's ``lmer`` /
``glmer`` with default controls (no lmerTest df), timed by benchmarks/r/time_fits.R in the same
run where R is installed (else its last table, benchmarks/results/lme4_timing.csv). Target:
no slower than 2x lme4 per fit. Also: the m = 5 analyses of the popmis demo against its
imputation. Writes benchmarks/results/analysis.md.
"""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "analysis"))
from _common import RESULTS, best_of, r_available, write_table  # noqa: E402

import bayesimpute as bi  # noqa: E402
import lme4_reference as ref  # noqa: E402
from bayesimpute.analysis.formula import build_design, parse_formula  # noqa: E402
from bayesimpute.analysis.glmm import fit_glmm  # noqa: E402
from bayesimpute.analysis.lmm import fit_lmm  # noqa: E402

TARGET_RATIO = 2.0


def r_timing() -> tuple[pd.DataFrame, str]:
    if r_available("lme4", "MASS"):
        subprocess.run(["Rscript", str(ROOT / "benchmarks" / "r" / "time_fits.R")], cwd=ROOT,
                       check=True, capture_output=True)
        source = "timed in this run by benchmarks/r/time_fits.R"
    else:
        source = "R not installed: lme4 times from the last run of benchmarks/r/time_fits.R"
    return pd.read_csv(RESULTS / "lme4_timing.csv").set_index("model"), source


def agreement(model: str, fit: bi.ModelFit) -> dict[str, float]:
    """Largest deviations from lme4 (as tests/analysis/test_lme4_agreement.py measures them)."""
    fixed = ref.fixed(model)
    scale = np.maximum(fixed["estimate"].abs(), fixed["std_error"])
    out = {
        "estimate err": float(np.max(np.abs(fit.params - fixed["estimate"]) / scale)),
        "s.e. err": float(np.max(np.abs(fit.std_errors / fixed["std_error"] - 1))),
        "logLik err": abs(fit.loglik - ref.fits().loc[model, "loglik"]),
    }
    variances = [abs(fit.variance_components[name] / value - 1)
                 for name, value in ref.components(model).items()
                 if "(" not in name and value > 0]
    out["variance err"] = float(max(variances)) if variances else float("nan")
    if fit.term_df is not None:
        out["df err"] = float(np.max(np.abs(fit.term_df / fixed["df"] - 1)))
    return out


def time_model(model: str) -> dict[str, float]:
    data, formula, family, reml = ref.spec(model)
    design = build_design(parse_formula(formula), data)
    if family == "gaussian":
        fit_only = lambda: fit_lmm(design, reml=reml)  # noqa: E731
    else:
        fit_only = lambda: fit_glmm(design, family)  # noqa: E731
    analysis = lambda: bi.analyze([data], formula, family=family, reml=reml)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular reference models warn, by design
        analysis()  # imports, first-call costs
        repeats = 3 if family == "gaussian" else 1
        seconds_fit, _ = best_of(fit_only, repeats=repeats)
        seconds_analysis, result = best_of(analysis, repeats=repeats)
    return {"fit s": seconds_fit, "analysis s": seconds_analysis,
            **agreement(model, result[0])}


def popmis_demo() -> dict[str, float]:
    data = bi.datasets.load_popmis()
    pred = bi.make_predictor_matrix(data, cluster="school")
    pred.loc["popular", :] = 0
    pred.loc["popular", ["school", "sex", "texp"]] = [-2, 2, 1]
    impute = lambda: bi.impute(data, method={"popular": "2l.pmm"}, predictor_matrix=pred,  # noqa: E731
                               m=5, maxit=10, seed=123)
    imp = impute()
    seconds_impute, imp = best_of(impute, repeats=3)
    seconds_analyze, fits = best_of(lambda: imp.analyze("popular ~ texp + sex + (1 | school)"),
                                    repeats=3)
    start = time.perf_counter()
    bi.pool(fits).variance_components()
    seconds_pool = time.perf_counter() - start
    return {"impute": seconds_impute, "analyze": seconds_analyze, "pool": seconds_pool}


def main() -> None:
    lme4, source = r_timing()
    rows = []
    for model in ref.fits().index:
        times = time_model(model)
        r_seconds = float(lme4.loc[model, "seconds_per_fit"])
        rows.append({
            "model": model, "family": ref.fits().loc[model, "family"],
            "lme4 s": round(r_seconds, 4), "bayesimpute fit s": round(times["fit s"], 4),
            "fit / lme4": round(times["fit s"] / r_seconds, 2),
            "analysis s": round(times["analysis s"], 4),
            "analysis / lme4": round(times["analysis s"] / r_seconds, 2),
            **{k: f"{times[k]:.1e}" for k in ("estimate err", "s.e. err", "variance err",
                                               "logLik err", "df err") if k in times},
        })
        print(rows[-1])
    table = pd.DataFrame(rows)
    demo = popmis_demo()
    within = table[table["analysis / lme4"] <= TARGET_RATIO]["model"].tolist()
    notes = [
        f"lme4 1.1-31 with default controls ({source}); seconds per fit, best of repeated fits.",
        "bayesimpute fit: the lmer / glmer equivalent alone (profiled REML / Laplace, tight "
        "tolerances); analysis: bi.analyze on one data set, which adds lmerTest's Satterthwaite "
        "df and the variance-component standard errors (lme4's times include neither).",
        f"Target: analysis no slower than {TARGET_RATIO:g}x lme4; met on {len(within)} of "
        f"{len(table)} models ({', '.join(within)}).",
        f"popmis demo (2l.pmm, m = 5, maxit = 10): impute {demo['impute']:.3f} s; the m = 5 "
        f"analyses {demo['analyze']:.3f} s; pooling with variance components "
        f"{demo['pool']:.3f} s. Target: analyses faster than the imputation: "
        f"{'met' if demo['analyze'] < demo['impute'] else 'NOT met'}.",
        "The machine is shared (2 cores); R and Python ran one after the other in this run.",
        "Agreement with lme4's reference fits (tests/reference/, benchmarks/r/reference_fits.R): "
        "estimate err = max |ours - lme4| / max(|lme4|, s.e.); s.e. and variance err relative; "
        "logLik err absolute; df err relative to lmerTest's Satterthwaite df.",
    ]
    write_table("analysis", table, notes)


if __name__ == "__main__":
    main()
