"""Tables: column roles and preprocessing for pandas DataFrames (built on skrub)."""

from deepstack.tables._preprocess import TablePreprocessor, infer_task

__all__ = ["TablePreprocessor", "infer_task"]
