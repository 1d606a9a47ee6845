"""Several-level family: ml.norm, ml.pmm, ml.bin, ml.polyreg (``several_levels``), their PyMC
model (``ml_model``) and the nested and crossed sweeps (``sweeps``)."""

from bayesimpute.methods.multilevel import several_levels  # noqa: F401  (registers)
