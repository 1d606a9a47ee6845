"""Conditional imputation methods, registered by name (mice's names).

Importing this package registers every built-in method; third-party methods register
themselves with :func:`register_method` the same way.
"""

from importlib import import_module

from bayesimpute.methods.base import Draw, ImputationMethod, MethodData, MethodError
from bayesimpute.methods.registry import (
    available_methods,
    get_method,
    method_aliases,
    register_method,
)
from bayesimpute.methods import normal, cluster_level  # noqa: F401  (registers methods)

# Method families developed alongside the engine register themselves when present.
for _module in ("binary", "categorical", "count", "heckman"):
    try:
        import_module(f"bayesimpute.methods.{_module}")
    except ModuleNotFoundError as error:
        if error.name != f"bayesimpute.methods.{_module}":
            raise

__all__ = [
    "Draw",
    "ImputationMethod",
    "MethodData",
    "MethodError",
    "available_methods",
    "get_method",
    "method_aliases",
    "register_method",
]
