import pandas as pd
import pytest

import bayesimpute as bi


def test_popmis():
    df = bi.datasets.load_popmis()
    assert df.shape == (2000, 7)
    assert df["popular"].isna().sum() == 848
    assert df["school"].nunique() == 100
    assert (df.groupby("school")["texp"].nunique() == 1).all()


@pytest.mark.parametrize("variant, n_missing", [("complete", 0), ("incomplete", 11870),
                                                ("systematic", 9839)])
def test_impact_variants(variant, n_missing):
    df = bi.datasets.load_impact(variant)
    assert df.shape == (11022, 11)
    assert int(df.isna().sum().sum()) == n_missing
    # the level literally called "None" must survive reading (pandas' NA list would eat it)
    assert "None" in df["pupil"].cat.categories
    assert (df["pupil"] == "None").sum() > 1800
    assert list(df["ct"].cat.categories) == ["I/II", "III", "IV/V"]
    assert list(df["type"].cat.categories) == ["OBS", "RCT"]  # reference level first
    assert df["name"].nunique() == 15


def test_impact_systematic_ct_never_measured_in_three_studies():
    df = bi.datasets.load_impact("systematic")
    share = df["ct"].isna().groupby(df["name"], observed=True).mean()
    assert set(share[share == 1].index) == {"CSTAT", "HIT II", "NABIS"}


def test_obesity():
    df = bi.datasets.load_obesity()
    assert df.shape == (2111, 8)
    assert isinstance(df["FamOb"].dtype, pd.CategoricalDtype)
    assert df.loc[df["Cluster"] == 3, "Weight"].isna().all()


def test_unknown_variant_is_an_error():
    with pytest.raises(ValueError, match="variant"):
        bi.datasets.load_impact("nope")


def test_brandsma_has_its_school_level_factor():
    df = bi.datasets.load_brandsma()
    assert df.shape == (4106, 14)
    assert df["sch"].nunique() == 216
    assert list(df["den"].cat.categories) == [1, 2, 3, 4]
    assert int(df["den"].isna().sum()) == 249
    # den and ssi are school-level: one value per school among its observed pupils
    per_school = df.groupby("sch")[["den", "ssi"]].nunique(dropna=True)
    assert (per_school <= 1).all().all()


def test_scotssec_is_cross_classified_with_imposed_missingness():
    complete = bi.datasets.load_scotssec()
    incomplete = bi.datasets.load_scotssec("incomplete")
    assert complete.shape == incomplete.shape == (3435, 6)
    assert complete["primary"].nunique() == 148 and complete["second"].nunique() == 19
    assert not complete.isna().any().any()
    # crossed: some primary schools send pupils to several secondary schools
    assert (complete.groupby("primary")["second"].nunique() > 1).any()
    assert list(complete["sex"].cat.categories) == ["F", "M"]
    # missing values only where the export script put them, observed values unchanged
    assert incomplete["verbal"].isna().sum() == 1132 and incomplete["attain"].isna().sum() == 639
    observed = incomplete["verbal"].notna()
    assert (incomplete.loc[observed, "verbal"] == complete.loc[observed, "verbal"]).all()
    never = incomplete.groupby("primary")["verbal"].apply(lambda v: v.isna().all())
    # the 15 schools the export script chose (one more small school lost all by chance)
    chosen = {1, 7, 14, 15, 36, 54, 60, 66, 67, 76, 94, 100, 118, 120, 129}
    assert chosen <= set(never.index[never]) and never.sum() == 16
    with pytest.raises(ValueError, match="variant"):
        bi.datasets.load_scotssec("other")
