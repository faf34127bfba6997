"""Memory: ``deepstack predict`` on a file larger than it needs to hold.

A small run is fitted (``deepstack.fit_table``, one network of
``--hidden-layer-sizes`` units, 32 by default, 5 epochs) on 5,000 generated
rows of 16 numeric and 4 categorical columns; then ``--rows`` new rows of
the same columns (an identifier among them) are written as CSV and as
Parquet (row groups of 100,000; ``--formats`` chooses which) and predicted
by the ``deepstack predict`` command, each run in a fresh process: a chunk
of ``--chunk-rows`` rows at a time (the default, 100,000), and the whole
file as one chunk (``--chunk-rows`` above the row count: what the command
did before it read files a chunk at a time), with each Keras backend of
``--backends`` (``deepstack predict --backend``; default NumPy, the
command's own default, and TensorFlow). Reported: the peak resident set size
of each process (its ``VmHWM``, Linux), its wall time, and the same for a
process that only loads the run with that backend (the fixed cost). With one
backend the two ways must give the same rows, in the same order, with the
same predicted labels and probabilities within 1e-6 (a float32 matrix
product may round a row's values differently with the number of rows it is
given, so the two ways may differ in the last digits on some machines, and
the largest difference is reported); the backends' probabilities must agree
within 1e-6.

Run: ``.venv/bin/python benchmarks/predict_memory.py [--quick]`` (``--quick``:
200,000 rows).
"""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

N_NUMERIC, N_CATEGORICAL = 16, 4


def _rows(n, seed, start=0):
    """``n`` generated rows: numbers, categories, an identifier and a label
    that depends on both."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=(n, N_NUMERIC)).astype(np.float32)
    frame = pd.DataFrame(numbers, columns=[f"x{i}" for i in range(N_NUMERIC)])
    for j in range(N_CATEGORICAL):
        frame[f"c{j}"] = np.array(list("abcdefgh"))[rng.integers(0, 8, size=n)]
    score = numbers[:, 0] + numbers[:, 1] * numbers[:, 2] + (frame["c0"] < "d")
    frame["y"] = np.where(score > 0.5, "yes", "no")
    frame.insert(0, "row_id", [f"r{i:09d}" for i in range(start, start + n)])
    return frame


def _write_new_rows(folder, n_rows, formats, block=200_000):
    """The new rows (no label) in each of ``formats`` (csv, parquet), written
    a block at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = {f: folder / f"new.{f}" for f in formats}
    writer = None
    for i, start in enumerate(range(0, n_rows, block)):
        rows = _rows(min(block, n_rows - start), seed=1 + i, start=start)
        rows = rows.drop(columns="y")
        if "csv" in paths:
            rows.to_csv(paths["csv"], mode="a", header=i == 0, index=False)
        if "parquet" in paths:
            table = pa.Table.from_pandas(rows, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(paths["parquet"], table.schema)
            writer.write_table(table, row_group_size=100_000)
    if writer is not None:
        writer.close()
    return list(paths.values())


# Runs a command in this interpreter and writes the peak resident set size
# of its process (VmHWM, Linux) to the file argv[1]. Not os.wait4's
# ru_maxrss: Linux starts a child's at its parent's RSS at fork time.
_PEAK = """
import runpy, sys
peak_file, sys.argv = sys.argv[1], sys.argv[2:]
try:
    if sys.argv[0].endswith(".py"):
        runpy.run_path(sys.argv[0], run_name="__main__")
    else:
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
finally:
    status = open("/proc/self/status").read()
    kb = next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM"))
    open(peak_file, "w").write(kb)
"""


def _measure(module, args, folder, backend):
    """Peak RSS (MB) and wall seconds of a fresh process running ``python -m
    module *args`` (or the script ``module``, a path ending in .py) with the
    Keras ``backend``."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": backend}
    peak = folder / "peak_kb.txt"
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", _PEAK, str(peak), module, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    wall = time.perf_counter() - start
    kb = int(peak.read_text())
    peak.unlink()
    return kb / 1024, wall


def _probabilities(path):
    """The probability columns of a predictions file, as an array."""
    import pandas as pd

    frame = pd.read_csv(path)
    return frame.filter(like="proba_").to_numpy()


def _difference(path, other):
    """The largest difference between two predictions files' probabilities;
    raises unless they hold the same rows, in order, with the same labels."""
    import pandas as pd

    a, b = pd.read_csv(path), pd.read_csv(other)
    proba = [c for c in a.columns if c.startswith("proba_")]
    rest = [c for c in a.columns if c not in proba]
    if list(a.columns) != list(b.columns) or not a[rest].equals(b[rest]):
        raise RuntimeError(f"{path.name} and {other.name} hold other rows or labels")
    return float(abs(a[proba].to_numpy() - b[proba].to_numpy()).max())


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument(
        "--rows", type=int, help="new rows (default 2,000,000; --quick 200,000)"
    )
    p.add_argument("--chunk-rows", type=int, default=100_000)
    p.add_argument(
        "--formats",
        nargs="+",
        choices=["csv", "parquet"],
        default=["csv", "parquet"],
        help="the files of new rows to predict (default both)",
    )
    p.add_argument(
        "--backends",
        nargs="+",
        choices=["numpy", "tensorflow", "jax"],
        default=["numpy", "tensorflow"],
        help="Keras backends to predict with (default numpy and tensorflow)",
    )
    p.add_argument(
        "--hidden-layer-sizes",
        type=int,
        nargs="+",
        default=[32],
        help="the network's hidden layers (default one of 32 units)",
    )
    p.add_argument(
        "--name", default="predict_memory", help="result file name (no suffix)"
    )
    args = p.parse_args(argv)
    args.rows = args.rows or (200_000 if args.quick else 2_000_000)
    from pathlib import Path

    import deepstack

    work = Path(tempfile.mkdtemp(prefix="predict_memory_"))
    train = work / "train.csv"
    _rows(5000, seed=0).to_csv(train, index=False)
    deepstack.fit_table(
        train,
        "y",
        drop=["row_id"],
        params={"hidden_layer_sizes": tuple(args.hidden_layer_sizes), "max_epochs": 5},
        bagging=None,
        out=work / "run",
        progress=False,
    )
    sources = _write_new_rows(work, args.rows, args.formats)
    (work / "load_only.py").write_text(
        "import sys\nfrom deepstack.runs import load_run\nload_run(sys.argv[1])\n"
    )
    rows, probabilities, chunk_difference = [], {}, 0.0
    for backend in args.backends:
        rss, wall = _measure(
            str(work / "load_only.py"), [str(work / "run")], work, backend
        )
        rows.append(
            {
                "backend": backend,
                "file": "(the run loaded, nothing predicted)",
                "size_mb": None,
                "chunk_rows": None,
                "peak_rss_mb": rss,
                "wall_s": wall,
            }
        )
        for source in sources:
            outputs = []
            for chunk_rows in (args.chunk_rows, args.rows + 1):
                out = work / f"{source.name}.{chunk_rows}.predictions.csv"
                rss, wall = _measure(
                    "deepstack.cli",
                    [
                        "predict",
                        str(work / "run"),
                        str(source),
                        "--keep",
                        "row_id",
                        "--proba",
                        "--out",
                        str(out),
                        "--chunk-rows",
                        str(chunk_rows),
                        "--backend",
                        backend,
                    ],
                    work,
                    backend,
                )
                outputs.append(out)
                if chunk_rows == args.chunk_rows:
                    probabilities[backend, source.name] = _probabilities(out)
                rows.append(
                    {
                        "backend": backend,
                        "file": source.suffix[1:],
                        "size_mb": source.stat().st_size / 2**20,
                        "chunk_rows": chunk_rows
                        if chunk_rows <= args.rows
                        else "whole",
                        "peak_rss_mb": rss,
                        "wall_s": wall,
                    }
                )
                print(rows[-1], flush=True)
            chunk_difference = max(chunk_difference, _difference(*outputs))
            for out in outputs:
                out.unlink()
            if chunk_difference > 1e-6:
                raise RuntimeError(
                    f"{source.name}, {backend}: the chunked and whole outputs' "
                    f"probabilities differ by {chunk_difference:.3g}"
                )
    difference = 0.0
    for source in sources:
        first = probabilities[args.backends[0], source.name]
        for backend in args.backends[1:]:
            other = probabilities[backend, source.name]
            difference = max(difference, float(abs(first - other).max()))
    if difference > 1e-6:
        raise RuntimeError(f"the backends' probabilities differ by {difference:.3g}")
    config = {
        "rows": args.rows,
        "columns": 1 + N_NUMERIC + N_CATEGORICAL,
        "chunk_rows": args.chunk_rows,
        "formats": args.formats,
        "backends": args.backends,
        "hidden_layer_sizes": args.hidden_layer_sizes,
    }
    markdown = (
        f"`deepstack predict` on {args.rows:,} new rows of "
        f"{config['columns']} columns (`--keep row_id --proba`; a network of "
        f"{tuple(args.hidden_layer_sizes)} hidden units), each in a "
        "fresh process: a chunk at a time, and the whole file as one chunk, "
        "with each Keras backend (`--backend`).\n\n"
        + _common.markdown_table(
            ["backend", "file", "size_mb", "chunk_rows", "peak_rss_mb", "wall_s"],
            rows,
            1,
        )
        + "\n\nFor each backend, the two ways' outputs hold the same rows and "
        "labels, their probabilities differing by at most "
        f"{chunk_difference:.1g}; the backends' probabilities differ by at most "
        f"{difference:.1g}.\n"
    )
    _common.publish(
        "predict_memory",
        args.name,
        {
            "config": config,
            "rows": rows,
            "max_probability_difference": difference,
            "max_chunked_difference": chunk_difference,
        },
        markdown,
        args.out,
        argv,
    )
    for path in sorted(work.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    work.rmdir()


if __name__ == "__main__":
    main()
