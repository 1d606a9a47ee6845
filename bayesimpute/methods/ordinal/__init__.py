"""Ordinal family: polr, 2l.polr (``cumulative_logit``)."""

from bayesimpute.methods.ordinal import cumulative_logit  # noqa: F401  (registers)
