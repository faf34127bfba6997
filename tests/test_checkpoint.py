"""Resumable fits: ``checkpoint=DIR``, interrupted in-process and by SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from sklearn.datasets import make_classification

from deepstack import DeepStackClassifier, DeepStackRegressor
from deepstack.estimators._base import BaseDeepStack
from tests.conftest import BatchHook

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Dropout, batch norm, Adam, early stopping with look-ahead and a halving
# after every flat epoch: every kind of state a resumed fit must get back.
PARAMS = dict(
    hidden_layer_sizes=(8,),
    dropout=0.2,
    batch_norm=True,
    learning_rate=0.3,
    max_epochs=10,
    batch_size=32,
    n_iter_no_change=4,
    lr_patience=1,
    random_state=0,
)


class Crash(Exception):
    pass


class CrashAt(keras.callbacks.Callback):
    """Raises at the end of epoch ``CrashAt.epoch`` (or of training, with
    ``at_train_end``) while ``armed``."""

    armed = False
    epoch = 2
    at_train_end = False

    def on_epoch_end(self, epoch, logs=None):
        if CrashAt.armed and not CrashAt.at_train_end and epoch == CrashAt.epoch:
            raise Crash

    def on_train_end(self, logs=None):
        if CrashAt.armed and CrashAt.at_train_end:
            raise Crash


@pytest.fixture
def data():
    X, y = make_classification(n_samples=150, n_features=5, random_state=0)
    return X.astype(np.float32), y


def _weights(est):
    return est.model_.get_weights()


def test_resumed_fit_equals_uninterrupted(data, tmp_path):
    X, y = data
    full = DeepStackClassifier(
        **PARAMS, callbacks=[CrashAt()], checkpoint=str(tmp_path / "full")
    ).fit(X, y)
    plain = DeepStackClassifier(**PARAMS, callbacks=[CrashAt()]).fit(X, y)
    folder = tmp_path / "run"
    CrashAt.armed = True
    try:
        with pytest.raises(Crash):
            DeepStackClassifier(
                **PARAMS, callbacks=[CrashAt()], checkpoint=str(folder)
            ).fit(X, y)
    finally:
        CrashAt.armed = False
    # Epochs 0-1 were saved; the crash came before epoch 2's checkpoint.
    assert sorted(os.listdir(folder)) == ["epoch-000002"]
    resumed = DeepStackClassifier(
        **PARAMS, callbacks=[CrashAt()], checkpoint=str(folder)
    ).fit(X, y)
    # Halvings before and after the crash, an early stop, and the best
    # weights from before the crash: all that state was resumed.
    assert len(set(full.history_["learning_rate"][2:])) > 1
    assert full.n_iter_ < PARAMS["max_epochs"] and full.best_epoch_ < 2
    assert resumed.history_ == full.history_
    assert (resumed.n_iter_, resumed.best_epoch_) == (full.n_iter_, full.best_epoch_)
    assert resumed.learning_rate_ == full.learning_rate_
    for a, b, c in zip(_weights(resumed), _weights(full), _weights(plain)):
        np.testing.assert_array_equal(a, b)  # exactly
        np.testing.assert_array_equal(b, c)  # a checkpoint changes nothing
    np.testing.assert_array_equal(resumed.predict_proba(X), full.predict_proba(X))
    # A completed fit leaves no checkpoint (nor the folder) behind.
    assert not folder.exists() and not (tmp_path / "full").exists()


@pytest.mark.parametrize("where", ["train_end", "model_fit"])
def test_resume_after_the_stop_and_on_model_fit(data, tmp_path, where):
    """A crash after the early stop's checkpoint (the resumed fit only ends:
    best weights put back); a crash under ``Model.fit`` (a per-batch
    callback, batches drawn with the fused loop's seeded permutations)."""
    X, y = data

    def callbacks():
        return [CrashAt(), *([BatchHook()] if where == "model_fit" else [])]

    full = DeepStackClassifier(
        **PARAMS, callbacks=callbacks(), checkpoint=str(tmp_path / "full")
    ).fit(X, y)
    hooks = [cb for cb in full.callbacks_ if isinstance(cb, BatchHook)]
    assert [cb.batches > 0 for cb in hooks] == ([True] if where == "model_fit" else [])
    CrashAt.armed, CrashAt.at_train_end = True, where == "train_end"
    try:
        with pytest.raises(Crash):
            DeepStackClassifier(
                **PARAMS, callbacks=callbacks(), checkpoint=str(tmp_path / "run")
            ).fit(X, y)
    finally:
        CrashAt.armed, CrashAt.at_train_end = False, False
    stopped = _state(tmp_path / "run")["stopped"]
    assert stopped == (where == "train_end")
    resumed = DeepStackClassifier(
        **PARAMS, callbacks=callbacks(), checkpoint=str(tmp_path / "run")
    ).fit(X, y)
    assert resumed.history_ == full.history_
    assert resumed.best_epoch_ == full.best_epoch_ < full.n_iter_ - 1
    for a, b in zip(_weights(resumed), _weights(full)):
        np.testing.assert_array_equal(a, b)


def test_resume_without_random_state_reuses_the_seed(data, tmp_path):
    X, y = data
    params = {**PARAMS, "random_state": None, "max_epochs": 4}
    CrashAt.armed, CrashAt.epoch = True, 2
    try:
        with pytest.raises(Crash):
            DeepStackClassifier(
                **params, callbacks=[CrashAt()], checkpoint=str(tmp_path)
            ).fit(X, y)
    finally:
        CrashAt.armed, CrashAt.epoch = False, 2
    state = _state(tmp_path)
    assert isinstance(state["seed"], int) and state["epochs_done"] == 2
    resumed = DeepStackClassifier(
        **params, callbacks=[CrashAt()], checkpoint=str(tmp_path)
    ).fit(X, y)
    assert resumed.n_iter_ == 4
    # The first epochs are the checkpoint's, not those of a new seed.
    assert resumed.history_["loss"][:2] == state["history"]["loss"]


def _state(folder):
    (name,) = [n for n in os.listdir(folder) if n.startswith("epoch-")]
    with open(os.path.join(folder, name, "state.json")) as handle:
        return json.load(handle)


def test_checkpoint_of_another_fit_is_refused(data, tmp_path):
    X, y = data
    CrashAt.armed, CrashAt.epoch = True, 1
    try:
        with pytest.raises(Crash):
            DeepStackClassifier(
                **PARAMS, callbacks=[CrashAt()], checkpoint=str(tmp_path)
            ).fit(X, y)
    finally:
        CrashAt.armed, CrashAt.epoch = False, 2
    other = {**PARAMS, "dropout": 0.1}
    with pytest.raises(ValueError, match=r"other parameters \(dropout: 0.2 then"):
        DeepStackClassifier(
            **other, callbacks=[CrashAt()], checkpoint=str(tmp_path)
        ).fit(X, y)
    with pytest.raises(ValueError, match="on other data"):
        DeepStackClassifier(
            **PARAMS, callbacks=[CrashAt()], checkpoint=str(tmp_path)
        ).fit(X + 1, y)
    with pytest.raises(ValueError, match="other parameters"):
        DeepStackRegressor(**PARAMS, checkpoint=str(tmp_path)).fit(X, y)
    # Refusing leaves the checkpoint for the fit it belongs to.
    assert os.listdir(tmp_path) == ["epoch-000001"]


def test_a_callback_with_other_settings_makes_another_fit(data, tmp_path):
    X, y = data

    def fit(patience):
        stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience)
        return DeepStackClassifier(
            **PARAMS, callbacks=[CrashAt(), stopping], checkpoint=str(tmp_path)
        ).fit(X, y)

    CrashAt.armed, CrashAt.epoch = True, 1
    try:
        with pytest.raises(Crash):
            fit(2)
    finally:
        CrashAt.armed, CrashAt.epoch = False, 2
    with pytest.raises(
        ValueError, match=r"other parameters \(callbacks: .*'patience': 2"
    ):
        fit(7)
    # The same settings resume it (past the epoch it crashed at).
    assert fit(2).n_iter_ > 1


def test_checkpoint_in_signatures():
    import inspect

    base = inspect.signature(BaseDeepStack.__init__).parameters["checkpoint"]
    assert base.default is None
    for cls in (DeepStackClassifier, DeepStackRegressor):
        assert inspect.signature(cls.__init__).parameters["checkpoint"].default is None
        assert "checkpoint" in cls.__doc__


# The fit of the children and of the parent's uninterrupted reference run.
CHILD_PARAMS = dict(
    hidden_layer_sizes=(8,),
    dropout=0.2,
    learning_rate=0.05,
    max_epochs=7,
    n_iter_no_change=4,
    lr_patience=1,
    random_state=0,
)

# The child fits (args: folder, output file, and "block" to wait for the
# parent's SIGKILL at the beginning of epoch 4, after epoch 3's checkpoint).
CHILD = textwrap.dedent(
    f"""
    import sys, threading
    import keras, numpy as np
    from sklearn.datasets import make_classification
    from deepstack import DeepStackClassifier

    folder, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]


    class Gate(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if mode == "block" and epoch == 4:
                threading.Event().wait(600)


    X, y = make_classification(n_samples=150, n_features=5, random_state=0)
    X = X.astype("float32")
    clf = DeepStackClassifier(
        **{CHILD_PARAMS!r}, callbacks=[Gate()], checkpoint=folder
    ).fit(X, y)
    np.save(out, clf.predict_proba(X))
    """
)


class Gate(keras.callbacks.Callback):
    """The children's callback when it lets the fit run."""

    def on_epoch_begin(self, epoch, logs=None):
        pass


def _child(*args):
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *map(str, args)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_sigkill_then_rerun_ends_as_uninterrupted(data, tmp_path):
    folder = tmp_path / "ck"
    victim = _child(folder, tmp_path / "never.npy", "block")
    # The uninterrupted reference runs here (the children's data is the
    # fixture's) while the victim starts: one TensorFlow start-up less.
    X, y = data
    reference = DeepStackClassifier(
        **CHILD_PARAMS, callbacks=[Gate()], checkpoint=str(tmp_path / "ref")
    ).fit(X, y)
    saved = folder / "epoch-000004" / "state.json"
    try:
        # Waits on the condition, not a clock: the victim blocks at epoch 4.
        while not saved.exists():
            assert victim.poll() is None, victim.stderr.read().decode()[-2000:]
            try:
                victim.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=60) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
    assert not (tmp_path / "never.npy").exists()
    resumed = _child(folder, tmp_path / "resumed.npy", "run")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()[-2000:]
    assert reference.n_iter_ > 4  # the kill came mid-fit, not after it
    np.testing.assert_array_equal(
        np.load(tmp_path / "resumed.npy"), reference.predict_proba(X)
    )
    assert not folder.exists() and not (tmp_path / "ref").exists()
