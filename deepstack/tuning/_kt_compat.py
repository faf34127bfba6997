"""Every use of keras-tuner beyond its public API, in one place.

deepstack drives keras-tuner's oracles directly. Four things it needs have
no public entry point, so they live here, behind :func:`check_keras_tuner`:

- the first trial of a search is the estimator's own configuration (as
  Optuna's ``enqueue_trial``): keras-tuner draws the values of every new
  random, Bayesian-initial or Hyperband-bracket trial in
  ``Oracle._random_values``, which :class:`_Controls` overrides;
- a time budget: no trial starts after a deadline (``populate_space``, the
  public hook that oracles implement, answers ``STOPPED``), and Bayesian
  optimization's proposals checked against the trials so far
  (``Oracle._duplicate``, as keras-tuner checks its random draws);
- a failed trial's traceback: keras-tuner prints it whenever the ``DEBUG``
  flag of its settings module is on (the default;
  ``deepstack._compat.keras_tuner_config``); the search
  keeps each trial's error in ``results_`` and warns once instead
  (:func:`quiet_failed_trials`); at ``verbose > 0`` its display
  (``deepstack._compat.tuner_display``, the oracle's ``_display``) printed
  "Trial N Complete" for a failed trial too, so :class:`_Controls` gives each
  oracle a :class:`_TrialDisplay`, which says the trial failed and why;
- the distributed chief: keras-tuner's ``oracle_chief.start_server`` polls
  every 20 seconds once the search is over; :func:`serve` uses the same
  servicer (``deepstack._compat.oracle_service``) and
  polls every fraction of a second.

``HyperbandOracle`` takes no ``max_trials`` but the base ``Oracle`` honours
the attribute: :func:`make_oracle` sets it (a public attribute, documented
on ``Oracle``).

``tests/test_tuning.py::test_keras_tuner_internals_are_there`` fails loudly
when a keras-tuner release drops one of these.
"""

import contextlib
import datetime
import functools
import os
import time

import keras_tuner

from deepstack._compat import keras_tuner_config, oracle_service, tuner_display

# Releases whose internals this module was written against and tested with.
TESTED_VERSIONS = ((1, 4, 7), (1, 4, 8))
_POLL_SECONDS = 0.2
ORACLES = {
    "random": keras_tuner.oracles.RandomSearchOracle,
    "grid": keras_tuner.oracles.GridSearchOracle,
    "bayesian": keras_tuner.oracles.BayesianOptimizationOracle,
    "hyperband": keras_tuner.oracles.HyperbandOracle,
}


def _version():
    parts = []
    for part in keras_tuner.__version__.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def missing_internals():
    """Names of the keras-tuner internals used here that this release lacks."""
    missing = []
    oracle = keras_tuner.Oracle
    for name in ("_random_values", "_duplicate", "populate_space", "create_trial"):
        if not callable(getattr(oracle, name, None)):
            missing.append(f"keras_tuner.Oracle.{name}")
    for cls in ORACLES.values():
        if "populate_space" not in vars(cls):
            missing.append(f"{cls.__name__}.populate_space")
    display = tuner_display()
    if display is None or not callable(getattr(display, "on_trial_end", None)):
        missing.append("keras-tuner's oracle Display.on_trial_end")
    if not isinstance(getattr(keras_tuner_config(), "DEBUG", None), bool):
        missing.append("keras-tuner's config.DEBUG")
    grid = ORACLES["grid"](
        objective=keras_tuner.Objective("score", "max"), max_trials=1
    )
    if not isinstance(getattr(grid, "_populate_next", None), list):
        missing.append("GridSearchOracle._populate_next")
    if display is not None and not isinstance(getattr(grid, "_display", None), display):
        missing.append("keras_tuner.Oracle._display")
    try:
        protos, oracle_chief = oracle_service()
    except ImportError as error:
        missing.append(f"keras-tuner's oracle service modules ({error})")
    else:
        for owner, name in (
            (oracle_chief, "OracleServicer"),
            (oracle_chief, "exit_chief"),
            (protos, "get_service_grpc"),
        ):
            if not hasattr(owner, name):
                missing.append(f"{owner.__name__}.{name}")
    return missing


@functools.cache
def check_keras_tuner():
    """Raise ``ImportError`` when keras-tuner lacks an internal used here."""
    missing = missing_internals()
    if _version() < TESTED_VERSIONS[0]:
        missing.insert(0, f"a release >= {'.'.join(map(str, TESTED_VERSIONS[0]))}")
    if missing:
        tested = ", ".join(".".join(map(str, v)) for v in TESTED_VERSIONS)
        raise ImportError(
            f"deepstack's tuning needs keras-tuner internals that keras-tuner "
            f"{keras_tuner.__version__} does not have: {missing}. It was tested "
            f"with keras-tuner {tested}"
            "; install one of those (pip install 'keras-tuner==1.4.8')."
        )


@contextlib.contextmanager
def quiet_failed_trials():
    """keras-tuner prints no traceback for a failed trial in this block (the
    search records each trial's error itself)."""
    config = keras_tuner_config()
    before = config.DEBUG
    config.DEBUG = False
    try:
        yield
    finally:
        config.DEBUG = before


class _TrialDisplay(tuner_display() or object):
    """keras-tuner's trial display, honest about trials that did not complete.

    keras-tuner's ``Display.on_trial_end`` prints "Trial N Complete" whatever
    the trial's status; a failed trial (its fit raised) gets "Trial N failed"
    with the error's last line (the search keeps the whole traceback in
    ``results_["error"]``), and an invalid one (a NaN score) says so. A
    completed trial is shown as keras-tuner shows it.
    """

    def on_trial_end(self, trial):
        status = str(trial.status)
        if self.verbose < 1 or status not in ("FAILED", "INVALID"):
            return super().on_trial_end(trial)
        taken = self.format_duration(
            datetime.datetime.now() - self.trial_start[trial.trial_id]
        )
        number = self.trial_number[trial.trial_id]
        if status == "FAILED":
            lines = [line for line in (trial.message or "").splitlines() if line]
            why = lines[-1].strip() if lines else "no error message"
            print(f"Trial {number} failed [{taken}]: {why}")
        else:
            print(f"Trial {number} invalid [{taken}]: its score is NaN")
        return None


class _Controls:
    """Mixed into each oracle: a first trial given up front and a deadline,
    and :class:`_TrialDisplay` as its display.

    ``first_values``: the hyperparameter values of the first trial (None:
    draw it like the others). ``deadline``: a ``time.time()`` after which no
    trial starts (None: no limit); ``deadline_reached`` says whether it cut
    the search.
    """

    first_values = None
    deadline = None
    deadline_reached = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._display = _TrialDisplay(oracle=self, verbose=self._display.verbose)

    def populate_space(self, trial_id):
        if self.deadline is not None and time.time() >= self.deadline:
            self.deadline_reached = True
            return {"status": "STOPPED", "values": None}
        return super().populate_space(trial_id)

    def _random_values(self):
        first = self.first_values
        if first is not None and not self.start_order and not self._duplicate(first):
            return dict(first)
        return super()._random_values()


class _GridControls(_Controls):
    """Grid search that hands out the next grid point while trials run.

    keras-tuner derives each grid point from a finished trial's values (it
    queues a trial id in ``_populate_next`` when the trial ends), so parallel
    workers would wait for one another. Queuing each trial as it starts gives
    the same points in the same order, without the wait.
    """

    def populate_space(self, trial_id):
        response = super().populate_space(trial_id)
        if response.get("status") == "RUNNING" and trial_id not in (
            self._populate_next
        ):
            self._populate_next.append(trial_id)
        return response


class _BayesianControls(_Controls):
    """Bayesian optimization that never proposes a trial it has run.

    keras-tuner checks its random draws against the trials so far
    (``_random_values``), but not the Gaussian process's proposal, which on a
    small or discrete space often lands on a point already tried: the trial
    would fit the same network again. Such a proposal is replaced by a random
    draw (the search stops when none is left).
    """

    def populate_space(self, trial_id):
        response = super().populate_space(trial_id)
        values = response.get("values")
        if response.get("status") == "RUNNING" and values and self._duplicate(values):
            values = self._random_values()
            if values is None:
                return {"status": "STOPPED", "values": None}
            response = {**response, "values": values}
        return response


_CONTROLS = {"grid": _GridControls, "bayesian": _BayesianControls}
_CONTROLLED = {
    kind: type(
        cls.__name__,
        (_CONTROLS.get(kind, _Controls), cls),
        {"__module__": __name__},
    )
    for kind, cls in ORACLES.items()
}


def controlled_oracle(kind, **kwargs):
    """An oracle of ``kind`` with :class:`_Controls`' first trial and deadline."""
    check_keras_tuner()
    max_trials = kwargs.pop("max_trials", None)
    if kind == "hyperband":
        oracle = _CONTROLLED[kind](**kwargs)
        # HyperbandOracle takes no max_trials, but the base Oracle honours it.
        oracle.max_trials = max_trials
        return oracle
    return _CONTROLLED[kind](max_trials=max_trials, **kwargs)


def serve(oracle):
    """Serve ``oracle`` to the workers until the search is over.

    keras-tuner's own chief loop polls every 20 seconds once the search is
    exhausted; this one polls every fraction of a second, so the chief returns
    as soon as the last worker has reported.
    """
    from concurrent import futures

    import grpc

    protos, oracle_chief = oracle_service()

    ip_addr = os.environ["KERASTUNER_ORACLE_IP"]
    port = os.environ["KERASTUNER_ORACLE_PORT"]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    server.add_insecure_port(f"{ip_addr}:{port}")
    server.start()
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(_POLL_SECONDS)
    finally:
        # Let the last worker's reply go out before the port closes.
        server.stop(grace=1.0).wait()
