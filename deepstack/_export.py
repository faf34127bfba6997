"""Export a fitted network's whole prediction path for serving without deepstack.

A TensorFlow SavedModel (``keras.export.ExportArchive``, Keras's public
export API) whose ``serve`` endpoint takes the raw feature rows
(standardization is inside the network) and returns the decoded outputs
(probabilities, the index of the predicted class, or predictions in the
target's units), and a ``labels.json`` beside it that maps class indices to
the user's labels and names the outputs.
"""

import json
import os
import shutil

import keras

FORMATS = ("tf_saved_model", "onnx")
LABELS_FILE = "labels.json"


def export(model, path, *, serve, n_features, metadata, format, overwrite=False):
    """Write ``model`` with the endpoint ``serve`` to the folder ``path``.

    Parameters
    ----------
    model : keras.Model
        The network whose variables the endpoint uses.
    path : str or os.PathLike
        A new folder (an existing one only with ``overwrite``).
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
    if format == "onnx":
        raise ValueError(
            "format='onnx' is not available: tf2onnx does not support this "
            "TensorFlow release. Export format='tf_saved_model' and convert the "
            "folder with tf2onnx where it supports yours "
            "(python -m tf2onnx.convert --saved-model PATH --output model.onnx)."
        )
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "format='tf_saved_model' needs the TensorFlow backend "
            f"(KERAS_BACKEND=tensorflow); this process runs {keras.backend.backend()}."
        )
    path = os.fspath(path)
    if os.path.exists(path):
        if not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
        shutil.rmtree(path)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serve",
        fn=serve,
        input_signature=[keras.InputSpec(shape=(None, n_features), dtype="float32")],
    )
    archive.write_out(path, verbose=False)
    with open(os.path.join(path, LABELS_FILE), "w") as handle:
        json.dump({"format": format, **metadata}, handle, indent=2)
        handle.write("\n")
    return path
