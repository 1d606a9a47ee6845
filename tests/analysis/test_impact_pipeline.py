"""Issue 3: a binomial mixed model of imputed IMPACT data analyses and pools with no glue."""

import numpy as np

import bayesimpute as bi
import lme4_reference as ref


def test_binomial_analysis_of_imputed_impact_pools():
    data = bi.datasets.load_impact("incomplete")
    method = bi.make_method(data, cluster="name")
    imp = bi.impute(data, method=method, cluster="name", m=2, maxit=1, seed=1)
    pooled = bi.pool(imp.analyze("mort ~ type + age + motor_score + pupil + ct + (1 | name)",
                                 family="binomial"))
    summary = pooled.summary()
    assert len(summary) == 10
    assert np.isfinite(summary[["estimate", "std_error", "df", "fmi"]].to_numpy()).all()
    # glmer on the complete data (tests/reference): age 0.032 with s.e. 0.002; two short
    # chains of imputations stay within three of its standard errors
    complete = ref.fixed("impact").loc["age"]
    assert abs(summary.loc["age", "estimate"] - complete["estimate"]) < 3 * complete["std_error"]
    assert pooled.problems.empty
