"""bi.settings and bi.rc_context: fixed keys, checked values, read where they are used."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi
from bayesimpute.diagnostics import RHAT_FLOOR, rhat_threshold
from bayesimpute.engine.plausibility import OUT_OF_RANGE_SDS
from bayesimpute.engine.run import KEEP_ALL_LIMIT_BYTES
from bayesimpute.methods.cluster_level.two_level_only import CHANCE_LEVEL, is_cluster_level

DEFAULTS = {
    "convergence.rhat_floor": 1.05,
    "convergence.false_alarm": 0.05,
    "keep.all_limit_bytes": 256 * 2**20,
    "plausibility.out_of_range_sds": 3.0,
    "default_method.I_small": 7,
    "default_method.ni_small": 100,
    "default_method.prop_small": 0.4,
    "cluster_level.chance_level": 1e-3,
}


@pytest.fixture(autouse=True)
def defaults_after():
    yield
    bi.settings.reset()


def test_every_key_has_its_documented_default_and_a_description():
    assert dict(bi.settings) == DEFAULTS
    for key, value in DEFAULTS.items():
        assert bi.settings.default(key) == value
        assert bi.settings.describe(key)
    # the module constants that document the defaults are the settings' defaults
    assert (RHAT_FLOOR, KEEP_ALL_LIMIT_BYTES, OUT_OF_RANGE_SDS, CHANCE_LEVEL) == (
        1.05, 256 * 2**20, 3.0, 1e-3)


def test_rc_context_changes_a_value_for_the_block_and_restores_it():
    with bi.rc_context({"convergence.rhat_floor": 1.01, "default_method.I_small": 3}) as rc:
        assert rc is bi.settings
        assert bi.settings["convergence.rhat_floor"] == 1.01
        assert bi.settings["default_method.I_small"] == 3
    assert bi.settings["convergence.rhat_floor"] == 1.05
    assert bi.settings["default_method.I_small"] == 7


def test_rc_context_restores_after_an_error():
    with pytest.raises(RuntimeError, match="inside"):
        with bi.rc_context({"keep.all_limit_bytes": 10}):
            raise RuntimeError("inside")
    assert bi.settings["keep.all_limit_bytes"] == 256 * 2**20


def test_rc_context_restores_what_was_set_before_it():
    bi.settings["convergence.false_alarm"] = 0.1
    with bi.rc_context({"convergence.false_alarm": 0.2}):
        assert bi.settings["convergence.false_alarm"] == 0.2
    assert bi.settings["convergence.false_alarm"] == 0.1


@pytest.mark.parametrize("action", [
    lambda: bi.settings["convergence.rhat"],
    lambda: bi.settings.__setitem__("convergence.rhat", 1.1),
    lambda: bi.rc_context({"convergence.rhat": 1.1}).__enter__(),
])
def test_an_unknown_key_is_named(action):
    with pytest.raises(KeyError, match="'convergence.rhat' is not a setting"):
        action()


@pytest.mark.parametrize("key, value, error, words", [
    ("convergence.rhat_floor", 1.0, ValueError, r"must lie in \(1, inf\)"),
    ("convergence.rhat_floor", "1.1", TypeError, "must be a number"),
    ("convergence.false_alarm", 1.0, ValueError, r"must lie in \(0, 1\)"),
    ("default_method.prop_small", 1.5, ValueError, r"must lie in \[0, 1\]"),
    ("default_method.I_small", 2.5, TypeError, "must be an integer"),
    ("default_method.ni_small", 0, ValueError, "must be at least 1"),
    ("keep.all_limit_bytes", True, TypeError, "must be an integer"),
    ("plausibility.out_of_range_sds", 0, ValueError, r"must lie in \(0, inf\)"),
])
def test_a_bad_value_is_refused_naming_the_key(key, value, error, words):
    with pytest.raises(error, match=rf"settings\['{key}'\] {words}"):
        bi.settings[key] = value
    assert bi.settings[key] == DEFAULTS[key]


def test_a_bad_override_in_rc_context_changes_nothing():
    with pytest.raises(ValueError, match="false_alarm"):
        with bi.rc_context({"convergence.rhat_floor": 1.2, "convergence.false_alarm": 2.0}):
            pass  # pragma: no cover - never entered
    assert bi.settings["convergence.rhat_floor"] == 1.05


def test_keys_cannot_be_deleted():
    with pytest.raises(TypeError, match="cannot be deleted"):
        del bi.settings["convergence.rhat_floor"]


# --- the values are read where they are used -----------------------------------------------------
def test_rhat_threshold_reads_the_floor_and_the_false_alarm_rate():
    assert rhat_threshold(5, 1000) == 1.05  # long runs: the floor
    with bi.rc_context({"convergence.rhat_floor": 1.01}):
        assert rhat_threshold(5, 1000) < 1.05
    short = rhat_threshold(5, 10)
    with bi.rc_context({"convergence.false_alarm": 0.5}):
        assert rhat_threshold(5, 10) < short


def test_find_default_method_reads_its_thresholds():
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"g": np.repeat(np.arange(5), 40), "x": rng.normal(size=200)})
    data.loc[rng.random(200) < 0.2, "x"] = np.nan
    assert bi.find_default_method(data, "g")["x"] == "2l.pmm"  # 5 clusters < 7, 40 < 100
    with bi.rc_context({"default_method.I_small": 5, "default_method.ni_small": 20}):
        assert bi.find_default_method(data, "g")["x"] == "2l.norm"
    # an explicit argument still wins over the setting
    with bi.rc_context({"default_method.I_small": 5, "default_method.ni_small": 20}):
        assert bi.find_default_method(data, "g", I_small=7)["x"] == "2l.pmm"


def test_is_cluster_level_reads_the_chance_level():
    cluster = pd.Series(np.repeat(np.arange(10), 2))
    mostly_one = pd.Series(np.repeat([0.0] + [1.0] * 9, 2))  # constant by chance: ~0.9**10
    assert not is_cluster_level(mostly_one, cluster)
    with bi.rc_context({"cluster_level.chance_level": 0.5}):
        assert is_cluster_level(mostly_one, cluster)


def test_a_run_reads_the_out_of_range_margin():
    rng = np.random.default_rng(5)
    data = pd.DataFrame({"x": rng.normal(size=60), "y": rng.normal(size=60)})
    data.loc[:19, "x"] = np.nan
    arguments = dict(method={"x": "norm"}, m=2, maxit=2, seed=4)

    def far_out_events(imp):
        return [e for e in imp.logged_events["event"] if "outside the observed range" in e]

    assert far_out_events(bi.impute(data, **arguments)) == []
    with bi.rc_context({"plausibility.out_of_range_sds": 1e-6}):
        assert far_out_events(bi.impute(data, **arguments))
        assert far_out_events(bi.impute(data, n_jobs=2, **arguments))  # worker processes


def test_keep_reads_the_memory_limit():
    data = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0, np.nan, 6.0], "y": np.arange(6.0)})
    arguments = dict(method={"x": "norm"}, m=2, maxit=2, seed=1)
    assert bi.impute(data, **arguments).keep == "all"
    with bi.rc_context({"keep.all_limit_bytes": 0}):
        assert bi.impute(data, **arguments).keep == "last"
