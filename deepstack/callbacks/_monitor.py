"""Shared bookkeeping for callbacks that watch one logged quantity per epoch."""

import warnings

import keras
import numpy as np

from deepstack._warnings import user_stacklevel

_MAXIMIZED = ("acc", "accuracy", "auc", "r2", "score", "precision", "recall")


def monitor_mode(monitor, mode="auto"):
    """``"min"`` or ``"max"``: the direction in which ``monitor`` improves."""
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise ValueError(f"mode must be 'auto', 'min' or 'max'; got {mode!r}.")
    name = monitor.removeprefix("val_")
    return "max" if any(name.endswith(key) for key in _MAXIMIZED) else "min"


class MonitorCallback(keras.callbacks.Callback):
    """Base for epoch-level callbacks that compare ``logs[monitor]`` to its best.

    Subclasses keep plain constructor attributes (so they deep-copy and
    serialize with ``get_config``) and reset their run state in
    ``on_train_begin``.
    """

    def __init__(self, monitor="val_loss", mode="auto", tol=1e-4):
        super().__init__()
        self.monitor = monitor
        self.mode = mode
        self.tol = tol

    def _reset_monitor(self):
        self._sign = 1.0 if monitor_mode(self.monitor, self.mode) == "min" else -1.0
        self.best = np.inf
        self.wait = 0

    def _current(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(
                f"{type(self).__name__} monitors {self.monitor!r}, which is not in "
                f"the logs (available: {sorted(logs or {})}); it does nothing.",
                RuntimeWarning,
                stacklevel=user_stacklevel(),
            )
            return None
        return float(value)

    def _improved(self, current):
        """Update ``best`` / ``wait`` and say whether ``current`` beat the best."""
        signed = self._sign * current
        if signed < self.best - float(self.tol):
            self.best = signed
            self.wait = 0
            return True
        self.wait += 1
        return False

    @property
    def best_value(self):
        """The best monitored value so far, in its own sign."""
        return self._sign * self.best

    def get_config(self):
        return {"monitor": self.monitor, "mode": self.mode, "tol": self.tol}


def get_learning_rate(model):
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def set_learning_rate(model, value):
    model.optimizer.learning_rate.assign(float(value))
