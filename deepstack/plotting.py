"""Figures for training and diagnostics (matplotlib, no global state).

Every function builds a ``matplotlib.figure.Figure`` directly (never
``pyplot``), so nothing global changes and no display is needed; save with
``fig.savefig(path)`` or show it in a notebook by evaluating it.
"""

import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from deepstack._network import get_model
from deepstack.diagnostics._curves import learning_rate_halvings, refuse_unfitted

__all__ = [
    "plot_activations",
    "plot_filters",
    "plot_learning_curves",
    "plot_lr_finder",
    "plot_reconstructions",
    "plot_search_trials",
    "plot_weight_histograms",
]

_METRIC_KEYS = ("accuracy", "acc", "r2", "mae", "mean_absolute_error", "auc")


def _figure(width, height, *, grid=False):
    # Image grids carry no tick labels: a fixed layout is enough there and
    # renders much faster than the constrained layout engine.
    fig = Figure(figsize=(width, height), layout=None if grid else "constrained")
    if grid:
        fig.subplots_adjust(
            left=0.07, right=0.97, bottom=0.03, top=0.86, wspace=0.15, hspace=0.35
        )
    FigureCanvasAgg(fig)
    return fig


def _history(history):
    refuse_unfitted(history, "history_", "plot_learning_curves")
    if hasattr(history, "history_"):
        return history.history_, getattr(history, "best_epoch_", None)
    if hasattr(history, "history") and isinstance(history.history, dict):
        return history.history, None
    if hasattr(history, "to_dict"):  # a DataFrame, one column per log
        return history.to_dict(orient="list"), None
    return dict(history), None


def _logged(history, key):
    """Whether ``history`` holds values for ``key`` (lists, arrays alike)."""
    values = history.get(key)
    return values is not None and len(values) > 0


def _refuse_estimator(value, name, what, hint):
    """An estimator or model passed for arrays, refused by argument: NumPy's
    float() error names neither."""
    if hasattr(value, "fit"):
        raise TypeError(
            f"{name} of {what} are arrays, not a {type(value).__name__}: {hint}."
        )


def _square_shape(n_features, image_shape):
    if image_shape is not None:
        image_shape = tuple(int(d) for d in image_shape)
        if math.prod(image_shape) != n_features:
            raise ValueError(
                f"image_shape {image_shape} does not hold {n_features} features."
            )
        return image_shape
    side = math.isqrt(int(n_features))
    if side * side != n_features:
        return None
    return (side, side)


def _grid(n):
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def plot_learning_curves(history, *, best_epoch=None, metric=None):
    """Training and validation loss (and metric) per epoch, with the learning rate.

    Parameters
    ----------
    history : dict of str to list of float, or fitted estimator
        Per-epoch logs such as an estimator's ``history_``: ``loss``,
        ``val_loss``, a metric (``accuracy``...) and ``learning_rate``.
    best_epoch : int, default=None
        0-based epoch to mark as the kept one (an estimator's ``best_epoch_``
        by default; the epoch of lowest validation loss otherwise, none when
        the validation loss is never finite).
    metric : str, default=None
        Metric to plot in a second panel (the first known metric by default).

    Returns
    -------
    matplotlib.figure.Figure
        One panel for the loss, one for the metric when there is one; the
        learning rate on a second (log) y-axis of the loss panel; dashed lines
        at the learning-rate halvings (where ``learning_rate`` is cut, see
        :func:`deepstack.diagnostics.learning_rate_halvings`: none for a
        decaying rate) and a dotted line at the best epoch.
    """
    given = history
    history, fitted_best = _history(history)
    if "loss" not in history:
        raise ValueError(f"history has no 'loss' key; keys: {sorted(history)}.")
    if best_epoch is None:
        best_epoch = fitted_best
    if best_epoch is None and _logged(history, "val_loss"):
        val_loss = np.asarray(history["val_loss"], dtype=float)
        if np.isfinite(val_loss).any():
            best_epoch = int(
                np.nanargmin(np.where(np.isfinite(val_loss), val_loss, np.nan))
            )
    if metric is None:
        metric = next((k for k in _METRIC_KEYS if k in history), None)
    elif metric not in history:
        raise ValueError(f"history has no {metric!r} key; keys: {sorted(history)}.")
    panels = 2 if metric else 1
    fig = _figure(5.5 * panels, 4)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    epochs = np.arange(1, len(history["loss"]) + 1)
    rates = history.get("learning_rate") if _logged(history, "learning_rate") else None
    halvings = learning_rate_halvings(given if hasattr(given, "history_") else history)

    def draw(ax, key, label):
        ax.plot(epochs, history[key], label=f"training {label}", color="C0")
        if _logged(history, "val_" + key):
            ax.plot(
                epochs[: len(history["val_" + key])],
                history["val_" + key],
                label=f"validation {label}",
                color="C1",
            )
        for i, epoch in enumerate(halvings):
            ax.axvline(
                epoch + 1.5,
                color="grey",
                linestyle="--",
                linewidth=0.8,
                label="learning-rate halving" if i == 0 else None,
            )
        if best_epoch is not None:
            ax.axvline(best_epoch + 1, color="C2", linestyle=":", label="best epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))

    draw(axes[0], "loss", "loss")
    axes[0].set_title("Loss")
    if rates is not None:
        lr_ax = axes[0].twinx()
        lr_ax.plot(
            epochs[: len(rates)],
            rates,
            color="C3",
            alpha=0.6,
            drawstyle="steps-mid",
            label="learning rate",
        )
        lr_ax.set_ylabel("learning rate")
        if min(rates) > 0:
            lr_ax.set_yscale("log")
        lines = axes[0].get_legend_handles_labels()
        lr_lines = lr_ax.get_legend_handles_labels()
        # On the twin axis, which is drawn on top of the loss panel.
        lr_ax.legend(lines[0] + lr_lines[0], lines[1] + lr_lines[1], fontsize=8)
    else:
        axes[0].legend(fontsize=8)
    if metric:
        draw(axes[1], metric, metric)
        axes[1].set_title(metric.replace("_", " ").capitalize())
        axes[1].legend(fontsize=8)
    return fig


def _first_kernel(obj):
    if isinstance(obj, np.ndarray) or isinstance(obj, (list, tuple)):
        return np.asarray(obj, dtype=float)
    model = get_model(obj)
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and len(kernel.shape) == 2:
            return np.asarray(
                kernel.numpy() if hasattr(kernel, "numpy") else kernel, dtype=float
            )
    raise ValueError("The model has no layer with a 2-D kernel.")


def plot_filters(weights, *, image_shape=None, max_filters=64, cmap="gray"):
    """The first layer's incoming weights of each unit, as a grid of images.

    Parameters
    ----------
    weights : keras.Model, fitted estimator or array of shape (n_features, n_units)
        A network (its first 2-D kernel is used) or the kernel itself.
    image_shape : tuple of int, default=None
        Shape of one input image; inferred when ``n_features`` is a square
        (e.g. 64 features -> 8x8 digits).
    max_filters : int, default=64
        Show at most this many units.
    cmap : str, default="gray"

    Returns
    -------
    matplotlib.figure.Figure
        One image per unit (``AxesImage`` of shape ``image_shape``).
    """
    kernel = _first_kernel(weights)
    n_features, n_units = kernel.shape
    shape = _square_shape(n_features, image_shape)
    if shape is None:
        raise ValueError(
            f"Cannot show {n_features} input features as an image; pass "
            "image_shape (inputs must be images, e.g. 8x8 digits)."
        )
    n = min(n_units, int(max_filters))
    if n < 1:
        raise ValueError(
            f"No filters to show: the kernel has shape {kernel.shape} and "
            f"max_filters={max_filters}."
        )
    rows, cols = _grid(n)
    fig = _figure(1.2 * cols + 0.5, 1.2 * rows + 0.5, grid=True)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        w = kernel[:, i].reshape(shape)
        bound = np.abs(w).max() or 1.0
        ax.imshow(w, cmap=cmap, vmin=-bound, vmax=bound, interpolation="nearest")
        ax.set_title(f"unit {i}", fontsize=7)
    fig.suptitle("First-layer filters")
    return fig


def plot_activations(activations, *, max_samples=200, cmap="viridis"):
    """Hidden activations as images: samples down, units across, one per layer.

    Parameters
    ----------
    activations : ndarray of shape (n_samples, n_units) or dict of str to ndarray
        E.g. the output of ``deepstack.diagnostics.hidden_activations(est, X)``.
    max_samples : int, default=200
        Show the first ``max_samples`` rows.
    cmap : str, default="viridis"

    Returns
    -------
    matplotlib.figure.Figure
        One panel (with an ``AxesImage`` of shape ``(samples, units)`` and a
        colorbar) per layer.
    """
    _refuse_estimator(
        activations,
        "The activations",
        "plot_activations",
        "pass hidden_activations(estimator, X) (deepstack.diagnostics)",
    )
    if not isinstance(activations, dict):
        activations = {"activations": activations}
    if not activations:
        raise ValueError("No activations to plot.")
    n = len(activations)
    fig = _figure(3.2 * n, 4)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (name, values) in zip(axes, activations.items()):
        values = np.asarray(values, dtype=float)
        values = values.reshape(values.shape[0], -1)[:max_samples]
        image = ax.imshow(values, aspect="auto", cmap=cmap, interpolation="nearest")
        ax.set_title(name)
        ax.set_xlabel("unit")
        ax.set_ylabel("sample")
        fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def _kernels(obj):
    if isinstance(obj, dict):
        return {k: np.asarray(v, dtype=float) for k, v in obj.items()}
    kernels, seen = {}, set()

    def collect(layer):
        for sub in getattr(layer, "layers", None) or []:
            collect(sub)
        for weight in layer.weights:
            if len(weight.shape) >= 2 and id(weight) not in seen:
                seen.add(id(weight))
                value = weight.numpy() if hasattr(weight, "numpy") else weight
                name = f"{layer.name}/{weight.name}"
                kernels[name] = np.asarray(value, dtype=float)

    for layer in get_model(obj).layers:
        collect(layer)
    return kernels


def plot_weight_histograms(weights, *, bins=50):
    """Histogram of the weights of each layer (its kernels; biases left out).

    Parameters
    ----------
    weights : keras.Model, fitted estimator or dict of str to ndarray
    bins : int, default=50

    Returns
    -------
    matplotlib.figure.Figure
        One panel per kernel, titled with its path, with mean and std (of
        the finite weights; NaN or infinite ones are counted in the title,
        not drawn).
    """
    kernels = _kernels(weights)
    if not kernels:
        raise ValueError("No weight matrices to plot.")
    n = len(kernels)
    rows, cols = _grid(n)
    fig = _figure(3.2 * cols, 2.6 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_axis_off()
            continue
        name, values = list(kernels.items())[i]
        values = values.ravel()
        # A diverged network's NaN or infinite weights are counted, not
        # drawn: matplotlib's histogram needs a finite range.
        finite = values[np.isfinite(values)]
        bad = (
            f", {values.size - finite.size} not finite"
            if finite.size < values.size
            else ""
        )
        if finite.size:
            ax.hist(finite, bins=bins, color="C0")
            summary = f"mean {finite.mean():.3g}, std {finite.std():.3g}{bad}"
        else:
            ax.text(0.5, 0.5, "no finite weights", ha="center", va="center")
            summary = f"{values.size} weights{bad}"
        ax.set_title(f"{name}\n{summary}", fontsize=8)
        ax.set_xlabel("weight")
        ax.set_ylabel("count")
    return fig


def plot_reconstructions(
    inputs, reconstructions, *, image_shape=None, n=8, cmap="gray"
):
    """Autoencoder reconstructions beside their inputs.

    Parameters
    ----------
    inputs, reconstructions : array-like of shape (n_samples, n_features)
    image_shape : tuple of int, default=None
        Shape of one image; inferred for square feature counts. Non-image
        inputs are drawn as line plots (input and reconstruction overlaid).
    n : int, default=8
        Number of samples shown.
    cmap : str, default="gray"
        Matplotlib colormap of the images (inputs and reconstructions share
        one color scale); not used for line plots.

    Returns
    -------
    matplotlib.figure.Figure
        For images: two rows (inputs on top, reconstructions below) of
        ``n`` images; otherwise one line panel per sample.
    """
    for name, value in (("inputs", inputs), ("reconstructions", reconstructions)):
        _refuse_estimator(
            value,
            f"The {name}",
            "plot_reconstructions",
            "pass X and its reconstructions, autoencoder.inverse_transform("
            "autoencoder.transform(X))",
        )
    inputs = np.asarray(inputs, dtype=float)
    reconstructions = np.asarray(reconstructions, dtype=float)
    if inputs.shape != reconstructions.shape:
        raise ValueError(
            f"inputs {inputs.shape} and reconstructions {reconstructions.shape} "
            "must have the same shape."
        )
    # (``len(...), -1``: a shape of 0 rows cannot infer its columns.)
    width = int(np.prod(inputs.shape[1:]))
    inputs = inputs.reshape(inputs.shape[0], width)[:n]
    reconstructions = reconstructions.reshape(reconstructions.shape[0], width)[:n]
    n = inputs.shape[0]
    if n < 1 or inputs.shape[1] < 1:
        raise ValueError(
            f"No reconstructions to show: the first n samples of the inputs "
            f"have shape {inputs.shape}; pass at least one sample with features."
        )
    shape = _square_shape(inputs.shape[1], image_shape)
    if shape is None:
        rows, cols = _grid(n)
        fig = _figure(3 * cols, 2.2 * rows)
        axes = fig.subplots(rows, cols, squeeze=False)
        for i, ax in enumerate(axes.flat):
            if i >= n:
                ax.set_axis_off()
                continue
            ax.plot(inputs[i], label="input")
            ax.plot(reconstructions[i], label="reconstruction", linestyle="--")
            ax.set_title(f"sample {i}", fontsize=8)
        axes.flat[0].legend(fontsize=7)
        fig.suptitle("Reconstructions")
        return fig
    fig = _figure(1.3 * n + 0.5, 3, grid=True)
    axes = fig.subplots(2, n, squeeze=False)
    low = min(inputs.min(), reconstructions.min())
    high = max(inputs.max(), reconstructions.max())
    for i in range(n):
        for row, data in ((0, inputs), (1, reconstructions)):
            ax = axes[row, i]
            ax.imshow(
                data[i].reshape(shape),
                cmap=cmap,
                vmin=low,
                vmax=high,
                interpolation="nearest",
            )
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("reconstruction")
    fig.suptitle("Reconstructions")
    return fig


def plot_lr_finder(rates, losses=None, *, suggestion=None):
    """Loss against learning rate from a learning-rate range test.

    Parameters
    ----------
    rates : array-like or object
        Learning rates tried, or an object with ``rates``/``learning_rates``
        and ``losses`` attributes (and optionally the chosen rate as
        ``suggestion``, ``suggested_learning_rate`` or ``learning_rate``),
        e.g. the result of the learning-rate finder.
    losses : array-like, default=None
        Loss at each rate (required when ``rates`` is an array).
    suggestion : float, default=None
        Rate to mark; by default the rate of steepest loss decrease.

    Returns
    -------
    matplotlib.figure.Figure
        One panel, log-scaled learning-rate axis, the suggestion marked.
    """
    if losses is None:
        finder = rates
        rates = getattr(finder, "rates", None)
        if rates is None:
            rates = getattr(finder, "learning_rates", None)
        losses = getattr(finder, "losses", None)
        for name in ("suggestion", "suggested_learning_rate", "learning_rate"):
            if suggestion is None and np.ndim(getattr(finder, name, None)) == 0:
                suggestion = getattr(finder, name, None)
        if rates is None or losses is None:
            raise TypeError(
                "plot_lr_finder needs rates and losses arrays, or an object with "
                "rates (or learning_rates) and losses attributes."
            )
    rates = np.asarray(rates, dtype=float)
    losses = np.asarray(losses, dtype=float)
    if rates.shape != losses.shape:
        raise ValueError("rates and losses must have the same length.")
    order = np.argsort(rates)
    rates, losses = rates[order], losses[order]
    finite = np.isfinite(losses)
    if suggestion is None and finite.sum() >= 3:
        r, lo = rates[finite], losses[finite]
        slope = np.gradient(lo, np.log10(r))
        suggestion = float(r[int(np.argmin(slope))])
    fig = _figure(5.5, 4)
    ax = fig.subplots()
    ax.plot(rates[finite], losses[finite], color="C0", marker=".", label="loss")
    if (~finite).any() and finite.any():
        top = np.full((~finite).sum(), losses[finite].max())
        ax.scatter(rates[~finite], top, color="C3", marker="x", label="diverged")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title("Learning-rate finder")
    if suggestion is not None:
        ax.axvline(
            suggestion, color="C2", linestyle="--", label=f"suggested {suggestion:.2g}"
        )
    ax.legend(fontsize=8)
    return fig


def plot_search_trials(results, *, score_key="score"):
    """Score of each search trial against each hyperparameter.

    Parameters
    ----------
    results : dict of str to list, or fitted DeepStackSearch
        One list per hyperparameter and one for ``score_key``, all with one
        entry per trial (a pandas DataFrame works too). A search's
        ``results_`` (or the search) gives its ``param_<name>`` columns as
        the hyperparameters, named ``<name>``; its other columns
        (``trial_id``, ``fit_time``...) are left out.
    score_key : str, default="score"

    Returns
    -------
    matplotlib.figure.Figure
        One scatter panel per hyperparameter (log x-axis for positive
        numbers spanning more than two decades; categories on a discrete
        axis); the best trial highlighted.
    """
    refuse_unfitted(results, "results_", "plot_search_trials")
    if hasattr(results, "results_"):
        results = results.results_
    if hasattr(results, "to_dict") and not isinstance(results, dict):
        results = results.to_dict(orient="list")
    results = {k: list(v) for k, v in dict(results).items()}
    if score_key not in results:
        raise ValueError(f"results have no {score_key!r} key; keys: {sorted(results)}.")
    params = [k for k in results if k.startswith("param_")]
    if params:
        # A search's results_: the rest is bookkeeping, not hyperparameters.
        results = {
            **{k.removeprefix("param_"): results[k] for k in params},
            score_key: results[score_key],
        }
    scores = np.asarray(results[score_key], dtype=float)
    names = [k for k in results if k != score_key]
    if not names:
        raise ValueError("results hold no hyperparameters besides the score.")
    best = int(np.nanargmax(scores)) if np.isfinite(scores).any() else None
    rows, cols = _grid(len(names))
    fig = _figure(3.4 * cols, 3 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(names):
            ax.set_axis_off()
            continue
        name = names[i]
        values = results[name]
        numeric = all(
            isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
            for v in values
        )
        if numeric:
            x = np.asarray(values, dtype=float)
            positive = x[np.isfinite(x)]
            if (
                positive.size
                and positive.min() > 0
                and positive.max() / positive.min() > 100
            ):
                ax.set_xscale("log")
            else:
                # Few ticks, whole numbers for counts: labels never overlap.
                integral = bool(np.all(positive == np.round(positive)))
                ax.xaxis.set_major_locator(MaxNLocator(4, integer=integral))
        else:
            labels = sorted({str(v) for v in values})
            x = np.asarray([labels.index(str(v)) for v in values], dtype=float)
            ax.set_xticks(range(len(labels)))
            ax.set_xlim(-0.5, len(labels) - 0.5)
            ax.set_xticklabels(labels, rotation=30, fontsize=7)
        ax.scatter(x, scores, color="C0", alpha=0.7)
        if best is not None:
            ax.scatter(
                [x[best]], [scores[best]], color="C3", marker="*", s=120, label="best"
            )
            ax.legend(fontsize=7)
        ax.set_xlabel(name)
        ax.set_ylabel(score_key)
    fig.suptitle("Search trials")
    return fig
