import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def popmis():
    import bayesimpute as bi

    return bi.datasets.load_popmis()


@pytest.fixture(scope="session")
def popmis_pred(popmis):
    """The tutorial's model for popular: school -2, sex random slope (2), texp fixed (1)."""
    import bayesimpute as bi

    pred = bi.make_predictor_matrix(popmis, cluster="school")
    pred.loc["popular", :] = 0
    pred.loc["popular", ["school", "sex", "texp"]] = [-2, 2, 1]
    return pred
