"""Ctrl-C in the middle of fit, with a real SIGINT sent to a child process."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tests.conftest import default_sigint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The child runs the scenarios named in its first argument one after the
# other (one TensorFlow start for them all) and reports on each; ``Gate``
# lets the parent time its SIGINT: it writes a file when the chosen epoch
# begins (and then blocks, waiting for the signal) or ends.
CHILD = textwrap.dedent(
    """
    import json, signal, sys, threading, warnings
    import keras, numpy as np
    from sklearn.datasets import make_classification
    from sklearn.exceptions import NotFittedError
    from deepstack import DeepStackClassifier, DeepStackSearch, Float

    scenarios, prefix = sys.argv[1].split(","), sys.argv[2]
    COUNT = {}


    def signal_me():
        COUNT[SCENARIO] = COUNT.get(SCENARIO, 0) + 1
        open(f"{prefix}-{SCENARIO}.{COUNT[SCENARIO]}", "w").close()

    X, y = make_classification(n_samples=200, n_features=6, random_state=0)
    X = X.astype("float32")
    SNAPSHOTS = []
    GATE = {"block_at_end": None, "signal_after": None}


    class Gate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == GATE["block_at_end"]:
                # The epoch has trained (a warm start has changed the
                # weights in place) but not ended: the SIGINT arrives here.
                signal_me()
                threading.Event().wait(120)
            SNAPSHOTS.append([w.copy() for w in self.model.get_weights()])
            if epoch == GATE["signal_after"]:
                signal_me()
                # Train on only once the handler has seen the signal: a fast
                # epoch loop could otherwise finish before a loaded machine
                # delivers it.
                stopper = getattr(signal.getsignal(signal.SIGINT), "__self__", None)
                for _ in range(12000):
                    if getattr(stopper, "interrupted", True):
                        break
                    threading.Event().wait(0.01)


    def make(**params):
        defaults = dict(
            hidden_layer_sizes=(8,), batch_norm=False, max_epochs=3,
            n_iter_no_change=10**6, random_state=0, callbacks=[Gate()],
        )
        return DeepStackClassifier(**{**defaults, **params})


    def state(est):
        return {
            "n_iter": est.n_iter_,
            "history": est.history_,
            "best_epoch": est.best_epoch_,
            "weights": [w.tolist() for w in est.model_.get_weights()],
            "proba": est.predict_proba(X).tolist(),
        }


    def raised_interrupt(clf):
        # Fit clf; whether the fit raised KeyboardInterrupt.
        try:
            clf.fit(X, y)
        except KeyboardInterrupt:
            return True
        return False


    def interrupted_search():
        trials = [0]

        class Wait(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                trials[0] += 1

            def on_epoch_end(self, epoch, logs=None):
                # Past the first epoch, where a plain fit would only stop early.
                if epoch == 1:
                    signal_me()
                    threading.Event().wait(120)

        X, y = make_classification(n_samples=120, n_features=5, random_state=0)
        try:
            DeepStackSearch(
                DeepStackClassifier(
                    (4,), max_epochs=5, random_state=0, callbacks=[Wait()]
                ),
                {"learning_rate": Float(1e-3, 1e-1, log=True)},
                tuner="random",
                max_trials=3,
                random_state=0,
            ).fit(X.astype("float32"), y)
            return {"stopped": False, "trials": trials[0]}
        except KeyboardInterrupt:
            return {"stopped": True, "trials": trials[0]}


    def run(scenario):
        GATE.update(block_at_end=None, signal_after=None)
        SNAPSHOTS.clear()
        report = {}
        if scenario == "epoch_boundary":
            for warm in (False, True):
                clf = make(warm_start=warm)
                before = 0
                if warm:
                    clf.fit(X, y)
                    before = clf.n_iter_
                    SNAPSHOTS.clear()
                clf.set_params(max_epochs=10**6)
                GATE["signal_after"] = 3
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    clf.fit(X, y)
                GATE["signal_after"] = None
                report[str(warm)] = {
                    "warnings": [str(w.message) for w in caught],
                    "before": before,
                    "epochs_run": len(SNAPSHOTS),
                    "n_iter": clf.n_iter_,
                    "lengths": sorted({len(v) for v in clf.history_.values()}),
                    "best_epoch": clf.best_epoch_,
                    "best_val_loss_is_min": bool(
                        clf.history_["val_loss"][clf.best_epoch_]
                        <= min(clf.history_["val_loss"][before:]) + 1e-4
                    ),
                    "weights_are_best": all(
                        np.array_equal(a, b)
                        for a, b in zip(
                            clf.model_.get_weights(),
                            SNAPSHOTS[clf.best_epoch_ - before],
                        )
                    ),
                }
        elif scenario == "search":
            report = interrupted_search()
        elif scenario == "fresh":
            clf = make()
            GATE["block_at_end"] = 0
            report["raised"] = raised_interrupt(clf)
            try:
                clf.predict(X)
                report["fitted"] = True
            except NotFittedError:
                report["fitted"] = False
            report["attributes"] = sorted(k for k in vars(clf) if k.endswith("_"))
        else:  # "warm_start" or "refit": interrupted in the call's first epoch
            clf = make(warm_start=scenario == "warm_start").fit(X, y)
            before = state(clf)
            model = clf.model_
            GATE["block_at_end"] = 0
            report["raised"] = raised_interrupt(clf)
            report["same_model"] = clf.model_ is model
            report["unchanged"] = state(clf) == before
            GATE["block_at_end"] = None
            clf.set_params(warm_start=True).fit(X, y)  # and it trains on
            report["continued"] = clf.n_iter_ == before["n_iter"] + 3
        return report


    reports = {}
    for SCENARIO in scenarios:
        reports[SCENARIO] = run(SCENARIO)
    print("REPORT" + json.dumps(reports))
    """
)


def _run_and_interrupt(scenarios, tmp_path):
    """Run the child; send it SIGINT each time it writes a new ready file.

    Returns its report and the names of the ready files signalled.
    """
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2"}
    # Files, not pipes: a chatty child would fill a pipe nobody reads yet.
    out_file, err_file = tmp_path / "out.txt", tmp_path / "err.txt"
    with open(out_file, "w") as out, open(err_file, "w") as err:
        child = subprocess.Popen(
            [sys.executable, str(script), scenarios, str(tmp_path / "ready")],
            stdout=out,
            stderr=err,
            env=env,
            preexec_fn=default_sigint,
        )
    sent = set()
    deadline = time.monotonic() + 240
    while True:
        try:
            child.wait(timeout=0.05)
            break
        except subprocess.TimeoutExpired:
            pass
        for ready in sorted(tmp_path.glob("ready*")):
            if ready.name not in sent:
                sent.add(ready.name)
                child.send_signal(signal.SIGINT)
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail("the child did not end")
    assert child.returncode == 0, err_file.read_text()[-3000:]
    line = next(x for x in out_file.read_text().splitlines() if x.startswith("REPORT"))
    return json.loads(line[len("REPORT") :]), sent


@pytest.fixture(scope="module")
def interrupted_fits(tmp_path_factory):
    """The reports of the five ``CHILD`` scenarios, run in one child process
    (TensorFlow starts once, not five times), and the signals sent in each."""
    scenarios = ("epoch_boundary", "fresh", "warm_start", "refit", "search")
    folder = tmp_path_factory.mktemp("interrupted_fits")
    reports, sent = _run_and_interrupt(",".join(scenarios), folder)
    signals = {s: sum(n.startswith(f"ready-{s}.") for n in sent) for s in scenarios}
    assert sum(signals.values()) == len(sent)
    return reports, signals


# The tests that share the child run in the same xdist worker.
@pytest.mark.xdist_group("interrupted_fits")
def test_sigint_stops_at_the_epoch_boundary_with_consistent_attributes(
    interrupted_fits,
):
    reports, signals = interrupted_fits
    assert signals["epoch_boundary"] == 2
    for warm, run in reports["epoch_boundary"].items():
        assert any("interrupted (Ctrl-C)" in w for w in run["warnings"]), run
        # It stopped soon after the signal (sent after the 4th epoch) ...
        assert 4 <= run["epochs_run"] < 10**6
        # ... and every attribute describes the weights it kept.
        assert run["n_iter"] == run["before"] + run["epochs_run"]
        assert run["lengths"] == [run["n_iter"]]
        assert run["before"] <= run["best_epoch"] < run["n_iter"]
        assert run["best_val_loss_is_min"]
        assert run["weights_are_best"], warm


@pytest.mark.xdist_group("interrupted_fits")
@pytest.mark.parametrize("scenario", ["fresh", "warm_start", "refit"])
def test_sigint_before_the_first_epoch_ends_undoes_the_call(scenario, interrupted_fits):
    reports, signals = interrupted_fits
    report = reports[scenario]
    assert signals[scenario] == 1
    assert report["raised"] is True
    if scenario == "fresh":
        assert report["fitted"] is False
        assert report["attributes"] == []
    else:
        assert report["same_model"] is True
        assert report["unchanged"] is True
        assert report["continued"] is True


SEARCH = textwrap.dedent(
    """
    import os, sys, threading
    import keras
    from sklearn.datasets import make_classification
    from deepstack import DeepStackClassifier, DeepStackSearch, Float

    pid_file = sys.argv[1]


    class Hang(keras.callbacks.Callback):
        # Runs in the worker: says who it is, then trains "forever".
        def on_epoch_end(self, epoch, logs=None):
            with open(pid_file + ".tmp", "w") as handle:
                handle.write(str(os.getpid()))
            os.replace(pid_file + ".tmp", pid_file)
            threading.Event().wait(600)


    X, y = make_classification(n_samples=120, n_features=5, random_state=0)
    DeepStackSearch(
        DeepStackClassifier((4,), max_epochs=2, random_state=0, callbacks=[Hang()]),
        {"learning_rate": Float(1e-3, 1e-1, log=True)},
        max_trials=1,
        trials_per_process=1,
        random_state=0,
    ).fit(X.astype("float32"), y)
    """
)


def _alive(pid):
    """Whether ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc (Linux)")
def test_worker_exits_when_the_search_is_killed(tmp_path):
    script = tmp_path / "search.py"
    script.write_text(SEARCH)
    pid_file = tmp_path / "worker.pid"
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2"}
    # The search's scratch folder, which a killed process cannot remove: in
    # the test's folder, not the machine's.
    env["TMPDIR"] = str(tmp_path)
    search = subprocess.Popen(
        [sys.executable, str(script), str(pid_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.monotonic() + 240
    while not pid_file.exists():
        assert search.poll() is None, search.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "the worker never started its trial"
        try:
            search.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass
    worker = int(pid_file.read_text())
    assert worker != search.pid and _alive(worker)
    search.kill()
    search.wait(timeout=60)
    search.stderr.close()
    # The worker notices within its polling interval (0.5 s); allow 30 s.
    gone = _poll(lambda: not _alive(worker), timeout=30)
    if not gone:
        os.kill(worker, signal.SIGKILL)
    assert gone, "the trial worker outlived the killed search"


def _poll(condition, timeout, interval=0.05):
    """Whether ``condition()`` became true within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        pause.wait(interval)
    return True


@pytest.mark.xdist_group("interrupted_fits")
def test_sigint_stops_a_search_not_just_its_trial(interrupted_fits):
    reports, signals = interrupted_fits
    assert signals["search"] == 1
    assert reports["search"] == {"stopped": True, "trials": 1}


def test_checked_interrupts_raise_where_checked():
    # The handler only notes a first SIGINT (one raised inside a garbage
    # collector callback would be dropped); the check raises it. A second
    # raises at once; the usual handler is back afterwards.
    code = textwrap.dedent(
        """
        import os, signal
        from deepstack._interrupt import checked_interrupts

        said = []
        with checked_interrupts() as check:
            os.kill(os.getpid(), signal.SIGINT)
            said.append("noted")
            try:
                check()
            except KeyboardInterrupt:
                said.append("raised at the check")
        with checked_interrupts() as check:
            os.kill(os.getpid(), signal.SIGINT)
            try:
                os.kill(os.getpid(), signal.SIGINT)
            except KeyboardInterrupt:
                said.append("raised by the second")
        said.append(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
        print(said)
        """
    )
    expected = "['noted', 'raised at the check', 'raised by the second', True]"
    assert _printed(code) == expected


@pytest.mark.parametrize("handler", ["hard_interrupts", "safe_interrupts"])
def test_a_sigint_landing_in_a_garbage_collector_callback_is_not_lost(handler):
    # Python drops an exception raised inside a gc callback (jax registers
    # one, and TensorFlow imports jax where it is installed): the handlers
    # (a search's; the console command's) deliver the signal again, to raise
    # once the callback has returned.
    code = textwrap.dedent(
        """
        import gc, os, signal, threading
        from deepstack._interrupt import _may_install, HANDLER as interrupts

        armed = [True]

        def callback(phase, info):
            if phase == "start" and armed:
                armed.clear()
                os.kill(os.getpid(), signal.SIGINT)  # handled in this frame
                for _ in range(1000):
                    pass

        gc.callbacks.append(callback)
        said = []
        with interrupts():
            # A fit may install its epoch-end stop under the command's handler,
            # not under a search's.
            said.append(_may_install())
            try:
                gc.collect()
                # Waits for nothing but the re-delivered interrupt.
                threading.Event().wait(2)
                said.append("lost")
            except KeyboardInterrupt:
                said.append("raised after the callback")
        print(said)
        """
    ).replace("HANDLER", handler)
    installs = handler == "safe_interrupts"
    assert _printed(code) == f"[{installs}, 'raised after the callback']"


def _printed(code):
    """What the Python ``code`` prints, run in a child with the usual SIGINT
    (it must end well, and say nothing of an exception it dropped)."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        preexec_fn=default_sigint,
    )
    assert result.returncode == 0, result.stderr
    assert "Exception ignored" not in result.stderr
    return result.stdout.strip()
