"""Advance a compiled PyMC model a few MCMC transitions per FCS visit.

This is the Gibbs-within-FCS mechanism shared by every method: the model and its step
method are built once per variable and chain; each visit swaps the current data into the
``pm.Data`` containers and calls :meth:`ChainStepper.advance`. There is no ``pm.sample``
call and no re-compilation inside the loop.
"""

from __future__ import annotations

import numpy as np
import pymc as pm

__all__ = ["ChainStepper", "ScaledStepperState", "nuts_stepper"]


class ChainStepper:
    """Holds a step method and the chain's current point.

    Parameters
    ----------
    step : pymc step method
        Any PyMC ``BlockedStep`` (NUTS, or an exact Gibbs step of this package).
    point : dict
        Starting point in the model's value-variable space.
    tune : int
        Transitions run with adaptation on at the first visit (NUTS); 0 for exact steps.
    """

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
    model: pm.Model, point: dict, rng: np.random.Generator, *, tune: int, target_accept: float,
    logp_dlogp=None,
) -> ChainStepper:
    """A NUTS stepper for ``model`` (adapts during the first visit). ``logp_dlogp``: the
    model's compiled log-density and gradient over all value variables, when another chain
    compiled it already (:mod:`bayesimpute.methods.core.compiled`); None compiles it here."""
    seed = int(rng.integers(2**31 - 1))
    shared = {} if logp_dlogp is None else {"logp_dlogp_func": logp_dlogp}
    with model:
        step = pm.NUTS(
            vars=model.value_vars, target_accept=target_accept, rng=seed, initial_point=point,
            **shared,
        )
    return ChainStepper(step, point, tune=tune)


class ScaledStepperState:
    """``get_state`` / ``set_state`` of a method that keeps a :class:`ChainStepper` in
    ``self._stepper`` and a predictor scaler in ``self.scaler`` (mean, sd).

    The saved state is the chain's point plus the scaling constants; ``set_state`` keeps it
    pending until the next visit builds the model, which then starts from it. For exact
    Gibbs steps a restored chain continues bit-identically; NUTS adapts again, which gives
    a valid continuation, not an identical one.
    """

    def _start_scaler(self, scaler) -> dict[str, np.ndarray] | None:
        """Keep ``scaler`` (fitted on this visit's X) or, when continuing a saved chain,
        overwrite its constants with the saved ones; returns the rest of the saved state
        (the chain's point) or None."""
        self.scaler = scaler
        pending, self._pending_state = self._pending_state, None
        if pending is not None:  # continuing a saved chain: same scale, same point
            self.scaler.mean = np.asarray(pending.pop("scale.x_mean"), dtype=float)
            self.scaler.sd = np.asarray(pending.pop("scale.x_sd"), dtype=float)
        return pending

    def get_state(self) -> dict[str, np.ndarray]:
        if self._stepper is None:
            return {}
        state = {k: np.asarray(v) for k, v in self._stepper.point.items()}
        state["scale.x_mean"] = self.scaler.mean.copy()
        state["scale.x_sd"] = self.scaler.sd.copy()
        return state

    def set_state(self, state) -> None:
        self._pending_state = {k: np.asarray(v) for k, v in state.items()}
