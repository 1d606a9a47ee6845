"""The shared base of this package's exact Gibbs steps, written as PyMC step methods.

A step here is a ``pymc`` ``BlockedStep`` that follows PyMC's conventions, so that
``pm.sample(step=[...])`` and the FCS loop (:class:`~bayesimpute.methods.core.stepping.ChainStepper`)
drive it alike:

- ``stats_dtypes_shapes`` declares what every transition reports (here the sweep count);
- ``set_rng`` gives it its generator (the FCS loop hands it the chain's own generator at
  every visit, so every draw of a chain flows from one stream; a restored
  ``sampling_state`` holds a copy of that generator, which the next visit replaces by the
  chain's own again);
- ``vars`` is checked against the model: a Gibbs sweep updates all of the model's free
  variables jointly, so it accepts exactly those;
- ``sampling_state`` (a ``@dataclass_state`` class) saves and restores what the step
  carries between transitions besides the point;
- value-variable names (``sigma2_log__`` and the like) are looked up through the model's
  ``rvs_to_values``, not written out.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
import pymc as pm
from pymc.logprob.transforms import LogTransform
from pymc.step_methods.compound import BlockedStep, StepMethodState
from pymc.step_methods.state import dataclass_state

__all__ = ["GibbsStep", "GibbsStepState", "value_name", "log_value_name"]


def value_name(model: pm.Model, name: str) -> str:
    """The name under which the free variable ``name`` appears in a point of ``model``.

    Examples
    --------
    >>> import pymc as pm
    >>> with pm.Model() as model:
    ...     sigma2 = pm.InverseGamma("sigma2", 2.0, 1.0)
    >>> value_name(model, "sigma2")
    'sigma2_log__'
    """
    return model.rvs_to_values[model[name]].name


def log_value_name(model: pm.Model, name: str) -> str:
    """:func:`value_name` of a positive variable whose point value is its logarithm.

    The Gibbs steps move such variables as ``exp`` / ``log`` of the point value; a model
    that gave the variable another transform would make that arithmetic wrong, so it is
    refused here rather than sampled wrongly.

    Examples
    --------
    >>> import pymc as pm
    >>> with pm.Model() as model:
    ...     scale = pm.HalfNormal("scale", 1.0)
    >>> log_value_name(model, "scale")
    'scale_log__'
    """
    transform = model.rvs_to_transforms.get(model[name])
    if not isinstance(transform, LogTransform):
        raise ValueError(f"the Gibbs step needs a log transform on {name!r}, "
                         f"the model gives it {transform!r}")
    return value_name(model, name)


@dataclass_state
class GibbsStepState(StepMethodState):
    """What a :class:`GibbsStep` carries between transitions: PyMC's ``var_names`` (frozen)
    and ``rng``, and the number of sweeps run."""

    sweeps: int


class GibbsStep(BlockedStep):
    """Base class: one exact blocked Gibbs sweep over every free variable of a model.

    Subclasses implement :meth:`sweep` (point in, point out); :meth:`step` counts the
    sweep and reports it as the declared stat ``sweep``.

    Parameters
    ----------
    vars : list, optional
        The model's free variables (value or random variables); all of them, as a Gibbs
        sweep updates them jointly. None takes them from the model.
    model : pymc.Model, optional
        The model (the one in context when None).
    rng : int, numpy.random.Generator or None
        Passed to :meth:`set_rng`.
    blocked : bool
        PyMC's flag; the sweep is always blocked.

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> class Prior(GibbsStep):
    ...     def sweep(self, point):  # mu ~ N(0, 1) drawn exactly
    ...         return {**point, "mu": np.asarray(self.rng.standard_normal())}
    >>> with pm.Model() as model:
    ...     mu = pm.Normal("mu")
    >>> step = Prior(model=model, rng=1)
    >>> point, stats = step.step({"mu": np.asarray(0.0)})
    >>> stats
    [{'sweep': 1}]
    """

    _state_class = GibbsStepState
    stats_dtypes_shapes = {"sweep": (np.int64, [])}

    def __init__(self, vars=None, *, model: pm.Model | None = None, rng=None, blocked=True):
        model = pm.modelcontext(model)
        self.model = model
        self.vars = _checked_vars(model, vars, type(self).__name__)
        self.set_rng(rng)
        self.sweeps = 0

    @abstractmethod
    def sweep(self, point: dict) -> dict:
        """One exact Gibbs sweep: the next point of the chain from ``point``."""

    def step(self, point: dict):
        new_point = self.sweep(point)
        self.sweeps += 1
        return new_point, [{"sweep": self.sweeps}]


def _checked_vars(model: pm.Model, vars, step_name: str) -> list:
    """The model's value variables, after checking that ``vars`` names all of them."""
    value_vars = list(model.value_vars)
    if vars is None:
        return value_vars
    given = vars if isinstance(vars, (list, tuple)) else [vars]
    asked = {model.rvs_to_values.get(v, v).name for v in given}
    expected = {v.name for v in value_vars}
    if asked != expected:
        raise ValueError(
            f"{step_name} updates every free variable of its model jointly; vars must be "
            f"{sorted(expected)}, got {sorted(asked)}"
        )
    return value_vars
