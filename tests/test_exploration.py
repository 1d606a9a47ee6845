"""Exploration computations: md_pattern, missingness_summary, icc, flux, correlations."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi
from bayesimpute.exploration import TOTAL_ROW


@pytest.fixture
def small() -> pd.DataFrame:
    # Patterns (a, b, c): complete x3, c missing x2, b and c missing x1.
    return pd.DataFrame(
        {
            "a": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "b": [1.0, 2.0, 3.0, 4.0, 5.0, np.nan],
            "c": [1.0, 2.0, 3.0, np.nan, np.nan, np.nan],
        }
    )


def test_md_pattern_hand_made(small):
    before = small.copy()
    table = bi.md_pattern(small)
    pd.testing.assert_frame_equal(small, before)  # input untouched
    assert list(table.columns) == ["count", "a", "b", "c", "n_missing"]
    assert list(table.index) == [1, 2, 3, TOTAL_ROW]
    expected = [[3, 1, 1, 1, 0], [2, 1, 1, 0, 1], [1, 1, 0, 0, 2], [6, 0, 1, 3, 4]]
    assert table.to_numpy().tolist() == expected


def test_md_pattern_sorts_columns_by_missing_count_and_keeps_ties_in_order():
    df = pd.DataFrame(
        {"x": [np.nan, 1, np.nan], "y": [1, 2, 3], "z": ["a", None, "c"], "w": [1, 2, 3]}
    )
    table = bi.md_pattern(df)
    assert list(table.columns) == ["count", "y", "w", "z", "x", "n_missing"]
    assert table.loc[TOTAL_ROW, ["y", "w", "z", "x"]].tolist() == [0, 0, 1, 2]
    assert table["count"].iloc[:-1].sum() == 3


def test_md_pattern_popmis_matches_mice():
    table = bi.md_pattern(bi.datasets.load_popmis())
    assert table["count"].tolist() == [1152, 848, 2000]
    assert table.loc[TOTAL_ROW, "popular"] == 848
    assert table.columns[-2] == "popular"


def test_md_pattern_rejects_non_dataframe():
    with pytest.raises(TypeError, match="DataFrame"):
        bi.md_pattern(np.zeros((3, 2)))


def test_missingness_summary_impact_systematic_ct():
    df = bi.datasets.load_impact("systematic")
    summary = bi.missingness_summary(df, cluster="name")
    table = summary.classification
    assert table.loc["ct", "status"] == "systematic"
    assert sorted(table.loc["ct", "systematic_clusters"]) == ["CSTAT", "HIT II", "NABIS"]
    assert set(summary.systematic()) == {"ct"}
    assert table.loc["pupil", "status"] == "sporadic"
    assert table.loc["age", "status"] == "complete"
    assert "name" not in table.index
    assert summary.shares.loc["ct", "NABIS"] == 1.0
    assert summary.shares.shape == (10, 15)
    assert table.loc["ct", "n_missing"] == df["ct"].isna().sum()


def test_missingness_summary_obesity_weight_cluster_3():
    summary = bi.missingness_summary(bi.datasets.load_obesity(), cluster="Cluster")
    assert summary.classification.loc["Weight", "status"] == "systematic"
    assert summary.classification.loc["Weight", "systematic_clusters"] == [3]
    assert summary.classification.loc["Height", "status"] == "sporadic"


def test_missingness_summary_tidy_matches_counts():
    df = bi.datasets.load_obesity()
    tidy = bi.missingness_summary(df, cluster="Cluster").tidy()
    assert list(tidy.columns) == ["variable", "cluster", "n", "n_missing", "share_missing"]
    row = tidy[(tidy.variable == "Age") & (tidy.cluster == 2)].iloc[0]
    in_cluster = df[df.Cluster == 2]
    assert row.n == len(in_cluster)
    assert row.n_missing == in_cluster["Age"].isna().sum()
    assert row.share_missing == pytest.approx(in_cluster["Age"].isna().mean())


def test_missingness_summary_errors():
    df = bi.datasets.load_obesity()
    with pytest.raises(ValueError, match="'Region'"):
        bi.missingness_summary(df, cluster="Region")
    with pytest.raises(ValueError, match="'nope'"):
        bi.missingness_summary(df, cluster="Cluster", variables=["Age", "nope"])
    gappy = df.assign(Cluster=df["Cluster"].where(df.index > 0))
    with pytest.raises(ValueError, match="missing values"):
        bi.missingness_summary(gappy, cluster="Cluster")


@pytest.fixture(scope="module")
def popmis_icc() -> pd.DataFrame:
    variables = ["popular", "texp", "const", "sex"]
    return bi.icc(bi.datasets.load_popmis(), cluster="school", variables=variables)


def test_icc_popmis(popmis_icc):
    # Observed-rows ICC of popularity is high (the published complete-data ICC is about 0.5).
    assert 0.3 < popmis_icc.loc["popular", "icc"] < 0.6
    assert popmis_icc.loc["popular", "n_obs"] == 1152
    assert popmis_icc.loc["popular", "n_clusters"] == 100
    # texp is a school-level variable: no within-school variance.
    assert popmis_icc.loc["texp", "icc"] == 1.0
    assert popmis_icc.loc["texp", "within_var"] == 0.0
    assert np.isnan(popmis_icc.loc["const", "icc"])
    assert popmis_icc.loc["sex", "icc"] < 0.05


def test_icc_matches_lme4(popmis_icc):
    """The null model's REML variances are lme4's (tests/reference/lme4_varcorr.csv, model
    popmis_null, written by benchmarks/r/reference_fits.R), to lme4's optimiser tolerance."""
    reference = pd.read_csv(Path(__file__).parent / "reference" / "lme4_varcorr.csv")
    lme4 = reference[reference["model"] == "popmis_null"].set_index("component")["value"]
    row = popmis_icc.loc["popular"]
    assert row["between_var"] == pytest.approx(lme4["school: Intercept"], rel=1e-5)
    assert row["within_var"] == pytest.approx(lme4["residual"], rel=1e-5)


def test_icc_matches_variance_components_definition(popmis_icc):
    row = popmis_icc.loc["popular"]
    total = row["between_var"] + row["within_var"]
    assert row["icc"] == pytest.approx(row["between_var"] / total)


def test_icc_skips_categoricals_and_rejects_them_when_named():
    df = bi.datasets.load_obesity()
    table = bi.icc(df, cluster="Cluster")
    assert "FamOb" not in table.index and "Gender" not in table.index
    assert "Cluster" not in table.index
    assert {"Time", "Weight"} <= set(table.index)
    with pytest.raises(ValueError, match="'FamOb'"):
        bi.icc(df, cluster="Cluster", variables=["Age", "FamOb"])
    with pytest.raises(ValueError, match="'nope'"):
        bi.icc(df, cluster="Cluster", variables=["nope"])
    with pytest.raises(TypeError):
        bi.icc(df.to_numpy(), cluster="Cluster")


def test_flux_hand_made(small):
    table = bi.flux(small)
    assert list(table.columns) == ["pobs", "influx", "outflux", "ainb", "aout", "fico"]
    # 6 rows x 3 columns, 4 missing cells (b: 1, c: 3), 14 observed cells.
    expected_a = [1.0, 0.0, 1.0, 0.0, (1 / 6 + 3 / 6) / 2, 3 / 6]
    assert table.loc["a"].tolist() == pytest.approx(expected_a)
    # b missing in row 6 only: there a observed, c missing.
    assert table.loc["b", "influx"] == pytest.approx(1 / 14)
    assert table.loc["b", "outflux"] == pytest.approx(2 / 4)
    assert table.loc["b", "ainb"] == pytest.approx((1 + 0) / 2)
    assert table.loc["b", "aout"] == pytest.approx((0 + 2 / 5) / 2)
    assert table.loc["b", "fico"] == pytest.approx(2 / 5)
    # c missing in rows 4-6: a observed 3 times, b observed twice.
    assert table.loc["c", "influx"] == pytest.approx(5 / 14)
    assert table.loc["c", "outflux"] == pytest.approx(0.0)
    assert table.loc["c", "pobs"] == pytest.approx(0.5)
    assert table.loc["c", "fico"] == pytest.approx(0.0)


def test_flux_local_and_popmis():
    table = bi.flux(bi.datasets.load_popmis(), local=["popular", "sex"])
    assert list(table.index) == ["popular", "sex"]
    # popular: 848 missing x 6 observed partners over all 13,152 observed cells.
    assert table.loc["popular", "influx"] == pytest.approx(848 * 6 / (2000 * 6 + 1152))
    assert table.loc["sex", "outflux"] == 1.0


def test_correlation_matrix_codes_ordered_and_drops_unordered():
    df = bi.datasets.load_impact("systematic")
    corr = bi.correlation_matrix(df)
    assert "motor_score" in corr.columns  # ordered categorical, as codes
    assert "ct" not in corr.columns and "name" not in corr.columns
    expected = df["age"].corr(df["motor_score"].cat.codes.astype(float))
    assert corr.loc["age", "motor_score"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="'pupil'"):
        bi.correlation_matrix(df, ["age", "pupil"])
