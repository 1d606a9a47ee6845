"""Tests of Rubin's rules, variance-component pooling and the D1 / D2 tests.

Expected values are literals computed once, independently, with mice's formulas written out
in plain Python (see the comments), never by calling bayesimpute.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from bayesimpute.analysis import AnalysisResults, ModelFit
from bayesimpute.pooling import (
    SUMMARY_COLUMNS,
    MultiParameterTest,
    PooledResult,
    barnard_rubin,
    d1,
    d2,
    pool,
)

# m = 5 imputations, two parameters "a" and "b": estimates and sampling variances.
EST_A = [1.10, 1.25, 0.95, 1.30, 1.05]
EST_B = [-0.50, -0.42, -0.61, -0.55, -0.47]
VAR_A = [0.040, 0.045, 0.038, 0.050, 0.042]
VAR_B = [0.010, 0.012, 0.011, 0.009, 0.010]
COV_AB = [0.005, 0.006, 0.004, 0.007, 0.005]

# Hand computation for "a" (mice pool.vector + barnard.rubin), dfcom = 100:
#   qbar = 5.65 / 5 = 1.13;  ubar = 0.215 / 5 = 0.043
#   b = (0.03^2 + 0.12^2 + 0.18^2 + 0.17^2 + 0.08^2) / 4 = 0.083 / 4 = 0.02075
#   t = 0.043 + 1.2 * 0.02075 = 0.0679;  riv = 0.0249 / 0.043;  lambda = 0.0249 / 0.0679
#   dfold = 4 / lambda^2 = 29.744...;  dfobs = 101/103 * 100 * (1 - lambda)
#   df = dfold dfobs / (dfold + dfobs);  fmi = (riv + 2/(df + 3)) / (riv + 1)
EXPECTED_DFCOM_100 = {
    #      estimate, ubar, b, t, df, riv, lambda, fmi, p_value, conf_low
    "a": (1.13, 0.043, 0.02075, 0.0679, 20.11121638033678, 0.5790697674418607,
          0.3667157584683359, 0.4215189528229582, 0.000316765961255529, 0.5866400300853116),
    "b": (-0.51, 0.0104, 0.00535, 0.01682, 18.898284028709188, 0.6173076923076926,
          0.38168846611177176, 0.43815969765462753, 0.0009019060758199108, -0.7815472750200725),
}
# Same with dfcom = Inf: df = dfold = (m - 1) / lambda^2.
EXPECTED_DFCOM_INF = {
    "a": (29.74410090159835, 0.40539657266658136, 0.00015255425301304766, 0.5976401751721464),
    "b": (27.456294096524676, 0.4222916683220357, 0.0005171191686964944, -0.7758991108418577),
}


def _pairs(full_cov: bool = True) -> list[tuple[pd.Series, pd.DataFrame]]:
    pairs = []
    for i in range(5):
        est = pd.Series([EST_A[i], EST_B[i]], index=["a", "b"])
        off = COV_AB[i] if full_cov else 0.0
        cov = pd.DataFrame([[VAR_A[i], off], [off, VAR_B[i]]], index=est.index, columns=est.index)
        pairs.append((est, cov))
    return pairs


def test_rubin_rules_match_mice_formulas_literally():
    table = pool(_pairs(), dfcom=100).summary()
    assert list(table.columns[:8]) == SUMMARY_COLUMNS
    for term, (est, ubar, b, t, df, riv, lam, fmi, p, low) in EXPECTED_DFCOM_100.items():
        row = table.loc[term]
        assert row["estimate"] == pytest.approx(est, abs=1e-8)
        assert row["ubar"] == pytest.approx(ubar, abs=1e-8)
        assert row["b"] == pytest.approx(b, abs=1e-8)
        assert row["t"] == pytest.approx(t, abs=1e-8)
        assert row["std_error"] == pytest.approx(math.sqrt(t), abs=1e-8)
        assert row["df"] == pytest.approx(df, abs=1e-8)
        assert row["riv"] == pytest.approx(riv, abs=1e-8)
        assert row["lambda"] == pytest.approx(lam, abs=1e-8)
        assert row["fmi"] == pytest.approx(fmi, abs=1e-8)
        assert row["p_value"] == pytest.approx(p, rel=1e-8)
        assert row["conf_low"] == pytest.approx(low, abs=1e-8)
        assert row["statistic"] == pytest.approx(est / math.sqrt(t), abs=1e-8)


def test_dfcom_infinite_gives_old_df():
    table = pool(_pairs(), dfcom=math.inf).summary()
    for term, (df, fmi, p, low) in EXPECTED_DFCOM_INF.items():
        assert table.loc[term, "df"] == pytest.approx(df, abs=1e-8)
        assert table.loc[term, "fmi"] == pytest.approx(fmi, abs=1e-8)
        assert table.loc[term, "p_value"] == pytest.approx(p, rel=1e-8)
        assert table.loc[term, "conf_low"] == pytest.approx(low, abs=1e-8)


def test_pairs_without_dfcom_assume_large_sample_and_accept_arrays():
    pairs = [(np.array(e), np.asarray(c)) for e, c in _pairs()]
    result = pool(pairs)
    assert result.dfcom == math.inf and result.m == 5
    table = result.summary()
    assert list(table.index) == ["x0", "x1"]
    assert table["df"].tolist() == pytest.approx([EXPECTED_DFCOM_INF[k][0] for k in "ab"], abs=1e-8)
    # A 1-D second element is read as variances (mice's pool.scalar takes variances).
    diag = pool([(e, np.diag(c)) for e, c in pairs])
    assert diag.summary()["t"].tolist() == pytest.approx([0.0679, 0.01682], abs=1e-12)


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


# D1 / D2 hand computation (k = 2, m = 5, full 2 x 2 covariances with COV_AB):
#   Qbar = (1.13, -0.51); Ubar = [[0.043, 0.0054], [0.0054, 0.0104]]
#   B = [[0.02075, B_ab], [B_ab, 0.00535]], B_ab = sum((a_l - 1.13)(b_l + 0.51)) / 4
#   r = 1.2 tr(B Ubar^-1) / 2;  D1 = Qbar' Ubar^-1 Qbar / ((1 + r) 2)
#   t = k (m - 1) = 8 > 4: v = 4 + 4 (1 + (1 - 2/8) / r)^2
#   D2: d_l = Q_l' U_l^-1 Q_l; r2 = 1.2 var(sqrt(d_l)); D2 = (mean(d)/2 - 1.5 r2) / (1 + r2);
#       v2 = 2^(-3/5) 4 (1 + 1/r2)^2
D1_EXPECTED = (23.405305225906826, 0.5682231365419579, 25.527818576886947, 1.683360427336361e-06)
D1_DFCOM_100_DF2 = 18.131437409346127  # Reiter (2007) as in mitml's .D1
D2_EXPECTED = (20.06931139281622, 0.8079286573278999, 13.214737654679318, 9.891277672026752e-05)


def test_d1_matches_hand_computation():
    result = d1(_pairs(), ["a", "b"], dfcom=math.inf)
    assert isinstance(result, MultiParameterTest)
    statistic, riv, df2, p = D1_EXPECTED
    assert result.statistic == pytest.approx(statistic, rel=1e-10)
    assert result.riv == pytest.approx(riv, rel=1e-10)
    assert result.df2 == pytest.approx(df2, rel=1e-10)
    assert result.p_value == pytest.approx(p, rel=1e-8)
    assert result.df1 == 2
    small = d1(_pairs(), ["a", "b"], dfcom=100)
    assert small.df2 == pytest.approx(D1_DFCOM_100_DF2, rel=1e-10)
    assert small.statistic == pytest.approx(statistic, rel=1e-10)
    frame = result.to_frame()
    assert list(frame.columns) == ["statistic", "df1", "df2", "p_value", "riv"]


def test_d2_matches_hand_computation():
    result = d2(_pairs(), ["a", "b"])
    statistic, riv, df2, p = D2_EXPECTED
    assert result.statistic == pytest.approx(statistic, rel=1e-10)
    assert result.riv == pytest.approx(riv, rel=1e-10)
    assert result.df2 == pytest.approx(df2, rel=1e-10)
    assert result.p_value == pytest.approx(p, rel=1e-8)


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
