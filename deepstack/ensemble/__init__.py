"""Ensembles of deepstack networks: k-fold bagging with averaged predictions."""

from deepstack.ensemble._bagging import (
    DeepStackBaggingClassifier,
    DeepStackBaggingRegressor,
    bagging_for,
    is_bagging,
)

__all__ = [
    "DeepStackBaggingClassifier",
    "DeepStackBaggingRegressor",
    "bagging_for",
    "is_bagging",
]
