"""Export a fitted network's whole prediction path for serving without deepstack.

A TensorFlow SavedModel (``keras.export.ExportArchive``, Keras's public
export API) whose ``serve`` endpoint takes the raw feature rows
(standardization is inside the network) and returns the decoded outputs
(probabilities, the index of the predicted class, or predictions in the
target's units), or the same path as an ONNX graph (``model.onnx``,
converted by tf2onnx), and a ``labels.json`` beside it that maps class
indices to the user's labels and names the outputs.
"""

import json
import os
import warnings

import keras

from deepstack import _folders

FORMATS = ("tf_saved_model", "onnx")
LABELS_FILE = "labels.json"
ONNX_FILE = "model.onnx"
ONNX_INPUT = "X"


def export(model, path, *, serve, n_features, metadata, format, overwrite=False):
    """Write ``model`` with the endpoint ``serve`` to the folder ``path``.

    Parameters
    ----------
    model : keras.Model
        The network whose variables the endpoint uses.
    path : str or os.PathLike
        A new folder, or an empty one (an earlier export only with
        ``overwrite``; any other folder is refused).
    serve : callable
        ``serve(x) -> dict of tensors``, ``x`` a float32 batch of rows.
    n_features : int
    metadata : dict
        JSON-serializable; written to ``labels.json`` with the format.
    format : {"tf_saved_model", "onnx"}
    overwrite : bool
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}; got {format!r}.")
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"format={format!r} needs the TensorFlow backend "
            f"(KERAS_BACKEND=tensorflow); this process runs {keras.backend.backend()}."
        )
    if format == "onnx":
        _check_onnx_installed()
    # Written beside, then renamed: an existing export is replaced whole or
    # kept (never a folder that is no export: it is refused).
    with _folders.staged(path, overwrite, LABELS_FILE, "export") as folder:
        if format == "onnx":
            _write_onnx(os.path.join(folder, ONNX_FILE), serve, n_features)
        else:
            archive = keras.export.ExportArchive()
            for resource in _serving_resources(model):
                archive.track(resource)
            archive.add_endpoint(
                name="serve",
                fn=serve,
                input_signature=[
                    keras.InputSpec(shape=(None, n_features), dtype="float32")
                ],
            )
            archive.write_out(folder, verbose=False)
        with open(os.path.join(folder, LABELS_FILE), "w") as handle:
            json.dump({"format": format, **metadata}, handle, indent=2)
            handle.write("\n")
    return os.fspath(path)


def _serving_resources(model):
    """What the archive keeps of ``model``: the model itself, or, when it
    holds the joint loss's decoder (training only: identity at inference),
    each of its other layers, so that the decoder's weights stay out (and the
    dropout layers' rates and generators, identity at inference too)."""
    from deepstack.layers import RateDropout, Reconstruction

    if not any(isinstance(layer, Reconstruction) for layer in model.layers):
        return [model]
    return [
        layer
        for layer in model.layers
        if layer.weights and not isinstance(layer, (Reconstruction, RateDropout))
    ]


def _check_onnx_installed():
    missing = []
    for module in ("tf2onnx", "onnx"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ImportError(
            f"format='onnx' needs {' and '.join(missing)}: "
            "pip install 'deepstack[onnx]' (tf2onnx, onnx; onnxruntime to run it)."
        )


def _write_onnx(file, serve, n_features):
    """The prediction path ``serve`` as an ONNX graph: input ``X``, outputs
    named as ``serve``'s keys.

    Converted from a frozen ``tf.function`` with tf2onnx's public loaders,
    not with ``Model.export(format="onnx")``: that passes every input of the
    concrete function to tf2onnx, captured constants included (the
    standardization layer's mean and variance), so they became graph inputs.
    """
    import tensorflow as tf
    from tf2onnx import convert, tf_loader

    fn = tf.function(
        serve,
        input_signature=[tf.TensorSpec((None, n_features), tf.float32, ONNX_INPUT)],
    )
    concrete = fn.get_concrete_function()
    # tf.nest flattens the returned dict in sorted key order.
    names = sorted(concrete.structured_outputs)
    inputs = [concrete.inputs[0].name]
    outputs = [t.name for t in concrete.outputs]
    logger, level = tf.get_logger(), tf.get_logger().level
    logger.setLevel("ERROR")  # TF1-era deprecation notices of the freezing
    try:
        with warnings.catch_warnings():
            # tf2onnx's own NumPy and TensorFlow deprecation warnings.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            graph_def = tf_loader.from_function(concrete, inputs, outputs)
            convert.from_graph_def(
                graph_def, input_names=inputs, output_names=outputs, output_path=file
            )
    finally:
        logger.setLevel(level)
    _rename_outputs(file, names, {inputs[0]: ONNX_INPUT})


def _rename_outputs(file, names, input_renames):
    import onnx

    model = onnx.load(file)
    graph = model.graph
    if len(graph.output) != len(names):
        raise RuntimeError(
            f"The ONNX graph has {len(graph.output)} outputs, expected {names}."
        )
    renames = {out.name: name for out, name in zip(graph.output, names)}
    renames.update(input_renames)
    for node in graph.node:
        for i, name in enumerate(node.output):
            node.output[i] = renames.get(name, name)
        for i, name in enumerate(node.input):
            node.input[i] = renames.get(name, name)
    for value in [*graph.input, *graph.output]:
        value.name = renames.get(value.name, value.name)
    onnx.checker.check_model(model)
    onnx.save(model, file)
