"""Tests of deepstack.plotting: the figures hold the expected axes, lines and images."""

from types import SimpleNamespace

import keras
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from deepstack import plotting


def _images(fig):
    return [
        im for ax in fig.axes for im in ax.get_images() if isinstance(im, AxesImage)
    ]


def _vlines(ax, label):
    """x positions of the vertical lines with ``label`` on ``ax``."""
    return [
        line.get_xdata()[0]
        for line in ax.get_lines()
        if line.get_label() == label
        or (label == "learning-rate halving" and line.get_linestyle() == "--")
    ]


@pytest.fixture
def history():
    epochs = np.arange(12)
    return {
        "loss": list(0.9**epochs),
        "val_loss": list(1.1 * 0.92**epochs),
        "accuracy": list(np.linspace(0.4, 0.95, 12)),
        "val_accuracy": list(np.linspace(0.4, 0.9, 12)),
        "learning_rate": [1e-2] * 4 + [5e-3] * 5 + [2.5e-3] * 3,
    }


def test_learning_curves_panels_rate_axis_halvings_and_best(history):
    fig = plotting.plot_learning_curves(history, best_epoch=7)
    assert isinstance(fig, Figure)
    # Loss panel, its learning-rate twin axis, and the accuracy panel.
    assert len(fig.axes) == 3
    loss_ax, metric_ax = fig.axes[0], fig.axes[1]
    assert loss_ax.get_xlabel() == "epoch"
    assert loss_ax.get_ylabel() == "loss"
    assert metric_ax.get_ylabel() == "accuracy"
    rate_ax = [ax for ax in fig.axes if ax.get_ylabel() == "learning rate"]
    assert len(rate_ax) == 1 and rate_ax[0].get_yscale() == "log"
    np.testing.assert_allclose(
        rate_ax[0].get_lines()[0].get_ydata(), history["learning_rate"]
    )
    labels = [line.get_label() for line in loss_ax.get_lines()]
    assert "training loss" in labels and "validation loss" in labels
    train = next(
        line for line in loss_ax.get_lines() if line.get_label() == "training loss"
    )
    np.testing.assert_allclose(train.get_ydata(), history["loss"])
    # Rate cut at the end of epochs 3 and 8 (0-based): between plotted epochs.
    halvings = sorted(
        line.get_xdata()[0]
        for line in loss_ax.get_lines()
        if line.get_linestyle() == "--"
    )
    assert halvings == [4.5, 9.5]
    best = [
        line.get_xdata()[0]
        for line in metric_ax.get_lines()
        if line.get_label() == "best epoch"
    ]
    assert best == [8]


def test_learning_curves_from_loss_only_and_estimator_like(history):
    fig = plotting.plot_learning_curves({"loss": [3.0, 2.0, 1.0]})
    assert len(fig.axes) == 1
    fitted = SimpleNamespace(history_=history, best_epoch_=2)
    fig = plotting.plot_learning_curves(fitted)
    best = [
        line.get_xdata()[0]
        for line in fig.axes[0].get_lines()
        if line.get_label() == "best epoch"
    ]
    assert best == [3]
    with pytest.raises(ValueError, match="no 'loss'"):
        plotting.plot_learning_curves({"accuracy": [0.5]})


def test_learning_curves_without_a_finite_validation_loss():
    nan = float("nan")
    fig = plotting.plot_learning_curves(
        {"loss": [nan], "val_loss": [nan], "learning_rate": [50.0]}
    )
    assert _vlines(fig.axes[0], "best epoch") == []
    fig = plotting.plot_learning_curves({"loss": [2.0, 1.0], "val_loss": [nan, 1.5]})
    assert _vlines(fig.axes[0], "best epoch") == [2]


def test_learning_curves_from_arrays_and_dataframes(history):
    arrays = {key: np.asarray(values) for key, values in history.items()}
    for logs in (arrays, pd.DataFrame(history)):
        fig = plotting.plot_learning_curves(logs)
        loss_ax = fig.axes[0]
        assert sorted(_vlines(loss_ax, "learning-rate halving")) == [4.5, 9.5]
        assert _vlines(loss_ax, "best epoch") == [12]
        assert "validation loss" in [line.get_label() for line in loss_ax.get_lines()]


def test_learning_curves_mark_no_halvings_for_a_decaying_rate():
    rates = list(1e-3 * 100.0 ** -(np.arange(5) / 4))
    fig = plotting.plot_learning_curves(
        {"loss": [1.0, 0.8, 0.7, 0.6, 0.5], "learning_rate": rates}
    )
    assert _vlines(fig.axes[0], "learning-rate halving") == []


def test_filters_grid_of_square_images():
    kernel = np.random.RandomState(0).randn(64, 10)
    fig = plotting.plot_filters(kernel)
    images = _images(fig)
    assert len(images) == 10
    assert all(im.get_array().shape == (8, 8) for im in images)
    np.testing.assert_allclose(images[3].get_array(), kernel[:, 3].reshape(8, 8))
    assert len(fig.axes) == 12  # 3 x 4 grid, two left empty


def test_filters_from_model_and_explicit_shape():
    model = keras.Sequential(
        [keras.Input((20,)), keras.layers.Dense(6), keras.layers.Dense(2)]
    )
    fig = plotting.plot_filters(model, image_shape=(4, 5))
    images = _images(fig)
    assert len(images) == 6
    assert images[0].get_array().shape == (4, 5)
    np.testing.assert_allclose(
        images[5].get_array(), model.layers[0].kernel.numpy()[:, 5].reshape(4, 5)
    )
    with pytest.raises(ValueError, match="image_shape"):
        plotting.plot_filters(model)


def test_activations_samples_by_units():
    rng = np.random.RandomState(0)
    acts = {"hidden_1": rng.rand(300, 16), "hidden_2": rng.rand(300, 8)}
    fig = plotting.plot_activations(acts, max_samples=100)
    images = _images(fig)
    assert [im.get_array().shape for im in images] == [(100, 16), (100, 8)]
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == ["hidden_1", "hidden_2"]
    assert titled[0].get_xlabel() == "unit" and titled[0].get_ylabel() == "sample"
    assert len(fig.axes) == 4  # two panels and their colorbars
    single = plotting.plot_activations(rng.rand(5, 3))
    assert _images(single)[0].get_array().shape == (5, 3)


def test_weight_histograms_per_layer():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, name="a"),
            keras.layers.Dense(3, name="b"),
        ]
    )
    fig = plotting.plot_weight_histograms(model, bins=10)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2
    assert panels[0].get_title().startswith("a/kernel")
    assert panels[1].get_title().startswith("b/kernel")
    counts = [patch.get_height() for patch in panels[0].patches]
    assert len(counts) == 10 and sum(counts) == 4 * 8
    fig = plotting.plot_weight_histograms({"w": np.ones((3, 3))})
    assert len(fig.axes) == 1


def test_reconstructions_beside_inputs():
    rng = np.random.RandomState(0)
    inputs, recon = rng.rand(10, 64), rng.rand(10, 64)
    fig = plotting.plot_reconstructions(inputs, recon, n=6)
    images = _images(fig)
    assert len(images) == 12
    assert all(im.get_array().shape == (8, 8) for im in images)
    np.testing.assert_allclose(images[0].get_array(), inputs[0].reshape(8, 8))
    # Top row inputs, bottom row their reconstructions.
    np.testing.assert_allclose(images[6].get_array(), recon[0].reshape(8, 8))
    np.testing.assert_allclose(images[11].get_array(), recon[5].reshape(8, 8))
    ylabels = {ax.get_ylabel() for ax in fig.axes}
    assert {"input", "reconstruction"} <= ylabels
    lines = plotting.plot_reconstructions(rng.rand(4, 40), rng.rand(4, 40), n=4)
    assert not _images(lines)
    assert sum(len(ax.get_lines()) for ax in lines.axes) == 8
    with pytest.raises(ValueError, match="same shape"):
        plotting.plot_reconstructions(inputs, recon[:, :10])


def test_lr_finder_curve():
    rates = np.logspace(-4, 0, 9)
    losses = np.array([2.3, 2.3, 2.2, 1.9, 1.2, 0.9, 1.0, 3.0, np.inf])
    fig = plotting.plot_lr_finder(rates, losses)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "learning rate" and ax.get_ylabel() == "loss"
    loss_line = ax.get_lines()[0]
    assert len(loss_line.get_xdata()) == 8  # the diverged rate is drawn apart
    suggestion = [line for line in ax.get_lines() if "suggested" in line.get_label()]
    assert len(suggestion) == 1
    assert 1e-3 <= suggestion[0].get_xdata()[0] <= 1e-1
    # An object with attributes, e.g. a learning-rate finder result.
    result = SimpleNamespace(
        learning_rates=rates[::-1], losses=losses[::-1], learning_rate=0.003
    )
    fig = plotting.plot_lr_finder(result)
    marked = [
        line for line in fig.axes[0].get_lines() if "suggested" in line.get_label()
    ]
    assert marked[0].get_xdata()[0] == pytest.approx(0.003)
    with pytest.raises(TypeError, match="rates"):
        plotting.plot_lr_finder(object())


def test_search_trials_score_against_each_hyperparameter():
    results = {
        "learning_rate": [1e-4, 1e-3, 1e-2, 1e-1],
        "optimizer": ["sgd", "adam", "adam", "sgd"],
        "dropout": [0.0, 0.2, 0.5, 0.1],
        "score": [0.5, 0.8, 0.9, 0.6],
    }
    fig = plotting.plot_search_trials(results)
    panels = [ax for ax in fig.axes if ax.get_xlabel()]
    assert [ax.get_xlabel() for ax in panels] == [
        "learning_rate",
        "optimizer",
        "dropout",
    ]
    assert all(ax.get_ylabel() == "score" for ax in panels)
    assert panels[0].get_xscale() == "log"
    assert panels[2].get_xscale() == "linear"
    assert [t.get_text() for t in panels[1].get_xticklabels()] == ["adam", "sgd"]
    # Every trial plotted, and the best one (score 0.9) starred.
    points = panels[0].collections[0].get_offsets()
    assert len(points) == 4
    best = panels[0].collections[1].get_offsets()
    np.testing.assert_allclose(best, [[1e-2, 0.9]])
    with pytest.raises(ValueError, match="score"):
        plotting.plot_search_trials({"a": [1]})


def test_figures_render_without_pyplot(tmp_path, history):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = plotting.plot_learning_curves(history)
    # Built on an Agg canvas, outside pyplot's figure manager (no global state).
    assert isinstance(fig.canvas, FigureCanvasAgg)
    assert fig.canvas.manager is None
    fig.savefig(tmp_path / "curves.png", dpi=30)
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_weight_histograms_of_a_diverged_network():
    # NaN and infinite weights are counted in the title, the finite drawn;
    # matplotlib's histogram failed on the infinite range.
    kernel = np.array([[1.0, np.nan], [0.5, np.inf], [0.5, 2.0]])
    fig = plotting.plot_weight_histograms(
        {"w": kernel, "dead": np.full((2, 2), np.nan)}, bins=4
    )
    ax_w, ax_dead = [ax for ax in fig.axes if ax.get_title()]
    assert ax_w.get_title() == "w\nmean 1, std 0.612, 2 not finite"
    assert sum(patch.get_height() for patch in ax_w.patches) == 4
    assert ax_dead.get_title() == "dead\n4 weights, 4 not finite"
    assert [t.get_text() for t in ax_dead.texts] == ["no finite weights"]


def test_edge_histories_and_empty_inputs():
    # One epoch, a constant loss, NaN values: a figure each.
    for history in (
        {"loss": [1.0], "val_loss": [1.2], "learning_rate": [1e-3]},
        {"loss": [1.0] * 4, "val_loss": [1.0] * 4},
        {"loss": [1.0, np.nan, 0.5], "val_loss": [np.nan, 1.0, np.inf]},
    ):
        fig = plotting.plot_learning_curves(history, best_epoch=0)
        assert isinstance(fig, Figure)
        np.testing.assert_array_equal(
            fig.axes[0].get_lines()[0].get_ydata(), history["loss"]
        )
    # A single unit is a filter; none is a clear error, not a division by 0.
    assert len(_images(plotting.plot_filters(np.ones((4, 1))))) == 1
    with pytest.raises(ValueError, match=r"No filters to show.*\(4, 0\)"):
        plotting.plot_filters(np.ones((4, 0)))
    with pytest.raises(ValueError, match=r"No reconstructions to show.*\(0, 4\)"):
        plotting.plot_reconstructions(np.ones((0, 4)), np.ones((0, 4)))


def test_learning_curves_name_an_unfitted_estimator_and_an_unlogged_metric(history):
    # They said "'DeepStackClassifier' object is not iterable" and KeyError: 'f1'.
    from sklearn.exceptions import NotFittedError

    from deepstack import DeepStackClassifier

    with pytest.raises(NotFittedError, match="DeepStackClassifier is not fitted"):
        plotting.plot_learning_curves(DeepStackClassifier())
    with pytest.raises(ValueError, match=r"history has no 'f1' key; keys: \['acc"):
        plotting.plot_learning_curves(history, metric="f1")


def test_figures_of_a_fitted_search_point_to_its_best_estimator():
    # A fitted search has no history_ nor model_: it was said to be not
    # fitted ('Fit the estimator first').
    from deepstack import DeepStackClassifier, DeepStackSearch

    search = DeepStackSearch(DeepStackClassifier())
    search.best_estimator_ = DeepStackClassifier()  # as fit leaves it
    with pytest.raises(TypeError, match=r"DeepStackSearch has no history_.*best_est"):
        plotting.plot_learning_curves(search)
    with pytest.raises(TypeError, match=r"For a search, pass its best_estimator_"):
        plotting.plot_weight_histograms(search)


def test_search_trials_of_a_search_and_its_results():
    # A search's results_ (or the search) plots its param_ columns: trial_id,
    # status, fit_time... were drawn as hyperparameters, and the search itself
    # was "not iterable".
    from sklearn.exceptions import NotFittedError

    from deepstack import DeepStackClassifier, DeepStackSearch

    results = {
        "trial_id": ["0", "1", "2"],
        "status": ["COMPLETED", "COMPLETED", "FAILED"],
        "score": [0.5, 0.8, np.nan],
        "fit_time": [1.0, 2.0, 0.1],
        "params": [{"l2": 1e-4}, {"l2": 1e-2}, {"l2": 1e-1}],
        "param_l2": [1e-4, 1e-2, 1e-1],
        "param_hidden_layer_sizes": [(8,), (4, 4), (8,)],
    }
    for given in (results, pd.DataFrame(results), SimpleNamespace(results_=results)):
        fig = plotting.plot_search_trials(given)
        panels = [ax for ax in fig.axes if ax.get_xlabel()]
        assert [ax.get_xlabel() for ax in panels] == ["l2", "hidden_layer_sizes"]
        labels = [t.get_text() for t in panels[1].get_xticklabels()]
        assert labels == ["(4, 4)", "(8,)"]
        np.testing.assert_allclose(
            panels[0].collections[1].get_offsets(), [[1e-2, 0.8]]
        )
    with pytest.raises(NotFittedError, match="DeepStackSearch is not fitted"):
        plotting.plot_search_trials(DeepStackSearch(DeepStackClassifier()))


def test_figures_of_arrays_refuse_an_estimator_by_argument():
    # NumPy said "float() argument must be a string or a real number, not
    # 'DeepStackClassifier'".
    from deepstack import DeepStackClassifier

    clf = DeepStackClassifier()
    with pytest.raises(TypeError, match=r"activations.*hidden_activations\(est"):
        plotting.plot_activations(clf)
    with pytest.raises(TypeError, match=r"inputs of plot_reconstructions are arr"):
        plotting.plot_reconstructions(clf, np.ones((2, 4)))
