"""Compiled models shared by the chains of a process: built once per structure, and a chain
that shares a model gets exactly the draws it gets from a model of its own."""

from __future__ import annotations

import threading

import numpy as np
import pymc as pm
import pytest

from bayesimpute.methods.core import compiled
from bayesimpute.methods.compatible.covariate_models import PoissonMixed
from bayesimpute.methods.core.compiled import clear_compiled_models, compiled_model, structure_key
from bayesimpute.methods.count.poisson import TwoLevelPois
from tests.methods.count.test_count import simulate


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_compiled_models()
    yield
    clear_compiled_models()


def tiny_model():
    with pm.Model() as model:
        data = pm.Data("v", np.zeros(3))
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("obs", mu, 1.0, observed=data)
    return model, [mu], {"built": True}


def test_structure_key_tells_arrays_apart_by_values_dtype_and_shape():
    a = np.arange(6)
    assert structure_key(a, "x", 1.5) == structure_key(a.copy(), "x", 1.5)
    assert structure_key(a) != structure_key(a[::-1])
    assert structure_key(a) != structure_key(a.astype(float))
    assert structure_key(a) != structure_key(a.reshape(2, 3))
    assert structure_key({"b": 1, "a": [1, 2]}) == structure_key({"a": (1, 2), "b": 1})
    hash(structure_key(a, {"k": np.ones(2)}, [1, "x"]))


def test_a_structure_is_built_once_per_thread_and_the_oldest_is_dropped(monkeypatch):
    builds = []

    def build():
        builds.append(1)
        return tiny_model()

    first = compiled_model(("tiny",), build)
    assert compiled_model(("tiny",), build) is first and len(builds) == 1
    assert first.extras == {"built": True}
    assert first.extract(first.initial_point(0))[0] == 0.0
    other = []
    thread = threading.Thread(target=lambda: other.append(compiled_model(("tiny",), build)))
    thread.start()
    thread.join()
    assert other[0] is not first and len(builds) == 2  # a thread never shares a model
    monkeypatch.setattr(compiled, "MAX_MODELS", 2)
    compiled_model(("a",), build)
    compiled_model(("b",), build)  # drops ("tiny",), the least recently used
    compiled_model(("tiny",), build)
    assert len(builds) == 5


def run_interleaved(chains, steps: int):
    """Visit the chains in turn, as two variables or chains sharing a process would."""
    out = [[] for _ in chains]
    for _ in range(steps):
        for k, visit in enumerate(chains):
            out[k].append(visit())
    return out


def test_chains_sharing_a_count_model_draw_what_they_draw_alone(monkeypatch):
    """Two 2l.pois chains whose predictors differ (as imputed predictors do), visited in
    turn on one compiled model, draw bit for bit what each draws with a model of its own;
    the model is built once."""
    data, _, _ = simulate(n_clusters=6, per_cluster=20)
    shifted = data.X.copy()
    shifted[:, 1] += np.random.default_rng(9).normal(0.0, 0.5, len(shifted))
    other = type(data)(**{**data.__dict__, "X": shifted})

    def chains():
        made = [(TwoLevelPois("c", {"tune": 20, "sampler": "nuts"}), d,
                 np.random.default_rng(seed))
                for seed, d in ((1, data), (2, other))]
        return [lambda m=m, d=d, r=r: m.update(d, r).values for m, d, r in made]

    builds = []
    original = TwoLevelPois._build
    monkeypatch.setattr(TwoLevelPois, "_build",
                        lambda self, *a: builds.append(1) or original(self, *a))
    shared = run_interleaved(chains(), 4)
    assert len(builds) == 1
    clear_compiled_models()
    monkeypatch.setattr(compiled, "MAX_MODELS", 0)  # every chain builds its own
    alone = run_interleaved(chains(), 4)
    assert len(builds) == 3
    np.testing.assert_array_equal(np.array(shared), np.array(alone))


def test_covariate_models_sharing_a_graph_keep_their_own_counts_and_offset(monkeypatch):
    """2l.smc's Poisson covariate model: two chains with different counts (their imputed
    cells differ), hence different log offsets, share one compiled model and give the
    parameters each gives alone."""
    rng = np.random.default_rng(0)
    J, n = 8, 15
    cluster = np.repeat(np.arange(J), n)
    X = np.column_stack([np.ones(J * n), rng.standard_normal(J * n)])
    counts = [rng.poisson(1.5, J * n), rng.poisson(3.0, J * n)]
    informative = np.ones(J, dtype=bool)

    def chains():
        made = []
        for seed, x in zip((1, 2), counts):
            r = np.random.default_rng(seed)
            model = PoissonMixed(X, x, cluster, J, np.array([0]), ["Intercept", "z"], True, r,
                                 tune=20, informative=informative)
            made.append((model, x, r))

        def visit(model, x, r):
            model.update(X, x, r, 1)
            params = model.parameters()
            return np.concatenate([params.beta, params.psi.ravel()])
        return [lambda m=m, x=x, r=r: visit(m, x, r) for m, x, r in made], made

    shared_visits, made = chains()
    assert made[0][0].model is made[1][0].model
    assert made[0][0].log_offset != made[1][0].log_offset
    shared = run_interleaved(shared_visits, 4)
    clear_compiled_models()
    monkeypatch.setattr(compiled, "MAX_MODELS", 0)
    alone_visits, made = chains()
    assert made[0][0].model is not made[1][0].model
    alone = run_interleaved(alone_visits, 4)
    np.testing.assert_array_equal(np.array(shared), np.array(alone))
