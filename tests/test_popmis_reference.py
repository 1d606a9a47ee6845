"""popmis: two-level imputation keeps the clustering that single-level pmm destroys.

R references (../shared/data/README.md, mice 3.15 / miceadds 3.20, m = 5, maxit = 10):
school variance 0.447-0.462, residual 0.465-0.475, ICC 0.485-0.496 for the 2l methods;
pmm ignoring schools: school variance 0.185, ICC 0.203.
"""

import numpy as np
import pytest
import statsmodels.formula.api as smf

import bayesimpute as bi

R_SCHOOL_VAR, R_RESID_VAR, R_ICC = 0.455, 0.468, 0.493  # miceadds 2l.pmm row


def averaged_components(imp):
    """Variance components of popular ~ texp + sex + (1|school), averaged over the m fits."""
    rows = []
    for i in range(imp.m):
        data = imp.complete(i)
        fit = smf.mixedlm("popular ~ texp + sex", data, groups=data["school"]).fit(reml=True)
        rows.append([fit.cov_re.iloc[0, 0], fit.scale])
    school, resid = np.mean(rows, axis=0)
    return school, resid, school / (school + resid)


@pytest.mark.parametrize("method", ["2l.norm", "2l.pmm"])
def test_two_level_methods_match_r_variance_components(popmis, popmis_pred, method):
    imp = bi.impute(popmis, method={"popular": method}, predictor_matrix=popmis_pred,
                    m=5, maxit=10, seed=123)
    school, resid, icc = averaged_components(imp)
    assert school == pytest.approx(R_SCHOOL_VAR, rel=0.10)
    assert resid == pytest.approx(R_RESID_VAR, rel=0.10)
    assert icc == pytest.approx(R_ICC, rel=0.10)


def test_single_level_pmm_shrinks_the_icc(popmis, popmis_pred):
    imp = bi.impute(popmis, method={"popular": "pmm"}, predictor_matrix=popmis_pred,
                    m=5, maxit=10, seed=123)
    school, _, icc = averaged_components(imp)
    # R's pmm: ICC 0.203. The two-level value is about 0.49: pmm loses more than half of it.
    assert 0.12 < icc < 0.30
    assert school < 0.6 * R_SCHOOL_VAR


def test_pooled_2l_pmm_matches_the_published_table(popmis, popmis_pred):
    """Issue 3: fixed effects within one published SE, variance components within 10%."""
    imp = bi.impute(popmis, method={"popular": "2l.pmm"}, predictor_matrix=popmis_pred,
                    m=5, maxit=10, seed=123)
    pooled = bi.pool(imp.analyze("popular ~ texp + sex + (1 | school)"))
    summary = pooled.summary()
    published = {"Intercept": (3.599, 0.181), "texp": (0.092, 0.012), "sex": (0.852, 0.039)}
    for term, (estimate, se) in published.items():
        assert abs(summary.loc[term, "estimate"] - estimate) < se, term
    components = pooled.variance_components()["estimate"]
    assert components["school: Intercept"] == pytest.approx(0.470, rel=0.10)
    assert components["residual"] == pytest.approx(0.462, rel=0.10)
    assert components["icc"] == pytest.approx(0.504, rel=0.10)
