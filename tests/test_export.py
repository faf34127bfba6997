"""``export``: the SavedModel's outputs equal ``predict_proba`` / ``predict``."""

import json

import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import make_multilabel_classification

from deepstack import DeepStackClassifier, DeepStackRegressor
from tests.conftest import tiny


def _serve(path, X):
    # Keep the loaded object alive while its endpoint runs: it owns the
    # variables.
    loaded = tf.saved_model.load(str(path))
    outputs = loaded.serve(X)
    labels = json.loads((path / "labels.json").read_text())
    return {k: v.numpy() for k, v in outputs.items()}, labels


@pytest.mark.parametrize("n_classes", [2, 3])
def test_classifier_export(tmp_path, n_classes):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 5)).astype(np.float32) * 10 + 3
    names = np.array(["cat", "dog", "emu"])[:n_classes]
    y = names[np.argsort(X[:, :n_classes], axis=1)[:, -1]]
    clf = tiny(DeepStackClassifier, max_epochs=3).fit(X, y)
    clf.export(tmp_path / "model")
    outputs, labels = _serve(tmp_path / "model", X)
    np.testing.assert_allclose(
        outputs["probabilities"], clf.predict_proba(X), atol=1e-5
    )
    assert labels["classes"] == names.tolist()
    assert labels["n_features_in"] == 5 and labels["task"] == "classification"
    decoded = np.array(labels["classes"])[outputs["class_index"]]
    np.testing.assert_array_equal(decoded, clf.predict(X))


def test_multilabel_export(tmp_path):
    X, Y = make_multilabel_classification(100, 6, n_classes=3, random_state=0)
    clf = tiny(DeepStackClassifier, max_epochs=3).fit(X.astype(np.float32), Y)
    clf.export(tmp_path / "model")
    outputs, labels = _serve(tmp_path / "model", X.astype(np.float32))
    np.testing.assert_allclose(
        outputs["probabilities"], clf.predict_proba(X), atol=1e-5
    )
    np.testing.assert_array_equal(outputs["labels"], clf.predict(X))
    assert labels["task"] == "multilabel" and labels["classes"] == [0, 1, 2]


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_regressor_export(tmp_path, regression_data, loss):
    X, y = regression_data
    y = np.abs(y) if loss == "poisson" else y
    reg = tiny(DeepStackRegressor, max_epochs=3, loss=loss).fit(X, y)
    reg.export(tmp_path / "model")
    outputs, labels = _serve(tmp_path / "model", X)
    np.testing.assert_allclose(outputs["predictions"][:, 0], reg.predict(X), rtol=1e-5)
    assert labels["single_output"] is True
    with pytest.raises(FileExistsError, match="overwrite=True"):
        reg.export(tmp_path / "model")
    reg.export(tmp_path / "model", overwrite=True)


def test_onnx_explains_the_conversion(tmp_path, regression_data):
    X, y = regression_data
    reg = tiny(DeepStackRegressor, max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="tf2onnx.convert --saved-model"):
        reg.export(tmp_path / "model.onnx", format="onnx")
    with pytest.raises(ValueError, match="format must be one of"):
        reg.export(tmp_path / "m", format="pickle")
