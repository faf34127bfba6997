"""The fused training loop on the JAX backend.

Keras picks its backend once, at import, so the backend-neutral tests of the
fused loop (tests/test_trainer.py), of the training-control callbacks and of
the weight snapshots run again in a fresh interpreter with
``KERAS_BACKEND=jax``; tests/test_trainer.py checks that the backend is the
one named.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# One interpreter per group, so that the workers of a parallel run share them.
JAX_GROUPS = {
    "trainer": [
        "tests/test_trainer.py",
        "tests/test_callbacks.py::test_snapshots_survive_training_and_restore_exactly",
    ],
    "training_control": ["tests/test_training_control.py"],
    "compile_cache": ["tests/test_compile_cache.py"],
}


@pytest.mark.parametrize("group", sorted(JAX_GROUPS))
def test_training_tests_pass_under_jax(group):
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONHASHSEED": "0"}
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
            *JAX_GROUPS[group],
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
