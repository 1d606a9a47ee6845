"""plot_trace: m lines per panel, R-hat in the titles, parameters, variable subsets."""

import numpy as np
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
