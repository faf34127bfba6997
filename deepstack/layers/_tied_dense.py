"""A Dense decoder that shares (the transpose of) an encoder's kernel."""

import keras

from deepstack._compat import find_upstream_layer


class _LayerReference:
    """Holds the tied encoder without Keras tracking it as a sublayer.

    If the decoder tracked the encoder, the encoder's kernel would be owned
    twice (once by the model, once by the decoder) and the decoder's saved
    config would have to carry a second copy of the encoder.
    """

    def __init__(self, target):
        self.target = target


@keras.saving.register_keras_serializable(package="deepstack")
class TiedDense(keras.layers.Layer):
    """Decoder ``y = activation(x @ W.T + b)`` tied to an encoder's kernel ``W``.

    The layer owns only its bias ``b`` (one unit per input of the encoder);
    its kernel is the transpose of the kernel of ``tied_to``, a
    ``keras.layers.Dense`` layer, so training the decoder trains the encoder's
    weights too and the autoencoder has half the parameters.

    Parameters
    ----------
    tied_to : keras.layers.Dense or str
        The encoder layer, or its name. A name (as in a saved config) is
        resolved when the layer is first called on a symbolic tensor: the
        encoder must then be upstream of the decoder's input in the
        functional graph, which is how a saved model finds it again on load.
    activation : str or callable, default=None
        Activation of the reconstruction (None: linear).
    bias_initializer : str or keras.initializers.Initializer, default="zeros"
        Initializer of the decoder's own bias.
    **kwargs
        Passed to ``keras.layers.Layer`` (``name``, ``dtype``, ...).

    Examples
    --------
    >>> import keras
    >>> from deepstack.layers import TiedDense
    >>> inputs = keras.Input(shape=(6,))
    >>> encoder = keras.layers.Dense(3, activation="sigmoid", name="encoder")
    >>> outputs = TiedDense(encoder, activation="sigmoid")(encoder(inputs))
    >>> keras.Model(inputs, outputs).count_params()  # 6*3 + 3 + 6
    27
    """

    def __init__(self, tied_to, activation=None, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(tied_to, (str, keras.layers.Dense)):
            raise TypeError(
                "tied_to must be a keras.layers.Dense layer or its name; got "
                f"{type(tied_to).__name__}."
            )
        self._tied = _LayerReference(tied_to)
        self.activation = keras.activations.get(activation)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    # ---------------------------------------------------------------- tying

    @property
    def tied_name(self):
        """Name of the encoder layer whose kernel this decoder transposes."""
        target = self._tied.target
        return target if isinstance(target, str) else target.name

    def _encoder(self):
        target = self._tied.target
        if isinstance(target, str):
            raise ValueError(
                f"TiedDense {self.name!r} is tied to a layer named {target!r} that "
                "was not found upstream of its input; call it on the output of "
                "that encoder in a functional model, or pass the layer itself."
            )
        return target

    def __call__(self, *args, **kwargs):
        target = self._tied.target
        if isinstance(target, str) and args:
            for tensor in keras.tree.flatten(args[0]):
                found = find_upstream_layer(tensor, target)
                if found is not None:
                    self._tied.target = found
                    break
        return super().__call__(*args, **kwargs)

    @property
    def kernel(self):
        """The decoder's effective kernel, ``transpose(encoder.kernel)``."""
        return keras.ops.transpose(self._encoder().kernel)

    # ---------------------------------------------------------- Keras layer

    def build(self, input_shape):
        encoder = self._encoder()
        if not encoder.built:
            raise ValueError(
                f"TiedDense {self.name!r} needs its encoder {encoder.name!r} to be "
                "built (called on an input) first."
            )
        n_in, n_units = encoder.kernel.shape
        if input_shape[-1] is not None and input_shape[-1] != n_units:
            raise ValueError(
                f"TiedDense {self.name!r} expects inputs with {n_units} features "
                f"(the units of {encoder.name!r}); got {input_shape[-1]}."
            )
        self.bias = self.add_weight(
            name="bias",
            shape=(n_in,),
            initializer=self.bias_initializer,
            trainable=True,
        )
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: n_units})

    def get_build_config(self):
        # No build config: a loaded decoder knows only its encoder's name, so
        # it must build when the functional model calls it on the encoder's
        # (symbolic) output, not before (its kernel shape comes from there).
        return None

    def call(self, inputs):
        kernel = keras.ops.cast(self._encoder().kernel, inputs.dtype)
        outputs = keras.ops.matmul(inputs, keras.ops.transpose(kernel))
        outputs = keras.ops.add(outputs, keras.ops.cast(self.bias, inputs.dtype))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        n_in = self._encoder().kernel.shape[0]
        return tuple(input_shape[:-1]) + (n_in,)

    def get_config(self):
        return {
            **super().get_config(),
            "tied_to": self.tied_name,
            "activation": keras.activations.serialize(self.activation),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
