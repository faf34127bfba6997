"""The quality bar: default DeepStackClassifier on digits."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deepstack import DeepStackClassifier
from deepstack.datasets import digits_split


@pytest.mark.slow
def test_default_classifier_reaches_098_on_digits():
    X_train, X_test, y_train, y_test = digits_split()
    scores = [
        make_pipeline(StandardScaler(), DeepStackClassifier(random_state=seed))
        .fit(X_train, y_train)
        .score(X_test, y_test)
        for seed in (0, 1, 2)
    ]
    assert np.mean(scores) >= 0.98, scores
