"""Issue 3: a binomial mixed model of imputed IMPACT data analyses and pools with no glue."""

import numpy as np

import bayesimpute as bi


def test_binomial_analysis_of_imputed_impact_pools():
    data = bi.datasets.load_impact("incomplete")
    method = bi.make_method(data, cluster="name")
    imp = bi.impute(data, method=method, cluster="name", m=2, maxit=1, seed=1)
    pooled = bi.pool(imp.analyze("mort ~ type + age + motor_score + pupil + ct + (1 | name)",
                                 family="binomial"))
    summary = pooled.summary()
    assert len(summary) == 10
    assert np.isfinite(summary[["estimate", "std_error", "df", "fmi"]].to_numpy()).all()
    # the complete-data glmer estimate of age is 0.032 (SE 0.002)
    assert abs(summary.loc["age", "estimate"] - 0.032) < 0.006
