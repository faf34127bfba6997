"""The main job: train deepstack's default classifier on scikit-learn's digits."""

import argparse
import time

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deepstack import DeepStackClassifier


def digits_pipeline(random_state=0):
    """StandardScaler -> DeepStackClassifier with its defaults."""
    return make_pipeline(StandardScaler(), DeepStackClassifier(random_state=random_state))


def run_digits(random_state=0):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    start = time.perf_counter()
    model = digits_pipeline(random_state).fit(X_train, y_train)
    elapsed = time.perf_counter() - start
    accuracy = model.score(X_test, y_test)
    clf = model[-1]
    print(
        f"digits: test accuracy {accuracy:.4f} ({len(y_test)} samples), "
        f"{clf.n_iter_} epochs (best {clf.best_epoch_}), fit {elapsed:.1f} s"
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
