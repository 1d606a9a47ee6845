"""IMPACT over repeated amputations: the complete data amputed by a documented MAR mechanism,
imputed, and the binomial analysis compared with the complete-data fit.

Replaces the single-amputation criteria of ``benchmarks/bench_impact.py`` and
``notebooks/impact.ipynb``: one deletion measures how that deletion happened to fall; over
many amputations the deviation of a method from the complete-data fit is its own error.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from benchmarks.validity.design import FIXED, VARIANCE, Design, Reduced, Replication
from benchmarks.validity.designs._common import calibrated_logit, mice_peer
from benchmarks.validity.methods import PythonMethod, Reference

FORMULA = "mort ~ type + age + motor_score + pupil + ct + (1 | name)"
#: share of rows made sporadically missing, per variable
SPORADIC = {"pupil": 0.12, "ct": 0.15, "hypots": 0.12, "tsah": 0.15, "edh": 0.15}
STUDY_SD, SYSTEMATIC_STUDIES = 0.5, 3
FACTORS = ("name", "type", "motor_score", "pupil", "ct")
NATIVE = {"pupil": "2l.polyreg", "ct": "2l.polyreg", "hypots": "2l.bin", "tsah": "2l.bin",
          "edh": "2l.bin"}

DESCRIPTION = f"""\
The complete IMPACT data (11,022 patients in 15 studies) amputed afresh in every replication.
Sporadic missingness in {", ".join(f"`{v}` ({r:.0%})" for v, r in SPORADIC.items())}, each
independently with P(missing) = expit(a + 0.5 mort + 0.3 age_z - 0.25 motor + s_study), where
`age_z` is standardised age, `motor` the motor-score category (0-3) centred, `s_study ~ N(0,
{STUDY_SD}^2)` a study effect drawn per variable and replication, and `a` set for the rate;
`ct` is moreover systematically missing in {SYSTEMATIC_STUDIES} studies drawn at random per
replication. Missingness depends on completely observed variables only (mort, age,
motor_score, study): MAR. `hypox` stays complete. Analysis `{FORMULA}` (binomial, Laplace
maximum likelihood as glmer; R: glmer). The "truth" is the analysis of the complete data (the
same glmer-equivalent fit; equal to R's lme4 table to 3 decimals): bias is the mean deviation
from it, coverage the share of 95% intervals that contain it.
bayesimpute: its native categorical methods with every other column a fixed-effect predictor
(`bi.make_predictor_matrix(data, cluster="name")`, as `benchmarks/bench_impact.py`). R: the
tutorial's coding, every column made numeric (factors as integer codes), miceadds 2l.pmm for
every incomplete variable, `name` the cluster (-2), `mort` with a random slope (2), every other
column fixed (1); the codes are turned back into factors for the analysis.
"""


@cache
def complete_impact() -> pd.DataFrame:
    import bayesimpute as bi

    return bi.datasets.load_impact("complete")


@cache
def complete_fit() -> tuple[pd.Series, pd.Series]:
    """Truth and kinds: the complete-data fit's fixed effects and study variance."""
    import bayesimpute as bi

    pooled = bi.analyze(complete_impact(), FORMULA, family="binomial").model_fits()[0]
    truth = pd.concat([pooled.params, pd.Series({"name: Intercept":
                                                  pooled.variance_components["name: Intercept"]})])
    kinds = pd.Series(FIXED, index=truth.index)
    kinds["name: Intercept"] = VARIANCE
    return truth, kinds


def amputate(rng: np.random.Generator) -> pd.DataFrame:
    """One amputation of the complete data by the mechanism above."""
    complete = complete_impact()
    data = complete.copy()
    study = complete["name"].cat.codes.to_numpy()
    n_studies = len(complete["name"].cat.categories)
    age = complete["age"].to_numpy(dtype=float)
    motor = complete["motor_score"].cat.codes.to_numpy(dtype=float)
    base = 0.5 * complete["mort"].to_numpy() + 0.3 * (age - age.mean()) / age.std() \
        - 0.25 * (motor - motor.mean())
    for variable, rate in SPORADIC.items():
        effect = rng.normal(0.0, STUDY_SD, n_studies)[study]
        missing = rng.random(len(data)) < calibrated_logit(base + effect, rate)
        data[variable] = data[variable].mask(missing)
    never = rng.choice(n_studies, SYSTEMATIC_STUDIES, replace=False)
    data["ct"] = data["ct"].mask(np.isin(study, never))
    return data


def simulate(rng: np.random.Generator) -> Replication:
    truth, kinds = complete_fit()
    return Replication(amputate(rng), complete_impact(), truth.copy(), kinds.copy())


def _native_predictors(data: pd.DataFrame) -> pd.DataFrame:
    import bayesimpute as bi

    return bi.make_predictor_matrix(data, cluster="name")


def _tutorial_roles() -> dict:
    columns = list(complete_impact().columns)
    roles = {}
    for target in SPORADIC:
        codes = {c: 1 for c in columns if c != target}
        codes.update({"name": -2, "mort": 2})
        roles[target] = codes
    return roles


METHODS = (
    PythonMethod("bayesimpute 2l.polyreg + 2l.bin", NATIVE, predictors=_native_predictors,
                 ci=True, note="pupil, ct: 2l.polyreg; hypots, tsah, edh: 2l.bin"),
    mice_peer("R miceadds 2l.pmm (integer codes)", dict.fromkeys(SPORADIC, "2l.pmm"),
              _tutorial_roles(), integer_coded=FACTORS, batch=1,
              note="the tutorial's coding: factors as integer codes, 2l.pmm for all, mort "
                   "random slope"),
    Reference("complete cases", rows="complete cases", note="listwise deletion"),
)

IMPACT = Design(
    name="impact", title="IMPACT over repeated amputations (deviation from the complete-data "
    "fit)", description=DESCRIPTION, simulate=simulate, formula=FORMULA, family="binomial",
    methods=METHODS, replications=50, reduced=Reduced(reps=2, m=2, maxit=3),
    head_to_head=("bayesimpute 2l.polyreg + 2l.bin", "R miceadds 2l.pmm (integer codes)"),
    no_targets="the truth is the complete-data fit of the same patients, not a population "
               "value, so a valid 95% interval covers it more often than 95% (it also "
               "carries the complete data's own sampling error); the criterion is the head "
               "to head with R's integer-coded 2l.pmm",
)
DESIGNS = (IMPACT,)
