"""Fit records converted to the ModelFit that pooling consumes."""

import numpy as np
import pandas as pd

from bayesimpute.analysis.fit import from_mixed_fit
from bayesimpute.analysis.glmm import GeneralizedMixedFit


def _record() -> GeneralizedMixedFit:
    names = ["Intercept", "x"]
    return GeneralizedMixedFit(
        params=pd.Series([0.1, -0.4], index=names),
        cov=pd.DataFrame(np.diag([0.02, 0.03]), index=names, columns=names),
        theta=np.array([0.8]), loglik=-51.25, nobs=60, n_groups={"g": 12},
        random_covariances={"g": pd.DataFrame([[0.64]], index=["Intercept"],
                                              columns=["Intercept"])},
        converged=False, is_singular=True, messages=["from the optimiser"], family="poisson",
        theta_cov=np.array([[0.01]]),
    )


def test_from_mixed_fit_takes_every_shared_field_by_name():
    record = _record()
    fit = from_mixed_fit(record, dfcom=58.0)
    assert fit.raw is record
    assert fit.params is record.params and fit.cov is record.cov and fit.theta is record.theta
    assert fit.random_covariances is record.random_covariances
    assert (fit.loglik, fit.criterion, fit.nobs, fit.n_groups) == (-51.25, 102.5, 60, {"g": 12})
    assert (fit.converged, fit.is_singular, fit.family) == (False, True, "poisson")
    assert fit.messages == ["from the optimiser"]
    assert fit.dfcom == 58.0


def test_from_mixed_fit_lets_the_analysis_override_and_add():
    record = _record()
    fit = from_mixed_fit(record, messages=record.messages + ["no s.e."],
                         variance_components={"g: Intercept": 0.64})
    assert fit.messages == ["from the optimiser", "no s.e."]
    assert fit.variance_components == {"g: Intercept": 0.64}
