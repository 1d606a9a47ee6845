"""bayesimpute: Bayesian multiple imputation of incomplete multilevel data."""

from bayesimpute import datasets

__all__ = ["datasets"]
__version__ = "0.1.0"
