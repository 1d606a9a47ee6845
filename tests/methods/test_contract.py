"""The contract every registered method keeps, checked over all of them (as scikit-learn's
``parametrize_with_checks``): a method gets these checks by registering.

For each built-in method, on one small frame (``tests/reference/method_draws.py``):
- every option declared (a constraint and a meaning), every declared constraint refusing a
  bad value when the method is made (before any sampling), priors declared, each naming a
  real option;
- observed cells never written, imputations finite and of the variable's type;
- the parameters recorded with the dims the method declares;
- a continued chain (state saved with ``get_state``, restored with ``set_state``) draws what
  one uninterrupted chain draws, bit for bit, for the exact steps and for NUTS (whose
  adaptation and generator travel in its ``sampling_state``), also when the run went through
  a netCDF file (the state written as JSON);
- the same draws as before the methods were reorganised by family (the reference file).
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi
from bayesimpute.design.coding import VariableKind
from bayesimpute.methods import Draw, ImputationMethod, get_method
from bayesimpute.methods.options import (
    Boolean, Integer, NoneOr, OneOf, Parsed, Real, Text, declared_constraint, undeclared_options,
)
from bayesimpute.methods.registry import _REGISTRY

_PATH = Path(__file__).resolve().parents[1] / "reference" / "method_draws.py"
_spec = importlib.util.spec_from_file_location("method_draws", _PATH)
method_draws = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(method_draws)

REFERENCE = pd.read_csv(method_draws.OUT, dtype={"value": str}, keep_default_na=False)
BUILT_IN = sorted(n for n, c in _REGISTRY.items() if c.__module__.startswith("bayesimpute."))


def test_every_built_in_method_has_a_case():
    assert sorted(method_draws.CASES) == BUILT_IN


def bad_values(constraint) -> list:
    """Values ``constraint`` must refuse."""
    if isinstance(constraint, Integer):
        return ["three", 2.5, True] + ([constraint.low - 1] if constraint.low is not None else [])
    if isinstance(constraint, Real):
        return ["x", float("nan"), True] + ([constraint.low] if constraint.open_low else [])
    if isinstance(constraint, OneOf):
        return ["__not_a_choice__", None]
    if isinstance(constraint, Boolean):
        return ["yes", 1]
    if isinstance(constraint, (Text, NoneOr)):
        return [3, 2.5]
    if isinstance(constraint, Parsed):
        return ["__not_a_family__", ("__nope__", 1.0)]
    raise AssertionError(f"no bad values known for {constraint!r}")


@pytest.mark.parametrize("name", BUILT_IN)
def test_options_are_declared_and_bad_values_refused_when_made(name):
    cls = get_method(name)
    assert undeclared_options(cls) == []
    cls("v", {})  # the defaults are accepted
    for option, default in cls.default_options().items():
        constraint = declared_constraint(cls, option).constraint
        assert constraint.accepts(default), (option, default)
        for bad in bad_values(constraint):
            with pytest.raises(ValueError, match=f"method_options for 'v' \\({name}\\)"):
                cls("v", {option: bad})


@pytest.mark.parametrize("name", BUILT_IN)
def test_priors_are_declared_and_name_real_options(name):
    cls = get_method(name)
    priors = cls.declared_priors()
    assert priors, f"{name} declares no priors"
    defaults = cls.default_options()
    for prior in priors:
        assert set(prior.options) <= set(defaults), prior
    assert str(bi.describe_method(name)).startswith(name)


@pytest.mark.parametrize("name", BUILT_IN)
def test_the_options_a_prior_names_change_it(name):
    """A prior that names an option is set by it (a user's override reaches the prior)."""
    cls = get_method(name)
    defaults = cls.default_options()
    priors = cls.declared_priors()
    for option in {o for prior in priors for o in prior.options}:
        named = {p.parameter: p.distribution for p in priors if option in p.options}
        changed = {p.parameter: p.distribution
                   for p in cls.declared_priors({option: other_value(option, defaults[option])})}
        assert any(changed[parameter] != was for parameter, was in named.items()), option


def other_value(option, default):
    """A value of a prior option far from its default: a prior scale a thousandth of it, a
    variance prior (shape and rate) of a thousand prior observations, a fixed rho, every
    Gaussian model's coefficient scale a thousandth (2l.smc's settings by name: both models
    of the reference cases are Gaussian)."""
    if option == "rho_prior":
        return ("fixed", 0.9)
    if option.endswith("_priors"):
        return {"beta_sd": 1e-3}
    return default * 1e4 if option.startswith("sigma2") else default * 1e-3


def test_a_method_that_does_not_declare_its_options_fails_the_contract():
    class Undeclared(ImputationMethod):
        name = "test.undeclared"
        kinds = frozenset({VariableKind.CONTINUOUS})

        @classmethod
        def default_options(cls):
            return {"smoothing": 3}

        def update(self, data, rng):
            return Draw(np.zeros(int(data.impute.sum())))

    assert undeclared_options(Undeclared) == ["smoothing"]
    with pytest.raises(TypeError, match="does not declare its option 'smoothing'"):
        Undeclared("v", {"smoothing": 4})

    class Declared(Undeclared):
        option_constraints = {"smoothing": Integer(1)}

    assert undeclared_options(Declared) == []
    with pytest.raises(ValueError, match="smoothing must be an integer >= 1, got 0"):
        Declared("v", {"smoothing": 0})


def run(name, maxit=2):
    case = method_draws.CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return method_draws.run(name, case, maxit=maxit)


@pytest.fixture(scope="module")
def runs():
    return {}


def imputation(runs, name):
    if name not in runs:
        runs[name] = run(name)
    return runs[name]


@pytest.mark.parametrize("name", BUILT_IN)
def test_same_draws_as_the_reference(name, runs):
    case = method_draws.CASES[name]
    got = pd.DataFrame(method_draws.rows(name, imputation(runs, name), case["target"]))
    want = REFERENCE[REFERENCE["method"] == name].reset_index(drop=True)
    assert list(got["what"]) == list(want["what"])
    for (_, g), (_, w) in zip(got.iterrows(), want.iterrows()):
        try:
            same = np.isclose(float(g["value"]), float(w["value"]), rtol=1e-9, atol=1e-12)
        except ValueError:  # a category label
            same = g["value"] == w["value"]
        assert same, (name, g["what"], g["chain"], g["index"], g["value"], w["value"])


@pytest.mark.parametrize("name", BUILT_IN)
def test_observed_cells_kept_and_imputations_of_the_variables_type(name, runs):
    target = method_draws.CASES[name]["target"]
    imp = imputation(runs, name)
    observed = imp.data[target].notna()
    for chain in range(imp.m):
        completed = imp.complete(chain)
        pd.testing.assert_series_equal(completed.loc[observed, target],
                                       imp.data.loc[observed, target])
        values = completed[target]
        assert values.notna().all()
        assert values.dtype == imp.data[target].dtype
        if isinstance(values.dtype, pd.CategoricalDtype):
            assert set(values.unique()) <= set(imp.data[target].cat.categories)
        elif target in ("b", "wb"):
            assert set(values.unique()) <= {0.0, 1.0}
        elif target == "k":
            assert (values >= 0).all() and (values == np.round(values)).all()
        else:
            assert np.isfinite(values.to_numpy()).all()


@pytest.mark.parametrize("name", BUILT_IN)
def test_parameters_have_the_declared_dims(name, runs):
    target = method_draws.CASES[name]["target"]
    posterior = imputation(runs, name).idata.posterior
    recorded = [v for v in posterior.data_vars if v.startswith(f"{target}_")]
    assert recorded, f"{name} records no parameters"
    for variable in recorded:
        dims = posterior[variable].dims
        assert dims[:2] == ("chain", "draw")
        undeclared = [d for d in dims if "_dim_" in d]  # axes parameter_dims did not name
        assert undeclared == [], (variable, dims)


@pytest.mark.parametrize("name", BUILT_IN)
def test_a_continued_chain_draws_what_one_chain_draws(name, runs):
    target = method_draws.CASES[name]["target"]
    straight = imputation(runs, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        continued = run(name, maxit=1).iterate(1)
    pd.testing.assert_frame_equal(continued.complete("long"), straight.complete("long"))
    for variable in straight.idata.posterior.data_vars:
        if variable.startswith(f"{target}_"):
            np.testing.assert_array_equal(continued.idata.posterior[variable].values,
                                          straight.idata.posterior[variable].values)


@pytest.mark.parametrize("name", BUILT_IN)
def test_a_run_read_back_from_netcdf_continues_the_chain(name, runs, tmp_path):
    straight = imputation(runs, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = run(name, maxit=1).to_netcdf(tmp_path / "run.nc")
        continued = bi.MultipleImputation.from_netcdf(path).iterate(1)
    pd.testing.assert_frame_equal(continued.complete("long"), straight.complete("long"))


#: methods advanced by NUTS: each prior option there compiles a new graph (seconds), so of
#: their options only 2l.nb's inv_alpha_sd is run below (the others are in the graph's key
#: and checked on the declared priors above)
NUTS_METHODS = {"polr", "2l.polr", "2l.pois", "2l.nb", "2lonly.polr"}
PRIOR_OPTIONS = sorted({
    (name, option) for name in BUILT_IN for prior in get_method(name).declared_priors()
    for option in prior.options
    if name not in NUTS_METHODS or (name, option) == ("2l.nb", "inv_alpha_sd")
})


@pytest.mark.parametrize("name, option", PRIOR_OPTIONS)
def test_a_prior_option_reaches_the_model(name, option, runs):
    """Setting a prior's option moves the imputations: the override reaches the model."""
    case = method_draws.CASES[name]
    other = other_value(option, get_method(name).default_options()[option])
    changed = {**case, "options": {**case.get("options", {}), option: other}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = method_draws.run(name, changed)
    assert not imp.complete("long").equals(imputation(runs, name).complete("long")), option
