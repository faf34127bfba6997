"""A scikit-learn score of the network on its validation rows, every epoch."""

import math
import warnings

import keras

from deepstack._warnings import user_stacklevel


class ValidationScore(keras.callbacks.Callback):
    """Adds ``logs[name] = score()`` at the end of every epoch.

    The estimators build one when given ``scoring=``: ``score`` then computes
    a scikit-learn scorer (``"roc_auc"``, ``"neg_log_loss"``,
    ``"balanced_accuracy"``, ...) of the network being trained on the
    validation rows, and early stopping and learning-rate halving watch
    ``val_score``. An epoch-level callback (no per-batch hook), so the fused
    training loop is kept. Put it before the callbacks that read it.

    Parameters
    ----------
    score : callable
        ``score() -> float``, greater is better. Released when training
        ends (with the data it holds).
    name : str, default="val_score"
        Key of the logs (and of ``history_``).

    Examples
    --------
    >>> import keras, numpy as np
    >>> from deepstack.callbacks import ValidationScore
    >>> X = np.random.RandomState(0).normal(size=(64, 3)).astype("float32")
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> score = ValidationScore(lambda: -float(np.mean(model(X) ** 2)))
    >>> history = model.fit(X, X[:, :1], epochs=2, verbose=0, callbacks=[score])
    >>> sorted(history.history)
    ['loss', 'val_score']
    """

    def __init__(self, score, name="val_score"):
        super().__init__()
        self.score = score
        self.name = name

    def on_train_begin(self, logs=None):
        self._said_nan = False

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.score is not None:
            logs[self.name] = value = float(self.score())
            if math.isnan(value) and not getattr(self, "_said_nan", False):
                # Early stopping and halving never see an improvement: the
                # run would stop at its patience, quietly.
                self._said_nan = True
                warnings.warn(
                    f"{self.name} is NaN at epoch {epoch + 1}: the scoring cannot "
                    "score the validation rows (roc_auc with one class among "
                    "them, say), so early stopping and learning-rate halving "
                    "see no improvement. Use another scoring or more "
                    "validation rows.",
                    RuntimeWarning,
                    stacklevel=user_stacklevel(),
                )

    def on_train_end(self, logs=None):
        self.score = None
