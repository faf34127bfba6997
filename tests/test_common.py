"""scikit-learn's estimator checks on every deepstack estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from deepstack import DeepStackClassifier, DeepStackRegressor, StackedAutoencoder
from deepstack.ensemble import DeepStackBaggingClassifier, DeepStackBaggingRegressor

# Small and fast, but with the default regularization (dropout, input dropout,
# weight decay, batch norm) so that the checks see the estimators as users do.
_SMALL = dict(max_epochs=10, learning_rate=3e-2, batch_size=64, early_stopping=False)
# Each bagged member trains on half the rows and the members' outputs are
# averaged: fewer, larger steps suffice.
_MEMBER = dict(_SMALL, max_epochs=4, learning_rate=8e-2)
ESTIMATORS = [
    DeepStackClassifier((16,), random_state=0, **_SMALL),
    DeepStackRegressor((16,), random_state=0, **_SMALL),
    StackedAutoencoder(
        (4,), epochs=3, batch_size=64, early_stopping=False, random_state=0
    ),
    # The main job's default model: k-fold bagged networks (two folds here).
    DeepStackBaggingClassifier(
        DeepStackClassifier((16,), random_state=0, **_MEMBER), n_folds=2, random_state=0
    ),
    DeepStackBaggingRegressor(
        DeepStackRegressor((16,), random_state=0, **_MEMBER), n_folds=2, random_state=0
    ),
]

_STOCHASTIC_WEIGHTS = (
    "mini-batch SGD draws different batches when rows are repeated than when "
    "they are weighted, so weighting is equivalent only in expectation"
)
_FLOAT32_LAST_BIT = (
    "the network computes in float32; a matrix product over a different batch "
    "composition can differ in the last bit (~1e-7 relative), which is the "
    "check's tolerance (rtol=1e-7). Predictions agree to ~3e-7."
)
EXPECTED_FAILURES = {
    name: {
        "check_sample_weight_equivalence_on_dense_data": _STOCHASTIC_WEIGHTS,
        "check_sample_weight_equivalence_on_sparse_data": _STOCHASTIC_WEIGHTS,
        "check_methods_sample_order_invariance": _FLOAT32_LAST_BIT,
        "check_methods_subset_invariance": _FLOAT32_LAST_BIT,
    }
    for name in ("DeepStackClassifier", "DeepStackRegressor")
}
for name in ("DeepStackBaggingClassifier", "DeepStackBaggingRegressor"):
    EXPECTED_FAILURES[name] = EXPECTED_FAILURES["DeepStackClassifier"]


def expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
