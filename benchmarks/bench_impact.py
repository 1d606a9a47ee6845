"""Benchmark (b): IMPACT, all six incomplete variables imputed, m = 5, maxit = 10: speed.

pupil and ct with 2l.polyreg, hypox, hypots, tsah and edh with 2l.bin (Pólya–Gamma Gibbs
steps), every other column a fixed-effect predictor, the study ``name`` the cluster.
Target: impute() in at most 24 s on this machine type with a warm compile cache (R mice +
miceadds 2l.pmm: 47 s on impact_systematic.csv at maxit = 10; 23.6 s on
impact_incomplete.csv at the tutorial's maxit = 5).

Accuracy is not judged here. A single amputation measures how that deletion happened to fall
(on impact_incomplete.csv the deleted ct rows carry a weaker ct III effect than the kept ones,
see impact_ct_diagnostic.py), so the deviation of one imputation from the complete-data fit
is no criterion. The criterion is the validity study's IMPACT design: 50 fresh amputations
of the complete data by a documented MAR mechanism, bayesimpute's native methods and R's
integer-coded 2l.pmm on the same files, mean deviation, RMSE and coverage of the complete-data
fit per term (``python -m benchmarks.validity impact``; results in
``benchmarks/results/validity/impact.md``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, write_table  # noqa: E402

import bayesimpute as bi  # noqa: E402

TARGET_SECONDS = 24.0
METHODS = {"pupil": "2l.polyreg", "ct": "2l.polyreg", "hypox": "2l.bin", "hypots": "2l.bin",
           "tsah": "2l.bin", "edh": "2l.bin"}
#: R mice + miceadds 2l.pmm seconds on the same files (../shared/data/README.md)
R_SECONDS = {"systematic": 47.0, "incomplete": 23.6}


def run_variant(variant: str, repeats: int = 3) -> dict:
    data = bi.datasets.load_impact(variant)
    pred = bi.make_predictor_matrix(data, cluster="name")
    run = lambda: bi.impute(data, method=METHODS, predictor_matrix=pred, m=5,  # noqa: E731
                            maxit=10, seed=123)
    run()  # warm the imports and caches
    seconds, _ = best_of(run, repeats=repeats)
    return {"data": f"impact_{variant}.csv", "bayesimpute s": round(seconds, 2),
            "target s": TARGET_SECONDS, "R mice 2l.pmm s": R_SECONDS[variant]}


def main() -> None:
    rows = [run_variant(v) for v in ("systematic", "incomplete")]
    notes = [
        "impute() wall time, best of 3 after one warm-up run; m = 5, maxit = 10, seed 123.",
        "Methods: 2l.polyreg for pupil and ct, 2l.bin for hypox, hypots, tsah, edh "
        "(exact Pólya–Gamma Gibbs steps, 2 transitions per visit).",
        "R seconds from ../shared/data/README.md (not rerun here; impact_incomplete at the "
        "tutorial's maxit = 5).",
        "Accuracy: see the validity study's IMPACT design over 50 amputations, "
        "results/validity/impact.md (python -m benchmarks.validity impact); one amputation "
        "is no criterion (impact_ct.md shows why).",
    ]
    write_table("impact", pd.DataFrame(rows), notes)


if __name__ == "__main__":
    main()
