"""Sampler faults are surfaced with variable, iteration and chain, never swallowed.

Deliberately broken methods are registered for the duration of a test; the sampler must
re-raise their failures with where they happened, refuse NaN or misshapen draws, and
imputations far outside the observed range must show in ``logged_events``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi
from bayesimpute.design.coding import VariableKind
from bayesimpute.methods import Draw, ImputationMethod, MethodData
from bayesimpute.methods import registry
from bayesimpute.engine.plausibility import out_of_range_events
from bayesimpute.engine.sampler import SamplerError, chain_seeds, make_plan, run_chain
from bayesimpute.engine.spec import build_spec

_names = (f"test.broken{k}" for k in itertools.count())


@pytest.fixture
def register():
    """Register test methods under fresh names and remove them afterwards."""
    added: list[str] = []

    def add(behaviour):
        name = next(_names)

        class Broken(ImputationMethod):
            kinds = frozenset({VariableKind.CONTINUOUS})
            multilevel = False
            instances = 0

            def __init__(self, variable, options=None):
                super().__init__(variable, options)
                self.chain = type(self).instances  # chains build their methods in order
                type(self).instances += 1
                self.visits = 0

            def update(self, data: MethodData, rng: np.random.Generator) -> Draw:
                self.visits += 1
                result = behaviour(self, data, rng)
                if isinstance(result, Draw):
                    return result
                return Draw(np.asarray(result, dtype=float))

        bi.register_method(name)(Broken)
        added.append(name)
        return name

    yield add
    for name in added:
        registry._REGISTRY.pop(name, None)


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "y": rng.normal(size=40)})
    frame.loc[[0, 5, 9, 22], "x"] = np.nan
    return frame


def _draw_normal(method, data, rng):
    return rng.normal(size=int(data.impute.sum()))


def test_failing_method_reraised_with_variable_iteration_chain(register, data):
    def fail_in_chain_two_iteration_three(method, d, rng):
        if method.chain == 1 and method.visits == 3:
            raise np.linalg.LinAlgError("Matrix is not positive definite")
        return _draw_normal(method, d, rng)

    name = register(fail_in_chain_two_iteration_three)
    pattern = r"'x'.*iteration 3, chain 2.*not positive definite"
    with pytest.raises(SamplerError, match=pattern) as info:
        bi.impute(data, method={"x": name}, m=3, maxit=4, seed=1)
    assert isinstance(info.value.__cause__, np.linalg.LinAlgError)  # the original is kept


def test_method_failing_at_the_start(register, data):
    def fail_at_once(method, d, rng):
        raise ValueError("initial evaluation of the model failed")

    name = register(fail_at_once)
    with pytest.raises(SamplerError, match=r"'x'.*iteration 1, chain 1.*initial evaluation"):
        bi.impute(data, method={"x": name}, m=2, maxit=2, seed=1)


@pytest.mark.parametrize("behaviour, fragment", [
    (lambda method, d, rng: np.full(int(d.impute.sum()), np.nan), "4 non-finite"),
    (lambda method, d, rng: np.r_[1.0, np.inf, 0.0, 0.0], "1 non-finite"),
    (lambda method, d, rng: np.zeros(int(d.impute.sum()) + 1), "returned 5 values"),
    (lambda method, d, rng: np.zeros(1), "returned 1 values"),
])
def test_bad_draws_are_refused(register, data, behaviour, fragment):
    name = register(behaviour)
    with pytest.raises(SamplerError, match=rf"{fragment}.*'x' at iteration 1, chain 1"):
        bi.impute(data, method={"x": name}, m=1, maxit=2, seed=1)


def test_divergences_reported_in_one_warning(register, data):
    def divergent_in_chain_two(method, d, rng):
        values = _draw_normal(method, d, rng)
        return Draw(values, stats={"diverging": 3.0 if method.chain == 1 else 0.0})

    name = register(divergent_in_chain_two)
    with pytest.warns(RuntimeWarning) as record:
        bi.impute(data, method={"x": name}, m=2, maxit=2, seed=1)
    divergence = [str(w.message) for w in record if "divergent" in str(w.message)]
    assert len(divergence) == 1
    assert "x (iteration 1, chain 2): 3" in divergence[0]
    assert "x (iteration 2, chain 2): 3" in divergence[0]
    assert "chain 1)" not in divergence[0]


# --- imputations far outside the observed range ---------------------------------------------------
def _run(data, method, maxit=2, m=2):
    spec = build_spec(data, method=method, m=m, maxit=maxit, seed=3)
    plan = make_plan(spec)
    seeds = chain_seeds(spec.seed, spec.m)
    return plan, [run_chain(plan, c, seeds[c], maxit) for c in range(m)]


def test_far_out_imputations_flagged(register, data):
    def runaway(method, d, rng):
        values = rng.normal(size=int(d.impute.sum()))
        if method.visits >= 2:
            values[0] = 1e6  # what a diverging model looks like
        return values

    plan, traces = _run(data, {"x": register(runaway)}, maxit=3)
    events = out_of_range_events(plan, traces)
    where = [(e["variable"], e["chain"], e["iteration"]) for e in events]
    assert where == [("x", 1, 2), ("x", 2, 2)]
    assert "2 imputed value(s) of 'x'" in events[0]["event"]
    assert "most extreme 1e+06" in events[0]["event"]


def test_plausible_imputations_not_flagged(data):
    plan, traces = _run(data, {"x": "norm"}, maxit=3)
    assert out_of_range_events(plan, traces) == []


def test_bounded_kinds_never_flagged(data):
    frame = data.assign(b=(data["y"] > 0).astype(float))
    frame.loc[[1, 2], "b"] = np.nan
    plan, traces = _run(frame, {"b": "pmm"})
    assert out_of_range_events(plan, traces) == []


def test_offset_shifts_the_reported_iteration(register, data):
    plan, traces = _run(data, {"x": register(lambda m, d, rng: np.full(4, -1e9))}, maxit=1)
    assert out_of_range_events(plan, traces, offset=5)[0]["iteration"] == 6


def test_far_out_imputations_reach_logged_events(register, data):
    name = register(lambda method, d, rng: np.full(int(d.impute.sum()), 1e6))
    imp = bi.impute(data, method={"x": name}, m=1, maxit=1, seed=1)
    assert imp.logged_events["event"].str.contains("outside the observed range").any()
