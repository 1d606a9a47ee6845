"""Every exact Gibbs step of the package follows PyMC's step-method conventions
(:mod:`bayesimpute.methods.core.gibbs_step`): declared stats, ``set_rng``, ``vars``
checked, ``sampling_state`` round trips, value-variable names from the model."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pymc as pm
import pytest

import bayesimpute.methods
from bayesimpute.methods.core.gibbs_step import GibbsStep, log_value_name, value_name
from bayesimpute.methods.gaussian.linear_mixed import LinearMixedGibbs
from bayesimpute.methods.gaussian.linear_mixed import build_pymc_model as linear_mixed_model
from bayesimpute.methods.heckman.selection_gibbs import HeckmanGibbs
from bayesimpute.methods.heckman.selection_model import HeckmanDesign, build_heckman_model
from bayesimpute.methods.logistic.polya_gamma import LogisticMixedGibbs
from bayesimpute.methods.logistic.polya_gamma import build_pymc_model as logit_model

N_CLUSTERS, PER_CLUSTER = 5, 20


def _data(seed=4):
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(N_CLUSTERS), PER_CLUSTER)
    x, t = rng.normal(size=(2, len(cluster)))
    y = 0.5 + x + rng.normal(0, 0.5, N_CLUSTERS)[cluster] + rng.normal(size=len(cluster))
    observed = 0.3 + 0.5 * x + t + rng.normal(size=len(cluster)) > 0
    return np.column_stack([np.ones_like(x), x, t]), y, observed, cluster


def _linear_mixed(rng):
    X, y, _, cluster = _data()
    model = linear_mixed_model(X[:, :2], y, cluster, N_CLUSTERS, np.array([0]),
                               heterogeneous=True, x_names=["Intercept", "x"])
    return LinearMixedGibbs(model=model, rng=rng)


def _logistic(rng):
    X, y, _, cluster = _data()
    codes = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    model = logit_model(X[:, :2], codes, cluster, N_CLUSTERS, np.array([0]), 3,
                        x_names=["Intercept", "x"])
    return LogisticMixedGibbs(model=model, rng=rng)


def _heckman(rng, binary=False):
    X, y, observed, cluster = _data()
    y = (y > 0.5).astype(float) if binary else y
    design = HeckmanDesign.from_roles([2, 1, -3], ["Intercept", "x", "t"])
    model = build_heckman_model(X, y, observed, cluster, N_CLUSTERS, design, binary=binary)
    return HeckmanGibbs(model=model, design=design, binary=binary, rng=rng)


STEPS = {"linear_mixed": _linear_mixed, "logistic": _logistic, "heckman": _heckman,
         "heckman_binary": lambda rng: _heckman(rng, binary=True)}


def _run(step, point, n_sweeps):
    """The points of ``n_sweeps`` transitions from ``point``."""
    points = []
    for _ in range(n_sweeps):
        point, _ = step.step(point)
        points.append(point)
    return points


def _assert_same_points(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert a.keys() == b.keys()
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])


@pytest.mark.parametrize("make", STEPS.values(), ids=STEPS.keys())
def test_every_transition_reports_the_declared_stats(make):
    step = make(1)
    assert isinstance(step, GibbsStep) and step.stats_dtypes_shapes
    point = step.initial_point()
    for sweep in (1, 2):
        point, stats = step.step(point)
        assert len(stats) == 1 and stats[0].keys() == step.stats_dtypes_shapes.keys()
        for name, (dtype, shape) in step.stats_dtypes_shapes.items():
            value = np.asarray(stats[0][name])
            assert value.shape == tuple(shape)
            assert np.can_cast(value.dtype, dtype)
        assert stats[0]["sweep"] == sweep


def test_pm_sample_records_the_declared_stat():
    step = _linear_mixed(3)
    with step.model:
        idata = pm.sample(draws=20, tune=0, chains=1, step=[step], random_seed=3,
                          progressbar=False, compute_convergence_checks=False,
                          initvals=step.initial_point())
    np.testing.assert_array_equal(idata.sample_stats["sweep"].values[0], np.arange(1, 21))


@pytest.mark.parametrize("make", STEPS.values(), ids=STEPS.keys())
def test_set_rng_with_one_seed_gives_one_chain(make):
    first, second = make(None), make(None)
    first.set_rng(np.random.default_rng(11))
    second.set_rng(np.random.default_rng(11))
    _assert_same_points(_run(first, first.initial_point(), 3),
                        _run(second, second.initial_point(), 3))
    other = make(None)
    other.set_rng(np.random.default_rng(12))
    start = first.initial_point()
    moved, moved_other = _run(first, start, 1)[0], _run(other, start, 1)[0]
    assert any(not np.array_equal(moved[name], moved_other[name]) for name in moved)


@pytest.mark.parametrize("make", STEPS.values(), ids=STEPS.keys())
def test_sampling_state_round_trips(make):
    step = make(5)
    point = _run(step, step.initial_point(), 2)[-1]  # latents and sweep count are set
    saved = step.sampling_state
    first = _run(step, point, 3)
    step.sampling_state = saved
    assert step.sweeps == 2
    _assert_same_points(first, _run(step, point, 3))


def test_a_restored_heckman_step_continues_from_its_latents():
    step = _heckman(5)
    point = _run(step, step.initial_point(), 2)[-1]
    saved = step.sampling_state
    first = _run(step, point, 2)
    fresh = _heckman(None)  # a new step, as after loading a checkpoint
    fresh.refresh_data()
    fresh.sampling_state = saved
    np.testing.assert_array_equal(fresh.latent_z, saved.latent_z)
    _assert_same_points(first, _run(fresh, point, 2))


def test_vars_other_than_all_free_variables_are_refused():
    step = _linear_mixed(1)
    model = step.model
    assert [v.name for v in LinearMixedGibbs([model["beta"], model["sigma2"], model["u"],
                                              model["psi_chol"], model["psi_hyper"],
                                              model["sigma2_scale"]], model=model).vars] \
        == [v.name for v in model.value_vars]
    with pytest.raises(ValueError, match="every free variable"):
        LinearMixedGibbs([model["beta"]], model=model)


def test_value_names_come_from_the_model():
    step = _linear_mixed(1)
    assert value_name(step.model, "sigma2") == step.model.rvs_to_values[step.model["sigma2"]].name
    with pm.Model() as model:
        pm.Normal("mu")
    with pytest.raises(ValueError, match="log transform"):
        log_value_name(model, "mu")


TRANSFORMED_NAME = re.compile(r"\w+_(log|interval|ordered|logodds|simplex)__")


def test_no_value_variable_name_is_written_out_in_the_methods():
    """PyMC's transformed names are looked up through the model, never spelled out."""
    root = Path(bayesimpute.methods.__file__).parent
    written = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and TRANSFORMED_NAME.fullmatch(node.value)):
                written.append(f"{path.relative_to(root)}:{node.lineno}: {node.value!r}")
    assert not written, "\n".join(written)
