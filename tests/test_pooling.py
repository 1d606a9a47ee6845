"""Tests of Rubin's rules, variance-component pooling and the D1 / D2 tests.

Expected values come from R (mice's pool.scalar, mitml's testConstraints / testEstimates /
testModels), written to tests/reference/ by benchmarks/r/reference_fits.R.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from bayesimpute.analysis import AnalysisResults, ModelFit, analyze
from bayesimpute.pooling import (
    SUMMARY_COLUMNS,
    MultiParameterTest,
    PooledResult,
    barnard_rubin,
    d1,
    d2,
    pool,
)

REFERENCE = Path(__file__).parent / "reference"
LITERALS = pd.read_csv(REFERENCE / "pooling_literals.csv")

# m = 5 imputations, two parameters "a" and "b": estimates and sampling variances (the same
# numbers are typed into reference_fits.R).
EST_A = [1.10, 1.25, 0.95, 1.30, 1.05]
EST_B = [-0.50, -0.42, -0.61, -0.55, -0.47]
VAR_A = [0.040, 0.045, 0.038, 0.050, 0.042]
VAR_B = [0.010, 0.012, 0.011, 0.009, 0.010]
COV_AB = [0.005, 0.006, 0.004, 0.007, 0.005]


def _literal(kind: str, dfcom: float, term: str) -> pd.Series:
    rows = LITERALS[(LITERALS["kind"] == kind) & (LITERALS["dfcom"] == dfcom)
                    & (LITERALS["term"] == term)]
    assert len(rows) == 1
    return rows.iloc[0]


def _pairs(full_cov: bool = True) -> list[tuple[pd.Series, pd.DataFrame]]:
    pairs = []
    for i in range(5):
        est = pd.Series([EST_A[i], EST_B[i]], index=["a", "b"])
        off = COV_AB[i] if full_cov else 0.0
        cov = pd.DataFrame([[VAR_A[i], off], [off, VAR_B[i]]], index=est.index, columns=est.index)
        pairs.append((est, cov))
    return pairs


@pytest.mark.parametrize("dfcom", [100.0, math.inf])
def test_rubin_rules_match_mice_pool_scalar(dfcom):
    table = pool(_pairs(), dfcom=dfcom).summary(full=True)
    assert list(table.columns[:8]) == SUMMARY_COLUMNS
    for term in ("a", "b"):
        row, expected = table.loc[term], _literal("pool", dfcom, term)
        for column in ("estimate", "ubar", "b", "t", "df", "riv", "lambda", "fmi", "conf_low"):
            assert row[column] == pytest.approx(expected[column], rel=1e-10), column
        assert row["p_value"] == pytest.approx(expected["p_value"], rel=1e-8)
        assert row["std_error"] == pytest.approx(math.sqrt(expected["t"]), rel=1e-12)
        assert row["statistic"] == pytest.approx(row["estimate"] / row["std_error"])


def test_pairs_without_dfcom_assume_large_sample_and_accept_arrays():
    pairs = [(np.array(e), np.asarray(c)) for e, c in _pairs()]
    result = pool(pairs)
    assert result.dfcom == math.inf and result.m == 5
    table = result.summary()
    assert list(table.index) == ["x0", "x1"]
    expected = [_literal("pool", math.inf, k)["df"] for k in "ab"]
    assert table["df"].tolist() == pytest.approx(expected, rel=1e-10)
    # A 1-D second element is read as variances (mice's pool.scalar takes variances).
    diag = pool([(e, np.diag(c)) for e, c in pairs])
    expected_t = [_literal("pool", math.inf, k)["t"] for k in "ab"]
    assert diag.summary(full=True)["t"].tolist() == pytest.approx(expected_t, rel=1e-12)


def test_barnard_rubin_floors_lambda():
    # b = 0: lambda floored at 1e-4 -> dfold = (m - 1) / 1e-8.
    assert barnard_rubin(5, np.array([0.0]), np.array([1.0]))[0] == pytest.approx(4e8)
    df = barnard_rubin(5, np.array([0.0]), np.array([1.0]), dfcom=10)[0]
    dfobs = 11 / 13 * 10 * (1 - 1e-4)
    assert df == pytest.approx(4e8 * dfobs / (4e8 + dfobs))


def test_statsmodels_ols_results_pool_like_pairs():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 1))
    results = []
    for _ in range(4):
        y = 1 + 2 * x[:, 0] + rng.normal(size=60)
        results.append(sm.OLS(y, sm.add_constant(x)).fit())
    pooled = pool(results)
    assert pooled.dfcom == 58
    pairs = [(pd.Series(r.params, index=r.model.exog_names), r.cov_params()) for r in results]
    by_pairs = pool(pairs, dfcom=58)
    pd.testing.assert_frame_equal(pooled.summary(), by_pairs.summary())
    qbar = np.mean([r.params for r in results], axis=0)
    assert pooled.summary()["estimate"].to_numpy() == pytest.approx(qbar)


def test_mixedlm_results_use_fixed_effects_only():
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(2)
    frames = []
    for _ in range(3):
        g = np.repeat(np.arange(20), 10)
        x = rng.normal(size=200)
        y = 1 + 0.5 * x + rng.normal(size=20)[g] + rng.normal(size=200)
        frames.append(pd.DataFrame({"y": y, "x": x, "g": g}))
    results = [smf.mixedlm("y ~ x", f, groups="g").fit(reml=True) for f in frames]
    pooled = pool(results)
    assert list(pooled.summary().index) == ["Intercept", "x"]
    # Per-term Satterthwaite df (lmerTest's): about J - 1 = 19 for the intercept, which
    # varies between the 20 clusters; x varies within them and gets nearly n - p.
    assert pooled.dfcom["Intercept"] == pytest.approx(19, abs=3)
    assert pooled.dfcom["x"] > 150
    assert pool(results, dfcom="residual").dfcom == 198
    within = np.mean([r.cov_params().iloc[:2, :2].to_numpy() for r in results], axis=0)
    assert pooled.ubar.to_numpy() == pytest.approx(within)
    components = pooled.variance_components()
    assert {"g: Intercept", "residual", "icc"} <= set(components.index)
    mean_var = np.mean([r.cov_re.iloc[0, 0] for r in results])
    assert components.loc["g: Intercept", "estimate"] == pytest.approx(mean_var)
    row = components.loc["icc"]
    assert 0 < row["conf_low"] < row["estimate"] < row["conf_high"] < 1


def test_variance_components_pool_on_log_scale():
    # Two fits with log-variance 0 and log(4) and se 0.1 on the log scale.
    fits = []
    for log_var in (0.0, math.log(4.0)):
        inference = pd.DataFrame(
            {"scale": ["log"], "transformed": [log_var], "std_error": [0.1]}, index=["g: Intercept"]
        )
        fit = ModelFit(
            pd.Series([0.0], index=["x"]),
            pd.DataFrame([[1.0]], index=["x"], columns=["x"]),
            variance_components={"g: Intercept": math.exp(log_var)},
            variance_inference=inference,
        )
        fits.append(fit)
    row = pool(fits).variance_components().loc["g: Intercept"]
    assert row["estimate"] == pytest.approx(2.5)  # plain mean, as mitml
    # log scale: qbar = log 2, b = (log 4)^2 / 2, t = 0.01 + 1.5 b, df = barnard_rubin(2, b, t)
    b = math.log(4.0) ** 2 / 2
    t = 0.01 + 1.5 * b
    df = 1 / (1.5 * b / t) ** 2
    from scipy import stats

    half = stats.t.ppf(0.975, df) * math.sqrt(t)
    assert row["conf_low"] == pytest.approx(2 * math.exp(-half))
    assert row["conf_high"] == pytest.approx(2 * math.exp(half))
    assert row["interval"] == "rubin"


def test_mixing_concatenates_draws():
    rng = np.random.default_rng(3)
    fits = []
    for shift in (0.0, 1.0, 2.0):
        draws = pd.DataFrame({"a": rng.normal(shift, 1, 400), "b": rng.normal(-shift, 2, 400)})
        fits.append(ModelFit(draws.mean(), draws.cov(), draws=draws))
    result = pool(fits, method="mixing")
    table = result.summary()
    mixed = pd.concat([f.draws for f in fits], ignore_index=True)
    assert table.loc["a", "estimate"] == pytest.approx(mixed["a"].mean())
    assert table.loc["b", "std_error"] == pytest.approx(mixed["b"].std())
    assert table.loc["a", "conf_low"] == pytest.approx(mixed["a"].quantile(0.025))
    assert table.loc["a", "conf_high"] == pytest.approx(mixed["a"].quantile(0.975))
    assert (table["n_draws"] == 1200).all()
    with pytest.raises(ValueError, match="draws"):
        pool(_pairs(), method="mixing")
    # Any object with a draws DataFrame is poolable, by mixing or by Rubin's rules on moments.

    class Posterior:
        def __init__(self, draws):
            self.draws = draws

    posteriors = [Posterior(f.draws) for f in fits]
    by_object = pool(posteriors, method="mixing").summary()
    pd.testing.assert_frame_equal(by_object, table)
    rubin = pool(posteriors).summary()
    assert rubin.loc["a", "estimate"] == pytest.approx(mixed["a"].mean())


def test_bad_input_errors():
    with pytest.raises(ValueError, match="at least 2"):
        pool(_pairs()[:1])
    renamed = _pairs()
    renamed[2] = (renamed[2][0].rename({"b": "c"}), renamed[2][1])
    with pytest.raises(ValueError, match=r"fits\[2\]"):
        pool(renamed)
    with pytest.raises(TypeError, match=r"fits\[0\]"):
        pool(["not a fit", "neither"])
    with pytest.raises(ValueError, match="method"):
        pool(_pairs(), method="average")
    with pytest.raises(ValueError, match="dfcom"):
        pool(_pairs(), dfcom=-1)
    assert isinstance(pool(AnalysisResults(_pairs(), model="pairs")), PooledResult)


# mitml's testConstraints differentiates the constraints numerically (delta method), which
# costs it about 1e-8 of relative precision: the D1 / D2 comparisons allow 1e-6.
def test_d1_matches_mitml_test_constraints():
    result = d1(_pairs(), ["a", "b"], dfcom=math.inf)
    assert isinstance(result, MultiParameterTest)
    expected = _literal("D1", math.inf, "a,b")
    assert result.statistic == pytest.approx(expected["estimate"], rel=1e-6)
    assert result.riv == pytest.approx(expected["riv"], rel=1e-6)
    assert result.df2 == pytest.approx(expected["df"], rel=1e-6)
    assert result.p_value == pytest.approx(expected["p_value"], rel=1e-6)
    assert result.df1 == 2
    small = d1(_pairs(), ["a", "b"], dfcom=100)
    assert small.df2 == pytest.approx(_literal("D1", 100.0, "a,b")["df"], rel=1e-6)
    assert small.statistic == pytest.approx(expected["estimate"], rel=1e-6)
    frame = result.to_frame()
    assert list(frame.columns) == ["statistic", "df1", "df2", "p_value", "riv"]


def test_d2_matches_mitml_test_constraints():
    result = d2(_pairs(), ["a", "b"])
    expected = _literal("D2", math.inf, "a,b")
    assert result.statistic == pytest.approx(expected["estimate"], rel=1e-6)
    assert result.riv == pytest.approx(expected["riv"], rel=1e-6)
    assert result.df2 == pytest.approx(expected["df"], rel=1e-6)
    assert result.p_value == pytest.approx(expected["p_value"], rel=1e-6)


def test_d1_ways_of_stating_the_hypothesis_agree():
    by_names = d1(_pairs(), ["b"], dfcom=math.inf)
    by_matrix = d1(_pairs(), pd.DataFrame([[1.0]], columns=["b"]), dfcom=math.inf)
    reduced = [(e[["a"]], c.loc[["a"], ["a"]]) for e, c in _pairs()]
    by_models = d1(_pairs(), reduced, dfcom=math.inf)
    for other in (by_matrix, by_models):
        assert other.statistic == pytest.approx(by_names.statistic)
        assert other.df2 == pytest.approx(by_names.df2)
    # One parameter: D1 is the square of the pooled t statistic with r = riv.
    table = pool(_pairs(), dfcom=math.inf).summary()
    assert by_names.statistic == pytest.approx(table.loc["b", "statistic"] ** 2)
    assert by_names.riv == pytest.approx(table.loc["b", "riv"])
    # rhs shifts the hypothesis: b = -0.51 (the pooled estimate) gives statistic 0.
    assert d1(_pairs(), ["b"], rhs=[-0.51]).statistic == pytest.approx(0.0, abs=1e-20)
    with pytest.raises(ValueError, match="reduced"):
        d1(_pairs(), ["zzz"])


def test_barnard_rubin_takes_one_dfcom_per_term():
    b, t = np.array([0.2, 0.5, 0.1]), np.array([1.0, 1.5, 0.4])
    dfcom = np.array([9.0, math.inf, 250.0])
    vector = barnard_rubin(5, b, t, dfcom)
    scalar = [barnard_rubin(5, b[[i]], t[[i]], dfcom[i])[0] for i in range(3)]
    assert vector == pytest.approx(scalar)


def test_pool_accepts_per_term_dfcom():
    pairs = _pairs()
    terms = list(pool(pairs).summary().index)
    per_term = pd.Series([100.0] * len(terms), index=terms)
    by_series = pool(pairs, dfcom=per_term).summary()
    by_number = pool(pairs, dfcom=100).summary()
    pd.testing.assert_frame_equal(by_series, by_number)
    with pytest.raises(ValueError, match="every term"):
        pool(pairs, dfcom=pd.Series([10.0], index=[terms[0]]))


# --------------------------------------------------------------------------- against mitml


@pytest.fixture(scope="module")
def popmis_imputed() -> list[pd.DataFrame]:
    """m = 5 completed popmis data sets from R mice (2l.pan), as R pooled them."""
    long = pd.read_csv(REFERENCE / "popmis_imputed.csv")
    return [frame.drop(columns=[".imp", ".id"]) for _, frame in long.groupby(".imp")]


@pytest.fixture(scope="module")
def popmis_fits(popmis_imputed) -> AnalysisResults:
    return analyze(popmis_imputed, "popular ~ texp + sex + (1 | school)")


def test_pooled_lmer_fits_equal_mitml(popmis_fits):
    expected = pd.read_csv(REFERENCE / "mitml_pooled.csv").set_index("term")
    # mice's residual df, as mitml's testEstimates(df.com = n - p)
    residual = pool(popmis_fits, dfcom="residual").summary()
    np.testing.assert_allclose(residual["estimate"], expected["estimate"], rtol=1e-6)
    np.testing.assert_allclose(residual["std_error"], expected["std_error"], rtol=1e-5)
    np.testing.assert_allclose(residual["df"], expected["df_residual"], rtol=1e-4)
    np.testing.assert_allclose(residual["riv"], expected["riv"], rtol=1e-4)
    np.testing.assert_allclose(residual["fmi"], expected["fmi"], rtol=1e-4)
    # the default: each term's lmerTest Satterthwaite df as complete-data df
    default = pool(popmis_fits)
    np.testing.assert_allclose(default.dfcom, expected["dfcom_satterthwaite"], rtol=1e-3)
    np.testing.assert_allclose(default.summary()["df"], expected["df_satterthwaite"], rtol=1e-3)


def test_pooled_variance_components_equal_mitml_extra_pars(popmis_fits):
    expected = pd.read_csv(REFERENCE / "mitml_components.csv").set_index("component")
    ours = pool(popmis_fits).variance_components()
    np.testing.assert_allclose(ours.loc[expected.index, "estimate"], expected["estimate"],
                               rtol=1e-5)


def test_d1_d2_equal_mitml_test_models(popmis_imputed, popmis_fits):
    expected = pd.read_csv(REFERENCE / "mitml_tests.csv")
    null = analyze(popmis_imputed, "popular ~ 1 + (1 | school)")
    for _, row in expected.iterrows():
        if row["test"] == "D1":
            result = d1(popmis_fits, null, dfcom=row["dfcom"])
        else:
            result = d2(popmis_fits, null)
        assert result.statistic == pytest.approx(row["statistic"], rel=1e-4), row["test"]
        assert result.df2 == pytest.approx(row["df2"], rel=1e-4), row["test"]
        assert result.riv == pytest.approx(row["riv"], rel=1e-4), row["test"]


# --------------------------------------------------------------------------- printing, problems


def test_summary_keeps_the_contract_and_prints_compactly():
    pooled = pool(_pairs(), dfcom=100)
    table = pooled.summary()
    assert list(table.columns) == SUMMARY_COLUMNS + ["conf_low", "conf_high"]
    assert {"ubar", "b", "t"} <= set(pooled.summary(full=True).columns)
    text = repr(pooled)
    header = text.splitlines()[1]
    assert header.split() == ["estimate", "std.error", "statistic", "df", "p.value"]
    assert max(len(line) for line in text.splitlines()) <= 88  # fits a terminal
    assert "summary(full=True)" in text


def test_variance_component_without_standard_error_warns_with_the_cause():
    """Issue 11 item 7: the between-only interval was used silently."""
    fits = []
    for i, log_var in enumerate((0.0, 0.5, 1.0)):
        se = np.nan if i == 1 else 0.1
        inference = pd.DataFrame({"scale": ["log"], "transformed": [log_var], "std_error": [se]},
                                 index=["g: Intercept"])
        fits.append(ModelFit(pd.Series([0.0], index=["x"]),
                             pd.DataFrame([[1.0]], index=["x"], columns=["x"]),
                             variance_components={"g: Intercept": math.exp(log_var)},
                             variance_inference=inference,
                             messages=["no Hessian for this one"] if i == 1 else []))
    with pytest.warns(RuntimeWarning, match=r"g: Intercept: no standard error in imputations "
                                            r"\[2\] \(no Hessian for this one\).*too narrow"):
        table = pool(fits).variance_components()
    assert table.loc["g: Intercept", "interval"] == "between-only"
    # a zero variance has no log: no interval at all, and a warning
    fits[2].variance_components["g: Intercept"] = 0.0
    fits[2].variance_inference.loc["g: Intercept", ["transformed", "std_error"]] = [-np.inf,
                                                                                    np.nan]
    with pytest.warns(RuntimeWarning, match="boundary"):
        table = pool(fits).variance_components()
    assert table.loc["g: Intercept", "interval"] == "none"
    assert np.isnan(table.loc["g: Intercept", "conf_low"])
