"""lme4 formulas: bars and their shorthands, formulaic for the design matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesimpute.analysis.formula import Bar, build_design, parse_formula


@pytest.fixture()
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 24
    return pd.DataFrame({
        "y": rng.normal(size=n), "x": rng.normal(3, 1, size=n), "z": rng.normal(size=n),
        "f": pd.Categorical(list("abc") * 8, categories=["b", "a", "c", "unused"]),
        "s": ["q", "p"] * 12, "school": np.repeat([1, 2, 3], 8),
        "klass": np.tile(np.repeat([1, 2], 4), 3), "count": rng.poisson(2, n),
    })


def test_random_intercept_and_fixed_part():
    parsed = parse_formula("popular ~ texp + sex + (1 | school)")
    assert parsed.response == "popular"
    assert parsed.fixed == "texp + sex"
    assert parsed.bars == (Bar("1", ("school",)),)
    assert parsed.groups == ("school",)


def test_double_bar_splits_into_uncorrelated_terms():
    parsed = parse_formula("y ~ x + (1 + x + z || g)")
    assert parsed.bars == (Bar("1", ("g",)), Bar("0 + x", ("g",)), Bar("0 + z", ("g",)))


def test_slash_expands_as_lme4():
    # lme4: (1 | school/class) = (1 | class:school) + (1 | school)
    parsed = parse_formula("y ~ x + (1 | school/class)")
    assert [b.group_name for b in parsed.bars] == ["class:school", "school"]
    three = parse_formula("y ~ (1 | a/b/c)")
    assert [b.group_name for b in three.bars] == ["c:b:a", "b:a", "a"]
    assert three.fixed == "1"


def test_formulaic_terms_and_patsy_names(frame):
    parsed = parse_formula("y ~ x * f + I(x**2) + np.log(x) + C(s) + (1 + x | school)")
    design = build_design(parsed, frame)
    # Unused category dropped, category order kept (b is the reference), strings sorted;
    # interactions after main effects, as R's model.matrix orders terms.
    assert list(design.fixed.columns) == [
        "Intercept", "x", "f[T.a]", "f[T.c]", "I(x ** 2)", "np.log(x)", "C(s)[T.q]",
        "x:f[T.a]", "x:f[T.c]",
    ]
    np.testing.assert_allclose(design.fixed["I(x ** 2)"], frame["x"] ** 2)
    term = design.terms[0]
    assert term.effects == ["Intercept", "x"] and term.n_groups == 3


def test_reference_level_and_polynomials(frame):
    design = build_design(parse_formula("y ~ C(f, contr.treatment('c')) + poly(x, 2)"), frame)
    names = list(design.fixed.columns)
    assert names[1:3] == ["C(f, contr.treatment('c'))[T.b]", "C(f, contr.treatment('c'))[T.a]"]
    assert names[3:] == ["poly(x, 2)[1]", "poly(x, 2)[2]"]


def test_interaction_grouping_factor_has_one_level_per_combination(frame):
    design = build_design(parse_formula("y ~ 1 + (1 | school:klass)"), frame)
    assert design.terms[0].group == "school:klass"
    assert design.terms[0].n_groups == 6


def test_terms_ordered_as_lme4_when_a_later_factor_has_more_levels(frame):
    design = build_design(parse_formula("y ~ 1 + (1 + x | school) + (1 | school:klass)"), frame)
    assert [t.group for t in design.terms] == ["school:klass", "school"]


def test_incomplete_rows_are_dropped_as_na_omit(frame):
    frame = frame.copy()
    frame.loc[[0, 5], "x"] = np.nan
    frame.loc[7, "z"] = np.nan  # z is not in the model: row 7 stays
    design = build_design(parse_formula("y ~ x + (1 | school)"), frame)
    assert len(design.fixed) == len(frame) - 2
    assert 7 in design.index


@pytest.mark.parametrize("formula", ["y x", "y ~ x + (1 | g", "y ~ x + ( | g)", "y ~ x +",
                                     "y ~ x + (1 | log(g))"])
def test_bad_formulas(formula):
    with pytest.raises(ValueError):
        parse_formula(formula)


def test_formula_must_be_str():
    with pytest.raises(TypeError, match="formula"):
        parse_formula(42)


def test_unknown_column_is_named(frame):
    with pytest.raises(ValueError, match="'zz'"):
        parse_formula("y ~ x + zz + (1 | school)").variables(list(frame.columns))
    with pytest.raises(ValueError, match="'pupil'"):
        parse_formula("y ~ x + (1 | pupil)").variables(list(frame.columns))


def test_repeated_random_effect_is_refused(frame):
    with pytest.raises(ValueError, match="repeats the random effect 'Intercept'"):
        build_design(parse_formula("y ~ x + (1 | school) + (1 + x | school)"), frame)


def test_design_leaves_the_data_untouched(frame):
    before = frame.copy()
    build_design(parse_formula("y ~ f + s + (1 | school/klass)"), frame)
    pd.testing.assert_frame_equal(frame, before)
