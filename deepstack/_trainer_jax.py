"""The fused epoch for the JAX backend: one ``jax.jit`` call per epoch.

Keras's JAX trainer is stateless underneath: ``model.train_step(state, data)``
takes the values of the trainable, non-trainable, optimizer and metric
variables and returns new ones. An epoch here is that step folded over the
mini-batches with ``lax.scan`` (plus one step for a smaller last batch),
followed by the validation pass, all in one compiled function; the data are
placed on the device once per fit. The variables are read before each epoch
and written back after it, so epoch-level callbacks see (and may change) the
weights, the learning rate and the metrics exactly as under ``Model.fit``.
"""

import contextlib
import copy
import functools
import warnings

import jax
import jax.numpy as jnp
import keras

from deepstack import _compat, _network
from deepstack._warnings import user_stacklevel


def _variables(model):
    return (
        model.trainable_variables,
        model.non_trainable_variables,
        model.optimizer.variables,
        model.metrics_variables,
    )


def read_state(model):
    """The model's training state as Keras's JAX ``train_step`` takes it."""
    return tuple([v.value for v in group] for group in _variables(model))


def write_state(model, state):
    """Assign a training state back to the model's variables."""
    for group, values in zip(_variables(model), state):
        for variable, value in zip(group, values):
            variable.assign(value)


def epoch_runner(
    model, batch_size, train, validation, metrics, function=None, on_trace=None
):
    """``(run_epoch, run(order) -> logs)``: one epoch over the rows in ``order``.

    ``train`` and ``validation`` are ``(X, y, sample_weight or None)``;
    ``metrics`` are reported on the validation data (unweighted, fresh each
    epoch), ``val_loss`` is the compiled loss with its regularization terms
    in inference mode, sample-weighted, as in the TensorFlow epoch.
    ``function``: a ``run_epoch`` made earlier for ``model`` (reused; JAX
    traces it again for data of other shapes); ``on_trace`` is called
    whenever it is traced.
    """
    # Under a Keras distribution (``keras.distribution.DataParallel``), the
    # rows are copied to every device once and each mini-batch is sharded
    # along its first axis: XLA then runs the step on every device's share
    # and all-reduces the gradients (the variables are replicated).
    distribution = keras.distribution.distribution()
    place = _on_device if distribution is None else _replicated(distribution)
    train = place(train)
    if validation is not None:
        validation = place(validation)
    # The metrics' variables exist already (_trainer._build_compiled_state),
    # reset: every epoch starts from these values.
    fresh_metric_state = [[v.value for v in m.variables] for m in metrics]
    fresh_model_metrics = [v.value for v in model.metrics_variables]
    if function is None:
        function = _epoch_function(
            model,
            batch_size,
            metrics,
            _identity if distribution is None else _sharded(distribution),
            on_trace,
        )

    def run(order):
        trainable, non_trainable, optimizer, _ = read_state(model)
        logs, state = function(
            (trainable, non_trainable, optimizer, fresh_model_metrics),
            jnp.asarray(order),
            train,
            validation,
            fresh_metric_state,
        )
        write_state(model, state)
        # One transfer of the epoch's logs to the host.
        return jax.device_get(logs)

    return function, run


def _epoch_function(model, batch_size, metrics, shard, on_trace):
    """The jitted ``run_epoch(state, order, train, validation, metric_state)``."""

    # The data are arguments, not constants captured by the traced function.
    @jax.jit
    def run_epoch(state, order, train, validation, metric_state):
        if on_trace is not None:
            on_trace()

        def train_batch(state, rows):
            return model.train_step(state, shard(_take(train, rows)))

        n_full, rest = divmod(order.shape[0], batch_size)
        blocks = order[: n_full * batch_size].reshape(n_full, batch_size)
        tail = order[n_full * batch_size :] if rest else None
        logs, state = _fold(train_batch, state, blocks, tail)
        if validation is not None:
            logs = {
                **logs,
                **_validate(model, metrics, state, validation, metric_state),
            }
        return logs, state

    return run_epoch


def _on_device(arrays):
    return tuple(None if a is None else jnp.asarray(a) for a in arrays)


def _identity(arrays):
    return arrays


def _replicated(distribution):
    """``place(arrays)``: a full copy of each array on every device of
    ``distribution``'s mesh."""
    mesh = distribution.device_mesh.backend_mesh

    def place(arrays):
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        return tuple(
            None if a is None else jax.device_put(jnp.asarray(a), sharding)
            for a in arrays
        )

    return place


def _sharded(distribution):
    """``shard(batch)`` inside the compiled epoch: each array split along
    its first (batch) axis as ``distribution`` lays data out."""

    def shard(arrays):
        return tuple(
            None
            if a is None
            else jax.lax.with_sharding_constraint(
                a, distribution.get_data_layout(a.shape).backend_layout
            )
            for a in arrays
        )

    return shard


def _take(data, rows):
    return tuple(None if a is None else a[rows] for a in data)


def _fold(step, carry, blocks, tail):
    """Apply ``step`` to every block of ``blocks`` (equal sizes) under
    ``lax.scan``, then to ``tail`` (smaller, or None); ``(last output, carry)``.

    The output's structure comes from an abstract trace of one step.
    """
    out_shape = jax.eval_shape(
        lambda c, b: step(c, b)[0], carry, jax.tree.map(lambda a: a[0], blocks)
    )
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out_shape)

    def body(acc, block):
        _, carry = acc
        return step(carry, block), None

    (out, carry), _ = jax.lax.scan(body, (zeros, carry), blocks)
    if tail is not None:
        out, carry = step(carry, tail)
    return out, carry


def _validate(model, metrics, state, held_out, metric_state):
    """``val_loss`` and ``val_<metric>`` on ``held_out``, in chunks of
    :data:`deepstack._network.CHUNK_ROWS` rows, from the training ``state``."""
    trainable, non_trainable, _, metrics_variables = state
    n_val = held_out[0].shape[0]
    chunk = min(_network.CHUNK_ROWS, n_val)
    n_chunks, last = divmod(n_val, chunk)

    def evaluate(metric_state, rows):
        x, target, weight = _take(held_out, rows)
        loss, y_pred = _compat.jax_inference_loss(
            model, trainable, non_trainable, metrics_variables, x, target, weight
        )
        metric_state = [
            m.stateless_update_state(s, target, y_pred)
            for m, s in zip(metrics, metric_state)
        ]
        return loss * (rows.shape[0] / n_val), metric_state

    rows = jnp.arange(n_val)
    blocks = rows[: n_chunks * chunk].reshape(n_chunks, chunk)
    tail = rows[n_chunks * chunk :] if last else None

    def body(acc, block):
        total, metric_state = acc
        loss, metric_state = evaluate(metric_state, block)
        return (total + loss, metric_state), None

    (total, metric_state), _ = jax.lax.scan(
        body, (jnp.zeros((), "float32"), metric_state), blocks
    )
    if tail is not None:
        loss, metric_state = evaluate(metric_state, tail)
        total = total + loss
    return {
        "val_loss": total,
        **{
            f"val_{m.name}": m.stateless_result(s)
            for m, s in zip(metrics, metric_state)
        },
    }


def lay_out(model, distribution):
    """Place ``model``'s variables (its optimizer's and metrics' too) as
    ``distribution`` lays them out.

    Variables take their layout when they are created: a network built
    outside the distribution (loaded, unpickled, or continued by a
    Hyperband trial, which loads its predecessor) kept every variable on
    one device, and its training under ``distribution`` did too. Arrays
    already placed so are left as they are.
    """
    for group in _variables(model):
        for variable in group:
            layout = distribution.get_variable_layout(variable)
            if variable.value.sharding != layout.backend_layout:
                # Its layout, not just its value's: the weights that early
                # stopping puts back (NumPy arrays) are placed so too.
                _compat.set_variable_layout(variable, layout)


def batch_devices(distribution):
    """How many devices ``distribution`` splits a batch over (the size of
    its mesh's batch axis)."""
    mesh = distribution.device_mesh
    return int(mesh.shape[list(mesh.axis_names).index(distribution.batch_dim_name)])


def fit_layout(distribution, n_rows, batch_size):
    """The context ``Model.fit`` trains in under ``distribution``, for
    ``n_rows`` rows in batches of ``batch_size`` (a last one smaller).

    ``Model.fit`` places each batch split along its first axis before the
    step; JAX arrays cannot be split unevenly, so a batch of 7 rows on two
    devices raised ``IndivisibleError`` (the fused loop splits inside its
    compiled epoch, where XLA pads the shares). When a batch or the last
    one does not divide over the devices, every batch is placed whole on
    each device instead: the same updates (the variables stay laid out as
    ``distribution`` says), without the split, and a ``UserWarning`` says
    so. Otherwise ``distribution`` itself, unchanged.
    """
    devices = batch_devices(distribution)
    sizes = {batch_size, n_rows % batch_size} - {0}
    uneven = sorted(size for size in sizes if size % devices)
    if not uneven:
        return contextlib.nullcontext()
    warnings.warn(
        f"distribution: the batches of {', '.join(map(str, uneven))} rows "
        f"(batch_size={batch_size}, {n_rows} training rows) do not split over "
        f"{devices} devices, so this Model.fit run (a callback with "
        "per-batch hooks, or a large sparse X) trains each batch whole on "
        "every device: the same updates, no speed-up. Use a batch_size, and "
        f"a number of rows modulo batch_size, divisible by {devices}, or no "
        "per-batch callbacks (the fused loop splits any batch).",
        UserWarning,
        stacklevel=user_stacklevel(),
    )
    # A shallow copy (same class, mesh and variable layouts) that lays each
    # batch out replicated.
    whole = copy.copy(distribution)
    whole.get_data_layout = functools.partial(_replicated_layout, distribution)
    return whole.scope()


def _replicated_layout(distribution, data_shape):
    return keras.distribution.TensorLayout(
        [None] * len(data_shape), distribution.device_mesh
    )
