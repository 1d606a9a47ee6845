"""The plane kernels (batches of small matrices, batch axis last) against numpy's linalg."""

import numpy as np
import pytest

from bayesimpute.methods.core.linalg import (
    cholesky_planes,
    cluster_crossproduct_planes,
    cluster_crossproducts,
    matmul_planes,
    matvec_planes,
    spd_inverse_planes,
)


def spd_batch(q, n=9, seed=0):
    rng = np.random.default_rng([seed, q])
    B = rng.normal(size=(n, q, q))
    return B @ np.swapaxes(B, 1, 2) + 0.1 * np.eye(q)  # (n, q, q), some badly conditioned


def planes(batch):
    return np.ascontiguousarray(np.moveaxis(batch, 0, -1))


def unplanes(p):
    return np.moveaxis(p, -1, 0)


@pytest.mark.parametrize("q", [1, 2, 3, 5])
def test_cholesky_and_inverse_planes_match_numpy(q):
    A = spd_batch(q)
    np.testing.assert_allclose(unplanes(cholesky_planes(planes(A))), np.linalg.cholesky(A),
                               rtol=1e-10, atol=1e-12)
    inverse = unplanes(spd_inverse_planes(planes(A)))
    np.testing.assert_allclose(inverse, np.linalg.inv(A), rtol=1e-8, atol=1e-10)
    assert np.array_equal(inverse, np.swapaxes(inverse, 1, 2))  # exactly symmetric


@pytest.mark.parametrize("q", [1, 2, 3])
@pytest.mark.parametrize("kernel", [cholesky_planes, spd_inverse_planes])
def test_kernels_refuse_a_matrix_that_is_not_positive_definite(kernel, q):
    A = spd_batch(q)
    A[4] = -np.eye(q)
    A[4, q - 1, 0] = A[4, 0, q - 1] = 2.0 if q > 1 else -1.0
    with pytest.raises(np.linalg.LinAlgError):
        kernel(planes(A))
    A[4] = np.nan
    with pytest.raises(np.linalg.LinAlgError):
        kernel(planes(A))


@pytest.mark.parametrize("q", [1, 3])
def test_products_of_planes_match_numpy(q):
    rng = np.random.default_rng(q)
    A, B, v = rng.normal(size=(9, 4, q)), spd_batch(q), rng.normal(size=(9, q))
    np.testing.assert_allclose(unplanes(matmul_planes(planes(A), planes(B))), A @ B,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(matvec_planes(planes(B), v.T).T, np.einsum("jab,jb->ja", B, v),
                               rtol=1e-12, atol=1e-12)


def test_cluster_crossproducts_sum_each_clusters_rows():
    rng = np.random.default_rng(3)
    cluster = np.array([2, 0, 2, 2, 0, 4])  # clusters 1 and 3 have no rows
    # an intercept, a column that starts with 1 and is not one, two others
    D = np.column_stack([np.ones(6), [1.0, 2.0, 1.0, 1.0, 1.0, 1.0], rng.normal(size=(6, 2))])
    expected = np.stack([D[cluster == j].T @ D[cluster == j] for j in range(5)])
    np.testing.assert_allclose(cluster_crossproducts(D, cluster, 5), expected, rtol=1e-12)
    # the shortcuts for the intercept give the same sums, bit for bit, as the products
    direct = np.array([[np.bincount(cluster, weights=D[:, a] * D[:, b], minlength=5)
                        for b in range(4)] for a in range(4)])
    assert np.array_equal(cluster_crossproduct_planes(list(D.T), cluster, 5), direct)
    assert np.array_equal(cluster_crossproducts(D, cluster, 5), unplanes(direct))


def _read_only_columns(D):
    columns = [np.array(c) for c in D.T]
    for c in columns:
        c.flags.writeable = False
    return columns


def test_crossproducts_reuse_the_sums_of_unchanged_columns_only():
    rng = np.random.default_rng(4)
    cluster = rng.integers(0, 7, 60)
    D = np.column_stack([np.ones(60), rng.normal(size=(60, 3))])
    earlier = _read_only_columns(D)
    planes = cluster_crossproduct_planes(earlier, cluster, 7)
    D[:, 2] = rng.normal(size=60)  # one predictor imputed anew
    later = _read_only_columns(D)
    full = cluster_crossproduct_planes(later, cluster, 7)
    assert np.array_equal(cluster_crossproduct_planes(later, cluster, 7,
                                                      reuse=(earlier, planes)), full)
    # a stale entry would show: the reused planes of an unchanged pair are the earlier ones
    poisoned = planes.copy()
    poisoned[1, 3] += 1.0
    reused = cluster_crossproduct_planes(later, cluster, 7, reuse=(earlier, poisoned))
    assert np.array_equal(reused[1, 3], poisoned[1, 3])
    assert np.array_equal(reused[1, 2], full[1, 2])


def test_crossproducts_never_reuse_a_writeable_column():
    """A writeable column may have been changed in place: then it equals its earlier self."""
    rng = np.random.default_rng(5)
    cluster = rng.integers(0, 4, 30)
    columns = [np.ones(30), rng.normal(size=30)]
    planes = cluster_crossproduct_planes(columns, cluster, 4)
    columns[1][:] = rng.normal(size=30)  # changed in place: the same object
    full = cluster_crossproduct_planes([np.ones(30), columns[1].copy()], cluster, 4)
    again = cluster_crossproduct_planes(columns, cluster, 4, reuse=(columns, planes))
    assert np.array_equal(again, full)
