"""Cost of greedy layer-wise pretraining against the depth of the stack.

``StackedAutoencoder`` computes each layer's codes once and trains layer
``k`` on them, so with equal widths every layer costs about the same and the
total grows linearly with the depth. For contrast, the ``naive`` column trains
the same autoencoders the way a straightforward Keras implementation would:
layer ``k`` is trained on the raw inputs pushed through the frozen layers
``1..k-1`` at every batch of every epoch (its target, the codes below, also
recomputed), so layer ``k`` costs more the higher it sits and the total grows
faster than linearly.

Data: mnist1d generated procedurally by ``mnist1d.data.make_dataset`` (4000 x
40, nothing downloaded), widened to ``--features`` columns by a fixed random
projection so that the layers have real work; fixed epochs per layer (no early
stopping) so that every stack does the same work per layer.

Run: ``.venv/bin/python benchmarks/pretraining_cost.py [--quick]``
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

_common.quiet_warnings()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from deepstack import StackedAutoencoder  # noqa: E402


def load(n_features):
    from mnist1d.data import get_dataset_args, make_dataset

    X = make_dataset(get_dataset_args())["x"].astype(np.float32)
    projection = np.random.RandomState(0).normal(size=(X.shape[1], n_features))
    return (X @ projection / np.sqrt(X.shape[1])).astype(np.float32)


def naive_stack(X, width, depth, epochs, batch_size, seed):
    """Seconds per layer of the naive scheme (lower stack re-run every batch)."""
    keras.utils.set_random_seed(seed)
    frozen, seconds = [], []
    for _ in range(depth):
        inputs = keras.Input(shape=(X.shape[1],))
        below = inputs
        for layer in frozen:
            below = layer(below)
        encoder = keras.layers.Dense(width, activation="relu")
        decoder = keras.layers.Dense(below.shape[-1])
        error = keras.layers.Subtract()([decoder(encoder(below)), below])
        model = keras.Model(inputs, error)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mean_squared_error")
        zeros = np.zeros((X.shape[0], below.shape[-1]), dtype=np.float32)
        _, t = _common.timed(
            model.fit, X, zeros, batch_size=batch_size, epochs=epochs, verbose=0
        )
        seconds.append(t)
        encoder.trainable = False
        frozen.append(encoder)
    return seconds


def main(argv):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--features", type=int, default=512)
    p.add_argument(
        "--epochs", type=int, default=None, help="default 3 (1 with --quick)"
    )
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--max-depth", type=int, default=4)
    p.add_argument("--no-naive", action="store_true")
    args = p.parse_args(argv)
    epochs = args.epochs or (1 if args.quick else 3)
    X = load(args.features)

    rows, runs = [], []
    for depth in range(1, args.max_depth + 1):
        sae = StackedAutoencoder(
            (args.width,) * depth,
            epochs=epochs,
            batch_size=args.batch_size,
            early_stopping=False,
            random_state=0,
        )
        _, total = _common.timed(sae.fit, X)
        per_layer = [
            h["fit_seconds"] + h["encode_seconds"] for h in sae.pretraining_history_
        ]
        naive = (
            None
            if args.no_naive
            else naive_stack(X, args.width, depth, epochs, args.batch_size, 0)
        )
        run = {
            "depth": depth,
            "total_seconds": total,
            "per_layer_seconds": per_layer,
            "naive_per_layer_seconds": naive,
        }
        runs.append(run)
        rows.append(
            {
                "layers": depth,
                "fit s (total)": total,
                "s per layer": " / ".join(f"{s:.2f}" for s in per_layer),
                "total / layers": total / depth,
                "naive s per layer": (
                    "-" if naive is None else " / ".join(f"{s:.2f}" for s in naive)
                ),
                "naive total s": None if naive is None else sum(naive),
            }
        )
        print(rows[-1], flush=True)
    table = _common.markdown_table(list(rows[0]), rows, digits=2)
    markdown = (
        f"StackedAutoencoder(({args.width},) * L, epochs={epochs}, "
        f"batch_size={args.batch_size}, early_stopping=False) on mnist1d "
        f"({X.shape[0]} x {X.shape[1]} after a fixed random projection). "
        "'s per layer' includes computing the layer's codes once. The naive "
        "scheme re-runs the frozen lower layers at every batch.\n\n" + table
    )
    _common.write_results(
        "pretraining_cost",
        {"settings": vars(args) | {"epochs": epochs}, "runs": runs},
        markdown,
        out=args.out,
        command=_common.command_line("pretraining_cost", argv),
    )
    print(table)


if __name__ == "__main__":
    main(sys.argv[1:])
