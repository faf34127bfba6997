"""Tables: column roles and preprocessing for pandas DataFrames (built on skrub)."""

from deepstack.tables._preprocess import ROLES, TablePreprocessor, infer_task

__all__ = ["ROLES", "TablePreprocessor", "infer_task"]
