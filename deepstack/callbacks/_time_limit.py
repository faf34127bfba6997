"""Stop training at the first epoch boundary past a wall-clock deadline."""

import time

import keras


class TimeLimit(keras.callbacks.Callback):
    """Stop training at the end of the first epoch that ends after ``deadline``.

    An epoch-level callback (no per-batch hook), so the fused training loop
    is kept. :class:`~deepstack.tuning.DeepStackSearch` gives one to every
    trial when it has a ``time_limit``; with early stopping, the best
    epoch's weights are still restored when this stops the run.

    Parameters
    ----------
    deadline : float
        A ``time.time()`` value (seconds since the epoch, so that it means the
        same in another process of the same machine).

    Attributes
    ----------
    stopped_epoch : int
        0-based epoch at whose end training was stopped, or -1.

    Examples
    --------
    >>> import time
    >>> from deepstack.callbacks import TimeLimit
    >>> limit = TimeLimit(time.time() + 60.0)  # at most about a minute
    """

    def __init__(self, deadline):
        super().__init__()
        self.deadline = deadline

    def on_train_begin(self, logs=None):
        self.stopped_epoch = -1

    def on_epoch_end(self, epoch, logs=None):
        if time.time() >= float(self.deadline):
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def get_config(self):
        return {"deadline": self.deadline}

    @staticmethod
    def stopped(estimator):
        """Whether a ``TimeLimit`` among the callbacks of the fitted deepstack
        ``estimator`` stopped its last fit (the estimator deep-copies its
        callbacks: this reads the fitted copies, ``callbacks_``)."""
        return any(
            isinstance(cb, TimeLimit) and cb.stopped_epoch >= 0
            for cb in getattr(estimator, "callbacks_", None) or ()
        )
