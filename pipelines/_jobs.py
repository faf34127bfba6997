"""Ready-made pipelines and the jobs that ``python -m pipelines NAME`` runs."""

import argparse
import time

from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deepstack import DeepStackClassifier
from deepstack.datasets import digits_split


def digits_pipeline(random_state=0, **params):
    """StandardScaler -> DeepStackClassifier (defaults unless ``params`` says)."""
    return make_pipeline(
        StandardScaler(), DeepStackClassifier(random_state=random_state, **params)
    )


def run_digits(random_state=0, **params):
    """Train on digits (70/30 stratified split, seed 0) and print test accuracy."""
    X_train, X_test, y_train, y_test = digits_split()
    start = time.perf_counter()
    model = digits_pipeline(random_state, **params).fit(X_train, y_train)
    elapsed = time.perf_counter() - start
    accuracy = model.score(X_test, y_test)
    clf = model[-1]
    print(
        f"digits: test accuracy {accuracy:.4f} on {len(y_test)} samples; "
        f"{clf.n_iter_} epochs (best {clf.best_epoch_}); fit {elapsed:.1f} s"
    )
    return accuracy


JOBS = {"digits": run_digits}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pipelines")
    parser.add_argument("job", choices=sorted(JOBS), nargs="?", default="digits")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    JOBS[args.job](args.random_state)
    return 0
