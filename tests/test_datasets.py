"""Bundled and generated data."""

import numpy as np

from deepstack.datasets import digits_split, make_mnist1d


def test_digits_split_is_stratified_70_30():
    X_train, X_test, y_train, y_test = digits_split()
    assert X_train.shape == (1257, 64) and X_test.shape == (540, 64)
    train_share = np.bincount(y_train) / len(y_train)
    test_share = np.bincount(y_test) / len(y_test)
    np.testing.assert_allclose(train_share, test_share, atol=0.01)


def test_mnist1d_is_generated_and_leaves_global_state_alone():
    np.random.seed(123)  # noqa: NPY002 (the legacy global state is the point)
    expected_next = np.random.RandomState(123).rand()
    X_train, X_test, y_train, y_test = make_mnist1d(n_samples=200)
    assert np.random.rand() == expected_next  # noqa: NPY002
    assert X_train.shape == (160, 40) and X_test.shape == (40, 40)
    assert set(np.unique(y_train)) <= set(range(10))
    again = make_mnist1d(n_samples=200)
    np.testing.assert_array_equal(again[0], X_train)
