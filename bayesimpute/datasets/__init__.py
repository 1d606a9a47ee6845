"""The case-study data of the multilevel-imputation tutorial, shipped with the package.

Provenance and licences are recorded in ``data/PROVENANCE.md`` beside the CSV files.
"""

from __future__ import annotations

from importlib import resources
from typing import Literal

import pandas as pd

from bayesimpute.validation import check_one_of

__all__ = ["load_popmis", "load_impact", "load_obesity", "load_brandsma", "load_scotssec",
           "IMPACT_VARIANTS", "SCOTSSEC_VARIANTS"]

IMPACT_VARIANTS = {
    "complete": "impact.csv",
    "incomplete": "impact_incomplete.csv",
    "systematic": "impact_systematic.csv",
}

SCOTSSEC_VARIANTS = {"complete": "scotssec.csv", "incomplete": "scotssec_incomplete.csv"}

# Category order fixes the reference level used in the analyses (first level = reference),
# matching the published tables: OBS, 1/2, Both, I/II.
_IMPACT_LEVELS = {
    "type": (["OBS", "RCT"], False),
    "motor_score": (["1/2", "3", "4", "5/6"], True),
    "pupil": (["Both", "One", "None"], False),
    "ct": (["I/II", "III", "IV/V"], False),
}
_OBESITY_LEVELS = {"Gender": (["Female", "Male"], False), "FamOb": (["no", "yes"], False)}


def _read_csv(filename: str) -> pd.DataFrame:
    # keep_default_na=False: the IMPACT pupil column has a level literally called "None",
    # which pandas' default NA list would silently turn into a missing value.
    path = resources.files(__package__).joinpath("data", filename)
    with resources.as_file(path) as local:
        return pd.read_csv(local, keep_default_na=False, na_values=["NA"])


def _as_categories(df: pd.DataFrame, levels: dict[str, tuple[list[str], bool]]) -> pd.DataFrame:
    for column, (categories, ordered) in levels.items():
        unknown = set(df[column].dropna().unique()) - set(categories)
        if unknown:
            raise ValueError(f"column {column!r} has unexpected levels {sorted(unknown)}")
        df[column] = pd.Categorical(df[column], categories=categories, ordered=ordered)
    return df


def load_popmis() -> pd.DataFrame:
    """Pupil popularity data (mice's ``popmis``): 2,000 pupils in 100 schools.

    Only ``popular`` is incomplete (848 values missing at random). ``school`` is the
    cluster, ``texp`` (teacher experience) is constant within school.

    Returns
    -------
    pandas.DataFrame
        Columns ``pupil, school, popular, sex, texp, const, teachpop``.
    """
    df = _read_csv("popmis.csv")
    return df


def load_impact(variant: Literal["complete", "incomplete", "systematic"] = "complete") -> pd.DataFrame:
    """IMPACT traumatic-brain-injury data: 11,022 patients in 15 studies (``name``).

    Parameters
    ----------
    variant : {"complete", "incomplete", "systematic"}
        ``"complete"`` is the full data; ``"incomplete"`` the tutorial authors' version with
        sporadic missingness (the published table was computed on it); ``"systematic"`` adds
        ``ct`` never measured in the studies CSTAT, HIT II and NABIS.

    Returns
    -------
    pandas.DataFrame
        Factors as categoricals (first level = reference: OBS, 1/2, Both, I/II), the
        study ``name`` as an unordered categorical, binaries as 0/1 numbers.
    """
    check_one_of(variant, sorted(IMPACT_VARIANTS), name="variant")
    df = _read_csv(IMPACT_VARIANTS[variant])
    df["name"] = pd.Categorical(df["name"], categories=list(dict.fromkeys(df["name"])))
    return _as_categories(df, _IMPACT_LEVELS)


def load_obesity() -> pd.DataFrame:
    """Online obesity survey (micemd's ``obesity``): 2,111 people in 5 regions (``Cluster``).

    ``Weight`` is missing not at random and never observed in cluster 3; ``BMI`` is
    ``Weight / Height**2``; ``Time`` is the exclusion-restriction variable.
    """
    df = _read_csv("obesity.csv")
    return _as_categories(df, _OBESITY_LEVELS)


def load_brandsma() -> pd.DataFrame:
    """Dutch language-test data (mice's ``brandsma``): 4,106 pupils in 216 schools (``sch``).

    Real, incomplete data nobody here prepared: 12 of the 14 columns have missing values.
    ``den`` (school denomination, 4 levels) and ``ssi`` (school SES index) are school-level
    variables, constant within school; ``den`` is missing in whole schools (249 pupils).
    Exported from R by ``benchmarks/r/export_brandsma.R``.

    Returns
    -------
    pandas.DataFrame
        Columns ``sch, pup, iqv, iqp, sex, ses, min, rpg, lpr, lpo, apr, apo, den, ssi``;
        ``den`` an unordered categorical with levels 1-4 (1 = reference), the other
        columns numbers (``sex``, ``min`` 0/1; ``rpg`` 0-2 repeated grades).
    """
    df = _read_csv("brandsma.csv")
    df["den"] = pd.Categorical(df["den"], categories=[1, 2, 3, 4])
    return df


def load_scotssec(variant: Literal["complete", "incomplete"] = "complete") -> pd.DataFrame:
    """Scottish secondary-school attainment (mlmRev's ``ScotsSec``), cross-classified data.

    3,435 pupils cross-classified by 148 primary schools (``primary``) and 19 secondary
    schools (``second``): a pupil's primary school does not determine the secondary one.
    ``variant="incomplete"`` has missing values imposed by the mechanism documented in
    ``benchmarks/r/export_scotssec.R`` (``verbal`` 33% missing, depending on ``attain``, and
    never measured in 15 of the 148 primary schools; ``attain`` 19% missing, MAR on ``social``
    and ``sex``). ``verbal``'s deletion uses the true ``attain``, so the mechanism is MAR only
    where ``attain`` is observed. Exported from R by that script; GPL (>= 2), see
    ``data/PROVENANCE.md``.

    Returns
    -------
    pandas.DataFrame
        Columns ``primary, second`` (integer ids), ``attain`` (attainment score 1-10 at
        age 16), ``verbal`` (verbal reasoning score at entry to secondary school), ``sex``
        (categorical, ``F`` the reference), ``social`` (father's social class, 0-31).
    """
    check_one_of(variant, sorted(SCOTSSEC_VARIANTS), name="variant")
    df = _read_csv(SCOTSSEC_VARIANTS[variant])
    df["sex"] = pd.Categorical(df["sex"], categories=["F", "M"])
    return df
