"""Memory: fitting and predicting on a scipy CSR matrix, never densified whole.

A TF-IDF-like matrix (uniform random positive values at ``--density``, in
CSR float32) with a label from a few of its columns; a
``DeepStackClassifier`` is fitted for ``--epochs`` epochs and predicts
``predict_proba`` on every row. In a fresh subprocess, after a warm-up fit
on a small slice (the first-call caches of TensorFlow), the resident set
size (psutil, sampled every 20 ms) is recorded during the fit and the
prediction. Reported: the sparse matrix's size, the dense matrix's size
(rows x columns x 4 bytes) and the peak RSS increase over the RSS before
the fit. The issue's case is 100,000 x 50,000 at 1% density (a 20 GB dense
matrix):

``.venv/bin/python benchmarks/sparse_memory.py --rows 100000 --cols 50000
--density 0.01``

``--quick`` runs 20,000 x 5,000 at 1% (a 400 MB dense matrix).

Run: ``.venv/bin/python benchmarks/sparse_memory.py [--quick]``
"""

import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402


def _matrix(rows, cols, density, seed=0):
    """A random CSR float32 matrix, generated in row blocks (bounded memory).

    A ``Generator``, not a ``RandomState``: scipy draws the positions of a
    block's values without replacement, which a ``RandomState`` does by
    permuting every position of the block (43 s and 4 GB for 10,000 x 50,000,
    against 1 s)."""
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    blocks = []
    block = max(1, min(rows, 10_000))
    for start in range(0, rows, block):
        n = min(block, rows - start)
        blocks.append(
            sp.random(
                n,
                cols,
                density=density,
                format="csr",
                dtype=np.float32,
                random_state=rng,
            )
        )
    return sp.vstack(blocks, format="csr")


class _PeakRSS:
    """Samples this process's RSS in a thread; ``peak`` is the largest seen."""

    def __init__(self, interval=0.02):
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(self._interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def measure(rows, cols, density, epochs, hidden, batch_size):
    """The child's measurement: a dict of sizes (MB) and seconds."""
    import numpy as np
    import psutil

    from deepstack import DeepStackClassifier

    X = _matrix(rows, cols, density)
    signal = np.asarray(X[:, : min(cols, 50)].sum(axis=1)).ravel()
    y = (signal > np.median(signal)).astype(int)
    params = dict(
        hidden_layer_sizes=(hidden,),
        batch_size=batch_size,
        max_epochs=epochs,
        random_state=0,
    )
    DeepStackClassifier(**{**params, "max_epochs": 1}).fit(X[:512], y[:512])
    before = psutil.Process().memory_info().rss
    start = time.perf_counter()
    with _PeakRSS() as fit_peak:
        clf = DeepStackClassifier(**params).fit(X, y)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    with _PeakRSS() as predict_peak:
        proba = clf.predict_proba(X)
    predict_seconds = time.perf_counter() - start
    mb = 2**20
    sparse_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    return {
        "rows": rows,
        "cols": cols,
        "density": density,
        "nnz": int(X.nnz),
        "epochs_run": int(clf.n_iter_),
        "sparse_mb": sparse_bytes / mb,
        "dense_mb": rows * cols * 4 / mb,
        "rss_before_fit_mb": before / mb,
        "fit_peak_increase_mb": (fit_peak.peak - before) / mb,
        "predict_peak_increase_mb": (predict_peak.peak - before) / mb,
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "train_accuracy": float(np.mean(clf.classes_[proba.argmax(axis=1)] == y)),
    }


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--cols", type=int, default=None)
    p.add_argument("--density", type=float, default=0.01)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--child", action="store_true", help=argparse_hidden())
    args = p.parse_args(argv)
    rows = args.rows or (20_000 if args.quick else 100_000)
    cols = args.cols or (5_000 if args.quick else 50_000)
    epochs = args.epochs or (1 if args.quick else 3)
    config = [rows, cols, args.density, epochs, args.hidden, args.batch_size]
    if args.child:
        print(json.dumps(measure(*config)))
        return None
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        *("--rows", str(rows), "--cols", str(cols), "--density", str(args.density)),
        *("--epochs", str(epochs), "--hidden", str(args.hidden)),
        *("--batch-size", str(args.batch_size)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the measuring subprocess failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    columns = ["quantity", "value"]
    table = [{"quantity": key, "value": value} for key, value in result.items()]
    markdown = (
        "Fitting and predicting on a CSR matrix (densified one mini-batch / "
        "chunk at a time).\n\n" + _common.markdown_table(columns, table)
    )
    _common.write_results(
        "sparse_memory",
        {"result": result},
        markdown,
        out=args.out,
        command=_common.command_line("sparse_memory", argv or sys.argv[1:]),
    )
    print(markdown)
    return result


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
