"""diagnose(): run every check on an estimator and gather a report."""

import html
import math
import os
import time

import keras
import numpy as np
import scipy.sparse as sp
from sklearn.base import clone, is_classifier
from sklearn.pipeline import Pipeline

from deepstack.diagnostics._capacity import capacity
from deepstack.diagnostics._common import (
    as_float_array,
    as_float_matrix,
    check_deepstack_estimator,
    fit_through_divergence,
    hidden_activations,
)
from deepstack.diagnostics._curves import ADVICE_DIVERGING, analyze_curves
from deepstack.diagnostics._findings import Finding, sort_findings
from deepstack.diagnostics._gradients import check_gradients
from deepstack.diagnostics._overfit import overfit_small_subset
from deepstack.diagnostics._units import unit_health
from deepstack.estimators._unlabeled import unlabeled_target_rows

ADVICE_SLOW = [
    "Train on a GPU (install the GPU build of the Keras backend).",
    "Distribute training over several devices (keras.distribution).",
    "Use a smaller network, fewer epochs or a larger batch_size.",
]
ADVICE_UNDERPERFORMING = [
    "Use a larger network (more units or layers).",
    "Fix the optimization: tune the learning rate, standardize inputs, batch "
    "normalization.",
]

_SEVERITY_COLORS = {"error": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}


class DiagnosticReport:
    """What :func:`diagnose` found: findings, measurements and figures.

    ``str(report)`` gives a text report; ``report.save(directory)`` writes an
    HTML page with its figures as PNG files.

    Attributes
    ----------
    findings : list of Finding
        Sorted by severity (errors first).
    capacity : Capacity
    unit_health_initial, unit_health_final : UnitHealth
        Hidden units before and after training.
    gradient_check : GradientCheckResult or None
    overfit : OverfitResult or None
    history : dict
        The estimator's ``history_``.
    figures : dict of str to matplotlib.figure.Figure
    estimator_name : str
        The diagnosed estimator's class name, as the report's title shows it
        (a wrapper's with the network's in parentheses, e.g.
        ``"Pipeline (DeepStackClassifier)"``).
    """

    def __init__(
        self,
        findings,
        *,
        capacity,
        unit_health_initial,
        unit_health_final,
        gradient_check,
        overfit,
        history,
        figures,
        estimator_name,
    ):
        self.findings = sort_findings(findings)
        self.capacity = capacity
        self.unit_health_initial = unit_health_initial
        self.unit_health_final = unit_health_final
        self.gradient_check = gradient_check
        self.overfit = overfit
        self.history = history
        self.figures = figures
        self.estimator_name = estimator_name

    @property
    def codes(self):
        """Codes of the findings, e.g. ``["diverging", "capacity"]``."""
        return [f.code for f in self.findings]

    @property
    def ok(self):
        """True when no finding is an error or a warning."""
        return all(f.severity == "info" for f in self.findings)

    def __getitem__(self, code):
        for finding in self.findings:
            if finding.code == code:
                return finding
        raise KeyError(code)

    def _sections(self):
        sections = [("Capacity", str(self.capacity))]
        if self.unit_health_initial is not None:
            sections.append(
                ("Hidden units before training", str(self.unit_health_initial))
            )
        if self.unit_health_final is not None:
            sections.append(
                ("Hidden units after training", str(self.unit_health_final))
            )
        if self.gradient_check is not None:
            sections.append(("Gradient check", str(self.gradient_check)))
        if self.overfit is not None:
            sections.append(("Small-subset overfitting", str(self.overfit)))
        return sections

    def __str__(self):
        errors = sum(f.severity == "error" for f in self.findings)
        warnings = sum(f.severity == "warning" for f in self.findings)
        lines = [
            f"Diagnostic report for {self.estimator_name}: {errors} error(s), "
            f"{warnings} warning(s)",
            "",
            "Findings",
            "--------",
        ]
        lines.extend(str(f) for f in self.findings)
        for title, body in self._sections():
            lines.extend(["", title, "-" * len(title), body])
        return "\n".join(lines)

    def __repr__(self):
        return f"<DiagnosticReport {self.codes}>"

    def save(self, directory, *, dpi=90):
        """Write ``report.html`` and one PNG per figure into ``directory``.

        Parameters
        ----------
        directory : str or path-like
            Created if missing.
        dpi : int, default=90

        Returns
        -------
        str
            Path of the HTML file.
        """
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        images = []
        for name, fig in self.figures.items():
            filename = f"{name}.png"
            fig.savefig(os.path.join(directory, filename), dpi=dpi)
            images.append((name, filename))
        path = os.path.join(directory, "report.html")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(self._html(images))
        return path

    def _html(self, images):
        esc = html.escape
        parts = [
            "<!DOCTYPE html><html><head><meta charset='utf-8'>",
            f"<title>deepstack diagnostics: {esc(self.estimator_name)}</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
            "pre{background:#f5f5f5;padding:8px;overflow-x:auto}"
            ".finding{border-left:6px solid;padding:4px 10px;margin:8px 0}"
            "img{max-width:100%}</style></head><body>",
            f"<h1>Diagnostic report: {esc(self.estimator_name)}</h1>",
            "<h2>Findings</h2>",
        ]
        for f in self.findings:
            color = _SEVERITY_COLORS[f.severity]
            evidence = ", ".join(
                f"{esc(str(k))} = {esc(_fmt(v))}" for k, v in f.evidence.items()
            )
            advice = "".join(f"<li>{esc(a)}</li>" for a in f.advice)
            parts.append(
                f"<div class='finding' style='border-color:{color}'>"
                f"<b style='color:{color}'>{f.severity.upper()}</b> "
                f"<code>{esc(f.code)}</code>: {esc(f.message)}"
                + (f"<br><small>{evidence}</small>" if evidence else "")
                + (f"<ul>{advice}</ul>" if advice else "")
                + "</div>"
            )
        for title, body in self._sections():
            parts.append(f"<h2>{esc(title)}</h2><pre>{esc(body)}</pre>")
        if images:
            parts.append("<h2>Figures</h2>")
        for name, filename in images:
            title = name.replace("_", " ").capitalize()
            parts.append(
                f"<h3>{esc(title)}</h3><img src='{esc(filename)}' alt='{esc(name)}'>"
            )
        parts.append("</body></html>")
        return "\n".join(parts)


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _has_gpu():
    try:
        return any(
            not d.lower().startswith("cpu") for d in keras.distribution.list_devices()
        )
    except Exception:  # noqa: BLE001 - a missing backend feature means "no GPU"
        return False


def _forward_seconds_per_sample(model, X):
    sample = as_float_array(X, max_rows=1024)
    model(sample[:2], training=False)  # warm up (tracing, allocation)
    start = time.perf_counter()
    model(sample, training=False)
    return (time.perf_counter() - start) / len(sample)


def diagnose(
    estimator,
    X,
    y,
    *,
    gradients=True,
    overfit=True,
    figures=True,
    n_overfit_samples=500,
    overfit_max_epochs=100,
    slow_epoch_seconds=60.0,
    random_state=0,
):
    """Run deepstack's diagnostics on an estimator and report what is wrong.

    Checks, in order: capacity (parameters, FLOPs, estimated epoch time), the
    training curves in ``history_`` (divergence, bouncing, over-/under-
    fitting, collapse), hidden-unit health before and after training
    (saturation, dead ReLUs, correlation, variance across layers), a
    float64 gradient check, and whether a clone can overfit a small subset
    with regularization off.

    Parameters
    ----------
    estimator : deepstack estimator
        Fitted (its ``model_`` and ``history_`` are examined); an unfitted one
        is cloned and fitted on ``X, y`` first (the argument is not modified).
        A Pipeline ending in a deepstack estimator is diagnosed through its
        last step (on ``X`` transformed by the steps before it), a bagging
        ensemble through its first member. Anything else is refused before
        any training.
    X, y : array-like
        Data to measure on (e.g. the training set); ``X`` may be sparse.
        Rows that ``y`` marks unlabeled (-1 labels of a classifier without a
        class -1, NaN targets of a regressor) are left out of the checks that
        need targets (chance accuracy, gradient check, small-subset
        overfitting).
    gradients : bool, default=True
        Run :func:`check_gradients`.
    overfit : bool, default=True
        Run :func:`overfit_small_subset` (trains a clone: the slowest check).
    figures : bool, default=True
        Build the figures (learning curves, activations, weight histograms,
        first-layer filters for square image inputs).
    n_overfit_samples : int, default=500
    overfit_max_epochs : int, default=100
    slow_epoch_seconds : float, default=60.0
        Flag the network as too slow when an estimated training epoch over
        ``X`` takes longer than this.
    random_state : int, default=0

    Returns
    -------
    DiagnosticReport
        Findings with severity, measured evidence and advice; ``print`` it or
        ``report.save(directory)``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from deepstack import DeepStackClassifier
    >>> from deepstack.diagnostics import diagnose
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = DeepStackClassifier((8,), max_epochs=5, random_state=0).fit(X, y)
    >>> report = diagnose(clf, X, y, overfit=False, figures=False)
    >>> "capacity" in report.codes
    True
    """
    check_deepstack_estimator(estimator, "diagnose", wrapped=True)
    wrapper = estimator
    estimator, findings = _fitted(estimator, X, y)
    estimator, X = _unwrap(estimator, X)
    X = as_float_matrix(X)
    history = dict(getattr(estimator, "history_", {}) or {})
    cap, capacity_findings = _capacity_findings(estimator, X, slow_epoch_seconds)
    findings.extend(capacity_findings)
    findings.extend(_curve_findings(estimator, y, history, findings))
    health_initial = unit_health(estimator, X, initial=True)
    health_final = unit_health(estimator, X)
    findings.extend(_unit_findings(health_initial, "initial"))
    findings.extend(_unit_findings(health_final, "final"))
    grad_result = None
    if gradients:
        grad_result = check_gradients(estimator, X, y, random_state=random_state)
        findings.append(_gradient_finding(grad_result))
    overfit_result = None
    if overfit:
        overfit_result = overfit_small_subset(
            estimator,
            X,
            y,
            n_samples=n_overfit_samples,
            max_epochs=overfit_max_epochs,
            random_state=random_state,
        )
        findings.append(_overfit_finding(overfit_result))
    return DiagnosticReport(
        findings,
        capacity=cap,
        unit_health_initial=health_initial,
        unit_health_final=health_final,
        gradient_check=grad_result,
        overfit=overfit_result,
        history=history,
        figures=_figures(estimator, X, history) if figures else {},
        estimator_name=_name(wrapper, estimator),
    )


def _name(wrapper, estimator):
    name = type(estimator).__name__
    if wrapper is estimator:
        return name
    return f"{type(wrapper).__name__} ({name})"


def _unwrap(estimator, X=None):
    """``(the deepstack estimator holding the network, X as it sees it)``: a
    Pipeline's last step, with ``X`` (when given) transformed by the steps
    before it; a bagging ensemble's first member (its curves and units stand
    for the others), or None before the ensemble is fitted."""
    from deepstack.ensemble import is_bagging

    while True:
        if isinstance(estimator, Pipeline):
            if X is not None:
                X = estimator[:-1].transform(X)
            estimator = estimator[-1]
        elif is_bagging(estimator):
            members = getattr(estimator, "estimators_", None)
            if not members:
                return None, X
            estimator = members[0]
        else:
            return estimator, X


def _fitted(estimator, X, y):
    """``estimator`` if fitted, else a clone fitted on ``X, y``; and the findings
    of that fit ("fitted_clone", and "diverging" when the fit diverged: the
    clone then keeps the last finite weights, which the other checks use)."""
    if hasattr(_unwrap(estimator)[0], "model_"):
        return estimator, []
    fitted = clone(estimator)
    findings = [
        Finding(
            "fitted_clone",
            "info",
            "The estimator was not fitted; diagnosed a clone fitted on X, y.",
        )
    ]
    diverged = fit_through_divergence(fitted, X, y)
    if diverged is not None:
        holder, _ = _unwrap(fitted)
        params = holder.get_params()
        evidence = {
            key: params[key] for key in ("optimizer", "learning_rate") if key in params
        }
        evidence["epochs"] = len(getattr(holder, "history_", {}).get("loss", []))
        findings.insert(
            0, Finding("diverging", "error", diverged, evidence, ADVICE_DIVERGING)
        )
    return fitted, findings


def _capacity_findings(estimator, X, slow_epoch_seconds):
    """The network's size and speed: "capacity", and "too_slow" when an
    estimated epoch over ``X`` takes longer than ``slow_epoch_seconds``."""
    cap = capacity(estimator)
    n_samples = X.shape[0]
    per_sample = _forward_seconds_per_sample(estimator.model_, X)
    epoch_seconds = 3.0 * per_sample * n_samples
    gpu = _has_gpu()
    evidence = {
        "params": cap.params,
        "forward_flops_per_sample": cap.forward_flops,
        "training_flops_per_epoch": cap.epoch_flops(n_samples),
        "estimated_epoch_seconds": epoch_seconds,
        "gpu": gpu,
    }
    findings = [
        Finding(
            "capacity",
            "info",
            f"{cap.params:,} parameters, {cap.forward_flops:,} FLOPs per sample "
            f"forward and {cap.training_flops:,} per training step.",
            evidence,
        )
    ]
    if epoch_seconds > slow_epoch_seconds:
        findings.append(
            Finding(
                "too_slow",
                "warning",
                f"An epoch over {n_samples} samples takes about {epoch_seconds:.0f} s.",
                evidence,
                ADVICE_SLOW if not gpu else ADVICE_SLOW[1:],
            )
        )
    return cap, findings


def _curve_findings(estimator, y, history, earlier):
    """The training curves' findings (see :func:`analyze_curves`), plus
    "underperforming" with underfitting; a divergence already reported by
    the fit (in ``earlier``) is not reported twice."""
    chance = _chance_accuracy(estimator, y) if is_classifier(estimator) else None
    # The estimator, not only its history: its lr_schedule shapes the advice.
    source = estimator if hasattr(estimator, "history_") else history
    findings = analyze_curves(source, chance_accuracy=chance)
    if any(f.code == "diverging" for f in earlier):
        findings = [f for f in findings if f.code != "diverging"]
    if any(f.code == "underfitting" for f in findings):
        findings.append(
            Finding(
                "underperforming",
                "info",
                "The network underperforms on its own training data.",
                {},
                ADVICE_UNDERPERFORMING,
            )
        )
    return findings


def _chance_accuracy(classifier, y):
    """The accuracy of predicting the majority, as the history's "accuracy"
    measures it: over the labels the classifier knows (rows marked unlabeled
    left out), per label for a multilabel indicator (the mean over labels
    of ``max(p, 1 - p)``, ``p`` the label's frequency). None without rows."""
    if sp.issparse(y):
        y = y.toarray()
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        frequency = y.astype(np.float64).mean(axis=0)
        return float(np.maximum(frequency, 1.0 - frequency).mean())
    mask = unlabeled_target_rows(classifier, y)
    y = np.ravel(y if mask is None else y[~mask])
    y = y[np.isin(y, getattr(classifier, "classes_", np.unique(y)))]
    if y.size == 0:
        return None
    _, counts = np.unique(y, return_counts=True)
    return float(counts.max() / counts.sum())


def _gradient_finding(result):
    """ "gradient_check": info when backpropagation matches finite
    differences, error otherwise (a warning when the check could not run in
    float64, whose finite differences are too imprecise to convict)."""
    if result.passed:
        return Finding(
            "gradient_check",
            "info",
            "Backpropagated gradients match finite differences.",
            {"max_relative_error": max(result.layer_errors.values(), default=0.0)},
        )
    if not result.layer_errors:
        return Finding(
            "gradient_check",
            "warning",
            "No gradient entry could be checked: every one tried was at a ReLU kink.",
            {},
            ["Run check_gradients on other rows or with a larger n_params."],
        )
    if result.dtype != "float64":
        return Finding(
            "gradient_check",
            "warning",
            f"The gradient check ran in {result.dtype}, not float64 (Keras "
            "computes in float64 only with the TensorFlow backend): its finite "
            f"differences are imprecise, so the errors in {result.failed_layers} "
            "prove nothing.",
            dict(result.layer_errors),
            ["Run check_gradients with KERAS_BACKEND=tensorflow to decide."],
        )
    return Finding(
        "gradient_check",
        "error",
        "Backpropagated gradients differ from finite differences in "
        f"layer(s) {result.failed_layers}; suspect {result.suspect_layer!r}.",
        dict(result.layer_errors),
        [
            "Check the custom layers' call/gradient code (a stop_gradient or a "
            "wrong custom gradient).",
        ],
    )


def _overfit_finding(result):
    """ "overfit_small_subset" (info) or "cannot_overfit" (warning)."""
    if result.passed:
        return Finding(
            "overfit_small_subset",
            "info",
            f"A clone without regularization fits {result.n_samples} samples to "
            "about 0 training error.",
            {"training_error": result.training_error, "epochs": result.n_epochs},
        )
    return Finding(
        "cannot_overfit",
        "warning",
        f"A clone without regularization cannot fit {result.n_samples} samples "
        f"(training error {result.training_error:.3f}).",
        result.evidence,
        result.reasons,
    )


def _unit_findings(health, when):
    findings = []
    label = "at initialization" if when == "initial" else "after training"
    for layer in health:
        if layer.saturation is not None and layer.saturation > 0.5:
            findings.append(
                Finding(
                    f"saturated_units_{when}",
                    "warning",
                    f"{layer.saturation:.0%} of the {layer.activation} activations of "
                    f"{layer.name} are saturated {label}.",
                    {"layer": layer.name, "saturation": layer.saturation},
                    [
                        "Use smaller initial weights (Glorot), standardized inputs, "
                        "batch normalization or ReLU; lower the learning rate.",
                    ],
                )
            )
        if layer.dead_units is not None and layer.dead_units > 0.5:
            findings.append(
                Finding(
                    f"dead_units_{when}",
                    "warning",
                    f"{layer.dead_units:.0%} of the ReLUs of {layer.name} never fire "
                    f"{label}.",
                    {"layer": layer.name, "dead_units": layer.dead_units},
                    [
                        "Lower the learning rate, standardize the inputs or use "
                        "batch normalization.",
                    ],
                )
            )
        if not math.isnan(layer.correlation) and layer.correlation > 0.9:
            findings.append(
                Finding(
                    f"correlated_units_{when}",
                    "warning",
                    f"The units of {layer.name} are almost copies of each other "
                    f"{label}.",
                    {"layer": layer.name, "mean_abs_correlation": layer.correlation},
                    ["Check the initialization (random, not constant)."],
                )
            )
    ratio = health.variance_ratio
    if len(health) >= 2 and ratio > 100.0:
        findings.append(
            Finding(
                f"variance_drift_{when}",
                "warning",
                f"Activation variance differs by a factor {ratio:.3g} across layers "
                f"{label}; signals explode or vanish with depth.",
                {"variances": [x.variance for x in health]},
                ["Use Glorot/He initialization or batch normalization."]
                + ADVICE_DIVERGING[1:2],
            )
        )
    return findings


def _figures(estimator, X, history):
    # matplotlib loads only when a report draws its figures.
    from deepstack import plotting

    figs = {}
    if history.get("loss"):
        figs["learning_curves"] = plotting.plot_learning_curves(estimator)
    activations = hidden_activations(estimator, X, max_samples=200)
    if activations:
        figs["activations"] = plotting.plot_activations(activations)
    try:
        figs["weights"] = plotting.plot_weight_histograms(estimator)
    except ValueError:
        pass
    n_features = X.shape[1]
    side = math.isqrt(n_features)
    if n_features >= 16 and side * side == n_features:
        figs["filters"] = plotting.plot_filters(estimator)
    return figs
