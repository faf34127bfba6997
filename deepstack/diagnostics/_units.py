"""Unit health: saturation, dead units, sparsity, correlation and variance per layer."""

import numpy as np

from deepstack.callbacks import set_population_statistics
from deepstack.diagnostics._common import (
    activation_name,
    fresh_copy,
    get_model,
    hidden_activation_layers,
    hidden_activations,
    network_input,
)

# Output ranges of the squashing nonlinearities, and how close to a limit counts
# as saturated (a fraction of the range).
_BOUNDED = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "hard_sigmoid": (0.0, 1.0)}
_SATURATION_MARGIN = 0.02
_RELU_LIKE = ("relu", "relu6", "leaky_relu")


class LayerHealth:
    """Health measures of one hidden layer on a set of samples.

    Parameters
    ----------
    name : str
        Layer name.
    activation : str or None
        Its nonlinearity.
    values : ndarray of shape (n_samples, n_units)
        The layer's outputs on the samples (from
        :func:`~deepstack.diagnostics.hidden_activations`); only the
        measures below are kept.

    Attributes
    ----------
    name : str
        Layer name.
    activation : str or None
        Its nonlinearity.
    n_units : int
    saturation : float or None
        Fraction of (sample, unit) activations within 2% of the range of a
        bounded nonlinearity (tanh, sigmoid) from its limits; None for
        unbounded ones.
    saturated_units : float or None
        Fraction of units saturated on at least 90% of the samples.
    dead_units : float or None
        Fraction of ReLU units that output 0 on every sample; None for other
        nonlinearities.
    sparsity : float
        Fraction of (sample, unit) activations that are (almost) exactly 0.
    correlation : float
        Mean absolute correlation between pairs of units (constant units left
        out; nan with fewer than two varying units).
    variance : float
        Mean over units of the activation variance across samples.
    """

    def __init__(self, name, activation, values):
        self.name = name
        self.activation = activation
        self.n_units = int(values.shape[1])
        self.saturation, self.saturated_units = _saturation(activation, values)
        zero = np.abs(values) <= 1e-7
        self.sparsity = float(zero.mean())
        self.dead_units = (
            float(zero.all(axis=0).mean()) if activation in _RELU_LIKE else None
        )
        self.correlation = _mean_abs_correlation(values)
        self.variance = float(values.var(axis=0).mean())

    def as_dict(self):
        return {
            "layer": self.name,
            "activation": self.activation,
            "units": self.n_units,
            "saturation": self.saturation,
            "saturated_units": self.saturated_units,
            "dead_units": self.dead_units,
            "sparsity": self.sparsity,
            "correlation": self.correlation,
            "variance": self.variance,
        }


def _saturation(activation, values):
    if activation not in _BOUNDED:
        return None, None
    low, high = _BOUNDED[activation]
    margin = _SATURATION_MARGIN * (high - low)
    near = (values <= low + margin) | (values >= high - margin)
    return float(near.mean()), float((near.mean(axis=0) >= 0.9).mean())


def _mean_abs_correlation(values):
    varying = values[:, values.std(axis=0) > 1e-12]
    if varying.shape[1] < 2 or varying.shape[0] < 2:
        return float("nan")
    corr = np.corrcoef(varying, rowvar=False)
    off = corr[~np.eye(corr.shape[0], dtype=bool)]
    return float(np.abs(off).mean())


class UnitHealth:
    """Health of every hidden layer: a list of :class:`LayerHealth`.

    Attributes
    ----------
    layers : list of LayerHealth
    """

    def __init__(self, layers):
        self.layers = layers

    def __iter__(self):
        return iter(self.layers)

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, key):
        if isinstance(key, str):
            for layer in self.layers:
                if layer.name == key:
                    return layer
            raise KeyError(key)
        return self.layers[key]

    def as_dicts(self):
        return [layer.as_dict() for layer in self.layers]

    @property
    def max_saturation(self):
        values = [x.saturation for x in self.layers if x.saturation is not None]
        return max(values) if values else 0.0

    @property
    def max_dead(self):
        values = [x.dead_units for x in self.layers if x.dead_units is not None]
        return max(values) if values else 0.0

    @property
    def variance_ratio(self):
        """Largest over smallest layer variance (1 when they are all alike)."""
        values = [x.variance for x in self.layers]
        if len(values) < 2:
            return 1.0
        low = min(values)
        return float("inf") if low <= 0 else max(values) / low

    def __str__(self):
        lines = [
            f"{'layer':<16}{'act':<9}{'units':>6}{'saturated':>11}{'dead':>7}"
            f"{'sparsity':>10}{'|corr|':>8}{'variance':>11}"
        ]

        def fmt(value, spec):
            if value is None:
                return f"{'-':>{spec[1:].split('.')[0]}}"
            return format(value, spec)

        for x in self.layers:
            lines.append(
                f"{x.name:<16}{str(x.activation):<9}{x.n_units:>6d}"
                f"{fmt(x.saturation, '>11.3f')}{fmt(x.dead_units, '>7.3f')}"
                f"{x.sparsity:>10.3f}{x.correlation:>8.3f}{x.variance:>11.4g}"
            )
        return "\n".join(lines)

    __repr__ = __str__


def unit_health(model_or_estimator, X, *, initial=False, max_samples=1000):
    """Measure the health of the hidden units on ``X``.

    Parameters
    ----------
    model_or_estimator : keras.Model or fitted deepstack estimator
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    initial : bool, default=False
        Measure the network as it was before training: a copy with freshly
        initialized weights (deepstack seeds its initializers, so these are
        the weights training started from) and the network's own input
        standardization (its ``Standardize`` statistics, set from the data
        before training). Batch normalization then uses the statistics of
        these rows, as the first training steps do (its initial moving
        averages, mean 0 and variance 1, normalize nothing). For an
        estimator that pretrained its layers (``pretrain``), these are the
        weights *before* pretraining, not the pretrained ones that
        fine-tuning started from.
    max_samples : int, default=1000
        Use at most this many rows of ``X``.

    Returns
    -------
    UnitHealth
        One :class:`LayerHealth` per hidden layer, input side first.

    Examples
    --------
    >>> import numpy as np, keras
    >>> from deepstack.diagnostics import unit_health
    >>> model = keras.Sequential([keras.Input((4,)),
    ...     keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    >>> health = unit_health(model, np.random.randn(50, 4))
    >>> health[0].saturation < 0.5
    True
    """
    model = get_model(model_or_estimator)
    if initial:
        model = fresh_copy(model)
        set_population_statistics(model, network_input(model, X, max_rows=max_samples))
    activations = hidden_activations(model, X, max_samples=max_samples)
    names = {
        layer.name: activation_name(layer) for layer in hidden_activation_layers(model)
    }
    return UnitHealth(
        [LayerHealth(name, names[name], values) for name, values in activations.items()]
    )
