"""Shared fixtures: small, seeded float32 problems."""

import io
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# `make test` runs two worker processes (pytest -n 2) on CI's two cores. The
# tests' networks are tiny, and thread pools sized to every core in each
# process had four or more threads contend for two cores, which made the
# fit-heavy test files slower and their time erratic. One thread per pool,
# inherited by the processes the tests start (search workers set their own).
# Set these variables to test other thread counts.
for _name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(_name, "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402


@pytest.fixture
def classification_data():
    X, y = make_classification(
        n_samples=200,
        n_features=8,
        n_informative=5,
        n_classes=3,
        random_state=0,
    )
    return X.astype(np.float32), y


@pytest.fixture
def binary_data():
    X, y = make_classification(n_samples=160, n_features=6, random_state=1)
    return X.astype(np.float32), y


@pytest.fixture
def regression_data():
    X, y = make_regression(
        n_samples=160, n_features=6, n_informative=4, noise=0.1, random_state=0
    )
    return X.astype(np.float32), y


def tiny(estimator_cls, **params):
    """A small, fast, seeded configuration of a deepstack estimator."""
    defaults = dict(
        hidden_layer_sizes=(16,),
        max_epochs=5,
        batch_size=32,
        random_state=0,
        learning_rate=1e-2,
        # The regularization the tests were written for: they compare losses
        # (no weight-decay term) and expect a few epochs to fit.
        dropout=0.2,
        input_dropout=0.0,
        l2=0.0,
        batch_norm=True,
    )
    defaults.update(params)
    return estimator_cls(**defaults)


class BatchHook(keras.callbacks.Callback):
    """Counts training batches. A per-batch hook sends training through
    ``Model.fit`` (one batch per compiled call), the path tests reach with
    it."""

    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def write_penguins(folder, n_train, seed):
    """Penguins (text columns, missing values) shuffled and written as files.

    ``train.csv`` / ``train.parquet`` hold the first ``n_train`` rows,
    ``test.csv`` the rest and ``new.csv`` the rest without the target.
    """
    from deepstack.datasets import load_table

    frame, _ = load_table("penguins")
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    frame.iloc[:n_train].to_csv(folder / "train.csv", index=False)
    frame.iloc[:n_train].to_parquet(folder / "train.parquet")
    frame.iloc[n_train:].to_csv(folder / "test.csv", index=False)
    frame.iloc[n_train:].drop(columns="species").to_csv(folder / "new.csv", index=False)
    return folder


def default_sigint():
    """``preexec_fn`` of a child that gets a real SIGINT: Ctrl-C as a terminal
    gives it, even when the suite was started in the background (a shell
    without job control starts background jobs with SIGINT ignored, and the
    children would inherit that)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def ctrl_c_after_epoch(epoch):
    """A Keras callback that sends this process a SIGINT at the end of epoch
    ``epoch`` (0-based), as a Ctrl-C there would: the fit under way stops at
    that epoch's end. Use it with the ``python_sigint`` fixture."""
    import signal

    import keras

    class CtrlC(keras.callbacks.Callback):
        def on_epoch_end(self, index, logs=None):
            if index == epoch:
                signal.raise_signal(signal.SIGINT)

    return CtrlC()


def fails_in_training(number, error):
    """A Keras callback that raises ``error`` at the end of the first epoch
    of the ``number``-th training (1-based) it sees, counted over the deep
    copies that fits make of it (an ensemble's members, a search's trials)."""
    import keras

    started = []

    class Fail(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            started.append(None)

        def on_epoch_end(self, epoch, logs=None):
            if len(started) == number:
                raise error

    return Fail()


def interrupted_on_call(function, number=2):
    """``function`` that raises KeyboardInterrupt at its ``number``-th call
    instead of running (an interrupt between two renames)."""
    calls = []

    def interrupted(*args):
        calls.append(args)
        if len(calls) == number:
            raise KeyboardInterrupt
        return function(*args)

    return interrupted


@pytest.fixture
def python_sigint():
    """SIGINT raises KeyboardInterrupt in this process (Python's default
    handler) for the length of a test: a suite started in the background
    ignores it otherwise, and a fit serves SIGINT only over that handler."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def assert_same_predictions_csv(got, expected, rtol=1e-6, sep=","):
    """Two CSV texts of predictions written from the same rows: the same
    header, and the same labels and kept columns character for character;
    the probabilities equal to ``rtol``. NumPy's matrix products on chunks of
    other row counts may round the last digits differently (OpenBLAS picks
    its kernel by the shape; seen on AMD EPYC), so a chunked prediction's
    probabilities need not be the whole file's bit for bit."""
    read = dict(dtype=str, keep_default_na=False, sep=sep)
    a = pd.read_csv(io.StringIO(got), **read)
    b = pd.read_csv(io.StringIO(expected), **read)
    assert list(a.columns) == list(b.columns)
    assert a.shape == b.shape
    for column in a.columns:
        if column.startswith("proba_"):
            np.testing.assert_allclose(
                a[column].astype(float), b[column].astype(float), rtol=rtol
            )
        else:
            assert a[column].tolist() == b[column].tolist(), column
