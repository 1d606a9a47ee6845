"""The analysis formula of the compatible methods: the same design as the analysis layer's."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from formulaic import model_matrix

from bayesimpute.analysis.formula import parse_formula
from bayesimpute.design.coding import make_codec
from bayesimpute.methods.compatible.analysis_formula import parse_analysis_formula


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame({
        "y": rng.normal(size=n), "x": rng.normal(size=n), "z": rng.normal(size=n),
        "w": rng.integers(0, 2, n).astype(float),
        "c": pd.Categorical(rng.choice(["a", "b", "c"], n), categories=["a", "b", "c"]),
        "g": np.repeat(np.arange(6), 10),
    })


def codecs_of(frame):
    return {c: make_codec(frame[c]) for c in frame.columns if c != "g"}


def encoded(frame):
    codecs = codecs_of(frame)
    return {c: codec.encode(frame[c]) for c, codec in codecs.items()}


def parse(formula, frame):
    return parse_analysis_formula(formula, codecs_of(frame), encoded(frame))


@pytest.mark.parametrize("formula", [
    "y ~ x", "y ~ x + z + (1 | g)", "y ~ x * w + (1 + x | g)", "y ~ c * x", "y ~ 0 + x:z + c",
    "y ~ x*z*w",
])
def test_design_equals_the_analysis_layers(frame, formula):
    expected = model_matrix(parse_formula(formula).fixed, frame)
    analysis = parse(formula, frame)
    assert analysis.names == [str(c) for c in expected.columns]
    np.testing.assert_allclose(analysis.matrix(encoded(frame)), np.asarray(expected))


@pytest.mark.parametrize("power", ["I(x**2)", "I( x ** 2 )"])
def test_powers(frame, power):
    analysis = parse(f"y ~ x + {power} + {power}:w", frame)
    assert analysis.names == ["Intercept", "x", "I(x ** 2)", "I(x ** 2):w"]
    X = analysis.matrix(encoded(frame))
    np.testing.assert_allclose(X[:, 2], frame["x"] ** 2)
    np.testing.assert_allclose(X[:, 3], frame["x"] ** 2 * frame["w"])
    assert analysis.degree("x") == 2 and analysis.degree("w") == 1 and analysis.degree("z") == 0


def test_random_effects_and_override(frame):
    analysis = parse("y ~ x * w + (1 + x + x:w | g)", frame)
    assert analysis.group == "g"
    assert analysis.random_names == ["Intercept", "x", "x:w"]
    values = encoded(frame)
    rows = np.array([3, 7, 11])
    X = analysis.matrix(values, rows=rows, override={"x": np.array([1.0, 2.0, 3.0])})
    np.testing.assert_allclose(X[:, 1], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(X[:, 3], np.array([1.0, 2.0, 3.0]) * frame["w"].to_numpy()[rows])
    assert analysis.variables == ["y", "x", "w", "g"]
    assert analysis.predictors == ["x", "w"]


@pytest.mark.parametrize("formula, message", [
    ("y ~ x + (1 | g) + (0 + x | g)", "one bar"),
    ("y ~ x + (1 + x || g)", "one bar"),
    ("y ~ z + (1 + x | g)", "x varies by cluster but is not a fixed effect"),
    ("y ~ 0 + x + (1 | g)", "a random intercept needs the fixed intercept"),
    ("y ~ x + nope", "nope"),
    ("y ~ I(c**2)", "power of the categorical"),
    ("y ~ np.log(x)", "not 'np.log(x)'"),
    ("y ~ x + (1 | g:w)", "vary by one column"),
    ("y ~ I(x^2)", "write powers as I"),
    ("y ~ x + x**2 + (1 | g)", "write powers as I"),
    ("y ~ (x + w)**2", "write powers as I"),
    ("log(y) ~ x", "the response"),
    ("y x", "y ~ terms"),
])
def test_errors(frame, formula, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse(formula, frame)


def test_not_a_string(frame):
    with pytest.raises(TypeError, match="formula string"):
        parse_analysis_formula(None, codecs_of(frame), encoded(frame))


def test_missing_cells_do_not_stop_the_parse(frame):
    values = encoded(frame)
    values["x"] = values["x"].copy()
    values["x"][::3] = np.nan
    analysis = parse_analysis_formula("y ~ x * c + (1 + x | g)", codecs_of(frame), values)
    assert analysis.names[:3] == ["Intercept", "x", "c[T.b]"]
