"""impute(): the invariants the package promises, the FCS options, determinism."""

import numpy as np
import pandas as pd
import pytest

import bayesimpute as bi


@pytest.fixture(scope="module")
def mixed_frame():
    """Small two-level frame: continuous, 0/1, an ordered factor, a string cluster."""
    rng = np.random.default_rng(11)
    n_clusters, size = 12, 15
    g = np.repeat([f"c{j:02d}" for j in range(n_clusters)], size)
    u = rng.normal(scale=0.7, size=n_clusters)
    x = rng.normal(size=g.size)
    y = 2 + x + np.repeat(u, size) + rng.normal(size=g.size)
    b = (rng.random(g.size) < 0.4).astype(float)
    level = pd.Categorical(rng.choice(["low", "mid", "high"], g.size),
                           categories=["low", "mid", "high"], ordered=True)
    data = pd.DataFrame({"g": g, "x": x, "y": y, "b": b, "level": level},
                        index=pd.Index(np.arange(g.size) * 3 + 100, name="row"))
    for column, share in (("x", 0.2), ("y", 0.3), ("b", 0.2), ("level", 0.2)):
        data.loc[rng.random(g.size) < share, column] = np.nan
    return data


METHODS = {"x": "2l.norm", "y": "2l.pmm", "b": "2l.pmm", "level": "2l.pmm"}


def run(data, **kwargs):
    options = dict(method=METHODS, cluster="g", m=2, maxit=3, seed=5)
    options.update(kwargs)
    return bi.impute(data, **options)


def test_input_untouched_and_observed_values_kept(mixed_frame):
    before = mixed_frame.copy(deep=True)
    imp = run(mixed_frame)
    pd.testing.assert_frame_equal(mixed_frame, before)
    for i in range(imp.m):
        completed = imp.complete(i)
        assert not completed.isna().any().any()
        pd.testing.assert_index_equal(completed.index, mixed_frame.index)
        assert list(completed.columns) == list(mixed_frame.columns)
        assert completed.dtypes.equals(mixed_frame.dtypes)
        observed = mixed_frame.notna()
        for column in mixed_frame.columns:
            kept = completed.loc[observed[column], column]
            pd.testing.assert_series_equal(kept, mixed_frame.loc[observed[column], column])
        assert set(completed["b"].unique()) <= {0.0, 1.0}
        assert list(completed["level"].cat.categories) == ["low", "mid", "high"]
        assert completed["level"].cat.ordered


def test_same_seed_same_result_for_any_n_jobs(mixed_frame):
    serial = run(mixed_frame, n_jobs=1)
    parallel = run(mixed_frame, n_jobs=2)
    again = run(mixed_frame, n_jobs=1)
    for i in range(2):
        pd.testing.assert_frame_equal(serial.complete(i), parallel.complete(i))
        pd.testing.assert_frame_equal(serial.complete(i), again.complete(i))
    other = run(mixed_frame, seed=6)
    assert not serial.complete(0).equals(other.complete(0))


def test_generator_seed_is_accepted_and_deterministic(mixed_frame):
    a = run(mixed_frame, seed=np.random.default_rng(3))
    b = run(mixed_frame, seed=np.random.default_rng(3))
    pd.testing.assert_frame_equal(a.complete(1), b.complete(1))


def test_complete_long_format(mixed_frame):
    imp = run(mixed_frame)
    long = imp.complete("long", include=True)
    assert list(long.columns[:2]) == [".imp", ".id"]
    assert sorted(long[".imp"].unique()) == [0, 1, 2]
    assert (long[".imp"] == 0).sum() == len(mixed_frame)
    original = long[long[".imp"] == 0].set_index(".id")[mixed_frame.columns]
    pd.testing.assert_frame_equal(original, mixed_frame, check_names=False)
    assert not long[long[".imp"] > 0].isna().any().any()
    with pytest.raises(ValueError, match="between 0 and m - 1"):
        imp.complete(2)


def test_inference_data_layout(mixed_frame):
    imp = run(mixed_frame, m=3, maxit=4)
    idata = imp.idata
    for group in ("posterior", "sample_stats", "posterior_predictive", "observed_data"):
        assert group in idata.groups()
    assert idata.sample_stats["chain_mean"].dims == ("chain", "draw", "variable")
    assert idata.sample_stats["chain_mean"].shape == (3, 4, 4)
    y_imp = idata.posterior_predictive["y"]
    assert y_imp.dims == ("chain", "draw", "y_missing")
    missing_labels = mixed_frame.index[mixed_frame["y"].isna()]
    np.testing.assert_array_equal(y_imp["y_missing"].values, missing_labels)
    assert idata.posterior["y_beta"].dims[:2] == ("chain", "draw")
    assert idata.posterior["y_psi"].shape[:2] == (3, 4)
    # the last draw is what complete() returns
    np.testing.assert_allclose(imp.complete(2).loc[missing_labels, "y"], y_imp.isel(chain=2, draw=-1))


def test_convergence_table_and_trace_plot(mixed_frame):
    imp = run(mixed_frame, m=3, maxit=6)
    table = bi.convergence(imp)
    assert list(table.index) == imp.variables
    assert np.isfinite(table["rhat_mean"]).all()
    figure = imp.plot_trace(variables=["y"])
    lines = figure.axes[1].get_lines()
    assert len(lines) == 3  # one line per chain in the trace panel


def test_iterate_continues_exactly(mixed_frame):
    short = run(mixed_frame, maxit=2).iterate(2)
    full = run(mixed_frame, maxit=4)
    assert short.iterations == 4
    for i in range(2):
        pd.testing.assert_frame_equal(short.complete(i), full.complete(i))
    np.testing.assert_allclose(short.idata.sample_stats["chain_mean"],
                               full.idata.sample_stats["chain_mean"])


def test_netcdf_round_trip(mixed_frame, tmp_path):
    imp = run(mixed_frame)
    path = imp.to_netcdf(tmp_path / "imp.nc")
    back = bi.MultipleImputation.from_netcdf(path)
    for i in range(imp.m):
        pd.testing.assert_frame_equal(back.complete(i), imp.complete(i))
    pd.testing.assert_series_equal(back.method, imp.method)
    continued = back.iterate(1).complete(0)
    pd.testing.assert_frame_equal(continued, imp.iterate(1).complete(0))


def test_a_file_of_the_earlier_format_reads_back_and_continues_with_a_warning(
        mixed_frame, tmp_path, monkeypatch):
    from bayesimpute.engine import io

    imp = run(mixed_frame)
    monkeypatch.setattr(io, "_FORMAT", "bayesimpute-1")  # as the earlier version wrote it
    path = imp.to_netcdf(tmp_path / "old.nc")
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="earlier version of bayesimpute"):
        back = bi.MultipleImputation.from_netcdf(path)
    for i in range(imp.m):
        pd.testing.assert_frame_equal(back.complete(i), imp.complete(i))
    continued = back.iterate(1)  # the parameter chains start again, from the imputations
    assert continued.iterations == imp.iterations + 1
    assert not continued.complete("long").isna().any().any()
    # a restart, not the exact continuation that a file of this version gives
    assert not continued.complete("long").equals(imp.iterate(1).complete("long"))


def test_maxit_zero_only_fills_starting_values(mixed_frame):
    imp = run(mixed_frame, maxit=0)
    completed = imp.complete(0)
    assert not completed.isna().any().any()
    observed = set(mixed_frame["y"].dropna())
    assert set(completed["y"]) <= observed  # starting values are observed values


def test_passive_post_and_where(mixed_frame):
    data = mixed_frame.assign(y2=lambda d: d["y"] * 2)
    methods = {**METHODS, "y2": "~ y * 2"}
    imp = bi.impute(data, method=methods, cluster="g", m=2, maxit=2, seed=1,
                    post={"x": lambda values: values.clip(-1, 1)})
    completed = imp.complete(1)
    np.testing.assert_allclose(completed["y2"], completed["y"] * 2)
    imputed_x = completed.loc[mixed_frame["x"].isna(), "x"]
    assert imputed_x.between(-1, 1).all()
    where = mixed_frame.isna()
    where["y"] = False  # leave y's missing cells alone ...
    pred = bi.make_predictor_matrix(mixed_frame, cluster="g")
    pred.loc[["x", "b", "level"], "y"] = 0  # ... and do not use y as a predictor
    kept = bi.impute(mixed_frame, method={**METHODS, "y": ""}, predictor_matrix=pred,
                     where=where, m=1, maxit=1, seed=1).complete(0)
    assert kept["y"].isna().sum() == mixed_frame["y"].isna().sum()


def test_cluster_level_variable_imputed_per_cluster(popmis):
    data = popmis.copy()
    schools = data["school"].unique()[:10]
    data.loc[data["school"].isin(schools), "texp"] = np.nan
    pred = bi.make_predictor_matrix(data, cluster="school")
    pred.loc["texp", :] = 0
    pred.loc["texp", ["school", "sex", "teachpop"]] = [-2, 1, 1]
    pred.loc["popular", ["pupil", "const"]] = 0
    for method in ("2lonly.norm", "2lonly.pmm"):
        imp = bi.impute(data, method={"texp": method, "popular": "2l.norm"},
                        predictor_matrix=pred, m=2, maxit=2, seed=3)
        completed = imp.complete(0)
        per_school = completed.groupby("school")["texp"].nunique()
        assert (per_school == 1).all()
        if method == "2lonly.pmm":
            assert set(completed["texp"]) <= set(popmis["texp"])


def test_clusters_without_observed_values_get_population_effects(popmis, popmis_pred):
    data = popmis.copy()
    data.loc[data["school"] <= 5, "popular"] = np.nan  # systematically missing
    imp = bi.impute(data, method={"popular": "2l.norm"}, predictor_matrix=popmis_pred,
                    m=2, maxit=3, seed=2)
    completed = imp.complete(0)
    assert not completed["popular"].isna().any()
    u = imp.idata.posterior["popular_u"].isel(draw=-1)
    assert np.isfinite(u.values).all()


def test_checkpoint_argument_and_resume(mixed_frame, tmp_path):
    plain = run(mixed_frame)
    checkpointed = run(mixed_frame, checkpoint=tmp_path / "run.ckpt")
    resumed = bi.resume(tmp_path / "run.ckpt")  # a finished checkpoint rebuilds the result
    for i in range(plain.m):
        pd.testing.assert_frame_equal(checkpointed.complete(i), plain.complete(i))
        pd.testing.assert_frame_equal(resumed.complete(i), plain.complete(i))
    with pytest.raises(FileExistsError, match="resume"):
        run(mixed_frame, checkpoint=tmp_path / "run.ckpt")
