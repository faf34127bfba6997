"""Capacity: parameters and floating-point operations per sample."""

import keras
import numpy as np

from deepstack.diagnostics._common import get_model

# A training step costs about three forward passes: the forward pass itself, the
# gradient w.r.t. the activations and the gradient w.r.t. the weights.
TRAINING_STEP_FACTOR = 3
# Batch normalization at inference: subtract the mean, scale by 1 / std, multiply
# by gamma, add beta.
BATCH_NORM_FLOPS_PER_FEATURE = 4


class Capacity:
    """Size and cost of a network.

    Attributes
    ----------
    params : int
        All parameters (trainable and not, e.g. batch-norm moving statistics).
    trainable_params : int
    forward_flops : int
        Floating-point operations for one sample's forward pass, counted on the
        Dense layers (``2 * n_in * n_out`` for the multiply-adds, plus
        ``n_out`` for the bias) and batch-normalization layers (4 per
        feature). Elementwise activations are not counted.
    training_flops : int
        ``3 * forward_flops``: a training step per sample (forward + backward).
    layers : list of dict
        ``name``, ``type``, ``params`` and ``flops`` of every layer.
    """

    def __init__(self, layers, params, trainable_params):
        self.layers = layers
        self.params = int(params)
        self.trainable_params = int(trainable_params)
        self.forward_flops = int(sum(row["flops"] for row in layers))
        self.training_flops = TRAINING_STEP_FACTOR * self.forward_flops

    def epoch_flops(self, n_samples):
        """Operations of one training epoch over ``n_samples`` samples."""
        return self.training_flops * int(n_samples)

    def as_dict(self):
        return {
            "params": self.params,
            "trainable_params": self.trainable_params,
            "forward_flops": self.forward_flops,
            "training_flops": self.training_flops,
        }

    def __str__(self):
        lines = [
            f"{self.params:,} parameters ({self.trainable_params:,} trainable); "
            f"{self.forward_flops:,} FLOPs per sample forward, "
            f"{self.training_flops:,} per training step"
        ]
        for row in self.layers:
            if row["params"] or row["flops"]:
                lines.append(
                    f"  {row['name']:<20}{row['type']:<22}"
                    f"{row['params']:>10,} params{row['flops']:>12,} FLOPs"
                )
        return "\n".join(lines)

    __repr__ = __str__


def _units_in(layer, default=0):
    """Input values per sample of ``layer`` (``default`` when unknown)."""
    try:
        shape = layer.input.shape
    except (AttributeError, ValueError):  # shared or never called on a tensor
        return default
    dims = [d for d in shape[1:] if d is not None]
    return int(np.prod(dims)) if dims else default


def _layer_flops(layer):
    if isinstance(layer, keras.Model):
        return capacity(layer).forward_flops
    if isinstance(layer, keras.layers.Dense):
        n_in = int(layer.kernel.shape[0])
        n_out = int(layer.kernel.shape[1])
        # Dense on (batch, steps, features) inputs runs once per step.
        positions = max(_units_in(layer, n_in) // max(n_in, 1), 1)
        return positions * (2 * n_in * n_out + (n_out if layer.use_bias else 0))
    if isinstance(layer, keras.layers.BatchNormalization):
        features = int(layer.gamma.shape[0]) if layer.scale else 0
        return BATCH_NORM_FLOPS_PER_FEATURE * _units_in(layer, features)
    # Another layer with weights (e.g. a tied decoder): count its matrices as
    # multiply-adds and its vectors as additions.
    flops = 0
    for weight in layer.trainable_weights:
        shape = tuple(int(d) for d in weight.shape)
        if len(shape) == 2:
            flops += 2 * shape[0] * shape[1]
        elif len(shape) == 1:
            flops += shape[0]
    return flops


def capacity(model_or_estimator):
    """Count the parameters and FLOPs per sample of a network.

    Parameters
    ----------
    model_or_estimator : keras.Model or fitted deepstack estimator

    Returns
    -------
    Capacity

    Examples
    --------
    >>> import keras
    >>> from deepstack.diagnostics import capacity
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
    ...                           keras.layers.Dense(2)])
    >>> capacity(model).forward_flops  # 2*4*8 + 8 + 2*8*2 + 2
    106
    """
    model = get_model(model_or_estimator)
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "params": int(layer.count_params()) if layer.built else 0,
                "flops": int(_layer_flops(layer)),
            }
        )
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return Capacity(rows, model.count_params(), trainable)
