"""A Dense decoder that shares (the transpose of) an encoder's kernel.

The tie is a reference to the encoder layer. A saved config names the encoder
(``tied_to``) and the decoder's width (``units``); :class:`TiedModel`'s
``from_config`` finds the encoder again with ``Model.get_layer``, so loading
never walks the functional graph.
"""

import json
import zipfile

import keras


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
        resolved by :meth:`tie`, which :class:`TiedModel` and
        :func:`tie_layers` call with the layer of that name in the model.
    activation : str or callable, default=None
        Activation of the reconstruction (None: linear).
    bias_initializer : str or keras.initializers.Initializer, default="zeros"
        Initializer of the decoder's own bias.
    units : int, default=None
        Number of outputs (the encoder's inputs). Taken from the encoder when
        ``tied_to`` is a built layer; a saved config stores it so that the
        decoder builds before its encoder is found.
    **kwargs
        Passed to ``keras.layers.Layer`` (``name``, ``dtype``, ...).

    Examples
    --------
    >>> import keras
    >>> from deepstack.layers import TiedDense, TiedModel
    >>> inputs = keras.Input(shape=(6,))
    >>> encoder = keras.layers.Dense(3, activation="sigmoid", name="encoder")
    >>> outputs = TiedDense(encoder, activation="sigmoid")(encoder(inputs))
    >>> TiedModel(inputs, outputs).count_params()  # 6*3 + 3 + 6
    27
    """

    def __init__(
        self,
        tied_to,
        activation=None,
        bias_initializer="zeros",
        units=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(tied_to, (str, keras.layers.Dense)):
            raise TypeError(
                "tied_to must be a keras.layers.Dense layer or its name; got "
                f"{type(tied_to).__name__}."
            )
        self._tied = _LayerReference(tied_to)
        self.units = None if units is None else int(units)
        self.activation = keras.activations.get(activation)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    # ---------------------------------------------------------------- tying

    @property
    def tied_name(self):
        """Name of the encoder layer whose kernel this decoder transposes."""
        target = self._tied.target
        return target if isinstance(target, str) else target.name

    @property
    def is_tied(self):
        """Whether the encoder layer itself (not only its name) is known."""
        return not isinstance(self._tied.target, str)

    def tie(self, encoder):
        """Tie this decoder to ``encoder``, the layer its config names.

        Parameters
        ----------
        encoder : keras.layers.Dense
            A built layer named :attr:`tied_name` whose kernel has
            ``units`` rows.

        Returns
        -------
        self : TiedDense
        """
        if not isinstance(encoder, keras.layers.Dense):
            raise TypeError(
                f"TiedDense {self.name!r} must be tied to a keras.layers.Dense "
                f"layer; {self.tied_name!r} is a {type(encoder).__name__}."
            )
        if encoder.name != self.tied_name:
            raise ValueError(
                f"TiedDense {self.name!r} is tied to {self.tied_name!r}, not "
                f"{encoder.name!r}."
            )
        if encoder.built and self.units is not None:
            n_in = encoder.kernel.shape[0]
            if n_in != self.units:
                raise ValueError(
                    f"TiedDense {self.name!r} has {self.units} units but its "
                    f"encoder {encoder.name!r} has {n_in} inputs."
                )
        self._tied.target = encoder
        return self

    def _encoder(self):
        target = self._tied.target
        if isinstance(target, str):
            raise ValueError(
                f"TiedDense {self.name!r} knows only the name of its encoder "
                f"{target!r}: build the model as deepstack.layers.TiedModel (its "
                "from_config ties the decoders on load), or call "
                "deepstack.layers.tie_layers(model) after loading a plain "
                "keras.Model."
            )
        return target

    @property
    def kernel(self):
        """The decoder's effective kernel, ``transpose(encoder.kernel)``."""
        return keras.ops.transpose(self._encoder().kernel)

    # ---------------------------------------------------------- Keras layer

    def build(self, input_shape):
        if self.is_tied:
            encoder = self._encoder()
            if not encoder.built:
                raise ValueError(
                    f"TiedDense {self.name!r} needs its encoder {encoder.name!r} "
                    "to be built (called on an input) first."
                )
            n_in, n_units = encoder.kernel.shape
            if input_shape[-1] is not None and input_shape[-1] != n_units:
                raise ValueError(
                    f"TiedDense {self.name!r} expects inputs with {n_units} "
                    f"features (the units of {encoder.name!r}); got "
                    f"{input_shape[-1]}."
                )
            self.units, n_features = int(n_in), n_units
        else:
            if self.units is None:
                self._encoder()  # raises: neither the encoder nor its width
            n_features = input_shape[-1]
        self.bias = self.add_weight(
            name="bias",
            shape=(self.units,),
            initializer=self.bias_initializer,
            trainable=True,
        )
        if n_features is not None:
            self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: n_features})

    def get_build_config(self):
        # No build config: the decoder builds when the functional model calls
        # it on the encoder's (symbolic) output.
        return None

    def call(self, inputs):
        kernel = keras.ops.cast(self._encoder().kernel, inputs.dtype)
        outputs = keras.ops.matmul(inputs, keras.ops.transpose(kernel))
        outputs = keras.ops.add(outputs, keras.ops.cast(self.bias, inputs.dtype))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        units = self.units
        if units is None:
            units = self._encoder().kernel.shape[0]
        return tuple(input_shape[:-1]) + (units,)

    def get_config(self):
        return {
            **super().get_config(),
            "tied_to": self.tied_name,
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


def tie_layers(model):
    """Tie every :class:`TiedDense` (and
    :class:`~deepstack.layers.Reconstruction`) of ``model`` to the layers
    its config names.

    A decoder deserialized from a config knows its encoder by name only;
    this finds the encoder with ``model.get_layer`` (in the innermost model
    holding the decoder). :class:`TiedModel` calls it on load; call it
    yourself after loading a plain ``keras.Model`` that holds a decoder.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    model : keras.Model
        The same model.
    """
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            tie_layers(layer)
        elif isinstance(layer, TiedDense) and not layer.is_tied:
            layer.tie(model.get_layer(layer.tied_name))
        elif hasattr(layer, "tie_encoders") and not layer.is_tied:
            # A Reconstruction (which imports this module): tied by names.
            layer.tie_encoders(model)
    return model


@keras.saving.register_keras_serializable(package="deepstack")
class TiedModel(keras.Model):
    """A functional ``keras.Model`` that ties its decoders again on load.

    Built like ``keras.Model(inputs, outputs)``. Its ``from_config`` revives
    the functional model, then calls :func:`tie_layers`, so a saved model with
    :class:`TiedDense` layers loads tied with ``keras.saving.load_model``.

    Examples
    --------
    >>> import keras
    >>> from deepstack.layers import TiedDense, TiedModel
    >>> inputs = keras.Input(shape=(4,))
    >>> encoder = keras.layers.Dense(2, name="encoder")
    >>> model = TiedModel(inputs, TiedDense(encoder)(encoder(inputs)))
    >>> copy = TiedModel.from_config(model.get_config())
    >>> copy.layers[-1].is_tied
    True
    """

    @classmethod
    def from_config(cls, config, custom_objects=None):
        model = super().from_config(_with_units(config), custom_objects)
        return tie_layers(model)


def _with_units(config):
    """``config`` with ``units`` filled in for decoders saved before it was
    stored (taken from the named encoder's build input shape)."""
    layers = config.get("layers")
    if not isinstance(layers, list):
        return config
    by_name = {layer.get("name"): layer for layer in layers}
    upgraded = []
    for layer in layers:
        inner = layer.get("config", {})
        if layer.get("class_name") == "TiedDense" and inner.get("units") is None:
            encoder = by_name.get(inner.get("tied_to"), {})
            shape = (encoder.get("build_config") or {}).get("input_shape")
            if shape:
                layer = {**layer, "config": {**inner, "units": shape[-1]}}
        elif isinstance(inner, dict) and "layers" in inner:
            layer = {**layer, "config": _with_units(inner)}
        upgraded.append(layer)
    return {**config, "layers": upgraded}


def _has_untied_config(config):
    if isinstance(config, dict):
        if config.get("class_name") == "TiedDense":
            return config.get("config", {}).get("units") is None
        return any(_has_untied_config(value) for value in config.values())
    if isinstance(config, list):
        return any(_has_untied_config(value) for value in config)
    return False


def load_model(path, **kwargs):
    """``keras.saving.load_model(path, **kwargs)``, tied.

    A ``.keras`` file written before :class:`TiedModel` existed holds a plain
    functional model whose decoders lack ``units``; it is revived as a
    :class:`TiedModel` (through ``custom_objects``), which fills them in from
    the encoders' configs and ties them.
    """
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    if _has_untied_config(config):
        custom = dict(kwargs.pop("custom_objects", None) or {})
        custom.setdefault("Functional", TiedModel)
        kwargs["custom_objects"] = custom
    model = keras.saving.load_model(path, **kwargs)
    return tie_layers(model) if isinstance(model, keras.Model) else model
