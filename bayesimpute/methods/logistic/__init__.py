"""Logistic family: logreg, 2l.bin (``binary``), polyreg, 2l.polyreg (``categorical``), over one
method class (``logit``) and the exact Pólya–Gamma step (``polya_gamma``)."""

from bayesimpute.methods.logistic import binary, categorical  # noqa: F401  (registers)
