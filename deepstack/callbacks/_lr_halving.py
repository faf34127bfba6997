"""Keep the learning rate while the validation error improves, then halve it."""

from deepstack.callbacks._monitor import (
    MonitorCallback,
    get_learning_rate,
    set_learning_rate,
)


class LearningRateHalving(MonitorCallback):
    """Divide the learning rate by ``1 / factor`` after ``patience`` flat epochs.

    Parameters
    ----------
    monitor : str, default="val_loss"
        Logged quantity to watch.
    patience : int, default=5
        Epochs without improvement before the rate is cut.
    factor : float, default=0.5
        Multiplier applied to the learning rate at each cut.
    max_halvings : int or None, default=None
        Stop training at the cut after this many (None: never for this reason).
    min_learning_rate : float, default=1e-6
        Stop training instead of cutting below this rate.
    tol : float, default=1e-4
        Minimum improvement that counts.
    mode : {"auto", "min", "max"}, default="auto"

    Attributes
    ----------
    halvings : list of int
        0-based epochs at whose end the rate was cut, in the last run.
    """

    def __init__(
        self,
        monitor="val_loss",
        patience=5,
        factor=0.5,
        max_halvings=None,
        min_learning_rate=1e-6,
        tol=1e-4,
        mode="auto",
    ):
        super().__init__(monitor=monitor, mode=mode, tol=tol)
        self.patience = patience
        self.factor = factor
        self.max_halvings = max_halvings
        self.min_learning_rate = min_learning_rate

    def on_train_begin(self, logs=None):
        self._reset_monitor()
        self.halvings = []

    def on_epoch_end(self, epoch, logs=None):
        current = self._current(logs)
        if current is None or self._improved(current):
            return
        if self.wait < self.patience:
            return
        self.wait = 0
        new_rate = get_learning_rate(self.model) * float(self.factor)
        out_of_halvings = (
            self.max_halvings is not None and len(self.halvings) >= self.max_halvings
        )
        if out_of_halvings or new_rate < float(self.min_learning_rate):
            self.model.stop_training = True
            return
        set_learning_rate(self.model, new_rate)
        self.halvings.append(epoch)

    def get_config(self):
        return {
            **super().get_config(),
            "patience": self.patience,
            "factor": self.factor,
            "max_halvings": self.max_halvings,
            "min_learning_rate": self.min_learning_rate,
        }
