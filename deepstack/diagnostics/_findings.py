"""A finding: one diagnosed problem (or fact), with its evidence and advice."""

SEVERITIES = ("error", "warning", "info")


class Finding:
    """One result of a diagnostic check.

    Parameters
    ----------
    code : str
        Short identifier, e.g. ``"diverging"``, ``"bouncing"``, ``"overfitting"``.
    severity : {"error", "warning", "info"}
    message : str
        What was found, in one sentence.
    evidence : dict, default=None
        The measured numbers behind it.
    advice : list of str, default=None
        What to try, from the troubleshooting checklist.
    """

    def __init__(self, code, severity, message, evidence=None, advice=None):
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}; got {severity!r}.")
        self.code = code
        self.severity = severity
        self.message = message
        self.evidence = dict(evidence or {})
        self.advice = list(advice or [])

    def __str__(self):
        lines = [f"[{self.severity.upper()}] {self.code}: {self.message}"]
        if self.evidence:
            lines.append(
                "    evidence: "
                + ", ".join(f"{k}={_fmt(v)}" for k, v in self.evidence.items())
            )
        lines.extend(f"    - {item}" for item in self.advice)
        return "\n".join(lines)

    def __repr__(self):
        return f"Finding({self.code!r}, {self.severity!r}, {self.message!r})"


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def sort_findings(findings):
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))
