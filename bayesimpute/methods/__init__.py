"""Conditional imputation methods, registered by name (mice's names).

Importing this package registers every built-in method; third-party methods register
themselves with :func:`register_method` the same way.
"""

from bayesimpute.methods.base import (
    Draw,
    ImputationMethod,
    MethodData,
    MethodError,
    SetupContext,
)
from bayesimpute.methods.registry import (
    available_methods,
    get_method,
    method_aliases,
    register_method,
)
from bayesimpute.methods.describe import MethodDescription, describe_method
# importing the method families registers their methods
from bayesimpute.methods import (  # noqa: F401
    cluster_level,
    compatible,
    count,
    gaussian,
    heckman,
    logistic,
    multilevel,
    ordinal,
)

__all__ = [
    "Draw",
    "ImputationMethod",
    "MethodData",
    "MethodError",
    "SetupContext",
    "MethodDescription",
    "available_methods",
    "describe_method",
    "get_method",
    "method_aliases",
    "register_method",
]
