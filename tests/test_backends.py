"""The fused training loop on the JAX backend.

Keras picks its backend once, at import, so the tests whose outcome depends on
the backend run again in a fresh interpreter with ``KERAS_BACKEND=jax``:
everything in tests/test_trainer.py (the fused loop itself; its first test
checks that the backend is the one named), the weight snapshots, the
callbacks that act on the compiled step from outside (best-weight restore,
learning-rate halving, the divergence check, batch-norm statistics), and the
compile cache's bit-identity and trace counts (JAX specializes each jitted
epoch on shapes), and the gradient check (finite differences in float32, as
Keras computes float64 on JAX). The rest of those files is plain Python over
the same seam (argument checks, cache bookkeeping, scikit-learn glue) and runs
once, here.
Last, JAX's persistent compilation cache across two fresh processes.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

_CONTROL = "tests/test_training_control.py::test_"
_CACHE = "tests/test_compile_cache.py::test_"
_GRADIENTS = "tests/test_diagnostics.py::test_check_gradients_"

# One interpreter for them all: a fresh one pays the imports and JAX's first
# compilations again (three, one a file, took about 20 s more).
UNDER_JAX = [
    "tests/test_trainer.py",
    "tests/test_callbacks.py::test_snapshots_survive_training_and_restore_exactly",
    _CONTROL + "early_stopping_stops_at_best_plus_patience_and_keeps_best_weights",
    _CONTROL + "halving_stops_after_max_halvings",
    _CONTROL + "huge_learning_rate_raises_with_remedy_and_undoes_the_fit",
    _CONTROL + "population_statistics_after_fit",
    _CACHE + "cached_fit_is_bit_identical_to_an_uncached_one",
    _CACHE + "one_trace_across_the_folds_of_a_cross_validation",
    _CACHE + "warm_start_and_partial_fit_match_the_uncached_run",
    # Keras's dropout draws, under jax.jit too.
    "tests/test_layers.py::test_rate_dropout_draws_what_keras_dropout_draws",
    # Finite differences in float32 (Keras's float64 on JAX).
    _GRADIENTS + "catches_a_wrong_backward_pass",
    _GRADIENTS + "passes_estimator_with_dropout_and_batch_norm",
    _GRADIENTS + "covers_tied_decoder",
]


@pytest.fixture(scope="module")
def jax_compilation_cache(tmp_path_factory):
    """A folder for JAX's persistent compilation cache.

    Many of these tests fit the same network twice on purpose (cached against
    uncached, one device against two): XLA then compiles the same program
    again, unless its persistent cache serves the second compilation. That
    changes no result (an executable is reused only for the same program) nor
    what the tests count (traces happen in Python, before XLA), and saves
    about a third of the compile-cache tests' time.
    """
    return tmp_path_factory.mktemp("jax_compilation_cache")


def test_training_tests_pass_under_jax(jax_compilation_cache):
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "PYTHONHASHSEED": "0",
        "JAX_COMPILATION_CACHE_DIR": str(jax_compilation_cache),
        # Every compilation, however small or quick.
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            *UNDER_JAX,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    summary = output.strip().splitlines()[-1]
    # Every test passed: none failed, skipped or was deselected.
    assert re.fullmatch(r"=*\s*\d+ passed in [\d.]+s.*", summary), summary


_FIT_AND_SAVE = """
import sys
import numpy as np
from sklearn.datasets import load_digits
from deepstack import DeepStackClassifier
X, y = load_digits(return_X_y=True)
clf = DeepStackClassifier((8,), max_epochs=3, random_state=0).fit(X[:300], y[:300])
np.save(sys.argv[1], clf.predict_proba(X[300:400]))
"""


def test_a_second_process_compiles_nothing_with_jaxs_persistent_cache(tmp_path):
    """The recipe of docs/user_guide/model_selection.md for repeated searches on
    JAX: with a persistent compilation cache, a second process fitting the same
    network finds every program it compiles in the cache (deepstack's traced
    epoch embeds nothing particular to a process), and predicts bit for bit
    what the first did."""
    cache = tmp_path / "cache"
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
    entries = []
    for run in ("first", "second"):
        result = subprocess.run(
            [sys.executable, "-c", _FIT_AND_SAVE, str(tmp_path / f"{run}.npy")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        entries.append(sorted(p.name for p in cache.iterdir()))
    # The fused epoch alone is one entry; eager operations add many more.
    assert len(entries[0]) > 10
    assert entries[1] == entries[0]
    first, second = (np.load(tmp_path / f"{run}.npy") for run in ("first", "second"))
    assert first.shape == (100, 10)
    np.testing.assert_array_equal(first, second)
