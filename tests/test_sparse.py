"""Sparse input: CSR matrices are densified one mini-batch / chunk at a time
(or once, when the dense copy is no larger than one chunk)."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from deepstack import DeepStackClassifier, DeepStackRegressor, _network, _trainer
from tests.conftest import tiny

BENCHMARK = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def sparse_data():
    X = sp.random(
        400, 300, density=0.05, format="csr", dtype=np.float32, random_state=0
    )
    signal = np.asarray(X[:, :30].sum(axis=1)).ravel()
    return X, (signal > np.median(signal)).astype(int), signal


def test_input_statistics_of_sparse_equal_dense(sparse_data):
    X, _, _ = sparse_data
    mean, variance = _network.input_statistics(X)
    dense_mean, dense_variance = _network.input_statistics(X.toarray())
    np.testing.assert_allclose(mean, dense_mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(variance, dense_variance, rtol=1e-4, atol=1e-7)


def test_chunk_rows_bound_the_densified_values():
    wide = sp.csr_matrix((10, 50_000), dtype=np.float32)
    assert _network.chunk_rows(wide) == _network.SPARSE_CHUNK_VALUES // 50_000
    assert _network.chunk_rows(np.zeros((10, 50_000))) == _network.CHUNK_ROWS
    assert _network.chunk_rows(sp.csr_matrix((10, 2**30))) == 1


def test_a_small_sparse_matrix_is_densified_once_and_takes_the_fused_loop(
    sparse_data,
):
    X, y, _ = sparse_data
    small = _trainer.densify_if_small(X)
    assert isinstance(small, np.ndarray) and np.array_equal(small, X.toarray())
    # One value over the bound: streamed one mini-batch at a time.
    rows = _network.SPARSE_CHUNK_VALUES // 1000 + 1
    large = sp.csr_matrix((rows, 1000), dtype=np.float32)
    assert _trainer.densify_if_small(large) is large
    sparse_fit = tiny(DeepStackClassifier, max_epochs=5).fit(X, y)
    dense_fit = tiny(DeepStackClassifier, max_epochs=5).fit(X.toarray(), y)
    assert _trainer.fused(sparse_fit.model_, X, [])
    assert not _trainer.fused(sparse_fit.model_, large, [])
    # The same training run, bit for bit.
    assert np.array_equal(sparse_fit.predict_proba(X), dense_fit.predict_proba(X))


@pytest.mark.parametrize("streamed", [False, True], ids=["densified", "streamed"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_classifier_on_sparse_input(sparse_data, fmt, streamed, monkeypatch):
    if streamed:
        # Every sparse matrix is too large to densify at once.
        monkeypatch.setattr(_network, "SPARSE_CHUNK_VALUES", 10_000)
    X, y, _ = sparse_data
    train, held_out = X[:300].asformat(fmt), X[300:].asformat(fmt)
    clf = tiny(DeepStackClassifier, max_epochs=30, scoring="accuracy")
    clf.fit(train, y[:300], X_val=held_out, y_val=y[300:])
    assert clf.score(held_out, y[300:]) > 0.7  # chance: 0.5
    # The same network whether the rows come sparse or dense.
    np.testing.assert_allclose(
        clf.predict_proba(held_out), clf.predict_proba(X[300:].toarray()), rtol=1e-6
    )
    assert len(clf.history_["val_score"]) == clf.n_iter_


def test_regressor_on_sparse_input_with_weights(sparse_data):
    X, _, signal = sparse_data
    reg = tiny(DeepStackRegressor, max_epochs=30, batch_norm=False)
    reg.fit(X, signal, sample_weight=np.ones(X.shape[0]))
    assert reg.score(X, signal) > 0.5
    np.testing.assert_allclose(reg.predict(X), reg.predict(X.toarray()), rtol=1e-5)


def test_peak_memory_stays_far_below_the_dense_matrix(tmp_path):
    # 60,000 x 5,000 at 0.5%: 12 MB sparse, 1.1 GB dense. In a fresh
    # process (RSS sampled during fit and predict, after a warm-up fit).
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARK / "sparse_memory.py"),
            "--child",
            *("--rows", "60000", "--cols", "5000", "--density", "0.005"),
            *("--epochs", "1", "--hidden", "16", "--batch-size", "256"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["dense_mb"] > 1000
    assert result["fit_peak_increase_mb"] < result["dense_mb"] / 4
    assert result["predict_peak_increase_mb"] < result["dense_mb"] / 4
    assert result["train_accuracy"] > 0.7


def test_a_sparse_regression_target_is_refused_by_name(sparse_data):
    # As scikit-learn's regressors; it failed with "y has dtype object".
    X, _, signal = sparse_data
    with pytest.raises(TypeError, match=r"takes a dense y; y is a sparse matrix"):
        tiny(DeepStackRegressor).fit(X, sp.csr_matrix(signal.reshape(-1, 1)))


def test_auto_pretraining_leaves_sparse_input_alone(sparse_data):
    # pretrain="auto" chose denoising for mostly unlabeled rows, and
    # pretraining refused the sparse X that the user never asked it to take.
    X, y, signal = sparse_data
    y = np.where(np.arange(len(y)) % 4 == 0, y, -1)
    clf = tiny(DeepStackClassifier, pretrain="auto", semi_supervised=None)
    with pytest.warns(UserWarning, match="fitted as a class label"):
        clf.fit(X, y)
    assert clf._resolved_pretrain() is None
    reg = tiny(DeepStackRegressor, pretrain="auto", batch_norm=False)
    target = np.where(np.arange(len(y)) % 4 == 0, signal, np.nan)
    reg.fit(X, target)
    assert reg._resolved_pretrain() is None
    assert np.isfinite(reg.predict(X)).all()
    # Dense, the same rows are pretrained on.
    dense = tiny(
        DeepStackRegressor, pretrain="auto", batch_norm=False, pretrain_epochs=1
    )
    assert dense.fit(X.toarray(), target)._resolved_pretrain() == "denoising"
