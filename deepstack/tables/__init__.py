"""Tables: column roles and preprocessing for pandas DataFrames (built on skrub)."""

from deepstack.tables._preprocess import TablePreprocessor
from deepstack.tables._reading import Loss, ReadingWarning, merge_losses
from deepstack.tables._roles import infer_task

__all__ = ["Loss", "ReadingWarning", "TablePreprocessor", "infer_task", "merge_losses"]
