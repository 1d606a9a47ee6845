"""Advance a compiled PyMC model a few MCMC transitions per FCS visit.

This is the Gibbs-within-FCS mechanism shared by every method: the model and its step
method are built once per variable and chain; each visit swaps the current data into the
``pm.Data`` containers and calls :meth:`ChainStepper.advance`. There is no ``pm.sample``
call and no re-compilation inside the loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
from pymc.step_methods.state import DataClassState, WithSamplingState, dataclass_state

__all__ = ["ChainStepper", "ChainStepperState", "ResumableChain", "nuts_stepper"]


@dataclass_state
class ChainStepperState(DataClassState):
    """What a :class:`ChainStepper` needs to continue its chain: the point, the tuning
    transitions still due and the step method's own ``sampling_state`` (NUTS: its adapted
    step size and mass matrix and its generator; a Gibbs step: its sweep count and the
    latent variables it carries)."""

    point: dict
    tune_remaining: int
    step: DataClassState


class ChainStepper(WithSamplingState):
    """Holds a step method and the chain's current point.

    Its ``sampling_state`` (PyMC's convention, a :class:`ChainStepperState`) is everything
    that continues the chain: set it on a stepper built on the same model and the chain goes
    on as if it had never stopped, for NUTS as for the exact steps.

    Parameters
    ----------
    step : pymc step method
        Any PyMC ``BlockedStep`` (NUTS, or an exact Gibbs step of this package).
    point : dict
        Starting point in the model's value-variable space.
    tune : int
        Transitions run with adaptation on at the first visit (NUTS); 0 for exact steps.

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> with pm.Model() as model:
    ...     mu = pm.Normal("mu")
    >>> stepper = ChainStepper(pm.Metropolis(model=model, rng=1), {"mu": np.array(0.0)})
    >>> saved = stepper.sampling_state
    >>> _ = stepper.advance(3)
    >>> first = stepper.point["mu"]
    >>> stepper.sampling_state = saved  # back to where it was saved: the same three steps
    >>> _ = stepper.advance(3)
    >>> bool(stepper.point["mu"] == first)
    True
    """

    _state_class = ChainStepperState

    def __init__(self, step, point: dict, *, tune: int = 0):
        self.step = step
        self.point = point
        self.tune_remaining = int(tune)

    def advance(self, n_steps: int) -> dict[str, float]:
        """Run the tuning transitions still due, then ``n_steps`` transitions.

        Returns the sampler statistics of the kept transitions: number of divergences,
        mean step size and mean tree depth where the step method reports them.
        """
        if self.tune_remaining:
            for _ in range(self.tune_remaining):
                self.point, _ = self.step.step(self.point)
            self.step.stop_tuning()
            self.tune_remaining = 0
        collected: list[dict] = []
        for _ in range(n_steps):
            self.point, stats = self.step.step(self.point)
            collected.extend(stats or [])
        return _summarise(collected)

    def continued(self, saved: ChainStepperState | None) -> ChainStepper:
        """This stepper, moved to ``saved`` when a saved chain is continued (None: as built)."""
        if saved is not None:
            self.sampling_state = saved
        return self


def _summarise(stats: list[dict]) -> dict[str, float]:
    if not stats:
        return {}
    out: dict[str, float] = {}
    if any("diverging" in s for s in stats):
        out["diverging"] = float(sum(bool(s.get("diverging", False)) for s in stats))
    for key, name in (("step_size", "step_size"), ("tree_depth", "tree_depth")):
        values = [s[key] for s in stats if key in s]
        if values:
            out[name] = float(np.mean(values))
    return out


def nuts_stepper(
    model: pm.Model, point: dict, rng: np.random.Generator | None, *, tune: int,
    target_accept: float,
    logp_dlogp=None, saved: ChainStepperState | None = None,
) -> ChainStepper:
    """A NUTS stepper for ``model`` (adapts during the first visit). ``logp_dlogp``: the
    model's compiled log-density and gradient over all value variables, when another chain
    compiled it already (:mod:`bayesimpute.methods.core.compiled`); None compiles it here.
    ``saved``: the state of a chain to continue, which holds NUTS's own generator and
    adaptation; the chain's generator is then left alone, as an unbroken chain drew NUTS's
    seed from it at its first visit only (``rng=None`` does the same for a caller that sets
    the saved state itself).

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> with pm.Model() as model:
    ...     mu = pm.Normal("mu")
    >>> rng = np.random.default_rng(1)
    >>> stepper = nuts_stepper(model, {"mu": np.array(0.0)}, rng, tune=20, target_accept=0.8)
    >>> _ = stepper.advance(2)
    >>> saved = stepper.sampling_state
    >>> later = nuts_stepper(model, {"mu": np.array(0.0)}, rng, tune=20, target_accept=0.8,
    ...                      saved=saved)  # takes nothing from rng
    >>> _ = stepper.advance(1), later.advance(1)
    >>> bool(stepper.point["mu"] == later.point["mu"])
    True
    """
    seed = 0 if saved is not None or rng is None else int(rng.integers(2**31 - 1))
    shared = {} if logp_dlogp is None else {"logp_dlogp_func": logp_dlogp}
    with model:
        step = pm.NUTS(
            vars=model.value_vars, target_accept=target_accept, rng=seed, initial_point=point,
            **shared,
        )
    return ChainStepper(step, point, tune=tune).continued(saved)


class ResumableChain:
    """``get_state`` / ``set_state`` of a method whose chain lives in a :class:`ChainStepper`
    (``self._stepper``), built at the method's first visit.

    The saved state is the stepper's ``sampling_state`` (key ``"chain"``) plus the
    constants the method fixed at its first visit (:meth:`chain_constants`: its
    standardiser's, for instance). A method is restored before any visit, when no model
    exists yet to take the state (the model is built for the visit's data), so
    ``set_state`` holds the state until the next visit's set-up takes it
    (:meth:`take_saved_state`); a state held and not yet taken is what ``get_state``
    returns, so a chain saved again before its next visit loses nothing. Methods whose
    chain is not one stepper (2l.smc's two models, the ml.* sweeps) override
    :meth:`chain_state` and :meth:`discard_chain` and keep the rest.

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> class Walk(ResumableChain):  # a method's chain, built at its first visit
    ...     def visit(self):
    ...         if self._stepper is None:
    ...             with pm.Model() as model:
    ...                 pm.Normal("mu")
    ...             saved = self.take_saved_state()
    ...             step = pm.Metropolis(model=model, rng=1)
    ...             start = {"mu": np.array(0.0)}
    ...             self._stepper = ChainStepper(step, start).continued(
    ...                 None if saved is None else saved["chain"])
    ...         self._stepper.advance(2)
    ...         return float(self._stepper.point["mu"])
    >>> unbroken, first = Walk(), Walk()
    >>> _ = unbroken.visit(), first.visit()
    >>> restored = Walk()
    >>> restored.set_state(first.get_state())  # as a checkpoint's resume does
    >>> restored.visit() == unbroken.visit()
    True
    """

    _stepper: ChainStepper | None = None
    _saved_state: dict[str, Any] | None = None

    def chain_constants(self) -> dict[str, np.ndarray]:
        """Constants fixed at the first visit that the continued chain must reuse."""
        return {}

    def chain_state(self) -> dict[str, Any]:
        """The running chain's state; {} before the first visit."""
        if self._stepper is None:
            return {}
        return {"chain": self._stepper.sampling_state, **self.chain_constants()}

    def get_state(self) -> dict[str, Any]:
        if self._saved_state is not None:
            return dict(self._saved_state)
        return self.chain_state()

    def set_state(self, state) -> None:
        self._saved_state = dict(state)
        self.discard_chain()

    def discard_chain(self) -> None:
        """Forget the built chain, so that the next visit rebuilds it from the held state."""
        self._stepper = None

    @property
    def continuing(self) -> bool:
        """Whether the next set-up continues a saved chain."""
        return self._saved_state is not None

    def take_saved_state(self) -> dict[str, Any] | None:
        """The held state, handed over once to the set-up that continues from it."""
        saved, self._saved_state = self._saved_state, None
        return saved
