"""plot_estimates: one marker per term and analysis at the estimate, intervals, inputs, errors."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import bayesimpute as bi

TERMS = ["Intercept", "texp", "sex"]


def _frame(estimates, half):
    est = np.asarray(estimates, dtype=float)
    return pd.DataFrame({"estimate": est, "conf_low": est - half, "conf_high": est + half},
                        index=TERMS)


def _markers(fig):
    found = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            gid = line.get_gid() or ""
            if "|" in gid and not gid.startswith(("interval|", "reference|")):
                assert gid not in found, f"two markers for {gid}"
                found[gid] = (ax, line)
    return found


def _interval(ax, gid):
    (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == f"interval|{gid}"]
    return tuple(line.get_xdata())


@pytest.mark.parametrize("shared_axis", [False, True])
def test_one_marker_per_term_and_analysis_at_the_estimate(shared_axis):
    analyses = {"A": _frame([3.6, 0.09, 0.85], 0.1), "B": _frame([3.5, 0.10, 0.80], 0.2),
                "C": _frame([3.7, 0.08, 0.90], 0.05)}
    fig = bi.plot_estimates(analyses, shared_axis=shared_axis)
    markers = _markers(fig)
    assert len(markers) == 3 * 3
    for name, frame in analyses.items():
        for term in TERMS:
            ax, line = markers[f"{name}|{term}"]
            assert line.get_xdata()[0] == pytest.approx(frame.loc[term, "estimate"])
            assert _interval(ax, f"{name}|{term}") == pytest.approx(
                (frame.loc[term, "conf_low"], frame.loc[term, "conf_high"]))
    if not shared_axis:
        assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == TERMS
        # analyses listed top to bottom in the given order
        ax = fig.axes[0]
        ys = {n: markers[f"{n}|Intercept"][1].get_ydata()[0] for n in analyses}
        assert ys["A"] > ys["B"] > ys["C"]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["A", "B", "C"]


def test_pooled_results_single_fits_and_published_tables():
    rng = np.random.default_rng(1)
    cov = np.diag([0.03, 1e-4, 1e-3])
    pairs = [(pd.Series([3.6, 0.09, 0.85], index=TERMS) + rng.normal(0, 0.01, 3),
              pd.DataFrame(cov, index=TERMS, columns=TERMS)) for _ in range(5)]
    pooled = bi.pool(pairs)
    published = pd.DataFrame({"term": ["(Intercept)", "texp", "sex"],
                              "estimate": [3.599, 0.092, 0.852],
                              "std_error": [0.181, 0.012, 0.039]})
    x = rng.normal(size=(200, 2))
    ols = sm.OLS(x @ [1.0, -2.0] + 0.5 + rng.normal(size=200),
                 sm.add_constant(pd.DataFrame(x, columns=["texp", "sex"]))).fit()
    fig = bi.plot_estimates({"pooled": pooled, "fits": pairs, "published": published,
                             "ols": ols})
    markers = _markers(fig)
    summary = pooled.summary()
    for term in TERMS:
        for name in ("pooled", "fits"):  # a list of fits is pooled by plot_estimates
            ax, line = markers[f"{name}|{term}"]
            assert line.get_xdata()[0] == pytest.approx(summary.loc[term, "estimate"])
            assert _interval(ax, f"{name}|{term}") == pytest.approx(
                tuple(summary.loc[term, ["conf_low", "conf_high"]]))
    # (Intercept) read as Intercept; std_error gives a normal 95% interval
    ax, line = markers["published|Intercept"]
    assert line.get_xdata()[0] == 3.599
    assert _interval(ax, "published|Intercept") == pytest.approx(
        (3.599 - 1.959964 * 0.181, 3.599 + 1.959964 * 0.181), abs=1e-5)
    # a single statsmodels fit: its own estimate and t interval; const read as Intercept
    ax, line = markers["ols|Intercept"]
    assert line.get_xdata()[0] == pytest.approx(ols.params["const"])
    ax, _ = markers["ols|sex"]
    assert _interval(ax, "ols|sex") == pytest.approx(tuple(ols.conf_int().loc["sex"]))


def test_terms_subset_order_and_reference():
    analyses = {"A": _frame([3.6, 0.09, 0.85], 0.1), "B": _frame([3.5, 0.10, 0.80], 0.2)}
    fig = bi.plot_estimates(analyses, terms=["sex", "texp"], reference={"sex": 0.852})
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["sex", "texp"]
    assert set(_markers(fig)) == {"A|sex", "B|sex", "A|texp", "B|texp"}
    refs = [ln for ln in axes[0].get_lines() if ln.get_gid() == "reference|sex"]
    assert len(refs) == 1 and refs[0].get_xdata()[0] == 0.852
    table = bi.estimates_table(analyses, terms=["sex"])
    assert table["analysis"].tolist() == ["A", "B"]


def test_terms_missing_from_an_analysis_are_skipped():
    analyses = {"A": _frame([3.6, 0.09, 0.85], 0.1), "B": _frame([3.5, 0.1, 0.8], 0.2).iloc[:2]}
    assert set(_markers(bi.plot_estimates(analyses))) == {
        "A|Intercept", "A|texp", "A|sex", "B|Intercept", "B|texp"}


@pytest.mark.parametrize(
    "analyses, kwargs, error, message",
    [
        ({"A": _frame([1, 2, 3], 0.1)}, dict(terms=["nope"]), ValueError, r"terms \['nope'\]"),
        ({"A": pd.DataFrame({"estimate": [1.0]})}, {}, ValueError, "lacks"),
        ({"A": "text"}, {}, TypeError, "analysis 'A'"),
        ([_frame([1, 2, 3], 0.1)], {}, TypeError, "dict"),
        ({}, {}, TypeError, "dict"),
    ],
)
def test_bad_input(analyses, kwargs, error, message):
    with pytest.raises(error, match=message):
        bi.plot_estimates(analyses, **kwargs)
