"""Analysis of completed datasets: lme4-exact mixed models and the fits pooling consumes.

Modules, one concept each:

* :mod:`.formula`: lme4 formulas (bars and their shorthands), formulaic for design matrices;
* :mod:`.random_effects`: the relative covariance factor and the Cholesky of
  ``Lambda'Z'WZ Lambda + I`` (block, dense and sparse backends);
* :mod:`.optimize`: BOBYQA (NLopt), as lme4's default optimiser;
* :mod:`.mixed_core`: what ``lmer`` and ``glmer`` share (block elimination, lme4's boundary
  and singularity checks, the reported variance structure, the fit record's common fields);
* :mod:`.families`: the one table of analysis families (name, canonical link, Laplace or not);
* :mod:`.lmm`: linear mixed models by profiled REML / ML (``lmer``);
* :mod:`.glmm`: binomial and Poisson mixed models by Laplace (``glmer``);
* :mod:`.numdiff`: central-difference Hessians and Jacobians (numDeriv's Richardson steps);
* :mod:`.variance_inference`: Satterthwaite df (lmerTest) and variance-component standard
  errors;
* :mod:`.fit`: :class:`ModelFit`, :class:`AnalysisResults`, conversions of other fits;
* :mod:`.core`: :func:`analyze`.

Nothing here imports :mod:`bayesimpute.pooling`; pooling imports from here.
"""

from bayesimpute.analysis.core import FAMILIES, analyze, fit_formula
from bayesimpute.analysis.fit import AnalysisResults, ModelFit, as_model_fit
from bayesimpute.analysis.formula import INTERCEPT, parse_formula
from bayesimpute.analysis.variance_inference import LOGISTIC_RESIDUAL_VARIANCE

__all__ = ["analyze", "fit_formula", "AnalysisResults", "ModelFit", "as_model_fit", "INTERCEPT",
           "FAMILIES", "parse_formula", "LOGISTIC_RESIDUAL_VARIANCE"]
