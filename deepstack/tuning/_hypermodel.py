"""DeepStackHyperModel: a deepstack estimator's network as a keras-tuner HyperModel."""

import keras_tuner
from sklearn.base import clone

from deepstack import _network
from deepstack.estimators._base import distribution_scope
from deepstack.estimators._preparation import prepare_training
from deepstack.estimators._training import train_network
from deepstack.tuning._space import HYPERBAND_PAST_TRIAL, ResolvedSpace


class DeepStackHyperModel(keras_tuner.HyperModel):
    """The network of a deepstack estimator, for users who drive keras-tuner.

    ``build(hp)`` declares the search space on ``hp``, sets the chosen values
    on a clone of ``estimator`` and returns the compiled Keras model that the
    estimator would train (same layers, initialization, input
    standardization, loss and optimizer). ``fit(hp, model, x, y, ...)``
    encodes the targets the way the estimator does (class indices,
    standardized regression targets), adds the estimator's early stopping and
    learning-rate halving before keras-tuner's own callbacks, and trains
    through the estimator's training path.

    Parameters
    ----------
    estimator : estimator
        A deepstack estimator, e.g. ``DeepStackClassifier()``.
    X : array-like of shape (n_samples, n_features)
        Training inputs: they fix the input width and the standardization
        statistics built into the network.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Training targets: they fix the classes / outputs of the network.
    search_space : dict, "wide" or None, default=None
        As in :class:`DeepStackSearch`; None uses
        :func:`default_search_space`, ``"wide"`` its broad ranges.
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

    def _configured(self, hp):
        """An unfitted clone of ``estimator`` with ``hp``'s values (declared
        on ``hp`` when missing)."""
        return clone(self.estimator).set_params(**self._space.declare(hp))

    def build(self, hp):
        """The compiled Keras model of the estimator with ``hp``'s values,
        its optimizer's variables made.

        keras-tuner loads saved weights into a freshly built model (a
        Hyperband continuation, ``get_best_models``); with the optimizer
        unbuilt, Keras skipped the saved optimizer state, with a warning,
        and a continued trial restarted Adam's moments.
        """
        estimator = self._configured(hp)
        # Under ``distribution``, the variables are laid out on its devices.
        with distribution_scope(estimator):
            model = prepare_training(estimator, self.X, self.y, split=False).model
            _network.build_optimizer(model)
        return model

    def fit(self, hp, model, x, y, validation_data=None, callbacks=None, **kwargs):
        """Train ``model`` like the estimator would, with keras-tuner's callbacks.

        ``x, y`` and ``validation_data`` are raw inputs and targets (labels,
        not one-hot). Training goes through the estimator's own training path
        (the fused epoch loop), starting at the estimator's learning rate
        (the finder's choice with ``learning_rate="auto"``). ``epochs``
        defaults to the estimator's ``max_epochs`` and ``batch_size`` to its
        ``batch_size``; ``initial_epoch`` and ``verbose`` are accepted too.
        keras-tuner's callbacks (which it appends to the ones given to
        ``search``) go to the fine-tuning only, never to pretraining; a
        Hyperband continuation (``tuner/trial_id`` set, weights loaded) is
        not pretrained again.

        Returns
        -------
        keras.callbacks.History
        """
        unknown = set(kwargs) - {"epochs", "initial_epoch", "batch_size", "verbose"}
        if unknown:
            raise TypeError(
                f"DeepStackHyperModel.fit does not take {sorted(unknown)}; it "
                "accepts epochs, initial_epoch, batch_size and verbose."
            )
        estimator = self._configured(hp)
        prepare_training(estimator, self.X, self.y, split=False, build=False)
        with distribution_scope(estimator):
            return train_network(
                estimator,
                model,
                x,
                y,
                validation_data=validation_data,
                callbacks=list(callbacks or []),
                pretrain=HYPERBAND_PAST_TRIAL not in hp.values,
                **kwargs,
            )
