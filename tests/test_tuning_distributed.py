"""DeepStackSearch across processes: resuming a killed search, distributed mode.

Both tests start Python subprocesses running small scripts; every wait is
bounded and every process started here is killed in ``finally``.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sklearn.datasets import make_classification

from deepstack import DeepStackClassifier, DeepStackSearch, Float

pytestmark = pytest.mark.slow

WAIT_SECONDS = 300
DATA = "make_classification(n_samples=120, n_features=6, random_state=0)"
ESTIMATOR = "((4,), max_epochs=1, batch_size=64, random_state=0)"
SPACE = '{"learning_rate": Float(1e-3, 1e-1, log=True)}'

HEADER = f"""\
import json, os, signal, sys, time
from sklearn.datasets import make_classification
from deepstack import DeepStackClassifier, DeepStackSearch, Float
X, y = {DATA}
"""

RESUMABLE = HEADER + textwrap.dedent(
    f"""
    directory, marks = sys.argv[1], sys.argv[2]

    class StopsInThirdTrial(DeepStackClassifier):
        def fit(self, X, y, **kwargs):
            n = len(os.listdir(marks))
            open(os.path.join(marks, f"fit{{n}}"), "w").close()
            if n == 2:
                signal.pause()  # block until the test kills the process
            return super().fit(X, y, **kwargs)

    DeepStackSearch(
        StopsInThirdTrial{ESTIMATOR}, {SPACE}, tuner="random", max_trials=3,
        refit=False, directory=directory, overwrite=False, random_state=0,
    ).fit(X, y)
    """
)

DISTRIBUTED = HEADER + textwrap.dedent(
    f"""
    rendezvous, out = sys.argv[1], sys.argv[2]

    class Rendezvous(DeepStackClassifier):
        # Each worker's trial waits until both workers hold one, so the
        # trials are split across both however fast each process starts.
        def fit(self, X, y, **kwargs):
            me = os.environ["KERASTUNER_TUNER_ID"]
            open(os.path.join(rendezvous, me), "w").close()
            deadline = time.time() + 120
            while len(os.listdir(rendezvous)) < 2 and time.time() < deadline:
                time.sleep(0.05)
            return super().fit(X, y, **kwargs)

    search = DeepStackSearch(
        Rendezvous{ESTIMATOR}, {SPACE}, tuner="random", max_trials=2,
        refit=False, random_state=0,
    ).fit(X, y)
    with open(out, "w") as handle:
        json.dump(
            {{
                "role": search.role_,
                "trial_id": search.results_["trial_id"],
                "status": search.results_["status"],
                "score": search.results_["score"],
            }},
            handle,
        )
    """
)


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **extra)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def _start(script, args, log, **env):
    with open(log, "w") as handle:
        return subprocess.Popen(
            [sys.executable, str(script), *map(str, args)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=_env(**env),
        )


def _stop(processes):
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def _wait_for(path, process, log):
    deadline = time.monotonic() + WAIT_SECONDS
    while not os.path.exists(path):
        if process.poll() is not None:
            pytest.fail(f"search exited early:\n{Path(log).read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {path}")
        time.sleep(0.1)


class CountingClassifier(DeepStackClassifier):
    fits = []

    def fit(self, X, y, **kwargs):
        CountingClassifier.fits.append(self.learning_rate)
        return super().fit(X, y, **kwargs)


def test_killed_search_resumes_from_finished_trials(tmp_path):
    directory, marks = tmp_path / "search", tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "resumable.py"
    script.write_text(RESUMABLE)
    log = tmp_path / "child.log"
    child = _start(script, [directory, marks], log)
    try:
        _wait_for(marks / "fit2", child, log)
    finally:
        _stop([child])
    assert child.returncode != 0  # killed, not finished

    trials = {}
    for path in (directory / "deepstack_search").glob("trial_*/trial.json"):
        state = json.loads(path.read_text())
        trials[state["trial_id"]] = state
    finished = {k: t["score"] for k, t in trials.items() if t["status"] == "COMPLETED"}
    assert len(finished) == 2
    (interrupted,) = [k for k, t in trials.items() if t["status"] == "RUNNING"]

    CountingClassifier.fits.clear()
    X, y = make_classification(n_samples=120, n_features=6, random_state=0)
    search = DeepStackSearch(
        CountingClassifier((4,), max_epochs=1, batch_size=64, random_state=0),
        {"learning_rate": Float(1e-3, 1e-1, log=True)},
        tuner="random",
        max_trials=3,
        refit=False,
        directory=str(directory),
        overwrite=False,
        random_state=0,
    ).fit(X, y)

    # Only the interrupted trial ran again; the finished ones kept their scores.
    assert len(CountingClassifier.fits) == 1
    results = search.results_
    assert results["status"] == ["COMPLETED"] * 3
    for trial_id, score in finished.items():
        assert results["score"][results["trial_id"].index(trial_id)] == score
    row = results["trial_id"].index(interrupted)
    assert CountingClassifier.fits[0] == results["param_learning_rate"][row]


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_distributed_search_chief_and_two_workers(tmp_path):
    script = tmp_path / "distributed.py"
    script.write_text(DISTRIBUTED)
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir()
    address = {
        "KERASTUNER_ORACLE_IP": "127.0.0.1",
        "KERASTUNER_ORACLE_PORT": str(_free_port()),
    }
    roles = ("chief", "tuner0", "tuner1")
    processes = {}
    try:
        for role in roles:
            processes[role] = _start(
                script,
                [rendezvous, tmp_path / f"{role}.json"],
                tmp_path / f"{role}.log",
                KERASTUNER_TUNER_ID=role,
                **address,
            )
        for role in ("tuner0", "tuner1", "chief"):
            processes[role].wait(timeout=WAIT_SECONDS)
    finally:
        _stop(processes.values())
    for role in roles:
        log = (tmp_path / f"{role}.log").read_text()[-3000:]
        assert processes[role].returncode == 0, f"{role} failed:\n{log}"

    out = {role: json.loads((tmp_path / f"{role}.json").read_text()) for role in roles}
    chief, workers = out["chief"], [out["tuner0"], out["tuner1"]]
    assert chief["role"] == "chief"
    assert chief["status"] == ["COMPLETED"] * 2
    assert [w["role"] for w in workers] == ["worker", "worker"]
    ran = [set(w["trial_id"]) for w in workers]
    assert all(ran), f"a worker ran no trial: {ran}"
    assert not ran[0] & ran[1]
    assert ran[0] | ran[1] == set(chief["trial_id"])
    scores = dict(zip(chief["trial_id"], chief["score"]))
    for worker in workers:
        for trial_id, score in zip(worker["trial_id"], worker["score"]):
            assert scores[trial_id] == pytest.approx(score)
