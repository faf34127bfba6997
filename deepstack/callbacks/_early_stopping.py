"""Early stopping with look-ahead that keeps the best weights."""

import math

from deepstack.callbacks._monitor import MonitorCallback
from deepstack.callbacks._state import restore, snapshot


class EarlyStopping(MonitorCallback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    "Look-ahead": training goes on for ``patience`` epochs past the best one,
    in case the validation error improves again, then the weights of the best
    epoch are put back.

    Parameters
    ----------
    monitor : str, default="val_loss"
        Logged quantity to watch (``"val_loss"``, ``"val_accuracy"``, ...).
    patience : int, default=10
        Epochs without improvement before stopping.
    tol : float, default=1e-4
        An epoch improves only if it beats the best by more than ``tol``.
    mode : {"auto", "min", "max"}, default="auto"
        Direction of improvement; "auto" maximizes accuracy / r2 / score.
    restore_best_weights : bool, default=True
        Put the best epoch's weights back when training ends.
    growth : float >= 0, default=0.0
        A patience that grows with training: at least ``ceil(growth * k)``
        epochs when the best epoch is the ``k``-th of this run (the classic
        look-ahead that waits longer the longer it took to get there).

    Attributes
    ----------
    best_epoch : int
        0-based index of the best epoch of the last run (-1 before any).
    stopped_epoch : int
        0-based epoch at which training was stopped, or -1.
    """

    def __init__(
        self,
        monitor="val_loss",
        patience=10,
        tol=1e-4,
        mode="auto",
        restore_best_weights=True,
        growth=0.0,
    ):
        super().__init__(monitor=monitor, mode=mode, tol=tol)
        self.patience = patience
        self.restore_best_weights = restore_best_weights
        self.growth = growth

    def on_train_begin(self, logs=None):
        self._reset_monitor()
        self.best_epoch = -1
        self.stopped_epoch = -1
        self.best_weights = None
        self._first_epoch = None

    def current_patience(self):
        """Epochs without improvement that stop training now."""
        if not self.growth or self.best_epoch < 0:
            return self.patience
        epochs = self.best_epoch - self._first_epoch + 1
        return max(self.patience, math.ceil(self.growth * epochs))

    def on_epoch_end(self, epoch, logs=None):
        if self._first_epoch is None:
            self._first_epoch = epoch
        current = self._current(logs)
        if current is None:
            return
        if self._improved(current):
            self.best_epoch = epoch
            if self.restore_best_weights:
                # On a GPU kept there: no copy to the host at every best epoch.
                self.best_weights = snapshot(self.model.weights)
        elif self.wait >= self.current_patience():
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            restore(self.model.weights, self.best_weights)
        self.best_weights = None

    def get_config(self):
        return {
            **super().get_config(),
            "patience": self.patience,
            "restore_best_weights": self.restore_best_weights,
            "growth": self.growth,
        }
