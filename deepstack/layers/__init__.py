"""Keras layers of deepstack's own (serializable under the "deepstack" package)."""

from deepstack.layers._dropout import RateDropout
from deepstack.layers._noise import GaussianNoise, MaskingNoise
from deepstack.layers._reconstruction import Reconstruction
from deepstack.layers._standardize import Standardize
from deepstack.layers._tied_dense import TiedDense, TiedModel, tie_layers

__all__ = [
    "GaussianNoise",
    "MaskingNoise",
    "RateDropout",
    "Reconstruction",
    "Standardize",
    "TiedDense",
    "TiedModel",
    "tie_layers",
]
