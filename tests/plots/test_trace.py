"""plot_trace: m lines per panel, R-hat in the titles, parameters, variable subsets."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi

M = 3


@pytest.fixture(scope="module")
def imp():
    df = bi.datasets.load_popmis()[["school", "popular", "texp", "sex", "teachpop"]].copy()
    df.loc[df.index % 7 == 0, "teachpop"] = np.nan  # a second incomplete variable
    pred = bi.make_predictor_matrix(df, cluster="school")
    pred.loc["popular", "sex"] = 2
    return bi.impute(df, method={"popular": "2l.pmm", "teachpop": "pmm"},
                     predictor_matrix=pred, m=M, maxit=5, seed=5)


def _rows(fig):
    """(left, right) axes per row: density and trace panels."""
    axes = fig.axes
    return [axes[i:i + 2] for i in range(0, len(axes), 2)]


def test_m_lines_per_panel_and_rhat_in_titles(imp):
    fig = imp.plot_trace()
    rows = _rows(fig)
    assert len(rows) == 2 * len(imp.variables)  # mean and sd of each variable
    rhat = bi.convergence(imp)
    for left, right in rows:
        assert len(right.get_lines()) == M
        assert len(left.get_lines()) == M
        # one colour per chain
        assert len({ln.get_color() for ln in right.get_lines()}) == M
        title = right.get_title()
        assert title == left.get_title() and "R-hat" in title
    titles = [r[1].get_title() for r in rows]
    for variable in imp.variables:
        expected = f"mean({variable})   R-hat {rhat.loc[variable, 'rhat_mean']:.3f}"
        assert expected in titles
    # the trace is the chain mean recorded in sample_stats
    trace = rows[0][1].get_lines()[0].get_ydata()
    recorded = imp.idata.sample_stats["chain_mean"].sel(variable=imp.variables[0]).values
    assert any(np.allclose(trace, recorded[c]) for c in range(M))


def test_variables_subset(imp):
    fig = imp.plot_trace(variables=["teachpop"])
    titles = [r[1].get_title() for r in _rows(fig)]
    assert len(titles) == 2 and all("teachpop" in t for t in titles)
    fig = imp.plot_trace("popular")
    assert len(_rows(fig)) == 2


def test_parameters_one_row_per_scalar(imp):
    from bayesimpute.plots.trace import trace_dataset

    data = trace_dataset(imp, ["popular"], parameters=True)
    posterior = imp.idata.posterior
    n_beta = posterior["popular_beta"].shape[-1]
    n_re = posterior["popular_psi"].shape[-1]
    expected = n_beta + 1 + n_re * (n_re + 1) // 2  # beta, sigma2, lower triangle of psi
    assert len(data.data_vars) == expected
    assert "popular_beta[sex]" in data.data_vars
    assert not any(name.startswith("popular_u") for name in data.data_vars)
    fig = imp.plot_trace(variables=["popular"], parameters=True)
    rows = _rows(fig)
    assert len(rows) == expected
    for _, right in rows:
        assert len(right.get_lines()) == M
        assert "R-hat" in right.get_title()
    assert rows[0][1].get_title().startswith(list(data.data_vars)[0])


def test_few_iterations_no_rhat():
    df = bi.datasets.load_popmis()[["school", "popular", "texp", "sex"]]
    imp = bi.impute(df, method={"popular": "pmm"}, m=2, maxit=2, seed=1)
    fig = imp.plot_trace()
    assert all("R-hat" not in ax.get_title() for ax in fig.axes)


def test_unknown_variable(imp):
    with pytest.raises(ValueError, match=r"not imputed variables: \['sex'\]"):
        imp.plot_trace(variables=["sex"])


def test_sd_titles_carry_the_variance_rhat_of_convergence(imp):
    rhat = bi.convergence(imp)
    titles = [r[1].get_title() for r in _rows(imp.plot_trace())]
    for variable in imp.variables:
        assert f"sd({variable})   R-hat {rhat.loc[variable, 'rhat_var']:.3f}" in titles


def test_parameter_titles_carry_the_rhat_of_convergence(imp):
    table = bi.convergence(imp, parameters=True)
    for _, right in _rows(imp.plot_trace(variables=["popular"], parameters=True)):
        name, _, value = right.get_title().partition("   R-hat ")
        assert value == f"{table.at[name, 'rhat']:.3f}", name


@pytest.fixture(scope="module")
def factor_imp():
    """A 3-level factor and a 0/1 variable besides popular: more than 20 parameters."""
    rng = np.random.default_rng(3)
    df = bi.datasets.load_popmis()[["school", "popular", "texp", "sex", "teachpop"]].copy()
    df["band"] = pd.Categorical(rng.choice(["low", "mid", "high"], len(df)),
                                categories=["low", "mid", "high"])
    df.loc[df.index % 5 == 0, "band"] = np.nan
    df.loc[df.index % 9 == 0, "sex"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bi.impute(df, method={"band": "polyreg", "sex": "logreg", "popular": "pmm"},
                         m=2, maxit=4, seed=2)


def test_factors_are_traced_by_the_share_of_each_level(factor_imp):
    from bayesimpute.plots.trace import trace_dataset

    imp = factor_imp
    data = trace_dataset(imp, ["band", "sex"])
    assert list(data.data_vars) == ["share(band=low)", "share(band=mid)", "share(band=high)",
                                    "share(sex=1)"]
    shares = sum(data[f"share(band={level})"] for level in ["low", "mid", "high"])
    np.testing.assert_allclose(shares, 1.0)
    codes = imp.idata.posterior_predictive["band"].values
    np.testing.assert_allclose(data["share(band=mid)"].values, (codes == 1).mean(axis=-1))
    titles = [r[1].get_title() for r in _rows(imp.plot_trace(["band", "sex"]))]
    assert [t.split("   ")[0] for t in titles] == list(data.data_vars)


def test_many_rows_are_paginated_not_cut(imp):
    from bayesimpute.plots.trace import trace_dataset

    names = list(trace_dataset(imp, parameters=True).data_vars)
    assert len(names) > 5
    with pytest.warns(UserWarning, match=rf"rows 1-5 of {len(names)} \(page 0 of"):
        first = imp.plot_trace(parameters=True, rows_per_page=5)
    assert [r[1].get_title().split("   ")[0] for r in _rows(first)] == names[:5]
    last_page = (len(names) - 1) // 5
    with pytest.warns(UserWarning, match=rf"page {last_page} of"):
        last = imp.plot_trace(parameters=True, rows_per_page=5, page=last_page)
    assert [r[1].get_title().split("   ")[0] for r in _rows(last)] == names[5 * last_page:]
    with pytest.raises(ValueError, match="page must be an integer from 0"):
        imp.plot_trace(parameters=True, rows_per_page=5, page=last_page + 1)


def test_more_than_twenty_rows_fit_in_one_figure_when_asked(factor_imp):
    from bayesimpute.plots.trace import trace_dataset

    names = list(trace_dataset(factor_imp, parameters=True).data_vars)
    assert len(names) > 20  # ArviZ's own limit (plot.max_subplots = 40 axes) would cut here
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither ArviZ nor plot_trace may drop rows
        figure = factor_imp.plot_trace(parameters=True, rows_per_page=len(names))
    assert [r[1].get_title().split("   ")[0] for r in _rows(figure)] == names
