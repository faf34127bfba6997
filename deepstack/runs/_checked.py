"""A run folder's files read with checks: a file that is damaged (cut short,
emptied, edited) raises a ``ValueError`` naming it, for :func:`load_run`
and :func:`write_report` alike."""

import json
from pathlib import Path

import pandas as pd

from deepstack.runs import _files


def damaged(path, message):
    return ValueError(f"Run folder {str(path)!r} is damaged: {message}.")


# The columns of importance.csv that TableRun.importance and the report read.
IMPORTANCE = ("column", "importance", "std")

OPTIONAL = (
    "; the run needs it only for its report: delete it (the report is then "
    "written without it) or fit the run again"
)


def read_optional_csv(path, name, needs=(), text=()):
    """The table in the run folder's file ``name``, None when there is none;
    a ``ValueError`` naming the file when it is no CSV (emptied, cut short,
    edited) or lacks a column of ``needs``. The columns ``text`` are read as
    written (``"007"``)."""
    file = Path(path) / name
    if not file.exists():
        return None
    try:
        frame = pd.read_csv(file, dtype=dict.fromkeys(text, str))
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise damaged(path, f"{name} is not a readable CSV ({e}){OPTIONAL}") from e
    missing = [c for c in needs if c not in frame.columns]
    if missing:
        raise damaged(
            path,
            f"{name} lacks the column(s) {missing} (its columns are "
            f"{list(map(str, frame.columns))}){OPTIONAL}",
        )
    return frame


def read_findings(path):
    """``findings.json`` of the run folder (``{}`` when there is none), as
    :func:`~deepstack.runs._report.findings_for` writes it; a ``ValueError``
    naming the file when it is not."""
    if not (Path(path) / "findings.json").exists():
        return {}
    findings = run_json(path, "findings.json", OPTIONAL)
    items, layers = findings.get("findings", []), findings.get("unit_health") or []
    entries = ("code", "severity", "message")
    if not (
        isinstance(items, list)
        and all(isinstance(f, dict) and all(k in f for k in entries) for f in items)
        and isinstance(layers, list)
        and all(isinstance(layer, dict) for layer in layers)
    ):
        raise damaged(
            path,
            "findings.json is not a list of findings (each with a 'code', "
            f"'severity' and 'message') and of layers{OPTIONAL}",
        )
    return findings


def run_json(path, name, advice=""):
    """The JSON object in the run folder's file ``name``; a ``ValueError``
    naming the file when it is no JSON object (cut short, emptied, edited)."""
    try:
        value = _files.read_json(path / name)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise damaged(path, f"{name} is not valid JSON ({error}){advice}") from error
    if not isinstance(value, dict):
        raise damaged(
            path, f"{name} holds a {type(value).__name__}, not an object{advice}"
        )
    return value


def check_config(path, config):
    """The entries of ``config.json`` that predicting reads, checked."""
    for key in ("task", "target", "feature_columns"):
        if key not in config:
            raise damaged(path, f"config.json lacks {key!r}")
    columns = config["feature_columns"]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise damaged(path, "config.json's 'feature_columns' is no list of names")
    if config["task"] not in ("binary", "multiclass", "regression"):
        raise damaged(path, f"config.json's 'task' {config['task']!r} is no task")
    if not isinstance(config["target"], str):
        raise damaged(path, "config.json's 'target' is no column name")
