"""Same seed, same draws: every method's imputations and parameter traces match the ones
written by ``tests/reference/method_draws.py`` before the methods were reorganised by family.

A redesign that changes a result is a bug; a deliberate change of a model or a step
regenerates the reference (the script says how) in the commit that makes it.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

_PATH = Path(__file__).parent / "reference" / "method_draws.py"
_spec = importlib.util.spec_from_file_location("method_draws", _PATH)
method_draws = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(method_draws)

REFERENCE = pd.read_csv(method_draws.OUT, dtype={"value": str}, keep_default_na=False)


@pytest.mark.parametrize("name", list(method_draws.CASES))
def test_same_draws_as_the_reference(name):
    case = method_draws.CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = method_draws.run(name, case)
    got = pd.DataFrame(method_draws.rows(name, imp, case["target"]))
    want = REFERENCE[REFERENCE["method"] == name].reset_index(drop=True)
    assert list(got["what"]) == list(want["what"])
    for (_, g), (_, w) in zip(got.iterrows(), want.iterrows()):
        try:
            assert np.isclose(float(g["value"]), float(w["value"]), rtol=1e-9, atol=1e-12), \
                (name, g["what"], g["chain"], g["index"], g["value"], w["value"])
        except ValueError:  # a category label
            assert g["value"] == w["value"], (name, g["chain"], g["index"])
