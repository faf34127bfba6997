"""deepstack._compat: the third-party private APIs and the versions they need."""

import ast
import configparser
import pathlib
import re

import numpy as np
import pytest

from deepstack import _compat

ROOT = pathlib.Path(__file__).resolve().parent.parent
THIRD_PARTY = {"sklearn", "keras", "keras_tuner", "tensorflow", "jax"}
PRIVATE = re.compile(
    r"sklearn\.utils\._|keras\.src|keras_tuner\.src|_keras_history|_inbound_nodes"
    r"|train_function = None|compute_loss_and_updates|\._model = None"
)


def test_installed_versions_are_supported():
    versions = _compat.installed_versions()
    assert versions["keras"] is not None and versions["scikit-learn"] is not None
    _compat.check_versions()  # raises on an unsupported release


@pytest.mark.parametrize(
    "name, version",
    [("keras", "4.0.0"), ("scikit-learn", "2.0"), ("keras-tuner", "2.1.0")],
)
def test_an_unsupported_major_version_fails_loudly(name, version):
    with pytest.raises(ImportError, match=rf"{name} {re.escape(version)}"):
        _compat.check_versions({name: version})


def test_the_private_keras_names_still_exist():
    assert _compat.missing_keras_names() == []


def _private_path(parts):
    # keras.src and keras_tuner.src hold the implementations behind the
    # public names: private although not underscored.
    return any(p.startswith("_") for p in parts) or parts[1:2] == ["src"]


def _private_imports(source):
    """Names imported from a private module or private names imported from a
    third-party package, in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] not in THIRD_PARTY:
                continue
            private_module = _private_path(node.module.split("."))
            for alias in node.names:
                if private_module or alias.name.startswith("_"):
                    found.append(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in THIRD_PARTY and _private_path(parts):
                    found.append(alias.name)
    return found


def test_private_apis_are_used_only_in_compat():
    offenders = []
    for path in (ROOT / "deepstack").rglob("*.py"):
        if path.name == "_compat.py":
            continue
        source = path.read_text()
        offenders += [f"{path.name}: {name}" for name in _private_imports(source)]
        for number, line in enumerate(source.splitlines(), start=1):
            if PRIVATE.search(line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []
    # The check sees what it must.
    assert _private_imports(
        "from sklearn.utils.validation import _check_sample_weight\n"
        "from keras.src import ops\nimport keras_tuner.src.protos\n"
        "from deepstack import _network\n"
    ) == [
        "sklearn.utils.validation._check_sample_weight",
        "keras.src.ops",
        "keras_tuner.src.protos",
    ]


def test_setup_cfg_bounds_match_the_supported_versions():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    requires = {}
    for line in config["options"]["install_requires"].split("\n"):
        match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(.*)", line)
        if match:
            requires[match.group(1).lower()] = match.group(2)
    for name, (low, high) in _compat.SUPPORTED.items():
        assert f"<{high + 1}" in requires[name], (name, requires[name])
        lower = re.search(r">=\s*(\d+)", requires[name])
        assert lower and int(lower.group(1)) >= low, (name, requires[name])


def test_import_warns_on_an_unsupported_version(monkeypatch):
    monkeypatch.setattr(
        _compat, "installed_versions", lambda: {"keras": "4.0.0", "tensorflow": None}
    )
    with pytest.warns(RuntimeWarning, match="keras 4.0.0"):
        _compat.warn_if_unsupported()


def test_reseeding_keeps_compiled_functions_and_seeds_as_keras_does(monkeypatch):
    # _random.seed_backend runs at every fit; tf.random.set_seed clears the
    # eager caches and with them every compiled function. It is skipped when
    # nothing drew an op seed since the last reseed, with the same seeds.
    import keras
    import tensorflow as tf

    from deepstack import _random

    if keras.backend.backend() != "tensorflow":
        pytest.skip("reseeding without clearing applies to TensorFlow only")
    calls = []
    set_seed = tf.random.set_seed
    monkeypatch.setattr(tf.random, "set_seed", lambda s: (calls.append(s), set_seed(s)))
    keras.utils.set_random_seed(5)
    expected = tf.random.uniform([3]).numpy()
    assert calls == [5]
    _random.seed_backend(7)  # an op seed was drawn: the caches are cleared
    assert calls == [5, 7]
    _random.seed_backend(5)  # nothing random ran eagerly since: kept
    assert calls == [5, 7]
    # The global seed and the op-seed sequence are those of set_seed(5).
    np.testing.assert_array_equal(tf.random.uniform([3]).numpy(), expected)
    _random.seed_backend(5)
    assert calls == [5, 7, 5]
    np.testing.assert_array_equal(tf.random.uniform([3]).numpy(), expected)


def test_model_fit_path_repeats_after_fused_fits(classification_data):
    # A callback with batch hooks takes Model.fit, whose shuffling draws from
    # TensorFlow's global seed; fused fits in between reseed it without
    # clearing TensorFlow's caches (deepstack._compat.set_random_seed).
    import keras

    from deepstack import DeepStackClassifier

    if keras.backend.backend() != "tensorflow":
        # (Under JAX, Model.fit's shuffling is not seeded by deepstack.)
        pytest.skip("TensorFlow's global seed drives Model.fit's shuffling")
    X, y = classification_data

    class BatchHook(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    params = dict(hidden_layer_sizes=(8,), max_epochs=3, random_state=0)
    probas = []
    for _ in range(2):
        probas.append(
            DeepStackClassifier(**params, callbacks=[BatchHook()])
            .fit(X, y)
            .predict_proba(X)
        )
        DeepStackClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(probas[0], probas[1])
