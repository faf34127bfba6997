"""Epoch-level Keras callbacks for deepstack's training protocol."""

from deepstack.callbacks._early_stopping import EarlyStopping
from deepstack.callbacks._lr_halving import LearningRateHalving
from deepstack.callbacks._recorder import LearningRateRecorder

__all__ = ["EarlyStopping", "LearningRateHalving", "LearningRateRecorder"]
