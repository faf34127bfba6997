"""StackedAutoencoder: the scikit-learn transformer."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from deepstack import StackedAutoencoder
from deepstack.layers import TiedDense


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:400] / 16.0).astype(np.float32), y[:400]


@pytest.fixture(scope="module")
def fitted(digits):
    X, _ = digits
    sae = StackedAutoencoder(
        (24, 8),
        activation="sigmoid",
        corruption="mask",
        noise_level=0.2,
        epochs=25,
        learning_rate=1e-2,
        random_state=0,
    )
    return sae.fit(X)


def test_fit_transform_inverse_and_score(digits, fitted):
    X, _ = digits
    Z = fitted.transform(X)
    assert Z.shape == (400, 8)
    assert np.all((Z >= 0) & (Z <= 1))  # sigmoid codes
    back = fitted.inverse_transform(Z)
    assert back.shape == X.shape
    error = float(np.mean((X - back) ** 2))
    assert fitted.score(X) == pytest.approx(-error, rel=1e-5)
    assert fitted.reconstruction_error_ == pytest.approx(error, rel=1e-5)
    # Better than the best constant reconstruction (the column means).
    assert error < float(np.mean(X.var(axis=0)))
    np.testing.assert_array_equal(
        fitted.get_feature_names_out(),
        [f"stackedautoencoder{i}" for i in range(8)],
    )


def test_fitted_attributes(fitted):
    assert fitted.standardize_ is False  # digits / 16 lies in [0, 1]
    history = fitted.pretraining_history_
    assert [h["layer"] for h in history] == [1, 2]
    assert [h["units"] for h in history] == [24, 8]
    # [0, 1] inputs and sigmoid codes: cross-entropy at both layers.
    assert [h["loss_function"] for h in history] == ["cross_entropy"] * 2
    assert all(len(h["loss"]) == h["n_epochs"] >= 1 for h in history)
    assert all(h["val_loss"][h["best_epoch"]] == min(h["val_loss"]) for h in history)
    decoders = [
        layer for layer in fitted.autoencoder_.layers if isinstance(layer, TiedDense)
    ]
    assert [d.tied_name for d in decoders] == ["hidden_2", "hidden_1"]
    assert fitted.encoder_.output.shape[-1] == 8


def test_pickle_round_trip(digits, fitted):
    X, _ = digits
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(again.transform(X), fitted.transform(X), rtol=1e-6)
    assert again.score(X) == pytest.approx(fitted.score(X), rel=1e-6)
    # Pickling did not touch the original.
    assert fitted.encoder_ is not None and hasattr(fitted.autoencoder_, "layers")


def test_pipeline_before_logistic_regression(digits, fitted):
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    pipe = make_pipeline(
        clone(fitted).set_params(epochs=8), LogisticRegression(max_iter=500)
    )
    pipe.fit(X_train, y_train)
    assert pipe.score(X_test, y_test) > 0.6  # chance is 0.1


def test_auto_standardizes_data_outside_unit_interval(digits):
    X, _ = digits
    sae = StackedAutoencoder((6,), tied_weights=False, epochs=2, random_state=0).fit(
        X * 16
    )
    assert sae.standardize_ is True
    np.testing.assert_allclose(sae.mean_, (X * 16).mean(axis=0), rtol=1e-4)
    assert sae.pretraining_history_[0]["loss_function"] == "squared_error"
    assert sae.autoencoder_.get_layer("decoder_1").kernel.shape == (6, 64)
    # inverse_transform returns the original units.
    back = sae.inverse_transform(sae.transform(X * 16))
    assert abs(back.mean() - (X * 16).mean()) < 2.0


def test_same_seed_same_codes(digits):
    X, _ = digits
    params = dict(epochs=2, corruption="gaussian", sparsity=1e-3, random_state=3)
    a = StackedAutoencoder((5,), **params).fit(X[:100]).transform(X[:10])
    b = StackedAutoencoder((5,), **params).fit(X[:100]).transform(X[:10])
    np.testing.assert_array_equal(a, b)


def test_sparsity_shrinks_the_codes(digits):
    X, _ = digits
    params = dict(
        activation="relu",
        epochs=10,
        learning_rate=1e-2,
        random_state=0,
        early_stopping=False,
    )
    dense = StackedAutoencoder((16,), **params).fit(X)
    sparse = StackedAutoencoder((16,), sparsity=0.05, **params).fit(X)
    assert np.abs(sparse.transform(X)).mean() < 0.5 * np.abs(dense.transform(X)).mean()


# ------------------------------------------------------------------ bad input


def test_cross_entropy_outside_unit_interval(digits):
    X, _ = digits
    sae = StackedAutoencoder((4,), loss="cross_entropy", standardize=False)
    with pytest.raises(ValueError, match=r"cross_entropy.*\[0, 1\]"):
        sae.fit(X * 16)


def test_nan_is_rejected(digits):
    X, _ = digits
    X = X[:20].copy()
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        StackedAutoencoder((4,)).fit(X)


@pytest.mark.parametrize("sizes", [(8, 0), (), (4.5,)])
def test_bad_layer_sizes(digits, sizes):
    X, _ = digits
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        StackedAutoencoder(sizes).fit(X[:20])


def test_bad_codes_for_inverse_transform(fitted):
    with pytest.raises(ValueError, match=r"\(n_samples, 8\)"):
        fitted.inverse_transform(np.zeros((2, 5)))
    codes = np.zeros((3, 8))
    codes[2, 1] = np.nan
    with pytest.raises(
        ValueError,
        match=r"inverse_transform's input holds NaN or infinite values \(rows "
        r"\[2\]\); codes from transform are finite",
    ):
        fitted.inverse_transform(codes)


def test_inverse_transform_names_codes_that_are_no_numbers(fitted):
    # NumPy said "setting an array element with a sequence." (sparse) and
    # "could not convert string to float: 'a'".
    codes = sp.csr_matrix(np.zeros((2, 8)))
    with pytest.raises(TypeError, match=r"inverse_transform takes dense codes.*"):
        fitted.inverse_transform(codes)
    with pytest.raises(
        ValueError,
        match=r"inverse_transform expects numeric codes of shape \(n_samples, 8\)"
        r".*could not convert string to float",
    ):
        fitted.inverse_transform([["a"] * 8])
    dense = fitted.inverse_transform(codes.toarray())
    assert dense.shape == (2, fitted.n_features_in_)


def test_bad_parameter_value(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="corruption"):
        StackedAutoencoder((4,), corruption="salt").fit(X[:20])


def test_unfitted_transform_raises(digits):
    from sklearn.exceptions import NotFittedError

    X, _ = digits
    with pytest.raises(NotFittedError):
        StackedAutoencoder().transform(X)


@pytest.mark.parametrize("standardize", [True, False])
def test_constant_columns_are_reconstructed_exactly(standardize):
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 1, size=(80, 4))
    X[:, 1] = 0.25  # (in [0, 1]: left unstandardized with False)
    X[:, 3] = 0.0
    sae = StackedAutoencoder(
        (3,), epochs=2, random_state=0, standardize=standardize
    ).fit(X)
    np.testing.assert_array_equal(sae.constant_columns_, [1, 3])
    back = sae.inverse_transform(sae.transform(X))
    np.testing.assert_array_equal(back[:, [1, 3]], np.tile([0.25, 0.0], (80, 1)))
    assert np.isfinite(back).all()
    reread = pickle.loads(pickle.dumps(sae))
    np.testing.assert_array_equal(reread.inverse_transform(sae.transform(X)), back)
    # The training error counts those columns as reconstructed.
    other = np.mean((X[:, [0, 2]] - back[:, [0, 2]]) ** 2)
    assert sae.reconstruction_error_ == pytest.approx(other / 2, rel=1e-5)


def test_zero_rows_are_refused_both_ways():
    sae = StackedAutoencoder((3,), epochs=1, random_state=0)
    sae.fit(np.random.RandomState(0).normal(size=(40, 4)))
    with pytest.raises(ValueError, match="0 sample"):
        sae.transform(np.empty((0, 4)))
    with pytest.raises(ValueError, match=r"0 rows of codes .*minimum of 1"):
        sae.inverse_transform(np.empty((0, 3)))
