"""Tables: column roles and preprocessing for pandas DataFrames (built on skrub)."""

from deepstack.tables._preprocess import ReadingWarning, TablePreprocessor, infer_task

__all__ = ["ReadingWarning", "TablePreprocessor", "infer_task"]
