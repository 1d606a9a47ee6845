"""bayesimpute: Bayesian multiple imputation of incomplete multilevel data."""

from bayesimpute import datasets
from bayesimpute.api import find_default_method, impute, make_method, make_predictor_matrix, quickpred
from bayesimpute.checkpoint import resume
from bayesimpute.diagnostics import convergence
from bayesimpute.methods import available_methods, register_method
from bayesimpute.results import MultipleImputation
from bayesimpute.exploration import (
    MissingnessSummary,
    correlation_matrix,
    flux,
    icc,
    md_pattern,
    missingness_summary,
)
from bayesimpute.plots import plot_corr, plot_flux, plot_missingness, plot_pattern, plot_pred

__all__ = [
    "datasets",
    "impute",
    "make_method",
    "make_predictor_matrix",
    "convergence",
    "quickpred",
    "find_default_method",
    "resume",
    "available_methods",
    "register_method",
    "MultipleImputation",
]
__all__ += [
    "md_pattern",
    "missingness_summary",
    "MissingnessSummary",
    "icc",
    "flux",
    "correlation_matrix",
    "plot_pattern",
    "plot_missingness",
    "plot_corr",
    "plot_pred",
    "plot_flux",
]
from bayesimpute.analysis import AnalysisResults, ModelFit, analyze
from bayesimpute.pooling import MultiParameterTest, PooledResult, d1, d2, pool

__all__ += ["analyze", "AnalysisResults", "ModelFit", "pool", "PooledResult", "d1", "d2", "MultiParameterTest"]
__version__ = "0.1.0"
from bayesimpute.plots.estimates import estimates_table, plot_estimates
from bayesimpute.plots.imputed import plot_imputed

__all__ += ["plot_imputed", "plot_estimates", "estimates_table"]
