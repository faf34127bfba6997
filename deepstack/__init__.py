"""deepstack: deep feed-forward networks as scikit-learn estimators, on Keras 3."""

from deepstack.estimators import DeepStackClassifier, DeepStackRegressor

__version__ = "0.1.0"

__all__ = ["DeepStackClassifier", "DeepStackRegressor", "__version__"]
