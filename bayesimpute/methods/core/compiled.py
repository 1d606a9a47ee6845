"""PyMC models compiled once per process and shared by the chains that run there.

Building a NUTS-sampled model costs 2-3 s: PyMC builds the graph, pytensor rewrites the
log-density and its gradient and loads the compiled module (the C cache under ``~/.pytensor``
saves the C compilation, not the rewriting). The m chains of a run build the same graph for
a variable, with different data: the data sit in ``pm.Data`` containers, and whatever else
the graph holds (cluster codes, which clusters are centred, priors, shapes, constants taken
from the observed values) is the same for every chain. So the first chain compiles and the
others reuse the model, its gradient function and its output functions.

Sharing is safe under one rule, which every user of this module keeps: each visit writes
every data container the compiled functions read before it calls them, so a chain never
sees another chain's data. The functions themselves hold no state between calls; each
chain keeps its own point and its own step method (step size, mass matrix, generator).

The cache is per thread (threads that run chains concurrently never share a model) and
holds the :data:`MAX_MODELS` most recently used models.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymc as pm
from pymc.initial_point import make_initial_point_fn
from pymc.model.core import Point

__all__ = ["CompiledModel", "MAX_MODELS", "clear_compiled_models", "compiled_model",
           "structure_key"]

#: the models kept per thread: a run with several NUTS variables keeps one per variable;
#: a long-lived worker running many runs drops the least recently used
MAX_MODELS = 16

_LOCAL = threading.local()


@dataclass
class CompiledModel:
    """A model and the functions compiled from it.

    ``logp_dlogp`` is the log-density-and-gradient function NUTS calls (over all value
    variables, inputs ravelled); ``extract`` maps a point to the recorded ``outputs``;
    ``extras`` holds what the builder wants to keep with the model (names of the outputs).
    :meth:`initial_point` is the model's own.
    """

    model: pm.Model
    extract: Callable
    extras: dict[str, Any] = field(default_factory=dict)
    logp_dlogp: Any = field(init=False, repr=False)
    _initial_point_fn: Callable = field(init=False, repr=False)

    def __post_init__(self):
        self._initial_point_fn = make_initial_point_fn(model=self.model,
                                                       return_transformed=True)
        self.logp_dlogp = _logp_dlogp(self.model, self.initial_point(0))

    def initial_point(self, random_seed: int) -> dict[str, np.ndarray]:
        """``model.initial_point(random_seed)``, without compiling its function again."""
        return Point(self._initial_point_fn(random_seed), model=self.model)


def structure_key(*parts) -> tuple:
    """A hashable key of everything that fixes a model's graph: arrays by dtype, shape and a
    digest of their bytes; lists, tuples and dicts part by part; strings and numbers as
    they are."""
    return tuple(_key_part(part) for part in parts)


def _key_part(part):
    if isinstance(part, np.ndarray):
        array = np.ascontiguousarray(part)
        return ("array", array.dtype.str, array.shape,
                hashlib.blake2b(array.tobytes(), digest_size=16).hexdigest())
    if isinstance(part, (list, tuple)):
        return tuple(_key_part(p) for p in part)
    if isinstance(part, dict):
        return tuple(sorted((str(k), _key_part(v)) for k, v in part.items()))
    if isinstance(part, (np.integer, np.floating, np.bool_)):
        return part.item()
    return part


def compiled_model(key: tuple, build: Callable[[], tuple[pm.Model, list, dict]]
                   ) -> CompiledModel:
    """The model compiled for ``key`` in this thread, built by ``build`` the first time.

    ``build()`` returns the model, the tensors to record (compiled into ``extract`` as
    functions of the value variables) and the extras to keep with them.
    """
    cache = _thread_cache()
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    model, outputs, extras = build()
    compiled = CompiledModel(model, _extract_function(model, outputs), extras)
    cache[key] = compiled
    while len(cache) > MAX_MODELS:
        cache.popitem(last=False)
    return compiled


def clear_compiled_models() -> None:
    """Forget this thread's compiled models (tests; freeing memory in a long-lived worker)."""
    _thread_cache().clear()


def _thread_cache() -> OrderedDict:
    if not hasattr(_LOCAL, "models"):
        _LOCAL.models = OrderedDict()
    return _LOCAL.models


def _logp_dlogp(model: pm.Model, point: dict):
    # what pm.NUTS compiles for itself when given no function (GradientSharedStep); the
    # point only fixes the inputs' shapes and dtypes
    function = model.logp_dlogp_function(model.value_vars, ravel_inputs=True,
                                         initial_point=point)
    function.trust_input = True
    return function


def _extract_function(model: pm.Model, outputs: list) -> Callable:
    return model.compile_fn(model.replace_rvs_by_values(outputs), inputs=model.value_vars,
                            point_fn=True, on_unused_input="ignore")
