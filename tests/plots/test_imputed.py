"""plot_imputed: content of the density, strip, box and scatter plots, facets, errors."""

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi
from bayesimpute.plots.imputed import IMPUTED_COLOR, OBSERVED_COLOR, VALUE_JITTER

M = 3


@pytest.fixture(scope="module")
def imp():
    df = bi.datasets.load_popmis()[["school", "popular", "texp", "sex"]]
    pred = bi.make_predictor_matrix(df, cluster="school")
    pred.loc["popular", "sex"] = 2
    return bi.impute(df, method={"popular": "2l.pmm"}, predictor_matrix=pred, m=M, maxit=2,
                     seed=11)


def _collections(ax, gid):
    return [c for c in ax.collections if c.get_gid() == gid]


def _points(ax, gid):
    cs = _collections(ax, gid)
    return np.concatenate([c.get_offsets() for c in cs]) if cs else np.empty((0, 2))


def test_density_has_observed_plus_m_lines(imp):
    fig = bi.plot_imputed(imp, "popular")
    (ax,) = fig.axes
    observed = [ln for ln in ax.get_lines() if ln.get_gid() == "observed"]
    imputed = [ln for ln in ax.get_lines() if ln.get_gid() == "imputed"]
    assert len(observed) == 1 and len(imputed) == M
    assert len(ax.get_lines()) == 1 + M
    # every curve is a density: area about 1 over the grid
    for line in observed + imputed:
        x, y = line.get_data()
        assert np.trapezoid(y, x) == pytest.approx(1.0, abs=0.02)
    # the observed curve peaks near the observed mode
    x, y = observed[0].get_data()
    mode = imp.data["popular"].mode()[0]
    assert abs(x[np.argmax(y)] - mode) < 0.5
    assert ax.get_xlabel() == "popular"


def test_density_by_imp_one_panel_per_imputation(imp):
    fig = bi.plot_imputed(imp, "popular", by=".imp")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == M
    for k, ax in enumerate(axes, start=1):
        assert ax.get_title() == f".imp {k}"
        assert len(ax.get_lines()) == 2


def test_strip_points_and_colours(imp):
    fig = bi.plot_imputed(imp, "popular", kind="strip")
    (ax,) = fig.axes
    where = imp.where["popular"].to_numpy()
    n, n_mis = len(where), int(where.sum())
    observed, imputed = _points(ax, "observed"), _points(ax, "imputed")
    # .imp 0 shows the observed values; .imp k the whole completed dataset k
    assert len(observed) + len(imputed) == (n - n_mis) * (M + 1) + n_mis * M
    assert len(imputed) == n_mis * M
    assert np.all(np.abs(observed[:, 0] - np.round(observed[:, 0])) <= 0.25 + 1e-9)
    assert np.all(imputed[:, 0] > 0.5)  # no imputed point in the .imp 0 column
    for c in _collections(ax, "imputed"):
        assert np.allclose(c.get_facecolor()[0][:3], _rgb(IMPUTED_COLOR))
    for c in _collections(ax, "observed"):
        assert np.allclose(c.get_facecolor()[0][:3], _rgb(OBSERVED_COLOR))
    # values (jittered by at most VALUE_JITTER) are the completed values of each column
    for k in range(1, M + 1):
        column = imputed[np.round(imputed[:, 0]) == k, 1]
        truth = np.sort(imp.complete(k - 1)["popular"].to_numpy()[where])
        assert np.all(np.abs(np.sort(column) - truth) <= VALUE_JITTER + 1e-9)


def _rgb(hex_color):
    from matplotlib.colors import to_rgb

    return to_rgb(hex_color)


def test_box_medians_match_data(imp):
    fig = bi.plot_imputed(imp, "popular", kind="box")
    (ax,) = fig.axes
    where = imp.where["popular"].to_numpy()
    boxes = [p for p in ax.patches if p.get_gid() in ("observed", "imputed")]
    assert len(boxes) == M + 1
    medians = [ln for ln in ax.get_lines() if ln.get_gid() == "median"]
    medians.sort(key=lambda ln: np.mean(ln.get_xdata()))
    expected = [np.median(imp.data["popular"].dropna())]
    expected += [np.median(imp.complete(k)["popular"].to_numpy()[where]) for k in range(M)]
    assert [ln.get_ydata()[0] for ln in medians] == pytest.approx(expected)


def test_scatter_counts_and_facets(imp):
    fig = bi.plot_imputed(imp, "texp", "popular")
    (ax,) = fig.axes
    where = imp.where["popular"].to_numpy()
    assert len(_points(ax, "observed")) == (~where).sum()
    assert len(_points(ax, "imputed")) == M * where.sum()
    # texp has many values: not jittered, so the x of the points are the data
    assert set(_points(ax, "imputed")[:, 0]) <= set(imp.data["texp"].astype(float))

    fig = bi.plot_imputed(imp, "sex", "popular", by=".imp")
    axes = [a for a in fig.axes if a.get_visible()]
    assert len(axes) == M + 1
    assert len(_points(axes[0], "imputed")) == 0
    assert len(_points(axes[0], "observed")) == (~where).sum()
    for a in axes[1:]:
        assert len(_points(a, "observed")) == 0
        assert len(_points(a, "imputed")) == where.sum()


def test_cluster_facets(imp):
    fig = bi.plot_imputed(imp, "popular", kind="strip", by=[1, 2, 3])
    axes = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in axes] == ["school = 1", "school = 2", "school = 3"]
    school = imp.data["school"].to_numpy()
    where = imp.where["popular"].to_numpy()
    for a, s in zip(axes, [1, 2, 3]):
        assert len(_points(a, "imputed")) == M * (where & (school == s)).sum()

    fig = bi.plot_imputed(imp, "popular", by="cluster", max_panels=4)
    axes = [a for a in fig.axes if a.get_visible()]
    assert len(axes) == 4
    assert "4 of 100" in fig._suptitle.get_text()
    counts = pd.Series(where).groupby(school).sum()
    shown = [int(a.get_title().split("= ")[1]) for a in axes]
    assert sorted(counts[shown].tolist()) == sorted(counts.nlargest(4).tolist())


def test_draws_into_given_axes(imp):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert bi.plot_imputed(imp, "popular", ax=ax) is fig
    assert len(ax.get_lines()) == 1 + M


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(x="nope"), "'nope' is not a column"),
        (dict(x="popular", y="nope", kind="scatter"), "'nope' is not a column"),
        (dict(x="sex"), "'sex' has no imputed values"),
        (dict(x="sex", y="texp"), "neither 'sex' nor 'texp'"),
        (dict(x="popular", kind="violin"), "kind must be one of"),
        (dict(x="popular", kind="scatter"), "needs a second variable"),
        (dict(x="popular", y="sex", kind="density"), "only by kind='scatter'"),
        (dict(x="popular", kind="strip", by=".imp"), "already separates"),
        (dict(x="popular", by="nope"), "by='nope' is not a column"),
        (dict(x="popular", by=[1, 999]), r"clusters \[999\]"),
    ],
)
def test_bad_input(imp, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bi.plot_imputed(imp, **kwargs)
