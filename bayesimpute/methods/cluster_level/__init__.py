"""Cluster-level family: the 2lonly methods (``two_level_only``), single-level methods run on one
row per cluster."""

from bayesimpute.methods.cluster_level import two_level_only  # noqa: F401  (registers)
