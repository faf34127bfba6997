"""The main job: fit a table from a file, save a run folder, report, predict."""

from deepstack.runs._choices import table_bagging, table_defaults
from deepstack.runs._fit_table import fit_table, parse_duration
from deepstack.runs._folder import load_run, save_run
from deepstack.runs._jobs import read_job, run_job
from deepstack.runs._progress import ProgressCallback, RunProgress
from deepstack.runs._report import write_report
from deepstack.runs._run import TableRun

__all__ = [
    "ProgressCallback",
    "RunProgress",
    "TableRun",
    "fit_table",
    "load_run",
    "parse_duration",
    "read_job",
    "run_job",
    "save_run",
    "table_bagging",
    "table_defaults",
    "write_report",
]
