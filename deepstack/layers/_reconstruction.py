"""The joint loss's reconstruction term: a tied decoder beside the network.

The supervised estimators' ``reconstruction_weight`` puts one
:class:`Reconstruction` layer after the last hidden layer. In training it
decodes the codes back to the network's (standardized) inputs through the
transposes of the hidden layers' kernels and adds ``weight`` times the
reconstruction loss to the model's loss (``add_loss``), so that every row,
labeled or not, trains the encoder (semi-supervised autoencoders; Ranzato &
Szummer 2008, Rasmus et al. 2015). In inference it returns the codes as they
are: predictions, their cost and their outputs do not depend on it.
"""

import keras

from deepstack.layers._tied_dense import _LayerReference

LOSSES = ("squared_error", "cross_entropy")


@keras.saving.register_keras_serializable(package="deepstack")
class Reconstruction(keras.layers.Layer):
    """Identity on the codes that adds a tied-decoder reconstruction loss in training.

    Called on ``[inputs, codes]``: ``inputs`` are what the first hidden layer
    reads (before input dropout), ``codes`` the last hidden layer's
    activations. With ``training=True`` the codes are decoded layer by layer,
    top first, ``z = activation(z @ W_k.T + b_k)`` with ``W_k`` the kernel of
    encoder ``k`` and ``b_k`` this layer's own bias (no activation at the
    last step, which gives the reconstruction), and ``weight`` times the mean
    over rows and features of the squared error (or, with
    ``loss="cross_entropy"``, of the binary cross-entropy of the sigmoid of
    the reconstruction, for inputs in [0, 1]) is added with ``add_loss``.
    The layer returns ``codes`` unchanged in either mode.

    Parameters
    ----------
    encoders : sequence of keras.layers.Dense or str
        The hidden layers, bottom first, or their names (as in a saved
        config; :func:`deepstack.layers.tie_layers` finds them).
    units : sequence of int
        The input width of each encoder (the widths the decoder produces).
    weight : float, default=1.0
        Multiplies the reconstruction loss.
    activation : str, default="relu"
        Activation of the inner decoding steps (the network's).
    loss : {"squared_error", "cross_entropy"}, default="squared_error"
    **kwargs
        Passed to ``keras.layers.Layer``.
    """

    def __init__(
        self,
        encoders,
        units,
        weight=1.0,
        activation="relu",
        loss="squared_error",
        **kwargs,
    ):
        super().__init__(**kwargs)
        encoders = list(encoders)
        units = [int(u) for u in units]
        if not encoders or len(encoders) != len(units):
            raise ValueError(
                "Reconstruction needs one input width (units) per encoder; got "
                f"{len(encoders)} encoders and {len(units)} widths."
            )
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}; got {loss!r}.")
        self._encoders = _LayerReference(encoders)
        self.units = units
        self.weight = float(weight)
        self.activation = keras.activations.get(activation)
        self.loss = loss

    @property
    def tied_names(self):
        """Names of the encoder layers, bottom first."""
        return [e if isinstance(e, str) else e.name for e in self._encoders.target]

    @property
    def is_tied(self):
        """Whether the encoder layers themselves (not only names) are known."""
        return not any(isinstance(e, str) for e in self._encoders.target)

    def tie_encoders(self, model):
        """Find the encoders in ``model`` by name; returns ``self``."""
        self._encoders.target = [model.get_layer(n) for n in self.tied_names]
        return self

    def build(self, input_shape):
        self.biases = [
            self.add_weight(
                name=f"bias_{k}", shape=(u,), initializer="zeros", trainable=True
            )
            for k, u in enumerate(self.units, start=1)
        ]

    def get_build_config(self):
        # Built when the functional model calls it on symbolic inputs.
        return None

    def decode(self, codes):
        """The reconstruction (logits for cross-entropy) of ``codes``."""
        if not self.is_tied:
            raise ValueError(
                f"Reconstruction {self.name!r} knows only the names of its "
                "encoders; call deepstack.layers.tie_layers(model) first."
            )
        z = codes
        encoders = self._encoders.target
        for k in range(len(encoders) - 1, -1, -1):
            kernel = keras.ops.cast(encoders[k].kernel, z.dtype)
            z = keras.ops.matmul(z, keras.ops.transpose(kernel))
            z = keras.ops.add(z, keras.ops.cast(self.biases[k], z.dtype))
            if k > 0:
                z = self.activation(z)
        return z

    def reconstruction_loss(self, inputs, codes):
        """The unweighted reconstruction loss of a batch (a scalar)."""
        z = self.decode(codes)
        inputs = keras.ops.cast(inputs, z.dtype)
        if self.loss == "cross_entropy":
            per_value = keras.ops.binary_crossentropy(inputs, z, from_logits=True)
        else:
            per_value = keras.ops.square(z - inputs)
        return keras.ops.mean(per_value)

    def call(self, inputs, training=False):
        x, codes = inputs
        if training:
            self.add_loss(self.weight * self.reconstruction_loss(x, codes))
        return codes

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1])

    def get_config(self):
        return {
            **super().get_config(),
            "encoders": self.tied_names,
            "units": list(self.units),
            "weight": self.weight,
            "activation": keras.activations.serialize(self.activation),
            "loss": self.loss,
        }
