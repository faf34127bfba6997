"""Decay the learning rate exponentially over the planned epochs."""

import keras

from deepstack.callbacks._monitor import get_learning_rate, set_learning_rate


class LearningRateDecay(keras.callbacks.Callback):
    """Divide the learning rate by ``decay`` over ``epochs`` epochs, geometrically.

    The epoch ``e`` (0-based, counted from the start of this ``fit``) trains
    with ``initial_rate * decay ** (-e / (epochs - 1))``: the first epoch uses
    the optimizer's rate, the last planned epoch that rate divided by
    ``decay``. The new rate is set at the end of each epoch (and the start
    of training), so a :class:`LearningRateRecorder` earlier in the list logs
    the rate each epoch really used.

    Parameters
    ----------
    decay : float, default=100.0
        Total division of the learning rate between the first and the last
        planned epoch.
    epochs : int or None, default=None
        Planned epochs; None takes the ``epochs`` passed to ``Model.fit``.

    Attributes
    ----------
    initial_rate : float
        The optimizer's learning rate when the last run began.

    Examples
    --------
    >>> import keras, numpy as np
    >>> from deepstack.callbacks import LearningRateDecay
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.1), "mse")
    >>> decay = LearningRateDecay(decay=100.0)
    >>> _ = model.fit(np.ones((4, 2)), np.ones(4), epochs=3, verbose=0,
    ...               callbacks=[decay])
    >>> round(float(model.optimizer.learning_rate), 6)
    0.001
    """

    def __init__(self, decay=100.0, epochs=None):
        super().__init__()
        self.decay = decay
        self.epochs = epochs

    def _planned_epochs(self):
        if self.epochs is not None:
            return int(self.epochs)
        return int((self.params or {}).get("epochs") or 1)

    def _rate(self, step):
        span = max(self._planned_epochs() - 1, 1)
        return self.initial_rate * float(self.decay) ** (-min(step, span) / span)

    def on_train_begin(self, logs=None):
        self.initial_rate = get_learning_rate(self.model)
        self._step = 0

    def on_epoch_end(self, epoch, logs=None):
        self._step += 1
        set_learning_rate(self.model, self._rate(self._step))

    def get_config(self):
        return {"decay": self.decay, "epochs": self.epochs}
