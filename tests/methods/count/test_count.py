"""2l.pois / 2l.nb: counts imputed as whole numbers; coefficients and variance recovered."""

import numpy as np
import pytest

from bayesimpute.design.coding import VariableKind
from bayesimpute.methods.base import MethodData, MethodError
from bayesimpute.methods.count.poisson import TwoLevelNegBin, TwoLevelPois


def simulate(seed=4, n_clusters=12, per_cluster=40, tau=0.5):
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_clusters), per_cluster)
    x = rng.normal(size=len(cluster))
    y = rng.poisson(np.exp(0.8 + 0.5 * x + rng.normal(0, tau, n_clusters)[cluster]))
    observed = rng.random(len(y)) > 0.2
    observed[cluster == 0] = False  # a cluster where the count is never observed
    data = MethodData(
        target="c", kind=VariableKind.CONTINUOUS, y=np.where(observed, y, 0).astype(float),
        observed=observed, impute=~observed, X=np.column_stack([np.ones_like(x), x]),
        x_names=["Intercept", "x"], random=np.array([0]), cluster=cluster,
        n_clusters=n_clusters, cluster_labels=np.arange(n_clusters),
    )
    return data, x, rng


def test_two_level_poisson_recovers_slope_and_imputes_counts():
    data, x, rng = simulate()
    method = TwoLevelPois("c", {"tune": 100, "n_steps": 2})
    draws = [method.update(data, rng) for _ in range(50)][10:]
    slope = np.array([d.parameters["beta"][1] for d in draws]) / x.std()
    assert abs(slope.mean() - 0.5) < 0.12  # ~4 posterior sds (sd ~ 0.03)
    values = draws[-1].values
    assert np.all(values >= 0) and np.all(values == np.round(values))
    psi = np.array([d.parameters["psi"][0, 0] for d in draws])
    assert 0.05 < np.median(psi) < 1.0  # truth 0.25 with 11 informative clusters
    dims = method.parameter_dims(data)
    for name, array in draws[-1].parameters.items():
        assert array.shape == tuple(len(c) for _, c in dims[name]), name


def test_negative_binomial_runs():
    data, _, rng = simulate(seed=5, n_clusters=6, per_cluster=30)
    draw = [TwoLevelNegBin("c", {"tune": 50}).update(data, rng) for _ in range(1)][-1]
    assert "inv_alpha" in draw.parameters and np.all(draw.values >= 0)


def test_non_count_values_are_rejected():
    data, _, rng = simulate()
    data.y[np.flatnonzero(data.observed)[0]] = 1.5
    with pytest.raises(MethodError, match="whole numbers"):
        TwoLevelPois("c").update(data, rng)
