"""Training throughput on JAX: raw JAX loop, keras.Model.fit, DeepStackClassifier.

Trains a 784-1000-1000-1000-10 ReLU network (softmax output, Adam 1e-3) on
60,000 synthetic samples at batch sizes 128 and 1024 and reports samples per
second of steady-state training for:

(a) a raw JAX loop: data placed on the device once, one whole epoch (shuffle
    plus ``lax.scan`` over the batches, Adam written out) under one ``jit``;
(b) plain ``keras.Model.fit`` with ``steps_per_execution`` 1 and 32;
(b') the model of (b) trained by deepstack's fused epoch loop alone
    (``deepstack._trainer.fit_epochs``, no estimator callbacks);
(c) ``DeepStackClassifier.fit`` (no dropout / batch norm / weight decay /
    standardization / early stopping, constant learning rate: the same
    network and optimizer). On JAX it trains with deepstack's fused epoch
    (``deepstack/_trainer_jax.py``: data on the device once, one ``jit`` call
    per epoch with ``lax.scan`` over the batches).

Compilation is excluded: each method is timed over the epochs after a warm-up
epoch ((c) from the end of its first epoch to the end of its last, read by an
epoch-level callback). Meant for the GPU
machine; ``--quick`` with small sizes runs on a CPU. Needs jax (the ``jax``
extra); without it the script says so and exits without writing results.
``KERAS_BACKEND`` is set to ``jax`` before Keras is imported.

Run: ``.venv/bin/python benchmarks/gpu_throughput.py [--quick]``
"""

import importlib.util
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402


def jax_available():
    return importlib.util.find_spec("jax") is not None


def synthetic(n_samples, n_features, n_classes, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features), dtype=np.float32)
    W = rng.standard_normal((n_features, n_classes), dtype=np.float32)
    y = np.argmax(X @ W, axis=1).astype(np.int32)
    return X, y


# ------------------------------------------------------------- (a) raw JAX


def raw_jax_throughput(X, y, sizes, batch_size, epochs, lr=1e-3):
    import jax
    import jax.numpy as jnp
    import numpy as np

    key = jax.random.PRNGKey(0)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        key, sub = jax.random.split(key)
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        w = jax.random.uniform(sub, (fan_in, fan_out), jnp.float32, -limit, limit)
        params.append((w, jnp.zeros((fan_out,), jnp.float32)))

    def loss_fn(params, xb, yb):
        h = xb
        for w, b in params[:-1]:
            h = jax.nn.relu(h @ w + b)
        w, b = params[-1]
        logits = h @ w + b
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    b1, b2, eps = 0.9, 0.999, 1e-7
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = (params, zeros, zeros, jnp.zeros((), jnp.float32))

    n_steps = X.shape[0] // batch_size
    Xd = jax.device_put(jnp.asarray(X))
    yd = jax.device_put(jnp.asarray(y))

    def step(state, batch):
        params, m, v, t = state
        xb, yb = batch
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        t = t + 1.0
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
        scale = lr * jnp.sqrt(1 - b2**t) / (1 - b1**t)
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - scale * m / (jnp.sqrt(v) + eps), params, m, v
        )
        return (params, m, v, t), loss

    @jax.jit
    def epoch(state, key):
        perm = jax.random.permutation(key, Xd.shape[0])[: n_steps * batch_size]
        xb = Xd[perm].reshape(n_steps, batch_size, -1)
        yb = yd[perm].reshape(n_steps, batch_size)
        state, losses = jax.lax.scan(step, state, (xb, yb))
        return state, jnp.mean(losses)

    key = jax.random.PRNGKey(1)
    key, sub = jax.random.split(key)
    state, loss = epoch(state, sub)  # compile + warm-up
    loss.block_until_ready()
    with _common.timer() as elapsed:
        for _ in range(epochs):
            key, sub = jax.random.split(key)
            state, loss = epoch(state, sub)
        loss.block_until_ready()
    seconds = elapsed()
    return {
        "samples_per_second": n_steps * batch_size * epochs / seconds,
        "seconds": seconds,
        "final_loss": float(loss),
    }


# ------------------------------------------------------- (b) keras.Model.fit


def epoch_clock():
    """A Keras callback that records when each epoch ended (the epoch's logs
    are on the host by then): ``clock.ends``."""
    import time

    import keras

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends = []

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(time.perf_counter())

    return EpochClock()


def clocked_seconds(clock):
    """Seconds from the end of the first (compiling) epoch to the last."""
    return clock.ends[-1] - clock.ends[0]


def keras_model(sizes, steps_per_execution=1):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(sizes[0],))])
    for units in sizes[1:-1]:
        model.add(keras.layers.Dense(units, activation="relu"))
    model.add(keras.layers.Dense(sizes[-1], activation="softmax"))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        steps_per_execution=steps_per_execution,
    )
    return model


def keras_fit_throughput(X, y, sizes, batch_size, epochs, steps_per_execution):
    model = keras_model(sizes, steps_per_execution)
    model.fit(X, y, batch_size=batch_size, epochs=1, verbose=0)  # compile
    with _common.timer() as elapsed:
        history = model.fit(X, y, batch_size=batch_size, epochs=epochs, verbose=0)
    seconds = elapsed()
    return {
        "samples_per_second": X.shape[0] * epochs / seconds,
        "seconds": seconds,
        "final_loss": float(history.history["loss"][-1]),
    }


def fused_epoch_throughput(X, y, sizes, batch_size, epochs):
    """(b') the same Keras model trained by deepstack's fused epoch loop
    alone (no estimator, only the timing callback): where (c)'s time goes."""
    from deepstack import _network, _trainer

    model = keras_model(sizes)
    _network.build_optimizer(model)
    clock = epoch_clock()
    history = _trainer.fit_epochs(
        model, X, y, batch_size=batch_size, epochs=1 + epochs, callbacks=[clock]
    )
    seconds = clocked_seconds(clock)
    return {
        "samples_per_second": X.shape[0] * epochs / seconds,
        "seconds": seconds,
        "final_loss": float(history.history["loss"][-1]),
    }


# -------------------------------------------------- (c) DeepStackClassifier


def deepstack_throughput(X, y, sizes, batch_size, epochs):
    from deepstack import DeepStackClassifier

    original = epoch_clock()
    clf = DeepStackClassifier(
        hidden_layer_sizes=tuple(sizes[1:-1]),
        activation="relu",
        dropout=0.0,
        input_dropout=0.0,
        batch_norm=False,
        l2=0.0,
        standardize=False,
        optimizer="adam",
        learning_rate=1e-3,
        batch_size=batch_size,
        max_epochs=1 + epochs,
        early_stopping=False,
        lr_schedule="constant",
        random_state=0,
        callbacks=[original],
    )
    _, fit_seconds = _common.timed(clf.fit, X, y)
    # fit uses a copy of each callback (``callbacks_``).
    clock = next(cb for cb in clf.callbacks_ if type(cb) is type(original))
    # The first epoch compiles; time the others, end to end, callbacks and
    # all (what a user waits for).
    seconds = clocked_seconds(clock)
    return {
        "samples_per_second": X.shape[0] * epochs / seconds,
        "seconds": seconds,
        "fit_seconds_total": fit_seconds,
        "final_loss": float(clf.history_["loss"][-1]),
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--n-samples", type=int, default=None)
    p.add_argument("--hidden", type=int, nargs="+", default=None)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 1024])
    p.add_argument("--epochs", type=int, default=None, help="timed epochs")
    p.add_argument(
        "--methods",
        nargs="+",
        default=["raw_jax", "keras_fit", "fused_epoch", "deepstack"],
        choices=["raw_jax", "keras_fit", "fused_epoch", "deepstack"],
    )
    args = p.parse_args(argv)
    if not jax_available():
        print(
            "gpu_throughput: jax is not installed, so the JAX backend cannot run. "
            "Install the extra (`pip install -e '.[jax]'`, or jax[cuda12] on a "
            "GPU machine) and run again. Nothing was measured or written."
        )
        return None
    import keras

    if keras.backend.backend() != "jax":
        print(
            f"gpu_throughput: Keras was already imported with the "
            f"{keras.backend.backend()!r} backend; run this script in a fresh "
            "process (KERAS_BACKEND=jax). Nothing was measured or written."
        )
        return None
    import jax

    n_samples = args.n_samples or (2048 if args.quick else 60_000)
    hidden = args.hidden or ([64, 64] if args.quick else [1000, 1000, 1000])
    epochs = args.epochs or (2 if args.quick else 5)
    sizes = [784, *hidden, 10]
    X, y = synthetic(n_samples, sizes[0], sizes[-1])
    devices = [str(d) for d in jax.devices()]
    print(
        f"gpu_throughput: {'-'.join(map(str, sizes))} on {n_samples} samples, "
        f"{epochs} timed epochs, devices {devices}",
        flush=True,
    )
    records = []
    for batch_size in args.batch_sizes:
        runs = []
        if "raw_jax" in args.methods:
            runs.append(
                ("raw JAX (lax.scan epoch)", raw_jax_throughput, (), {"epochs": epochs})
            )
        if "keras_fit" in args.methods:
            for spe in (1, 32):
                runs.append(
                    (
                        f"keras Model.fit (steps_per_execution={spe})",
                        keras_fit_throughput,
                        (),
                        {"epochs": epochs, "steps_per_execution": spe},
                    )
                )
        if "fused_epoch" in args.methods:
            runs.append(
                (
                    "keras model, deepstack's fused epoch loop",
                    fused_epoch_throughput,
                    (),
                    {"epochs": epochs},
                )
            )
        if "deepstack" in args.methods:
            runs.append(
                (
                    "DeepStackClassifier.fit",
                    deepstack_throughput,
                    (),
                    {"epochs": epochs},
                )
            )
        for name, fn, _, kwargs in runs:
            result = fn(X, y, sizes, batch_size, **kwargs)
            records.append({"method": name, "batch_size": batch_size, **result})
            print(
                f"  batch {batch_size:5d}  {name:42s} "
                f"{result['samples_per_second'] / 1e6:8.3f} M samples/s",
                flush=True,
            )
            keras.backend.clear_session()
    rows = [
        {
            "method": r["method"],
            "batch size": r["batch_size"],
            "samples/s (M)": r["samples_per_second"] / 1e6,
            "timed seconds": r["seconds"],
            "final loss": r["final_loss"],
        }
        for r in records
    ]
    markdown = (
        "### Training throughput, JAX backend\n\n"
        f"Network {'-'.join(map(str, sizes))} (ReLU, softmax, Adam 1e-3) on "
        f"{n_samples} synthetic samples; {epochs} timed epochs after compilation. "
        f"Devices: {', '.join(devices)}.\n\n"
        + _common.markdown_table(list(rows[0]), rows, digits=3)
    )
    results = {
        "config": {
            "sizes": sizes,
            "n_samples": n_samples,
            "epochs": epochs,
            "batch_sizes": args.batch_sizes,
            "devices": devices,
        },
        "runs": records,
    }
    paths = _common.write_results(
        "gpu_throughput",
        results,
        markdown,
        out=args.out,
        command=_common.command_line("gpu_throughput", argv),
    )
    print(markdown)
    print("wrote", *paths)
    return results


if __name__ == "__main__":
    main()
