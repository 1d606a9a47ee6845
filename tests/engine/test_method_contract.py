"""The method contract's generic extensions: working columns, set-up checks, analysis_model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi
from bayesimpute.design.coding import VariableKind
from bayesimpute.methods import Draw, ImputationMethod, register_method
from bayesimpute.methods.options import Boolean

SEEN: list[dict] = []


@register_method("test.contract")
class ContractProbe(ImputationMethod):
    """Imputes the mean of the other column's current values; records what it saw."""

    kinds = frozenset({VariableKind.CONTINUOUS})
    uses_analysis_model = True
    option_constraints = {"fail": Boolean()}

    @classmethod
    def default_options(cls):
        return {"analysis_model": None, "fail": False}

    def check_setup(self, context):
        if self.options["fail"]:
            raise ValueError(f"probe refuses {self.variable!r}")
        return [f"probe checked {self.variable!r} against cluster {context.cluster!r}"]

    def update(self, data, rng):
        other = [c for c in data.columns if c != data.target][0]
        SEEN.append({"target": data.target, "columns": {k: v.copy() for k, v in data.columns.items()},
                     "codecs": dict(data.codecs), "options": dict(self.options)})
        try:
            data.columns[other][0] = 99.0
            writable = True
        except ValueError:
            writable = False
        SEEN[-1]["writable"] = writable
        return Draw(np.full(int(data.impute.sum()), float(np.nanmean(data.columns[other]))))


def two_columns():
    return pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0, np.nan, 6.0],
                         "b": [np.nan, 2.0, 2.5, np.nan, 5.0, 7.0]})


def test_methods_see_read_only_working_columns_with_the_latest_imputations():
    SEEN.clear()
    data = two_columns()
    bi.impute(data, method={"a": "test.contract", "b": "test.contract"}, m=1, maxit=2, seed=1,
              analysis_model="a ~ b")
    first_b, second_a = SEEN[1], SEEN[2]  # iteration 1 visits a then b; iteration 2 a again
    assert first_b["target"] == "b" and not first_b["writable"]
    # when b is visited, a holds the imputations just drawn for it (the mean of b then)
    a_imputed = first_b["columns"]["a"][[1, 4]]
    assert np.allclose(a_imputed, np.mean(SEEN[0]["columns"]["b"]))
    # and a's next visit sees b's imputations
    assert np.allclose(second_a["columns"]["b"][[0, 3]], np.mean(first_b["columns"]["a"]))
    assert set(first_b["codecs"]) == {"a", "b"}
    assert first_b["codecs"]["a"].kind is VariableKind.CONTINUOUS
    assert first_b["options"]["analysis_model"] == "a ~ b"


def test_check_setup_runs_before_sampling_and_its_notes_are_logged():
    SEEN.clear()
    data = two_columns()
    with pytest.raises(ValueError, match="probe refuses 'a'"):
        bi.impute(data, method={"a": "test.contract"}, m=1, maxit=1, seed=1,
                  method_options={"a": {"fail": True}}, analysis_model="a ~ b")
    assert SEEN == []  # nothing was sampled
    imp = bi.impute(data, method={"a": "test.contract"}, m=1, maxit=1, seed=1,
                    analysis_model="a ~ b")
    events = imp.logged_events
    assert (events.loc[events["variable"] == "a", "event"]
            == "probe checked 'a' against cluster None").any()


def test_analysis_model_goes_to_the_methods_that_take_it():
    data = two_columns()
    imp = bi.impute(data, method={"a": "test.contract", "b": "pmm"}, m=1, maxit=1, seed=1,
                    analysis_model="a ~ b",
                    method_options={"b": {"donors": 2}})
    assert imp.spec.method_options["a"] == {"analysis_model": "a ~ b"}
    assert imp.spec.method_options["b"] == {"donors": 2}  # pmm takes no analysis model
    # an option given per column wins over the run's
    imp = bi.impute(data, method={"a": "test.contract"}, m=1, maxit=1, seed=1,
                    analysis_model="a ~ b", method_options={"a": {"analysis_model": "a ~ 1"}})
    assert imp.spec.method_options["a"]["analysis_model"] == "a ~ 1"


def test_analysis_model_errors():
    data = two_columns()
    with pytest.raises(TypeError, match="analysis_model must be a formula string"):
        bi.impute(data, method={"a": "test.contract"}, analysis_model=["a ~ b"])
    with pytest.raises(ValueError, match="used only by the compatible methods"):
        bi.impute(data, method={"a": "pmm"}, analysis_model="a ~ b")
