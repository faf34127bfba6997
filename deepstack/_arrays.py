"""Reading saved state that can only hold plain values: JSON and NumPy arrays."""

import json
import os
import zipfile

import numpy as np


def load_plain_arrays(path):
    """The arrays of the ``.npz`` file at ``path`` as a dict.

    Loaded with ``allow_pickle=False``: an archive holding a pickled object is
    refused with a ``ValueError`` and nothing in it runs.
    """
    if not os.path.exists(path):
        raise ValueError(f"{path} is missing.")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except EOFError as error:  # an empty file
        raise ValueError(f"{path} is damaged: it is empty ({error}).") from error
    except zipfile.BadZipFile as error:
        raise ValueError(
            f"{path} is damaged: it is no .npz archive, cut short? ({error})."
        ) from error
    except (ValueError, OSError) as error:
        raise ValueError(
            f"Refusing {path}: it holds something other than plain arrays "
            f"(pickled objects are never loaded): {error}"
        ) from error


def load_json(path):
    """The JSON document at ``path``; a ``ValueError`` if it is not valid JSON."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
