"""Evaluate interlace-lme (a candidate engine on the package index) on the reference models.

The same lme4 reference values as tests/analysis/test_lme4_agreement.py (written by
benchmarks/r/reference_fits.R); the same criteria (1e-4 relative for lmer, 1e-3 for glmer; an
estimate near zero judged on its standard error's scale). interlace-lme is not a dependency of
bayesimpute: run this in an environment that has it, e.g.

    python -m venv /tmp/ilenv && /tmp/ilenv/bin/pip install interlace-lme==0.3.2 pandas
    /tmp/ilenv/bin/python benchmarks/eval_interlace.py

It needs neither bayesimpute nor R: it reads the shipped CSVs and tests/reference/ directly.
Writes benchmarks/results/interlace.md.
"""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"
DATA = ROOT / "bayesimpute" / "datasets" / "data"
TOLERANCE = {"gaussian": 1e-4, "binomial": 1e-3, "poisson": 1e-3}


def load(name: str) -> pd.DataFrame:
    if name in ("popmis", "brandsma", "obesity", "impact"):
        frame = pd.read_csv(DATA / f"{name}.csv", keep_default_na=False, na_values=["NA"])
        if name == "brandsma":
            frame["den"] = pd.Categorical(frame["den"], categories=[1, 2, 3, 4])
        if name == "obesity":
            frame["Gender"] = pd.Categorical(frame["Gender"], ["Female", "Male"])
            frame["FamOb"] = pd.Categorical(frame["FamOb"], ["no", "yes"])
        if name == "impact":
            for column, levels in {"type": ["OBS", "RCT"], "motor_score": ["1/2", "3", "4", "5/6"],
                                   "pupil": ["Both", "One", "None"],
                                   "ct": ["I/II", "III", "IV/V"]}.items():
                frame[column] = pd.Categorical(frame[column], levels)
        return frame
    return pd.read_csv(REFERENCE / f"sim_{name}.csv")


def split(formula: str) -> tuple[str, list[str], list[str]]:
    """Fixed formula, the bars (slash and || expanded), and the columns used."""
    bars = re.findall(r"\(([^()]*\|[^()]*)\)", formula)
    fixed = formula
    for bar in bars:
        fixed = fixed.replace(f"({bar})", "")
    fixed = re.sub(r"(\+\s*)+$", "", re.sub(r"\+\s*\+", "+", fixed)).strip()
    random = []
    for bar in bars:
        effects, group = [s.strip() for s in bar.split("|", 1)]
        group = group.lstrip("|").strip()
        groups = [group]
        if "/" in group:
            outer, inner = [g.strip() for g in group.split("/")]
            groups = [f"{outer}:{inner}", outer]
        double = "||" in bar
        for g in groups:
            random.append(f"({effects} || {g})" if double else f"({effects} | {g})")
    columns = sorted(set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", formula)))
    return fixed, random, columns


def main() -> None:
    import interlace

    fits = pd.read_csv(REFERENCE / "lme4_fits.csv").set_index("model")
    fixed_ref = pd.read_csv(REFERENCE / "lme4_fixed.csv")
    rows = []
    for model, row in fits.iterrows():
        data = load(row["data"])
        fixed, random, columns = split(row["formula"])
        data = data[[c for c in columns if c in data.columns]].dropna()
        # interlace takes column names as grouping factors: build "a:b" as a column
        for spec in random:
            group = spec.split("|")[-1].strip(" )")
            if ":" in group:
                left, right = group.split(":")
                combined = data[left].astype(str) + ":" + data[right].astype(str)
                data[group.replace(":", "_")] = combined
        random = [r.replace(":", "_") for r in random]
        for c in data.columns:
            if isinstance(data[c].dtype, pd.CategoricalDtype):
                data[c] = data[c].cat.remove_unused_categories()
        expected = fixed_ref[fixed_ref["model"] == model].set_index("term")
        out = {"model": model}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                if row["family"] == "gaussian":
                    result = interlace.fit(fixed, data, random=random,
                                           method="REML" if row["reml"] else "ML")
                    loglik = float(result.llf)
                else:
                    result = interlace.glmer(fixed, data, family=row["family"], random=random)
                    loglik = float(getattr(result, "llf", np.nan))
                out["seconds"] = round(time.perf_counter() - start, 3)
            params = pd.Series(np.asarray(result.fe_params, dtype=float),
                               index=[str(i) for i in result.fe_params.index])
            standard_errors = getattr(result, "fe_bse", None)
            if standard_errors is None:
                standard_errors = result.bse
            bse = pd.Series(np.asarray(standard_errors, dtype=float)[: len(params)],
                            index=params.index)
            params, bse = params.reindex(expected.index), bse.reindex(expected.index)
            scale = np.maximum(expected["estimate"].abs(), expected["std_error"])
            out["max estimate error"] = float(np.max(np.abs(params - expected["estimate"]) / scale))
            out["max s.e. error"] = float(np.max(np.abs(bse / expected["std_error"] - 1)))
            out["logLik error"] = abs(loglik - row["loglik"])
            tol = TOLERANCE[row["family"]]
            out["passes"] = bool(out["max estimate error"] < tol and out["max s.e. error"] < tol
                                 and out["logLik error"] < 10 * tol)
        except Exception as err:  # a candidate's failure is a finding, reported as such
            out["error"] = f"{type(err).__name__}: {str(err)[:80]}"
            out["passes"] = False
        rows.append(out)
        print(out)
    table = pd.DataFrame(rows)
    from importlib.metadata import version as package_version

    version = package_version("interlace-lme")
    text = (f"# interlace-lme {version} on the lme4 reference models\n\n"
            + table.to_markdown(index=False, floatfmt=".3g") + "\n\n"
            "Errors relative to lme4 (tests/reference/, benchmarks/r/reference_fits.R): "
            "estimates on the scale max(|estimate|, s.e.), standard errors relative, logLik "
            "absolute. Criteria as bayesimpute's tests: 1e-4 (lmer), 1e-3 (glmer).\n")
    (ROOT / "benchmarks" / "results" / "interlace.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
