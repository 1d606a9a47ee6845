"""Compatible family: 2l.smc, smc (``smc``), the analysis formula they read
(``analysis_formula``), their covariate models (``covariate_models``) and the draws of an
incomplete covariate (``smc_draws``)."""

from bayesimpute.methods.compatible import smc  # noqa: F401  (registers)
