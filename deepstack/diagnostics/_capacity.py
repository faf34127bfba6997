"""Capacity: parameters and floating-point operations per sample."""

import keras
import numpy as np

from deepstack.diagnostics._common import get_model
from deepstack.layers import Reconstruction, TiedDense

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
        Floating-point operations for one sample's forward pass at inference
        (prediction), counted on the Dense layers and the tied decoders
        (:class:`~deepstack.layers.TiedDense`, whose matrix is its encoder's
        kernel transposed): ``2 * n_in * n_out`` for the multiply-adds, plus
        ``n_out`` for the bias; and on the batch-normalization layers (4 per
        feature). Elementwise activations
        are not counted. The joint loss's reconstruction decoder
        (``reconstruction_weight > 0``) runs in training only and is left
        out.
    training_flops : int
        A training step per sample: 3 times the forward pass in training
        (forward + backward), which is ``forward_flops`` plus the
        reconstruction decoder's ``2 * n_in * n_out + n_in`` per tied
        encoder when there is one.
    layers : list of dict
        ``name``, ``type``, ``params``, ``flops`` (its share of
        ``forward_flops``) and ``training_flops`` (its share of
        ``training_flops``) of every layer.
    """

    def __init__(self, layers, params, trainable_params):
        self.layers = layers
        self.params = int(params)
        self.trainable_params = int(trainable_params)
        self.forward_flops = int(sum(row["flops"] for row in layers))
        self.training_flops = int(sum(row["training_flops"] for row in layers))

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
            if row["params"] or row["flops"] or row["training_flops"]:
                line = (
                    f"  {row['name']:<20}{row['type']:<22}"
                    f"{row['params']:>10,} params{row['flops']:>12,} FLOPs"
                )
                if not row["flops"] and row["training_flops"]:
                    line += f" ({row['training_flops']:,} per training step)"
                lines.append(line)
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
    """``(inference forward FLOPs, training step FLOPs)`` of one sample."""
    if isinstance(layer, keras.Model):
        inner = capacity(layer)
        return inner.forward_flops, inner.training_flops
    if isinstance(layer, Reconstruction):
        # The identity at inference; in training, the tied decoder.
        return 0, TRAINING_STEP_FACTOR * _decoder_flops(layer)
    flops = _forward_flops(layer)
    return flops, TRAINING_STEP_FACTOR * flops


def _decoder_flops(layer):
    """Forward FLOPs of a :class:`~deepstack.layers.Reconstruction` layer's
    decoder: per encoder ``n_in -> n_out``, the codes times its transposed
    kernel (``2 * n_out * n_in``) plus a bias of width ``n_in``."""
    # ``units`` are the encoders' input widths; the last one's output is the
    # codes the layer returns.
    widths = [*layer.units, int(layer.output.shape[-1])]
    return sum(2 * n_in * n_out + n_in for n_in, n_out in zip(widths[:-1], widths[1:]))


def _forward_flops(layer):
    if isinstance(layer, keras.layers.Dense):
        n_in = int(layer.kernel.shape[0])
        n_out = int(layer.kernel.shape[1])
        return _matmul_flops(layer, n_in, n_out, n_out if layer.use_bias else 0)
    if isinstance(layer, TiedDense):
        # The kernel is the encoder's (which owns it): the decoder's only
        # weight is its bias, but it multiplies by the whole matrix.
        n_out = int(layer.units)
        n_in = int(layer.input.shape[-1])
        return _matmul_flops(layer, n_in, n_out, n_out)
    if isinstance(layer, keras.layers.BatchNormalization):
        features = int(layer.gamma.shape[0]) if layer.scale else 0
        return BATCH_NORM_FLOPS_PER_FEATURE * _units_in(layer, features)
    # Another layer with weights: count its matrices as multiply-adds and its
    # vectors as additions.
    flops = 0
    for weight in layer.trainable_weights:
        shape = tuple(int(d) for d in weight.shape)
        if len(shape) == 2:
            flops += 2 * shape[0] * shape[1]
        elif len(shape) == 1:
            flops += shape[0]
    return flops


def _matmul_flops(layer, n_in, n_out, bias):
    """``x @ W + b`` with ``W`` of shape ``(n_in, n_out)`` and ``bias`` additions."""
    # On (batch, steps, features) inputs it runs once per step.
    positions = max(_units_in(layer, n_in) // max(n_in, 1), 1)
    return positions * (2 * n_in * n_out + bias)


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
        flops, training_flops = _layer_flops(layer)
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "params": int(layer.count_params()) if layer.built else 0,
                "flops": int(flops),
                "training_flops": int(training_flops),
            }
        )
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return Capacity(rows, model.count_params(), trainable)
