"""Diagnostics: why does training not work? Numbers, advice and figures."""

from deepstack.diagnostics._capacity import Capacity, capacity
from deepstack.diagnostics._common import hidden_activations
from deepstack.diagnostics._curves import analyze_curves, learning_rate_halvings
from deepstack.diagnostics._findings import Finding
from deepstack.diagnostics._gradients import GradientCheckResult, check_gradients
from deepstack.diagnostics._overfit import OverfitResult, overfit_small_subset
from deepstack.diagnostics._report import DiagnosticReport, diagnose
from deepstack.diagnostics._units import LayerHealth, UnitHealth, unit_health

__all__ = [
    "Capacity",
    "DiagnosticReport",
    "Finding",
    "GradientCheckResult",
    "LayerHealth",
    "OverfitResult",
    "UnitHealth",
    "analyze_curves",
    "capacity",
    "check_gradients",
    "diagnose",
    "hidden_activations",
    "learning_rate_halvings",
    "overfit_small_subset",
    "unit_health",
]
