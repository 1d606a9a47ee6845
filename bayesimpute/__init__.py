"""bayesimpute: Bayesian multiple imputation of incomplete multilevel data.

The public API: ``impute`` and the helpers that prepare its arguments,
the ``MultipleImputation`` result, diagnostics, analysis and pooling, exploration and
plots, MNAR sensitivity analysis, and the bundled case-study datasets.
"""

from bayesimpute import datasets, sensitivity
from bayesimpute.analysis import AnalysisResults, ModelFit, analyze
from bayesimpute.api import (
    find_default_method,
    impute,
    make_method,
    make_predictor_matrix,
    quickpred,
    resume,
)
from bayesimpute.diagnostics import NotConvergedWarning, convergence
from bayesimpute.exploration import (
    MissingnessSummary,
    correlation_matrix,
    flux,
    icc,
    md_pattern,
    missingness_summary,
)
from bayesimpute.methods import available_methods, describe_method, register_method
from bayesimpute.plots import plot_corr, plot_flux, plot_missingness, plot_pattern, plot_pred
from bayesimpute.plots.estimates import estimates_table, plot_estimates
from bayesimpute.plots.imputed import plot_imputed
from bayesimpute.pooling import MultiParameterTest, PooledResult, d1, d2, pool
from bayesimpute.results import MultipleImputation
from bayesimpute.settings import rc_context, settings

__version__ = "0.1.0"

__all__ = [
    # imputation
    "impute",
    "make_method",
    "make_predictor_matrix",
    "quickpred",
    "find_default_method",
    "resume",
    "MultipleImputation",
    "available_methods",
    "describe_method",
    "register_method",
    # diagnostics
    "convergence",
    "NotConvergedWarning",
    # analysis and pooling
    "analyze",
    "AnalysisResults",
    "ModelFit",
    "pool",
    "PooledResult",
    "d1",
    "d2",
    "MultiParameterTest",
    # exploration and plots
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
    "plot_imputed",
    "plot_estimates",
    "estimates_table",
    # settings
    "settings",
    "rc_context",
    # modules
    "datasets",
    "sensitivity",
]
