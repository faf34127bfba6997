"""``deterministic=True``: op determinism and full-precision matmuls are
turned on, and two fits give identical predictions.

In a fresh interpreter: both switches stay on for the rest of the process,
which the other tests must not inherit.
"""

import json
import subprocess
import sys

CODE = """
import json
import numpy as np
import tensorflow as tf
from sklearn.datasets import make_classification

calls = []
enable = tf.config.experimental.enable_op_determinism
tf.config.experimental.enable_op_determinism = lambda: (calls.append(1), enable())

from deepstack import DeepStackClassifier

X, y = make_classification(300, 8, n_informative=5, n_classes=3, random_state=0)
params = dict(hidden_layer_sizes=(16,), max_epochs=5, random_state=0)
plain = DeepStackClassifier(**params).fit(X, y)
before = (len(calls), tf.config.experimental.tensor_float_32_execution_enabled())
fits = [DeepStackClassifier(**params, deterministic=True).fit(X, y) for _ in range(2)]
probas = [fit.predict_proba(X) for fit in fits]
print(json.dumps({
    "calls_before": before[0],
    "tf32_before": bool(before[1]),
    "calls_after": len(calls),
    "tf32_after": bool(tf.config.experimental.tensor_float_32_execution_enabled()),
    "identical": bool(np.array_equal(*probas)),
    "n_iter": [f.n_iter_ for f in fits],
}))
"""


def test_deterministic_switches_on_determinism_and_repeats_fits():
    done = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # Off by default, on once a deterministic fit ran.
    assert result["calls_before"] == 0 and result["tf32_before"] is True
    assert result["calls_after"] >= 2 and result["tf32_after"] is False
    assert result["identical"] and result["n_iter"] == [5, 5]
