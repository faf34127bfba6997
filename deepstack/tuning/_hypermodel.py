"""DeepStackHyperModel: a deepstack estimator's network as a keras-tuner HyperModel."""

import keras_tuner
from sklearn.base import clone

from deepstack import _pretraining
from deepstack.tuning._space import HYPERBAND_PAST_TRIAL, ResolvedSpace


class DeepStackHyperModel(keras_tuner.HyperModel):
    """The network of a deepstack estimator, for users who drive keras-tuner.

    ``build(hp)`` declares the search space on ``hp``, sets the chosen values
    on a clone of ``estimator`` and returns the compiled Keras model that the
    estimator would train (same layers, initialization, input
    standardization, loss and optimizer). ``fit(hp, model, x, y, ...)``
    encodes the targets the way the estimator does (class indices,
    standardized regression targets), adds the estimator's early stopping and
    learning-rate halving before keras-tuner's own callbacks, and trains.

    Parameters
    ----------
    estimator : estimator
        A deepstack estimator, e.g. ``DeepStackClassifier()``.
    X : array-like of shape (n_samples, n_features)
        Training inputs: they fix the input width and the standardization
        statistics built into the network.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Training targets: they fix the classes / outputs of the network.
    search_space : dict or None, default=None
        As in :class:`DeepStackSearch`; None uses
        :func:`default_search_space`.
    name : str, default=None
        Name of the hypermodel.

    Examples
    --------
    >>> import keras_tuner
    >>> from sklearn.datasets import load_iris
    >>> from deepstack import DeepStackClassifier, DeepStackHyperModel
    >>> X, y = load_iris(return_X_y=True)
    >>> hypermodel = DeepStackHyperModel(
    ...     DeepStackClassifier((8,), max_epochs=3), X, y, {"dropout": [0.0, 0.3]}
    ... )
    >>> model = hypermodel.build(keras_tuner.HyperParameters())
    >>> model.output_shape
    (None, 3)
    """

    def __init__(self, estimator, X, y, search_space=None, *, name=None):
        super().__init__(name=name, tunable=True)
        self.estimator = estimator
        self.X = X
        self.y = y
        self.search_space = search_space
        self._space = ResolvedSpace(search_space, estimator)

    def declare_hyperparameters(self, hp):
        self._space.declare(hp)

    def estimator_from(self, hp):
        """An unfitted clone of ``estimator`` with the values of ``hp`` set.

        Use it to refit the best trial the scikit-learn way:
        ``hypermodel.estimator_from(tuner.get_best_hyperparameters()[0])``.
        """
        values = hp.values if hasattr(hp, "values") else dict(hp)
        return clone(self.estimator).set_params(**self._space.params(values))

    def _prepared(self, hp):
        """A clone with ``hp``'s values, its data validated and targets encoded."""
        estimator = clone(self.estimator).set_params(**self._space.declare(hp))
        estimator._check_params()
        X, y = estimator._validate_training_data(self.X, self.y, reset=True)
        estimator._encode_target(y, reset=True)
        return estimator, X

    def build(self, hp):
        """The compiled Keras model of the estimator with ``hp``'s values."""
        estimator, X = self._prepared(hp)
        seed = estimator._seed()
        return estimator._build_model(X, seed)

    def fit(self, hp, model, x, y, validation_data=None, callbacks=None, **kwargs):
        """Train ``model`` like the estimator would, with keras-tuner's callbacks.

        ``x, y`` and ``validation_data`` are raw inputs and targets (labels,
        not one-hot). ``epochs`` defaults to the estimator's ``max_epochs``
        and ``batch_size`` to its ``batch_size``. keras-tuner's callbacks
        (which it appends to the ones given to ``search``) go to the
        fine-tuning only, never to pretraining; a Hyperband continuation
        (``tuner/trial_id`` set, weights loaded) is not pretrained again.
        """
        estimator, _ = self._prepared(hp)
        x = estimator._validate_X(x)
        y = estimator._encode_target(y, reset=False)
        validation = None
        if validation_data is not None:
            x_val, y_val = validation_data[0], validation_data[1]
            validation = (
                estimator._validate_X(x_val),
                estimator._encode_target(y_val, reset=False),
            )
        continuing = HYPERBAND_PAST_TRIAL in hp.values
        if not continuing:
            _pretrain(estimator, model, x)
        monitor = "val_loss" if validation is not None else "loss"
        callbacks = estimator._default_callbacks(monitor, False) + list(callbacks or [])
        kwargs.setdefault("epochs", estimator.max_epochs)
        kwargs.setdefault("batch_size", min(estimator.batch_size, x.shape[0]))
        kwargs.setdefault("verbose", estimator.verbose)
        return model.fit(
            x, y, validation_data=validation, callbacks=callbacks, **kwargs
        )


def _pretrain(estimator, model, X):
    """Greedy layer-wise pretraining of ``model``'s hidden layers, if asked for.

    Runs with the estimator's own settings and none of keras-tuner's
    callbacks.
    """
    if getattr(estimator, "pretrain", None) is None:
        return
    _pretraining.initialize_network(estimator, model, X, estimator._seed())
