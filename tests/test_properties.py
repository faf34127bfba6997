"""Property-based tests of input validation (hypothesis).

Random shapes, dtypes, NaN / inf placements, label sets and sample weights:
every case either fits and predicts finite values, or raises a ValueError /
TypeError that names the problem before any training starts.
"""

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepstack import DeepStackClassifier, DeepStackRegressor, _trainer

# What the error must mention for each fault put into the data.
FAULTS = {
    "nan_X": ("NaN",),
    "inf_X": ("infinity",),
    "huge_scale": ("standard deviation",),
    "nan_y": ("NaN",),
    # A single class -1 marks every row unlabeled (semi_supervised="auto").
    "one_class": ("at least 2 classes", "no labeled samples"),
    "negative_weight": ("non-negative",),
    "nan_weight": ("NaN",),
    "short_weight": ("sample_weight",),
    "one_sample": (
        "validation split",
        "at least 2 classes",
        "n_samples=1",
        "no labeled samples",
    ),
}
SETTINGS = settings(
    # More in a local hunt: DEEPSTACK_HYPOTHESIS_EXAMPLES=300 pytest ...
    max_examples=int(os.environ.get("DEEPSTACK_HYPOTHESIS_EXAMPLES", 25)),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@st.composite
def problems(draw, classification):
    n = draw(st.integers(1, 40))
    d = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int64, np.bool_]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) * 3).astype(dtype)
    drawable = sorted(set(FAULTS) - {"one_sample"})
    faults = set(draw(st.sets(st.sampled_from(drawable), max_size=2)))
    if not classification:
        faults -= {"one_class"}
    if n == 1:
        faults.add("one_sample")
    if faults & {"nan_X", "inf_X", "huge_scale"}:
        X = X.astype(np.float64)
    cells = rng.integers(0, n * d, size=draw(st.integers(1, 3)))
    if "nan_X" in faults:
        X.flat[cells] = np.nan
    if "inf_X" in faults:
        X.flat[cells[::-1]] = draw(st.sampled_from([np.inf, -np.inf, 1e300]))
    if "huge_scale" in faults:
        if n < 4:
            faults.discard("huge_scale")
        else:
            X[:, -1] = np.linspace(-1, 1, n) * 1e25
    if classification:
        labels = draw(
            st.sampled_from(
                [np.array([0, 1, 2]), np.array(["a", "b"]), np.array([-1, 1])]
            )
        )
        y = labels[np.arange(n) % len(labels)]
        if "one_class" in faults:
            y = np.full(n, labels[0])
    else:
        y = rng.normal(size=n)
    if "nan_y" in faults:
        y = y.astype(np.float64) if y.dtype.kind != "U" else y.astype(object)
        y[rng.integers(0, n)] = np.nan
    weight = None
    if draw(st.booleans()) or faults & {"negative_weight", "nan_weight"}:
        weight = rng.uniform(0.1, 2.0, size=n)
    if "negative_weight" in faults:
        weight[rng.integers(0, n)] = -1.0
    if "nan_weight" in faults:
        weight[rng.integers(0, n)] = np.nan
    if "short_weight" in faults:
        weight = np.ones(n + 1)
    return X, y, weight, faults


def _check(estimator, case, monkeypatch, predict):
    X, y, weight, faults = case
    trained = []
    train = _trainer.train

    def recording(*args, **kwargs):
        trained.append(True)
        return train(*args, **kwargs)

    monkeypatch.setattr(_trainer, "train", recording)
    try:
        estimator.fit(X, y, sample_weight=weight)
    except (ValueError, TypeError) as error:
        assert faults, f"clean data refused: {error}"
        assert not trained, f"raised after training started: {error}"
        message = str(error)
        expected = [word for fault in faults for word in FAULTS[fault]]
        assert any(word in message for word in expected), (faults, message)
        return
    assert not faults, f"{sorted(faults)} accepted"
    out = predict(estimator, X)
    assert out.shape[0] == X.shape[0]
    assert np.all(np.isfinite(out))


@SETTINGS
@given(case=problems(classification=True))
def test_classifier_fits_or_names_the_problem(case, monkeypatch):
    clf = DeepStackClassifier((4,), max_epochs=1, batch_size=16, random_state=0)
    _check(clf, case, monkeypatch, lambda est, X: est.predict_proba(X))


@SETTINGS
@given(case=problems(classification=False))
def test_regressor_fits_or_names_the_problem(case, monkeypatch):
    reg = DeepStackRegressor((4,), max_epochs=1, batch_size=16, random_state=0)
    _check(reg, case, monkeypatch, lambda est, X: est.predict(X))
