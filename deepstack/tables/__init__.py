"""Tables: column roles and preprocessing for pandas DataFrames (built on skrub)."""

from deepstack.tables._preprocess import TablePreprocessor, infer_task
from deepstack.tables._reading import Loss, ReadingWarning, merge_losses

__all__ = ["Loss", "ReadingWarning", "TablePreprocessor", "infer_task", "merge_losses"]
