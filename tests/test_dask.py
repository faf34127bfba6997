"""scikit-learn's own parallelism carries deepstack estimators across processes:
joblib's default (loky) backend and Dask's joblib backend on a real local
``dask.distributed`` cluster (a scheduler and two worker processes)."""

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_validate

from deepstack import DeepStackClassifier
from tests.conftest import tiny

pytestmark = pytest.mark.slow


def _grid():
    return GridSearchCV(
        tiny(DeepStackClassifier, hidden_layer_sizes=(8,), max_epochs=2),
        {"dropout": [0.0, 0.2]},
        cv=2,
        n_jobs=2,
    )


def test_gridsearchcv_with_loky_and_with_a_dask_cluster(classification_data):
    from distributed import Client, LocalCluster, get_task_stream

    X, y = classification_data
    local = _grid().fit(X, y)  # joblib's default backend: loky processes
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit=0,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        with joblib.parallel_backend("dask"), get_task_stream(client) as tasks:
            remote = _grid().fit(X, y)
            cv = cross_validate(
                tiny(DeepStackClassifier, hidden_layer_sizes=(8,), max_epochs=2),
                X,
                y,
                cv=2,
                n_jobs=2,
                return_estimator=True,
            )
        # The fits ran as tasks of the cluster's two worker processes.
        workers = set(client.scheduler_info()["workers"])
        assert len(workers) == 2
        assert len(tasks.data) >= 4  # 2 settings x 2 folds, 2 folds
        assert {t["worker"] for t in tasks.data} <= workers
    for key in ("mean_test_score", "std_test_score"):
        np.testing.assert_allclose(remote.cv_results_[key], local.cv_results_[key])
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(
        remote.best_estimator_.predict(X), local.best_estimator_.predict(X)
    )
    # Fitted estimators come back from the workers and predict here.
    for estimator, score in zip(cv["estimator"], cv["test_score"]):
        assert hasattr(estimator, "model_")
        assert 0.0 <= score <= 1.0
        assert estimator.predict(X[:5]).shape == (5,)
