"""Folders written whole or not at all: staged beside their place, then
renamed into it (:func:`staged`), for ``deepstack.save`` and ``export``;
where a file of predictions may be written (:func:`check_file_out`).

A leaf module (the standard library only), so that any module may use it.
"""

import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def staged(path, overwrite, marker, writer):
    """A temporary folder beside ``path``, renamed to ``path`` on success.

    A save that is killed half-way leaves the previous directory (or none)
    behind, never a mix. ``path`` may replace (with ``overwrite``) only an
    empty folder or one that ``writer`` wrote, which holds ``marker``.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{writer} writes a folder: path must be a str or os.PathLike naming "
            f"it; got {path!r}."
        )
    # ``overwrite="no"`` (a truthy string, as from a config file) replaced an
    # earlier folder. (NumPy's booleans, 0 and 1 equal False or True.)
    try:
        boolean = overwrite in (False, True)
    except (TypeError, ValueError):  # an array
        boolean = False
    if not boolean:
        raise TypeError(
            f"{writer}'s overwrite must be True or False; got {overwrite!r}."
        )
    path = os.fspath(path)
    _check_target(path, overwrite, marker, writer)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".deepstack-save-", dir=parent)
    chmod_as_mkdir(tmp)
    try:
        yield tmp
        _move_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def holds_working_directory(path):
    """Whether the folder ``path`` is the working directory or a folder
    above it (replacing it as a whole would take the working directory)."""
    here = os.path.realpath(os.getcwd())
    target = os.path.realpath(path)
    return here == target or here.startswith(target.rstrip(os.sep) + os.sep)


def _check_target(path, overwrite, marker, writer):
    if holds_working_directory(path):
        raise FileExistsError(
            f"{path} is the working directory or a folder above it; {writer} "
            "writes a folder of its own: name one inside it."
        )
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        if not os.listdir(path):
            return
        if os.path.exists(os.path.join(path, marker)):
            if overwrite:
                return
            raise FileExistsError(
                f"{path} already holds what {writer} writes; pass overwrite=True "
                "to replace it."
            )
    raise FileExistsError(
        f"{path} exists and is not an empty directory or one {writer} wrote; "
        f"{writer} does not replace it."
    )


def chmod_as_mkdir(path):
    """Give the folder ``path`` the mode ``mkdir`` gives a new folder (0777
    less the umask). ``tempfile.mkdtemp`` makes it 0700, private to its
    owner: a saved model renamed into place would stay unreadable to the
    colleagues who can read the rest of the folder around it."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o777 & ~umask)


def _move_into_place(tmp, path):
    old = None
    try:
        if os.path.lexists(path):
            if os.listdir(path):
                old = tempfile.mkdtemp(
                    prefix=".deepstack-old-", dir=os.path.dirname(tmp)
                )
                os.rmdir(old)
                os.rename(path, old)
            else:
                os.rmdir(path)
        os.rename(tmp, path)
    except BaseException:
        # An interrupt (or error) between the two renames: the previous copy
        # goes back, rather than staying hidden while the caller deletes tmp.
        put_back(old, path)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def put_back(old, path):
    """Rename ``old`` (the copy set aside, or None) back to ``path`` if it
    was set aside and ``path`` is free."""
    if old is not None and os.path.lexists(old) and not os.path.lexists(path):
        os.rename(old, path)


def check_file_out(out, *, overwrite=False, data=None):
    """Raise unless a table of predictions may be written to the file
    ``out``, before any work: not an existing file unless ``overwrite``
    (``FileExistsError``), and never a folder, a path below a file, or the
    table ``data`` being read (``ValueError``). ``out`` is checked as it
    is written: ``sub/../p.csv`` is ``p.csv``, whether ``sub`` is there or
    not."""
    path = os.path.abspath(out)
    cannot = f"Cannot write the predictions to {os.fspath(out)!r}"
    if os.path.isdir(path):
        raise ValueError(
            f"{cannot}: it is a folder; name a file in it, such as "
            f"{os.path.join(out, 'predictions.csv')!r}."
        )
    above = os.path.dirname(path)
    while not os.path.lexists(above) and os.path.dirname(above) != above:
        above = os.path.dirname(above)
    if not os.path.isdir(above):
        raise ValueError(f"{cannot}: {above!r} is a file, not a folder.")
    if (
        isinstance(data, (str, os.PathLike))
        and os.path.exists(path)
        and os.path.exists(data)
        and os.path.samefile(path, data)
    ):
        raise ValueError(
            f"{cannot}: it is the table being predicted; write them to another file."
        )
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(
            f"{os.fspath(out)!r} already exists; choose another --out or pass "
            "--overwrite."
        )
