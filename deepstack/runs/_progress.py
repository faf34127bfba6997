"""Progress on a terminal for the main job: stages, epochs, trials (rich).

Everything is drawn at epoch level: :class:`ProgressCallback` has no batch
hooks, so the fused epoch loop stays in use while the bars move.
"""

import contextlib
import math
import time

import keras

_METRICS = ("val_accuracy", "val_r2", "val_loss", "accuracy", "r2", "loss")


class RunProgress:
    """The progress display of one job: a line per stage, a bar per fit.

    Parameters
    ----------
    enabled : bool or None, default=None
        Draw bars and stage lines. None: only when standard error is a
        terminal. False: quiet (nothing is printed).
    max_trials : int, default=None
        Trials of a search, when there is one: the fits are counted as
        trials (the last fit is the refit) and the best score so far is shown.
    time_limit : float, default=None
        Seconds the training (the search, or the fit) may take; the time
        left is shown.
    """

    def __init__(self, enabled=None, *, max_trials=None, time_limit=None):
        from rich.console import Console

        self.console = Console(stderr=True)
        self.enabled = self.console.is_terminal if enabled is None else bool(enabled)
        self.max_trials = max_trials
        self.time_limit = time_limit
        self._progress = None
        self._task = None
        self._fits = 0
        self._best = None
        self._started = None

    def __enter__(self):
        self._started = time.monotonic()
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc_info):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        return False

    def stage(self, message):
        """One line saying what the job does now."""
        if not self.enabled:
            return
        if self._progress is not None:
            self._progress.console.print(f"[bold]>[/bold] {message}")
        else:
            self.console.print(f"> {message}")

    # Called by ProgressCallback.
    def fit_started(self, max_epochs):
        self._fits += 1
        if self._progress is None:
            return
        # Finished fits stay on screen: one line per trial, then the refit.
        self._task = self._progress.add_task(
            self._fit_label(), total=max_epochs, status=""
        )

    def epoch_ended(self, epoch, logs):
        logs = logs or {}
        if self._progress is None or self._task is None:
            return
        parts = []
        for key in _METRICS:
            value = logs.get(key)
            if value is not None and math.isfinite(float(value)):
                parts.append(f"{key} {float(value):.4g}")
                break
        rate = logs.get("learning_rate")
        if rate is not None:
            parts.append(f"lr {float(rate):.2g}")
        self._progress.update(self._task, completed=epoch + 1, status="  ".join(parts))

    def fit_ended(self, history):
        score = _best_of(history)
        if score is not None and (self._best is None or score[1] > self._best[1]):
            self._best = score
        self._close_bar()

    def layer_started(self, layer, n_layers, epochs):
        """A bar for the pretraining of one hidden layer (not a trial)."""
        if self._progress is None:
            return
        label = f"pretrain layer {layer}/{n_layers}"
        if self.max_trials and self._fits < self.max_trials:
            label = f"trial {self._fits + 1}/{self.max_trials} {label}"
        self._task = self._progress.add_task(label, total=epochs, status="")

    def layer_ended(self):
        self._close_bar()

    def _close_bar(self):
        # A fit that stopped early: the bar ends where the fit ended.
        if self._progress is not None and self._task is not None:
            task = next(t for t in self._progress.tasks if t.id == self._task)
            self._progress.update(self._task, total=task.completed)

    def _fit_label(self):
        if self.max_trials and self._fits > self.max_trials:
            return "refit best"
        label = "fit"
        if self.max_trials:
            label = f"trial {self._fits}/{self.max_trials}"
            if self._best is not None:
                label += f" (best {self._best[0]} {abs(self._best[1]):.4g})"
        if self.time_limit is not None:
            left = self.time_limit - (time.monotonic() - self._started)
            label += f" {max(left, 0.0):.0f}s left"
        return label


def _best_of(history):
    """(name, score to maximize) of the best epoch of one fit, or None."""
    for key in _METRICS:
        values = [v for v in history.get(key, []) if math.isfinite(v)]
        if values:
            if key.endswith("loss"):
                return key, -min(values)
            return key, max(values)
    return None


class ProgressCallback(keras.callbacks.Callback):
    """Feeds a :class:`RunProgress` at the end of each epoch.

    Deep copies (an estimator copies its callbacks for every fit) share the
    display; pickled copies leave it behind. It also follows pretraining
    (``pretraining = True``): each hidden layer's autoencoder gets a bar of
    its own, which neither counts as a trial nor as a fit.

    Parameters
    ----------
    display : RunProgress
    max_epochs : int
        The epochs a fit may run (the bar's length).
    """

    pretraining = True

    def __init__(self, display=None, max_epochs=None):
        super().__init__()
        self.display = display
        self.max_epochs = max_epochs
        self._layer = None

    def __deepcopy__(self, memo):
        return type(self)(self.display, self.max_epochs)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["display"] = None
        return state

    def on_pretrain_layer_begin(self, layer, n_layers, epochs):
        self._layer = (layer, n_layers, epochs)

    def on_train_begin(self, logs=None):
        self._history = {}
        if self.display is None:
            return
        if self._layer is not None:
            self.display.layer_started(*self._layer)
        else:
            self.display.fit_started(self.max_epochs)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        for key, value in logs.items():
            self._history.setdefault(key, []).append(float(value))
        if self.display is not None:
            self.display.epoch_ended(epoch, logs)

    def on_train_end(self, logs=None):
        layer, self._layer = self._layer, None
        if self.display is None:
            return
        if layer is not None:
            self.display.layer_ended()
        else:
            self.display.fit_ended(self._history)


@contextlib.contextmanager
def row_progress(enabled, description, total=None):
    """Yield ``advance(n_rows)``: a line on standard error counting the rows
    done (a bar when their total is known: ``total()``, called only when
    the line is drawn), for work done a chunk of rows at a time.
    ``enabled`` as for :class:`RunProgress`."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    if not (console.is_terminal if enabled is None else enabled):
        yield lambda n_rows: None
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task(description, total=total and total())
        yield lambda n_rows: progress.advance(task, n_rows)
