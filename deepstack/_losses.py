"""The training losses of the estimators' ``loss`` parameter, as Keras losses.

Pure Keras. Names follow scikit-learn's own estimators. A loss is returned
with the output activation it needs: the compiled loss is also the
validation loss that early stopping and learning-rate halving watch, so the
whole fit optimizes and monitors one quantity.
"""

import keras

CLASSIFIER_LOSSES = ("log_loss", "focal")
REGRESSOR_LOSSES = ("squared_error", "absolute_error", "huber", "poisson")


@keras.saving.register_keras_serializable(package="deepstack")
class SparseFocalCrossentropy(keras.losses.Loss):
    """Focal loss of softmax probabilities against integer class labels.

    ``-(1 - p_t) ** gamma * log(p_t)`` per sample, where ``p_t`` is the
    predicted probability of the true class (Lin et al., 2017); ``gamma=0``
    is the cross-entropy. Keras has the one-hot form
    (``CategoricalFocalCrossentropy``); the estimators train on integer
    labels.
    """

    def __init__(self, gamma=2.0, name="sparse_focal_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.gamma = float(gamma)

    def call(self, y_true, y_pred):
        n_classes = keras.ops.shape(y_pred)[-1]
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        eps = keras.backend.epsilon()
        p = keras.ops.clip(y_pred, eps, 1.0 - eps)
        p_true = keras.ops.sum(keras.ops.one_hot(labels, n_classes) * p, axis=-1)
        return -((1.0 - p_true) ** self.gamma) * keras.ops.log(p_true)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma}


@keras.saving.register_keras_serializable(package="deepstack")
class Huber(keras.losses.Huber):
    """``keras.losses.Huber`` whose config keeps ``delta``.

    Keras's own ``get_config`` leaves ``delta`` out, so a saved and
    reloaded model would go on training with ``delta=1.0``.
    """

    def __init__(self, delta=1.0, name="huber_loss", **kwargs):
        super().__init__(delta=delta, name=name, **kwargs)
        self.delta = float(delta)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


def classifier_loss(loss, n_outputs, *, multilabel=False, focal_gamma=2.0):
    """``(output_activation, keras_loss)`` of a classifier's network.

    ``n_outputs`` is 1 for a binary problem (a sigmoid), the number of
    classes for a multiclass one (a softmax over integer labels) and the
    number of labels with ``multilabel`` (one sigmoid per label).
    """
    if loss not in CLASSIFIER_LOSSES:
        raise ValueError(f"loss must be one of {CLASSIFIER_LOSSES}; got {loss!r}.")
    if n_outputs == 1 or multilabel:
        if loss == "focal":
            return "sigmoid", keras.losses.BinaryFocalCrossentropy(gamma=focal_gamma)
        return "sigmoid", "binary_crossentropy"
    if loss == "focal":
        return "softmax", SparseFocalCrossentropy(gamma=focal_gamma)
    return "softmax", "sparse_categorical_crossentropy"


def regressor_loss(loss, *, huber_delta=1.0):
    """``(output_activation, keras_loss)`` of a regressor's network.

    "poisson" uses the log link: the network's last Dense layer gives
    ``log(mean)`` and an exponential activation the predicted mean, so
    predictions are always positive.
    """
    if loss == "squared_error":
        return None, "mean_squared_error"
    if loss == "absolute_error":
        return None, "mean_absolute_error"
    if loss == "huber":
        return None, Huber(delta=huber_delta)
    if loss == "poisson":
        return "exponential", "poisson"
    raise ValueError(f"loss must be one of {REGRESSOR_LOSSES}; got {loss!r}.")
