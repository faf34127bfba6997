"""The quality bar: default DeepStackClassifier on digits."""

import numpy as np
import pytest

from deepstack.datasets import digits_split
from pipelines._jobs import digits_pipeline


@pytest.mark.slow
def test_default_classifier_reaches_098_on_digits():
    X_train, X_test, y_train, y_test = digits_split()
    scores = [
        digits_pipeline(seed).fit(X_train, y_train).score(X_test, y_test)
        for seed in (0, 1, 2)
    ]
    assert np.mean(scores) >= 0.98, scores
