"""Training metrics that count the rows of positive weight (deepstack/_metrics.py)."""

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

from deepstack import DeepStackClassifier, _metrics


def result(metric, *args, **kwargs):
    metric.update_state(*args, **kwargs)
    return float(keras.ops.convert_to_numpy(metric.result()))


def test_accuracy_leaves_out_weight_zero_rows_and_weights_no_other():
    y = np.array([0, 1, 2, 1])
    proba = np.eye(3, dtype=np.float32)[[0, 2, 2, 0]]  # right, wrong, right, wrong
    weights = np.array([0.0, 5.0, 1.0, 2.0], dtype=np.float32)
    # Rows 1-3 count once each: 1 right of 3 (Keras's weighted: 1 / 8).
    metric = _metrics.SparseCategoricalAccuracy()
    assert result(metric, y, proba, sample_weight=weights) == pytest.approx(1 / 3)
    assert result(keras.metrics.SparseCategoricalAccuracy(), y, proba, weights) == (
        pytest.approx(1 / 8)
    )
    # Without weights: Keras's own (2 right of 4).
    assert result(_metrics.SparseCategoricalAccuracy(), y, proba) == 0.5

    binary = _metrics.BinaryAccuracy()
    p = np.array([[0.9], [0.2], [0.7], [0.4]], dtype=np.float32)
    t = np.array([[1.0], [1.0], [0.0], [0.0]], dtype=np.float32)
    # Rows 0 and 3 count: right, right.
    assert result(binary, t, p, sample_weight=[3.0, 0.0, 0.0, 0.5]) == 1.0


def test_r2_leaves_out_weight_zero_rows_unweighted():
    y = np.array([[1.0], [2.0], [3.0], [100.0]], dtype=np.float32)
    pred = np.array([[1.5], [2.0], [2.5], [0.0]], dtype=np.float32)
    weights = np.array([1.0, 4.0, 1.0, 0.0], dtype=np.float32)
    # Rows 0-2 unweighted: 1 - 0.5 / 2.
    assert result(_metrics.R2Score(), y, pred, sample_weight=weights) == pytest.approx(
        0.75
    )


def test_joint_loss_training_accuracy_counts_the_labeled_rows_only():
    # Unlabeled rows join the joint loss with a placeholder class 0 and
    # weight 0: the logged training accuracy counted them as rows of class 0
    # (0.13 where the validation accuracy was 0.74 on digits with 10% labels).
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    X_train, y_train, X_val, y_val = X[:400], y[:400].copy(), X[400:600], y[400:600]
    y_train[np.random.default_rng(0).random(400) < 0.7] = -1
    labeled = y_train != -1
    seen = []

    class LabeledAccuracy(keras.callbacks.Callback):
        # With one batch an epoch and no dropout, an epoch's training
        # accuracy is that of the weights it starts from.
        def on_epoch_begin(self, epoch, logs=None):
            proba = keras.ops.convert_to_numpy(self.model(X_train[labeled]))
            seen.append(np.mean(proba.argmax(axis=1) == y_train[labeled]))

    clf = DeepStackClassifier(
        hidden_layer_sizes=(16,),
        dropout=0.0,
        input_dropout=0.0,
        batch_norm=False,
        batch_size=512,
        learning_rate=0.01,
        max_epochs=4,
        reconstruction_weight=1.0,
        pretrain=None,
        semi_supervised=None,
        callbacks=[LabeledAccuracy()],
        random_state=0,
    ).fit(X_train, y_train, X_val=X_val, y_val=y_val)
    assert len(seen) == 4
    np.testing.assert_allclose(clf.history_["accuracy"], seen, atol=1e-6)
