"""lme4-formula parsing and design matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesimpute.formula import RandomTerm, check_columns, design_matrix, parse_formula


def test_random_intercept():
    parsed = parse_formula("popular ~ texp + sex + (1 | school)")
    assert parsed.response == "popular"
    assert parsed.intercept is True
    assert parsed.fixed == (("texp",), ("sex",))
    assert parsed.random == (RandomTerm("school", True, ()),)
    assert parsed.groups == ("school",)
    assert parsed.variables == ("popular", "texp", "sex", "school")


@pytest.mark.parametrize(
    "bar, intercept, slopes",
    [
        ("(1 + x | g)", True, (("x",),)),
        ("(x | g)", True, (("x",),)),
        ("(0 + x | g)", False, (("x",),)),
        ("(x - 1 | g)", False, (("x",),)),
    ],
)
def test_random_slopes(bar, intercept, slopes):
    parsed = parse_formula(f"y ~ x + {bar}")
    assert parsed.random == (RandomTerm("g", intercept, slopes),)


def test_several_bars_same_group_and_interactions():
    parsed = parse_formula("y ~ 0 + a*b + c:d + (1 | g) + (0 + a | g)")
    assert parsed.intercept is False
    assert parsed.fixed == (("a",), ("b",), ("a", "b"), ("c", "d"))
    assert [bar.intercept for bar in parsed.random] == [True, False]
    assert parsed.groups == ("g",)


def test_backticks_and_minus_one():
    parsed = parse_formula("`BMI (kg)` ~ `Age yrs` - 1")
    assert parsed.response == "BMI (kg)"
    assert parsed.fixed == (("Age yrs",),)
    assert parsed.intercept is False


@pytest.mark.parametrize(
    "formula", ["y x", "y ~ x + (1 | g", "y ~ log(x)", "y ~ x +", "y ~ x + (1 || g)", "y ~ x - z"]
)
def test_bad_formulas(formula):
    with pytest.raises(ValueError):
        parse_formula(formula)


def test_formula_must_be_str():
    with pytest.raises(TypeError, match="formula"):
        parse_formula(42)


def test_unknown_column_is_named():
    data = pd.DataFrame({"y": [1.0], "x": [2.0]})
    with pytest.raises(ValueError, match="'zz'"):
        check_columns(parse_formula("y ~ x + zz + (1 | g)"), data)


def test_design_matrix_treatment_coding_keeps_category_order():
    data = pd.DataFrame(
        {
            "age": [30.0, 40.0, 50.0, 60.0],
            "pupil": pd.Categorical(
                ["Both", "None", "One", "Both"], categories=["Both", "One", "None"]
            ),
            "site": ["b", "a", "c", "a"],
        }
    )
    before = data.copy()
    parsed = parse_formula("y ~ age + pupil + site + age:pupil")
    design = design_matrix(data, parsed.fixed, parsed.intercept)
    assert list(design.columns) == [
        "Intercept", "age", "pupil[T.One]", "pupil[T.None]", "site[T.b]", "site[T.c]",
        "age:pupil[T.One]", "age:pupil[T.None]",
    ]
    np.testing.assert_array_equal(design["pupil[T.None]"], [0, 1, 0, 0])
    np.testing.assert_array_equal(design["age:pupil[T.One]"], [0, 0, 50, 0])
    pd.testing.assert_frame_equal(data, before)
