"""skrub's ``TableVectorizer`` as :class:`~deepstack.tables.TablePreprocessor`
uses it: configured for the columns that are no numbers
(:func:`make_vectorizer`), and written once per step when saved
(:func:`saved_vectorizer`, undone by :func:`restore_vectorizer` on loading).
"""

import numpy as np
from sklearn.model_selection import KFold
from sklearn.preprocessing import OneHotEncoder, TargetEncoder


def make_vectorizer(roles, target_type, *, min_frequency, text_components):
    """An unfitted ``TableVectorizer`` for the columns of ``roles`` that are
    no numbers: categorical ones one-hot encoded (categories seen fewer
    than ``min_frequency`` times grouped), high-cardinality ones
    target-encoded for a target of type ``target_type``, text embedded in
    ``text_components`` dimensions, dates split into numbers."""
    import skrub

    one_hot = OneHotEncoder(
        handle_unknown="infrequent_if_exist",
        min_frequency=min_frequency,
        sparse_output=False,
        dtype=np.float32,
    )
    specific = []
    # skrub treats numbers as numeric and strings by cardinality; the
    # roles override it column by column.
    for role, transformer in (
        ("categorical", one_hot),
        ("high_cardinality", _target_encoder(target_type)),
        ("text", skrub.StringEncoder(text_components, random_state=0)),
    ):
        columns = [c for c, r in roles.items() if r == role]
        if columns:
            specific.append((transformer, columns))
    return skrub.TableVectorizer(
        low_cardinality=one_hot,
        high_cardinality=_target_encoder(target_type),
        datetime=skrub.DatetimeEncoder(add_weekday=True),
        specific_transformers=specific,
    )


def _target_encoder(target_type="auto"):
    """A seeded TargetEncoder (its cross-fitting shuffles the rows)."""
    import sklearn

    major, minor = (int(p) for p in sklearn.__version__.split(".")[:2])
    if (major, minor) >= (1, 9):
        # 1.9 deprecates random_state in favour of a splitter.
        return TargetEncoder(
            target_type=target_type, cv=KFold(5, shuffle=True, random_state=0)
        )
    return TargetEncoder(target_type=target_type, random_state=0)


# The fitted TableVectorizer's lists of its pipeline's steps, by stage.
_STAGES = ("_preprocessors", "_encoders", "_specific_transformers", "_postprocessors")
# Per-column views of the same fitted steps, which the vectorizer rebuilds
# from its stage lists (``_store_processing_steps``).
_VIEWS = ("transformers_", "input_to_outputs_", "all_processing_steps_")


def saved_vectorizer(vectorizer):
    """A copy of a fitted ``TableVectorizer`` to save: each step of its
    pipeline once, selecting the columns it selected at fit.

    Its steps select columns by references to the steps before them, and
    it lists them again by stage and by column; skops writes an object
    again wherever it is referenced, so one categorical column took 3 MB
    and a hundred took 6 s to save. The copy transforms alike; loading
    restores the lists.
    """
    import copy

    import skrub.selectors
    from sklearn.pipeline import Pipeline

    if not hasattr(vectorizer, "_pipeline") or not all(
        hasattr(vectorizer, stage) for stage in _STAGES
    ):
        return vectorizer  # not a layout this knows: saved as it is
    steps = []
    for name, step in vectorizer._pipeline.steps:
        if hasattr(step, "_columns") and hasattr(step, "cols"):
            step = copy.copy(step)
            step.cols = skrub.selectors.cols(*step._columns)
        steps.append((name, step))
    saved = copy.copy(vectorizer)
    saved._pipeline = Pipeline(steps)
    saved._saved_stages = [len(getattr(vectorizer, stage)) for stage in _STAGES]
    saved._saved_named_encoders = list(vectorizer._named_encoders)
    for stage in (*_STAGES, "_named_encoders"):
        delattr(saved, stage)
    if hasattr(vectorizer, "_store_processing_steps") and all(
        hasattr(vectorizer, view) for view in _VIEWS
    ):
        for view in _VIEWS:
            delattr(saved, view)
        saved._saved_views = True
    return saved


def restore_vectorizer(vectorizer):
    """Undo :func:`saved_vectorizer` on a loaded vectorizer, in place."""
    counts = vectorizer.__dict__.pop("_saved_stages", None)
    if counts is None:
        return
    names = vectorizer.__dict__.pop("_saved_named_encoders")
    steps = [step for _, step in vectorizer._pipeline.steps]
    start = 0
    for stage, count in zip(_STAGES, counts):
        setattr(vectorizer, stage, steps[start : start + count])
        start += count
    vectorizer._named_encoders = dict(zip(names, vectorizer._encoders))
    if vectorizer.__dict__.pop("_saved_views", False):
        vectorizer._store_processing_steps()
