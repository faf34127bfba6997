"""Progress of the main job: epoch-level bars that keep the fused loop."""

import copy
import pickle

from deepstack import DeepStackClassifier, _trainer
from deepstack.datasets import load_table
from deepstack.runs import ProgressCallback, RunProgress, fit_table


def test_the_callback_has_no_batch_hooks_and_shares_its_display():
    display = RunProgress(enabled=False)
    callback = ProgressCallback(display, max_epochs=7)
    assert not _trainer.has_batch_hooks([callback])
    clone = copy.deepcopy(callback)
    assert clone.display is display and clone.max_epochs == 7
    restored = pickle.loads(pickle.dumps(callback))
    assert restored.display is None and restored.max_epochs == 7


class Recording(RunProgress):
    """A display that records what the callback tells it."""

    def __init__(self):
        super().__init__(enabled=False)
        self.events = []

    def layer_started(self, layer, n_layers, epochs):
        self.events.append(("layer", layer, n_layers, epochs))

    def layer_ended(self):
        self.events.append(("layer end",))

    def fit_started(self, max_epochs):
        self.events.append(("start", max_epochs))

    def epoch_ended(self, epoch, logs):
        self.events.append(("epoch", epoch, "val_accuracy" in logs))

    def fit_ended(self, history):
        self.events.append(("end", len(history["loss"])))


def test_a_fit_feeds_the_display_every_epoch(classification_data):
    X, y = classification_data
    display = Recording()
    clf = DeepStackClassifier(
        (8,),
        max_epochs=4,
        random_state=0,
        callbacks=[ProgressCallback(display, max_epochs=4)],
    ).fit(X, y)
    assert display.events == [
        ("start", 4),
        ("epoch", 0, True),
        ("epoch", 1, True),
        ("epoch", 2, True),
        ("epoch", 3, True),
        ("end", 4),
    ]
    assert clf.n_iter_ == 4


def test_pretraining_gets_a_bar_per_layer_and_is_not_a_fit(classification_data):
    X, y = classification_data
    display = Recording()
    clf = DeepStackClassifier(
        (8, 4),
        max_epochs=2,
        pretrain="autoencoder",
        pretrain_epochs=3,
        random_state=0,
        callbacks=[ProgressCallback(display, max_epochs=2)],
    ).fit(X, y)
    # Reconstruction losses only: no val_accuracy while pretraining.
    layer = [("epoch", e, False) for e in range(3)] + [("layer end",)]
    assert display.events == [
        ("layer", 1, 2, 3),
        *layer,
        ("layer", 2, 2, 3),
        *layer,
        ("start", 2),
        ("epoch", 0, True),
        ("epoch", 1, True),
        ("end", 2),
    ]
    # The layers' histories are the pretraining's own, three epochs each.
    assert [len(h["loss"]) for h in clf.pretraining_history_] == [3, 3]


def test_bars_and_stages_on_a_terminal(capsys):
    frame, target = load_table("wine")
    fit_table(
        frame,
        target,
        search="random",
        max_trials=2,
        time_limit=600,
        search_space={"learning_rate": [1e-2, 3e-3]},
        params={"hidden_layer_sizes": (8,), "max_epochs": 3},
        progress=True,
    )
    err = capsys.readouterr().err
    assert "DataFrame: 178 rows, 13 feature columns, task multiclass" in err
    assert "random search, 2 trials, time limit 600 s" in err
    assert "trial 1/2" in err and "trial 2/2" in err and "refit best" in err
    assert "val_accuracy" in err and "lr 0.01" in err
    assert "s left" in err


def test_quiet_when_asked(capsys):
    frame, target = load_table("wine")
    fit_table(
        frame,
        target,
        params={"hidden_layer_sizes": (8,), "max_epochs": 2},
        progress=False,
    )
    assert capsys.readouterr().err == ""
