"""Count family: 2l.pois, 2l.nb (``poisson``)."""

from bayesimpute.methods.count import poisson  # noqa: F401  (registers)
