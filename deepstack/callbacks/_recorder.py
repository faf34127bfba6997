"""Write the learning rate of each epoch into the logs (and so into history)."""

import keras

from deepstack.callbacks._monitor import get_learning_rate


class LearningRateRecorder(keras.callbacks.Callback):
    """Log the learning rate used during each epoch as ``"learning_rate"``.

    Runs first in deepstack's callback list, so the value logged is the one
    the epoch trained with, before any schedule changes it.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._rate = get_learning_rate(self.model)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self._rate

    def get_config(self):
        return {}
