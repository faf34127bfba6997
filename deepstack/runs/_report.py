"""``report.html``: one self-contained page about a run (images embedded).

The page is made from the run folder's files alone (config, metrics,
history, trials, test predictions, findings), so ``deepstack report`` can
write it again at any time without the data.
"""

import base64
import html
import io
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from deepstack.runs._checked import (
    IMPORTANCE,
    check_config,
    read_findings,
    read_optional_csv,
    run_json,
)

SECTIONS = (
    ("summary", "Summary"),
    ("data", "Data"),
    ("training", "Training"),
    ("search", "Search"),
    ("evaluation", "Evaluation on the test rows"),
    ("importance", "Columns that matter"),
    ("diagnostics", "Diagnostics"),
)

# Classes drawn in the ROC and precision-recall plot, at most.
_CURVES = 10

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
th { background: #f4f4f4; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.finding-error { color: #a00; } .finding-warning { color: #a60; }
.muted { color: #777; }
.wide { overflow-x: auto; max-width: 100%; }
td { max-width: 40em; overflow-wrap: anywhere; }
"""


def findings_for(run, X):
    """Findings about a fitted run, as plain dicts (for ``findings.json``).

    The learning curves (:func:`deepstack.diagnostics.analyze_curves`) and
    the health of the hidden units on the rows ``X`` (a frame of feature
    columns) after training.
    """
    from deepstack.diagnostics import analyze_curves, unit_health
    from deepstack.ensemble import is_bagging

    estimator = run.estimator
    if is_bagging(estimator):
        # The first member's curves and units stand for the others.
        estimator = estimator.estimators_[0]
    found = [
        {
            "code": f.code,
            "severity": f.severity,
            "message": f.message,
            "advice": list(f.advice),
        }
        for f in analyze_curves(estimator)
    ]
    Z = run.pipeline[0].transform(X)
    health = unit_health(estimator, Z, max_samples=1000)
    layers = [
        {
            "layer": layer.name,
            "activation": layer.activation,
            "units": layer.n_units,
            "saturation": layer.saturation,
            "dead_units": layer.dead_units,
            "sparsity": layer.sparsity,
            "mean_abs_correlation": layer.correlation,
        }
        for layer in health
    ]
    for layer in layers:
        dead = layer["dead_units"]
        if dead is not None and dead > 0.5:
            found.append(
                {
                    "code": "dead_units",
                    "severity": "warning",
                    "message": f"{dead:.0%} of the units of {layer['layer']} never "
                    "fire on the test rows.",
                    "advice": ["Lower the learning rate or use batch normalization."],
                }
            )
    return {"findings": found, "unit_health": layers}


def write_report(folder):
    """Write ``report.html`` into the run ``folder``; returns its path.

    Parameters
    ----------
    folder : path
        A run folder: the page is drawn from its ``config.json``,
        ``metrics.json`` and, where present, ``history.csv``,
        ``trials.csv``, ``test_predictions.csv``, ``importance.csv`` and
        ``findings.json``. An existing ``report.html`` is replaced.

    Returns
    -------
    pathlib.Path
        ``folder / "report.html"``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    folder = Path(folder)
    # A damaged file raises a ValueError naming it, not a KeyError from a
    # section drawing it.
    config = run_json(folder, "config.json")
    check_config(folder, config)
    metrics = run_json(folder, "metrics.json")
    history = read_optional_csv(folder, "history.csv", needs=["loss"])
    trials = read_optional_csv(folder, "trials.csv", needs=["score"])
    target = config["target"]
    columns = [target, f"predicted_{target}"]
    # Labels as written ("007" is no 7), as the classes are compared.
    labels = [] if config["task"] == "regression" else columns
    predictions = read_optional_csv(
        folder, "test_predictions.csv", needs=columns, text=labels
    )
    importance = read_optional_csv(folder, "importance.csv", needs=IMPORTANCE)
    findings = read_findings(folder)
    with warnings.catch_warnings():
        # A name in a script the font lacks (CJK) draws as boxes, with a
        # warning a character; the tables beside the plots hold it as written.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        body = [
            f"<h1>deepstack run: {_e(config['task'])} on "
            f"<code>{_e(config['target'])}</code></h1>",
            _section("summary", _summary(config, metrics)),
            _section("data", _data(config)),
            _section("training", _training(history, metrics, config.get("bagging"))),
            _section("search", _search(trials, metrics)),
            _section("evaluation", _evaluation(config, predictions)),
            _section("importance", _importance(importance, metrics)),
            _section("diagnostics", _diagnostics(findings)),
        ]
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>deepstack run: {_e(config['target'])}</title>"
        f"<style>{_STYLE}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    path = folder / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


# ------------------------------------------------------------ sections


def _section(key, content):
    title = dict(SECTIONS)[key]
    return f"<section id='{key}'><h2>{_e(title)}</h2>\n{content}\n</section>"


def _summary(config, metrics):
    test = metrics.get("test", {})
    primary = metrics.get("primary_metric")
    n_epochs = metrics.get("n_epochs")
    # Test metrics weighted by the weight column (as the training was).
    weighted = _weighted(test)
    rows = [
        ("data", config.get("source")),
        ("task", config.get("task")),
        ("target", config.get("target")),
        ("estimator", config.get("estimator")),
        ("hidden layers", config["params"].get("hidden_layer_sizes")),
        ("bagged networks (folds)", config.get("bagging") or 1),
        ("training rows", config.get("n_train")),
        *(
            (what, config[key])
            for what, key in (
                ("weight column", "weight_column"),
                ("group column (groups kept whole)", "group_column"),
            )
            if config.get(key)
        ),
        ("test rows", test.get("n_samples")),
        (f"test {primary}{weighted}", _fmt(test.get(primary))),
        (
            "epochs run (best)",
            f"{metrics.get('n_epochs')} ({_counted(metrics.get('best_epoch'))})",
        ),
        *(
            [("interrupted", f"Ctrl-C stopped training after epoch {n_epochs}")]
            if metrics.get("interrupted")
            else []
        ),
        ("fit time (s)", _fmt(metrics.get("times", {}).get("fit_s"))),
        ("seed", config.get("random_state")),
        ("versions", ", ".join(f"{k} {v}" for k, v in config["versions"].items())),
    ]
    parts = [
        _kv_table(rows),
        f"<h3>Test metrics{_e(weighted)}</h3>",
        _kv_table((k, v) for k, v in test.items() if k != "weighted_by"),
    ]
    if metrics.get("baselines"):
        parts += ["<h3>Baselines on the same rows</h3>", _baselines(metrics)]
    if metrics.get("validation"):
        what = "out of fold" if config.get("bagging") else "best epoch"
        parts += [f"<h3>Validation metrics ({what})</h3>"]
        parts.append(_kv_table(metrics["validation"].items()))
    notes = config.get("notes") or []
    if notes:
        parts.append("<h3>Notes</h3><ul>")
        parts += [f"<li>{_e(n)}</li>" for n in notes]
        parts.append("</ul>")
    parts.append("<details><summary>All estimator parameters</summary>")
    parts.append(_kv_table(sorted(config["params"].items())))
    parts.append("</details>")
    return "\n".join(parts)


def _weighted(test):
    """The title's suffix for test metrics weighted by a column, ``" (weighted
    by the column wt)"`` (or that the test rows lacked it); else ``""``."""
    if "weighted_by" not in test:
        return ""
    if test["weighted_by"] is None:
        return " (unweighted: the test rows lack the weight column)"
    return f" (weighted by the column {test['weighted_by']})"


def _baselines(metrics):
    """The run's test metrics beside those of scikit-learn's reference models,
    trained on the same preprocessed rows and scored on the same test rows."""
    fit_s = metrics.get("times", {}).get("fit_s")
    models = {"this run": {**metrics["test"], "fit_s": fit_s}, **metrics["baselines"]}
    names = [k for k in metrics["test"] if k not in ("n_samples", "weighted_by")]
    names.append("fit_s")
    head = "".join(f"<th>{_e(n)}</th>" for n in ["model", *names])
    rows = "".join(
        f"<tr><th>{_e(model)}</th>"
        + "".join(f"<td>{_e(_fmt(values.get(n)))}</td>" for n in names)
        + "</tr>"
        for model, values in models.items()
    )
    weighted = _weighted(metrics["test"])
    return (
        "<p>scikit-learn's models with their defaults, fitted on the network's "
        "training rows after the same preprocessing"
        + (f"; scored as the run is{_e(weighted)}" if weighted else "")
        + ".</p>"
        f"<table class='baselines'><tr>{head}</tr>{rows}</table>"
    )


def _data(config):
    columns = pd.DataFrame(config["columns"])
    if "log_scale" in columns:
        # A column read on a log scale says how; the others say nothing, and
        # without one the table has no such column.
        scales = [
            "" if m is None or pd.isna(m) else f"log(1 + x / {m:.4g})"
            for m in columns["log_scale"]
        ]
        if any(scales):
            columns["log_scale"] = scales
        else:
            columns = columns.drop(columns="log_scale")
    fp = config["fingerprint"]
    head = (
        f"<p>{fp['n_rows']} labeled rows, {len(fp['columns'])} columns; "
        f"{config.get('n_network_inputs')} network inputs after preprocessing. "
        f"Content hash <code>{fp['sha256'][:16]}</code>.</p>"
    )
    return head + columns.to_html(index=False, border=0)


def _training(history, metrics, bagging=None):
    if history is None or history.empty:
        return "<p class='muted'>No training history.</p>"
    from deepstack.plotting import plot_learning_curves

    logs = {c: history[c].tolist() for c in history.columns if c != "epoch"}
    figure = plot_learning_curves(logs, best_epoch=metrics.get("best_epoch"))
    halvings = 0
    if "learning_rate" in logs:
        rates = np.asarray(logs["learning_rate"], dtype=float)
        halvings = int(np.sum(rates[1:] < rates[:-1] * 0.99))
    first = f"The first of {bagging} bagged networks: " if bagging else ""
    return (
        f"<p>{first}{len(history)} epochs; the weights of epoch "
        f"{_counted(metrics.get('best_epoch'))} were kept; the learning rate was "
        f"lowered {halvings} time(s).</p>" + _img(figure, "learning curves")
    )


def _search(trials, metrics):
    summary = metrics.get("search")
    if trials is None or summary is None:
        return "<p class='muted'>No search: the run trained one configuration.</p>"
    from deepstack.plotting import plot_search_trials

    params = [c for c in trials.columns if c.startswith("param_")]
    parts = [
        f"<p>{summary['n_trials']} trials; best validation score "
        f"{_fmt(summary['best_score'])}.</p>",
        # None is a value of a parameter here (e.g. pretrain=None), not a gap.
        _kv_table(
            (k, "None" if v is None else v)
            for k, v in sorted(summary["best_params"].items())
        ),
    ]
    done = trials[trials["status"] == "COMPLETED"] if "status" in trials else trials
    if params and len(done) >= 1:
        frame = done[params + ["score"]].rename(
            columns={p: p.removeprefix("param_") for p in params}
        )
        frame = frame.map(lambda v: str(v) if isinstance(v, (list, tuple)) else v)
        parts.append(_img(plot_search_trials(frame.to_dict("list")), "search trials"))
    table = trials.to_html(
        index=False, border=0, na_rep="", float_format=lambda v: f"{v:.4g}"
    )
    parts.append(f"<div class='wide'>{table}</div>")
    return "\n".join(parts)


def _evaluation(config, predictions):
    if predictions is None or predictions.empty:
        return "<p class='muted'>No test rows.</p>"
    import matplotlib.pyplot as plt

    target = config["target"]
    y_true = predictions[target].to_numpy()
    y_pred = predictions[f"predicted_{target}"].to_numpy()
    figures = []
    if config["task"] == "regression":
        from sklearn.metrics import PredictionErrorDisplay

        fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
        PredictionErrorDisplay.from_predictions(
            y_true, y_pred, kind="actual_vs_predicted", ax=axes[0]
        )
        PredictionErrorDisplay.from_predictions(
            y_true, y_pred, kind="residual_vs_predicted", ax=axes[1]
        )
        axes[0].set_title("predicted vs true")
        axes[1].set_title("residuals")
        fig.tight_layout()
        figures.append(_img(fig, "predicted vs true and residuals"))
        return "\n".join(figures)
    from sklearn.metrics import (
        ConfusionMatrixDisplay,
        PrecisionRecallDisplay,
        RocCurveDisplay,
    )

    classes = [str(c) for c in config["classes"]]
    y_true, y_pred = y_true.astype(str), y_pred.astype(str)
    # The test rows' classes unseen at fit are rows of the matrix too (all
    # their rows errors): with only such rows, a matrix of the fitted
    # classes alone would have no row to show.
    labels = classes + [c for c in pd.unique(y_true) if c not in classes]
    # The matrix grows with the classes (up to a page); past 20 classes its
    # cells are colours without numbers.
    side = min(max(5.0, 0.28 * len(labels) + 2.5), 16.0)
    fig, ax = plt.subplots(figsize=(side + 0.5, side))
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=labels,
        ax=ax,
        colorbar=False,
        include_values=len(labels) <= 20,
        xticks_rotation="vertical" if len(labels) > 10 else "horizontal",
    )
    ax.set_title("confusion matrix")
    fig.tight_layout()
    figures.append(_img(fig, "confusion matrix"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    shown = classes[1:] if len(classes) == 2 else classes
    suffix = ""
    if len(shown) > _CURVES:
        # A legend of every class would not fit: the most frequent ones.
        counts = pd.Series(y_true).value_counts()
        shown = [c for c in counts.index if c in shown][:_CURVES]
        suffix = f", the {_CURVES} most frequent of {len(classes)} classes"
    for label in shown:
        column = f"proba_{label}"
        if column not in predictions or not (y_true == label).any():
            continue
        if (y_true == label).all():
            continue
        score = predictions[column].to_numpy()
        name = label if len(classes) > 2 else f"{label} (positive)"
        RocCurveDisplay.from_predictions(
            y_true == label, score, ax=axes[0], name=name, plot_chance_level=False
        )
        PrecisionRecallDisplay.from_predictions(
            y_true == label, score, ax=axes[1], name=name
        )
    axes[0].set_title(f"ROC (one vs rest{suffix})", fontsize="medium")
    axes[1].set_title(f"precision-recall (one vs rest{suffix})", fontsize="medium")
    fig.tight_layout()
    figures.append(_img(fig, "ROC and precision-recall curves"))
    return "\n".join(figures)


def _importance(importance, metrics, shown=20):
    if importance is None or importance.empty:
        return (
            "<p class='muted'>No column importance (a run without test rows, or "
            "test rows that cannot give the primary metric).</p>"
        )
    import matplotlib.pyplot as plt

    primary = metrics.get("primary_metric")
    top = importance.head(shown).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(top) + 1.2))
    # A long name would squeeze the bars into a corner: the plot shows its
    # start, the table below it whole.
    names = [_short(str(name)) for name in top["column"]]
    ax.barh(np.arange(len(top)), top["importance"], xerr=top["std"], color="#4c72b0")
    ax.set_yticks(np.arange(len(top)), names)
    ax.axvline(0, color="#999", linewidth=0.8)
    ax.set_xlabel(f"drop in test {primary} when the column is shuffled")
    fig.tight_layout()
    more = (
        f" (the first {shown} of {len(importance)})" if len(importance) > shown else ""
    )
    return (
        f"<p>How much the test {_e(primary)} drops when one column's values are "
        "shuffled among the test rows (mean and standard deviation over the "
        f"shuffles; scikit-learn's permutation importance){more}. A column near "
        "zero, or below, is one the model does not need on these rows.</p>"
        + _img(fig, "column importance")
        + importance.to_html(index=False, border=0, float_format=lambda v: f"{v:.4f}")
    )


def _diagnostics(findings):
    if not findings:
        return "<p class='muted'>No diagnostics recorded.</p>"
    items = findings.get("findings", [])
    parts = []
    if items:
        parts.append("<ul>")
        for f in items:
            advice = "".join(f"<li>{_e(a)}</li>" for a in f.get("advice", []))
            parts.append(
                f"<li class='finding-{_e(f['severity'])}'><b>{_e(f['code'])}</b>: "
                f"{_e(f['message'])}<ul>{advice}</ul></li>"
            )
        parts.append("</ul>")
    else:
        parts.append("<p>The learning curves show no problem.</p>")
    layers = findings.get("unit_health") or []
    if layers:
        parts.append("<h3>Hidden units on the test rows</h3>")
        frame = pd.DataFrame(layers).map(
            lambda v: _fmt(v) if isinstance(v, float) else v
        )
        parts.append(frame.to_html(index=False, border=0, na_rep=""))
    return "\n".join(parts)


# ------------------------------------------------------------ helpers


def _img(figure, alt):
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='{_e(alt)}' src='data:image/png;base64,{data}'>"


def _kv_table(rows):
    cells = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_fmt(v))}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _fmt(value):
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return "" if value is None else str(value)


def _e(value):
    return html.escape(str(value), quote=True)


def _counted(epoch):
    """An epoch as the page counts them, from 1 as the learning curves' axis
    (``metrics.json``'s ``best_epoch`` is an index into the history, from 0)."""
    return None if epoch is None else int(epoch) + 1


def _short(name, width=40):
    """``name`` cut to ``width`` characters, with an ellipsis."""
    return name if len(name) <= width else name[: width - 1] + "…"
