"""Data that ships with the packages or is generated on the spot (no downloads)."""

import random

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def digits_split(test_size=0.3, random_state=0):
    """scikit-learn's 8x8 digits, split stratified into train and test.

    Returns
    -------
    X_train, X_test, y_train, y_test : ndarray
        Pixel intensities in [0, 16] and labels 0-9 (1797 samples in all).
    """
    X, y = load_digits(return_X_y=True)
    return train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=random_state
    )


def make_mnist1d(n_samples=5000, train_split=0.8, seed=42):
    """MNIST-1D generated procedurally by the ``mnist1d`` package.

    The default arguments give the standard 4000 / 1000 split of 40-long
    signals in 10 classes. Nothing is downloaded, and the caller's global
    random state is left as it was (``mnist1d`` reseeds it while generating).

    Returns
    -------
    X_train, X_test, y_train, y_test : ndarray
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "make_mnist1d needs the mnist1d package: pip install 'deepstack[datasets]'"
        ) from exc
    args = get_dataset_args()
    args.num_samples = int(n_samples)
    args.train_split = float(train_split)
    args.seed = int(seed)
    # mnist1d reseeds the legacy global generators; put them back afterwards.
    numpy_state = np.random.get_state()  # noqa: NPY002
    python_state = random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)  # noqa: NPY002
        random.setstate(python_state)
    return (
        data["x"].astype(np.float32),
        data["x_test"].astype(np.float32),
        data["y"].astype(np.int64),
        data["y_test"].astype(np.int64),
    )
