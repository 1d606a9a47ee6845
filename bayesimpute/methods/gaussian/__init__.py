"""Gaussian family: norm, pmm, 2l.norm, 2l.pmm (``normal``) over the linear mixed model and
its exact Gibbs step (``linear_mixed``)."""

from bayesimpute.methods.gaussian import normal  # noqa: F401  (registers the methods)
