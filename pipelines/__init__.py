"""Ready-made scikit-learn pipelines and the main job (``python -m pipelines NAME``)."""
