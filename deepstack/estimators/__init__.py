"""scikit-learn estimators backed by deep Keras networks."""

from deepstack.estimators._autoencoder import StackedAutoencoder
from deepstack.estimators._base import BaseDeepStack
from deepstack.estimators._classifier import DeepStackClassifier
from deepstack.estimators._regressor import DeepStackRegressor

__all__ = [
    "BaseDeepStack",
    "DeepStackClassifier",
    "DeepStackRegressor",
    "StackedAutoencoder",
]
