"""``export``: the SavedModel's and the ONNX graph's (run by onnxruntime)
outputs equal ``predict_proba`` / ``predict``."""

import json
import os

import numpy as np
import onnxruntime
import pytest
import tensorflow as tf
from sklearn.datasets import make_multilabel_classification

from deepstack import DeepStackClassifier, DeepStackRegressor
from tests.conftest import tiny

FORMATS = ["tf_saved_model", "onnx"]


def _serve(path, X, format="tf_saved_model"):
    labels = json.loads((path / "labels.json").read_text())
    assert labels["format"] == format
    X = np.asarray(X, dtype=np.float32)
    if format == "onnx":
        session = onnxruntime.InferenceSession(str(path / "model.onnx"))
        assert [i.name for i in session.get_inputs()] == ["X"]
        names = [o.name for o in session.get_outputs()]
        assert sorted(names) == sorted(labels["outputs"])
        return dict(zip(names, session.run(names, {"X": X}))), labels
    # Keep the loaded object alive while its endpoint runs: it owns the
    # variables.
    loaded = tf.saved_model.load(str(path))
    outputs = loaded.serve(X)
    return {k: v.numpy() for k, v in outputs.items()}, labels


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_classifier_export(tmp_path, n_classes, format):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 5)).astype(np.float32) * 10 + 3
    names = np.array(["cat", "dog", "emu"])[:n_classes]
    y = names[np.argsort(X[:, :n_classes], axis=1)[:, -1]]
    clf = tiny(DeepStackClassifier, max_epochs=3).fit(X, y)
    clf.export(tmp_path / "model", format=format)
    outputs, labels = _serve(tmp_path / "model", X, format)
    np.testing.assert_allclose(
        outputs["probabilities"], clf.predict_proba(X), atol=1e-5
    )
    assert labels["classes"] == names.tolist()
    assert labels["n_features_in"] == 5 and labels["task"] == "classification"
    decoded = np.array(labels["classes"])[outputs["class_index"]]
    np.testing.assert_array_equal(decoded, clf.predict(X))


@pytest.mark.parametrize("format", FORMATS)
def test_multilabel_export(tmp_path, format):
    X, Y = make_multilabel_classification(100, 6, n_classes=3, random_state=0)
    clf = tiny(DeepStackClassifier, max_epochs=3).fit(X.astype(np.float32), Y)
    clf.export(tmp_path / "model", format=format)
    outputs, labels = _serve(tmp_path / "model", X, format)
    np.testing.assert_allclose(
        outputs["probabilities"], clf.predict_proba(X), atol=1e-5
    )
    np.testing.assert_array_equal(outputs["labels"], clf.predict(X))
    assert labels["task"] == "multilabel" and labels["classes"] == [0, 1, 2]


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_regressor_export(tmp_path, regression_data, loss, format):
    X, y = regression_data
    y = np.abs(y) if loss == "poisson" else y
    reg = tiny(DeepStackRegressor, max_epochs=3, loss=loss).fit(X, y)
    reg.export(tmp_path / "model", format=format)
    outputs, labels = _serve(tmp_path / "model", X, format)
    np.testing.assert_allclose(outputs["predictions"][:, 0], reg.predict(X), rtol=1e-5)
    assert labels["single_output"] is True
    with pytest.raises(FileExistsError, match="overwrite=True"):
        reg.export(tmp_path / "model", format=format)
    reg.export(tmp_path / "model", format=format, overwrite=True)
    outputs, _ = _serve(tmp_path / "model", X, format)
    np.testing.assert_allclose(outputs["predictions"][:, 0], reg.predict(X), rtol=1e-5)
    # overwrite replaces an export, never a folder of the user's, nor the
    # working directory; nothing is left beside them.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("x,y\n")
    with pytest.raises(FileExistsError, match="not an empty directory or one export"):
        reg.export(tmp_path / "data", format=format, overwrite=True)
    assert (tmp_path / "data" / "train.csv").read_text() == "x,y\n"
    with pytest.raises(FileExistsError, match="the working directory"):
        reg.export(".", format=format, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["data", "model"]


def test_onnx_export_of_a_pretrained_network_with_standardization(tmp_path):
    # Standardization (a Normalization layer holding constants), batch norm
    # and dropout: all must end up as constants or inference-mode ops.
    rng = np.random.RandomState(1)
    X = (rng.normal(size=(150, 4)) * [1, 10, 100, 1000]).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    clf = tiny(
        DeepStackClassifier, max_epochs=2, pretrain="autoencoder", pretrain_epochs=1
    ).fit(X, y)
    clf.export(tmp_path / "model", format="onnx")
    outputs, _ = _serve(tmp_path / "model", X[:37], "onnx")
    np.testing.assert_allclose(
        outputs["probabilities"], clf.predict_proba(X[:37]), atol=1e-5
    )
    np.testing.assert_array_equal(
        clf.classes_[outputs["class_index"]], clf.predict(X[:37])
    )


def test_unknown_format_is_refused(tmp_path, regression_data):
    X, y = regression_data
    reg = tiny(DeepStackRegressor, max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="format must be one of"):
        reg.export(tmp_path / "m", format="pickle")


def test_export_refuses_an_overwrite_or_path_of_another_type(tmp_path, regression_data):
    # overwrite="no" (a truthy string) replaced the earlier export; a path of
    # None raised os.fspath's "expected str, bytes or os.PathLike object".
    X, y = regression_data
    reg = tiny(DeepStackRegressor, max_epochs=1).fit(X, y)
    reg.export(tmp_path / "m")
    before = (tmp_path / "m" / "labels.json").stat().st_mtime_ns
    with pytest.raises(TypeError, match=r"export's overwrite must be True or False"):
        reg.export(tmp_path / "m", overwrite="no")
    assert (tmp_path / "m" / "labels.json").stat().st_mtime_ns == before
    with pytest.raises(TypeError, match=r"path must be a str or os.PathLike.*None"):
        reg.export(None)
    assert sorted(os.listdir(tmp_path)) == ["m"]
    reg.export(tmp_path / "m", overwrite=np.True_)


@pytest.mark.parametrize("format", FORMATS)
def test_regressor_export_decodes_a_target_with_a_large_offset(
    tmp_path, regression_data, format
):
    # Decoded in float32, a mean of 1e9 is held to steps of 64: predictions
    # varying by about 1 came out as one or two values.
    X, y = regression_data
    y = 1e9 + y / np.std(y)
    reg = tiny(DeepStackRegressor, max_epochs=3).fit(X, y)
    reg.export(tmp_path / "model", format=format)
    outputs, _ = _serve(tmp_path / "model", X, format)
    predictions = outputs["predictions"][:, 0]
    assert predictions.dtype == np.float64
    np.testing.assert_allclose(predictions - 1e9, reg.predict(X) - 1e9, atol=1e-5)
