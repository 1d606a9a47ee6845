"""Selection family: 2l.heckman (``selection``), its PyMC model (``selection_model``) and its
exact data-augmentation Gibbs step (``selection_gibbs``)."""

from bayesimpute.methods.heckman import selection  # noqa: F401  (registers)
