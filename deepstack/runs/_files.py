"""Reading tables from files and writing run folders all at once."""

import contextlib
import hashlib
import io
import itertools
import json
import lzma
import os
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from deepstack._folders import chmod_as_mkdir, holds_working_directory, put_back
from deepstack._warnings import user_stacklevel
from deepstack.runs._dialect import (
    COMPRESSIONS,
    decimal_marks,
    decimal_points,
    delimited_options,
    whole_rows,
)
from deepstack.tables._reading import _LEADING_ZERO

READERS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xlsm": "excel",
}


def read_table(source, *, what="data", text_columns=()):
    """A DataFrame from a CSV / TSV / Parquet / Excel path (a folder: a
    Parquet dataset), or ``source`` itself.

    A CSV's delimiter (comma, semicolon, tab or bar) is sniffed from its
    first lines (or named by a first line ``sep=;``); the decimal mark of
    a CSV's or TSV's numbers, a point or a comma, is told from the numbers
    (:func:`~deepstack.runs._dialect.decimal_marks`). A CSV or TSV may be
    compressed (``.csv.gz``, ``.bz2``, ``.xz``, ``.zip``); one that is not
    UTF-8 is read as UTF-16 after its byte-order mark, else as
    Windows-1252, with a warning. An Excel
    workbook's first sheet is read, with a warning naming the others. A
    CSV's or workbook's ``text_columns`` are read as written (``007`` stays
    ``"007"``).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for
    an unknown extension, an unreadable file or a table without rows.
    """
    if isinstance(source, pd.DataFrame):
        frame = named_by_strings(source)
    else:
        path, kind = _source(source, what)
        with _reading(path, kind, what):
            if kind == "parquet":
                frame = pd.read_parquet(path)
            elif kind == "excel":
                frame = _read_excel(path, text_columns)
            else:
                frame = _read_delimited(path, kind, text_columns)
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"The {what} table is empty ({frame.shape[0]} rows).")
    return frame


def has_string_names(frame):
    return all(isinstance(name, str) for name in frame.columns)


def named_by_strings(frame):
    """``frame`` with its column names as strings: ``read_csv(header=None)``
    numbers them, and the table's encoders take strings alone."""
    if has_string_names(frame):
        return frame
    return frame.set_axis([str(name) for name in frame.columns], axis=1)


def iter_table(source, *, what="data", chunk_rows=100_000, text_columns=()):
    """The rows of ``source`` (as :func:`read_table` reads it), ``chunk_rows``
    at a time, as DataFrames whose index runs on across chunks.

    A CSV or TSV is read by pandas' chunked reader and a Parquet file a
    record batch at a time (pyarrow), so that only a chunk is in memory; an
    Excel workbook (a million rows at most) is read whole and a DataFrame
    sliced. Reading errors raise as in :func:`read_table`, from the chunk
    where they occur.
    """
    if not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}.")
    if isinstance(source, pd.DataFrame):
        path, kind = None, "frame"
    else:
        path, kind = _source(source, what)
    if kind in ("frame", "excel"):
        frame = read_table(source, what=what, text_columns=text_columns)
        for start in range(0, len(frame), chunk_rows):
            yield frame.iloc[start : start + chunk_rows]
        return
    n_rows = 0
    with _reading(path, kind, what):
        if kind == "parquet":
            chunks = _parquet_chunks(path, chunk_rows)
        else:
            chunks = _delimited_chunks(path, kind, chunk_rows, text_columns)
        for chunk in chunks:
            if chunk.shape[0] and chunk.shape[1]:
                n_rows += chunk.shape[0]
                yield chunk
    if n_rows == 0:
        raise ValueError(f"The {what} table is empty (0 rows).")


def count_rows(source):
    """The rows of a DataFrame or of a Parquet file (from its metadata), or
    None where counting would mean reading the file (CSV, Excel)."""
    if isinstance(source, pd.DataFrame):
        return len(source)
    path = Path(source)
    import pyarrow.parquet as pq

    try:
        if path.is_dir():
            return _dataset(path).count_rows()
        if READERS.get(path.suffix.lower()) == "parquet" and path.is_file():
            return pq.ParquetFile(path).metadata.num_rows
    except (OSError, ValueError):  # read, and said, by the reader
        pass
    return None


def _source(source, what):
    """The path of a table file and its kind (a key of ``READERS``' values)."""
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"The {what} must be a DataFrame or the path of a table file; got "
            f"{type(source).__name__}. A run reads its columns by name: make an "
            "array a DataFrame with the training columns' names."
        )
    path = Path(source)
    if path.is_dir():
        # A Parquet dataset: its parts (Spark's, Dask's; hive partitions
        # too), as pandas and pyarrow read a folder.
        if not any(p.suffix.lower() in (".parquet", ".pq") for p in path.rglob("*")):
            raise ValueError(
                f"Cannot read {what} folder {str(path)!r}: it holds no Parquet "
                "files (a folder is read as a Parquet dataset)."
            )
        return path, "parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {str(path)!r}.")
    suffix = path.suffix.lower()
    compressed = suffix in COMPRESSIONS
    if compressed:
        suffix = Path(path.stem).suffix.lower()
    kind = READERS.get(suffix)
    if kind is None or (compressed and kind not in ("csv", "tsv")):
        shown = "".join(path.suffixes[-2:]) if compressed else path.suffix
        raise ValueError(
            f"Cannot read {what} file {str(path)!r}: unknown format "
            f"{shown or '(no extension)'!r}; use .csv, .tsv (either compressed "
            "too: .csv.gz, .bz2, .xz, .zip), .parquet or .xlsx."
        )
    return path, kind


@contextlib.contextmanager
def _reading(path, kind, what):
    """Errors in reading ``path`` as one ``ValueError`` naming the file."""
    try:
        yield
    except (
        ValueError,
        OSError,
        UnicodeDecodeError,
        pd.errors.ParserError,
        zipfile.BadZipFile,  # an .xlsx that is no workbook (or a bad .zip)
        EOFError,  # a compressed file cut short
        lzma.LZMAError,
    ) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValueError(
            f"Cannot read {what} file {str(path)!r} as {kind}: "
            f"{type(exc).__name__}: {first}"
        ) from exc


def _read_excel(path, text_columns=()):
    """An Excel workbook's first sheet (openpyxl), with a warning naming the
    sheets left unread. The ``text_columns`` are read as written: pandas
    makes a text cell ``0012`` the number 12 otherwise."""
    with pd.ExcelFile(path, engine="openpyxl") as workbook:
        first, *others = workbook.sheet_names
        frame = pd.read_excel(
            workbook, sheet_name=first, dtype=dict.fromkeys(text_columns, str)
        )
    if others:
        warnings.warn(
            f"{path.name!r} has {len(others) + 1} sheets; the first, {first!r}, "
            f"was read and {others} were not.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    return frame


def _read_delimited(path, kind, text_columns=()):
    """A CSV / TSV, read with :func:`_read_plan`'s keywords."""
    options, dtype, commas = _read_plan(path, kind, text_columns)
    with whole_rows():
        frame = pd.read_csv(path, dtype=dtype, **options)
    if len(frame) > _CODE_ROWS:
        _later_codes(path, frame, options)
    _note_header(path, frame, options)
    return decimal_points(frame, commas)


def _delimited_chunks(path, kind, chunk_rows, text_columns=()):
    """A CSV / TSV ``chunk_rows`` rows at a time, read as :func:`read_table`
    reads it whole."""
    options, dtype, commas = _read_plan(path, kind, text_columns)
    with pd.read_csv(path, chunksize=chunk_rows, dtype=dtype, **options) as reader:
        for i in itertools.count():
            with whole_rows():  # (not around the yield: the caller's warnings)
                chunk = next(reader, None)
            if chunk is None:
                return
            if i == 0:
                _note_header(path, chunk, options)
            yield decimal_points(chunk, commas)


def _read_plan(path, kind, text_columns=()):
    """How to read a CSV / TSV: ``read_csv`` keywords (its encoding,
    delimiter and decimal mark), the ``dtype`` that reads ``text_columns``
    and codes written with leading zeros as written (see
    :func:`_as_written`), and the columns whose numbers have a decimal comma
    (:func:`~deepstack.runs._dialect.decimal_marks`)."""
    options = delimited_options(path, kind)
    with whole_rows():
        # (Objects: pandas takes a last column of empty strings for a value
        # lost, where the rows end with a delimiter, but not empty objects.)
        sample = pd.read_csv(
            path, dtype=object, nrows=_CODE_ROWS, keep_default_na=False, **options
        )
    decimal, commas = decimal_marks(sample, options["sep"], path.name)
    if decimal == ",":
        options["decimal"] = ","
    text = _as_written(sample, text_columns)
    return options, dict.fromkeys(text, "str"), commas


def missing_markers(source, column, rows):
    """What a CSV / TSV writes in ``column`` on the rows (positions) that
    were read as missing values without being empty: pandas' markers of a
    missing value ("NA", "null", "N/A", ...), each with its count. Other
    sources, and empty cells, have none."""
    if isinstance(source, pd.DataFrame):
        return {}
    path, kind = _source(source, "data")
    if kind not in ("csv", "tsv"):
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the first reading warned)
        options = delimited_options(path, kind)
    written = pd.read_csv(
        path, usecols=[column], dtype=str, keep_default_na=False, **options
    )[column].iloc[rows]
    written = written[written.str.strip() != ""]
    return {str(k): int(n) for k, n in written.value_counts().items()}


# The rows a CSV's codes with leading zeros are looked for in.
_CODE_ROWS = 10_000


def _as_written(sample, text_columns=()):
    """``text_columns`` and the columns of the file whose first rows
    (``sample``, read as strings) hold a code written with leading zeros
    (``"02134"``, ``"007"``): read as numbers, pandas would write them
    ``2134`` and ``7``, and the code would be lost before the table's own
    reading could keep it a string."""
    codes = [
        name for name in sample.columns if sample[name].str.match(_LEADING_ZERO).any()
    ]
    return list(dict.fromkeys([*text_columns, *codes]))


def _later_codes(path, frame, options):
    """Read again as written the number columns of ``frame`` (read whole from
    ``path``) whose codes with leading zeros first appear after the rows
    :func:`_as_written` looked at."""
    numbers = [
        i for i, name in enumerate(frame.columns) if frame[name].dtype.kind in "iuf"
    ]
    if not numbers:
        return
    written = pd.read_csv(path, dtype=str, usecols=numbers, **options)
    for i in numbers:
        column = written.iloc[:, numbers.index(i)]
        if column.str.match(_LEADING_ZERO).any():
            frame[frame.columns[i]] = column.to_numpy()


def _parquet_chunks(path, chunk_rows):
    """A Parquet file (or a folder of them) a record batch of at most
    ``chunk_rows`` rows at a time, each made a DataFrame as
    ``pandas.read_parquet`` makes the whole file one."""
    import pyarrow as pa

    start = 0
    with _parquet_batches(path, chunk_rows) as batches:
        for batch in batches:
            chunk = pa.Table.from_batches([batch]).to_pandas()
            # (A RangeIndex the file describes is the whole file's.)
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            start += len(chunk)
            yield chunk


@contextlib.contextmanager
def _parquet_batches(path, batch_rows):
    import pyarrow.parquet as pq

    if path.is_dir():
        # In the parts' order, partition columns as categories: as
        # pandas.read_parquet reads the folder.
        yield _dataset(path).to_batches(batch_size=batch_rows, use_threads=False)
        return
    with pq.ParquetFile(path) as parquet:
        yield parquet.iter_batches(batch_size=batch_rows)


def _dataset(path):
    import pyarrow.dataset as ds

    partitioning = ds.HivePartitioning.discover(infer_dictionary=True)
    return ds.dataset(path, format="parquet", partitioning=partitioning)


def _note_header(path, frame, options):
    """A warning for the columns the header leaves without a name (pandas
    names them ``Unnamed: 2``) but for those without a value (a header and
    rows that end with a delimiter: dropped as empty, not needed in new
    rows), and one for each name the header repeats
    (pandas reads the second ``x`` as ``x.1``: both are columns, under
    names the file does not show); ``frame.attrs["repeated_names"]`` maps
    each to the names read."""
    header = pd.read_csv(path, header=None, nrows=1, dtype=str, **options).iloc[0]
    unnamed = [
        str(c)
        for c, h in zip(frame.columns, header)
        if pd.isna(h) and frame[c].notna().any()
    ]
    if unnamed:
        warnings.warn(
            f"{path.name!r} has {len(unnamed)} column(s) without a name, read as "
            f"{unnamed} (a saved index?); new rows need them in the same place.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    frame.attrs["repeated_names"] = {}
    for name, count in header.value_counts().items():
        if count > 1:
            read_as = [str(c) for c, h in zip(frame.columns, header) if h == name]
            frame.attrs["repeated_names"][name] = read_as
            warnings.warn(
                f"{path.name!r} names {count} columns {name!r}; they are read "
                f"as {read_as}.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )


def fingerprint(frame):
    """Column names, dtypes, row count and a content hash of ``frame``
    (lists and mappings, which do not hash, hashed as text)."""
    try:
        hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except TypeError:
        text = frame.copy()
        objects = frame.dtypes.map(pd.api.types.is_object_dtype).to_numpy(dtype=bool)
        for name in frame.columns[objects]:
            text[name] = frame[name].map(repr, na_action="ignore")
        hashed = pd.util.hash_pandas_object(text, index=False).to_numpy()
    return {
        "columns": [str(c) for c in frame.columns],
        "dtypes": {str(c): str(t) for c, t in frame.dtypes.items()},
        "n_rows": int(frame.shape[0]),
        "sha256": hashlib.sha256(hashed.tobytes()).hexdigest(),
    }


def write_json(path, payload):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(to_jsonable(payload), handle, indent=2, sort_keys=False)
        handle.write("\n")


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def to_jsonable(value):
    """Plain JSON types for NumPy scalars / arrays, tuples and paths."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


@contextlib.contextmanager
def table_writer(out):
    """A function that appends DataFrames (one header, the same columns) to
    one table: CSV on the text stream ``out``, or the file ``out``, CSV or
    TSV (compressed for .gz, .bz2, .xz) or Parquet (.parquet, .pq), written
    beside it and renamed when the block ends: never half-written."""
    if hasattr(out, "write"):
        yield _DelimitedWriter(out, ",")
        return
    path = Path(os.path.abspath(out))  # ("sub/../p.csv" is "p.csv")
    suffix = path.suffix.lower()
    opener = COMPRESSIONS.get(suffix)
    if opener is not None:
        suffix = Path(path.stem).suffix.lower()
    kind = READERS.get(suffix, "csv" if not suffix else None)
    if kind not in ("csv", "tsv", "parquet") or (opener and kind == "parquet"):
        raise ValueError(
            f"Cannot write {str(path)!r}: predictions are written as .csv, .tsv "
            "(either compressed too: .gz, .bz2, .xz) or .parquet."
        )
    if opener is COMPRESSIONS[".zip"]:
        raise ValueError(f"Cannot write {str(path)!r} as a ZIP archive; use .gz.")
    with _replaced(path) as tmp:
        if kind == "parquet":
            writer = _ParquetWriter(tmp)
            try:
                yield writer
            finally:
                writer.close()
        else:
            opened = opener(tmp, "wb") if opener else open(tmp, "wb")
            with io.TextIOWrapper(opened, encoding="utf-8", newline="") as stream:
                yield _DelimitedWriter(stream, "\t" if kind == "tsv" else ",")


@contextlib.contextmanager
def _replaced(path):
    """A temporary path beside ``path``, renamed to ``path`` when the block
    ends, removed if it raises. The folders above it are made (as for a run
    folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class _DelimitedWriter:
    def __init__(self, stream, sep):
        self.stream, self.sep, self.header = stream, sep, True

    def __call__(self, frame):
        frame.to_csv(self.stream, sep=self.sep, index=False, header=self.header)
        self.header = False


class _ParquetWriter:
    """Chunks into one Parquet file (pyarrow), each a row group, in the
    first chunk's schema (a later chunk's column of blanks is that type's
    nulls)."""

    def __init__(self, path):
        self.path, self.writer = path, None

    def __call__(self, frame):
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.writer is None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            self.writer = pq.ParquetWriter(self.path, table.schema)
        else:
            table = pa.Table.from_pandas(
                frame, schema=self.writer.schema, preserve_index=False
            )
        self.writer.write_table(table)

    def close(self):
        if self.writer is not None:
            self.writer.close()


# What a run folder holds (see ``save_run``): ``--overwrite`` replaces a
# folder that holds these alone (config.json among them), or nothing.
RUN_ENTRIES = frozenset(
    {
        "model",
        "preprocessor.skops",
        "config.json",
        "metrics.json",
        "history.csv",
        "trials.csv",
        "test_predictions.csv",
        "findings.json",
        "importance.csv",
        "report.html",
    }
)


def check_out(out, *, overwrite=False, inputs=()):
    """Raise unless a run folder may be written to ``out``, before any work.

    ``out`` may be new or an empty folder; with ``overwrite``, a run folder
    too (its entries all :data:`RUN_ENTRIES`): any other folder or file is
    refused, since replacing it would delete what deepstack did not write.
    The working directory (or a folder above it) and a folder holding one
    of ``inputs`` (``(what, path)`` pairs; a DataFrame is no path) are
    refused with ``ValueError``, ``overwrite`` or not: the run replaces the
    folder as a whole.
    """
    out = Path(out)
    where = out.resolve()
    if holds_working_directory(out):
        raise ValueError(
            f"Output folder {str(out)!r} is the working directory or a folder "
            "above it; a run folder is written (and replaced) as a whole: choose "
            "a folder of its own, such as runs/NAME."
        )
    for what, path in inputs:
        if isinstance(path, (str, os.PathLike)):
            source = Path(path).resolve()  # (a Parquet dataset is a folder)
            if where == source or where in source.parents:
                raise ValueError(
                    f"Output folder {str(out)!r} holds the {what} file "
                    f"{str(path)!r}; a run folder is written (and replaced) as a "
                    "whole: choose another --out."
                )
    above = where.parent
    while not os.path.lexists(above) and above.parent != above:
        above = above.parent
    if not above.is_dir():
        # (As predict --out says it: mkdir would say "File exists".)
        raise ValueError(
            f"Output folder {str(out)!r} is below {str(above)!r}, which is a "
            "file, not a folder."
        )
    if not os.path.lexists(out):
        return
    if out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(
            f"Output folder {str(out)!r} already exists; choose another "
            "--out or pass --overwrite."
        )
    unlike = _unlike_a_run(out)
    if unlike:
        raise FileExistsError(
            f"Output folder {str(out)!r} is not a deepstack run folder ({unlike}); "
            "--overwrite replaces only a run folder or an empty folder: choose "
            "another --out."
        )


def _unlike_a_run(path):
    """What shows that ``path`` is no run folder (None for a run folder)."""
    if path.is_symlink():
        return "it is a symbolic link"
    if not path.is_dir():
        return "it is a file"
    names = sorted(p.name for p in path.iterdir())
    others = [name for name in names if name not in RUN_ENTRIES]
    if others:
        shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        return f"it holds what a run does not write: {shown}"
    if "config.json" not in names:
        return "it holds no config.json"
    return None


@contextlib.contextmanager
def staged_folder(out, *, overwrite=False):
    """Yield a temporary folder beside ``out``; rename it to ``out`` on success.

    An exception (or Ctrl-C) inside the block removes the temporary folder,
    so ``out`` is either complete or as it was: never half-written. ``out``
    is checked first (:func:`check_out`): an existing folder is refused
    unless ``overwrite`` and a run folder, and then replaced only once the
    new run is complete; at the rename it is checked again (see
    :func:`_put_in_place`).
    """
    out = Path(out)
    check_out(out, overwrite=overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    chmod_as_mkdir(stage)
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    _put_in_place(stage, out, overwrite)


def _put_in_place(stage, out, overwrite):
    """Rename the finished ``stage`` to ``out``, checking ``out`` again: it
    may have appeared since :func:`check_out` (another fit to the same
    folder). What is there then is replaced only if ``overwrite`` allows it,
    and never deleted otherwise: the new run goes beside it, and a
    ``FileExistsError`` says where."""
    if overwrite and os.path.lexists(out) and not _unlike_a_run(out):
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        try:
            os.replace(out, old)
            os.replace(stage, out)
        except BaseException:
            # Interrupted between the renames: the previous run goes back
            # and the new one is dropped, as for a Ctrl-C during the fit.
            put_back(old, out)
            shutil.rmtree(stage, ignore_errors=True)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    with contextlib.suppress(OSError):  # an empty folder gives way (no others)
        out.rmdir()
    try:
        # No replacing: a folder that is there now is not ours to delete.
        os.rename(stage, out)  # (onto a new path; POSIX: onto an empty folder)
        return
    except OSError as error:
        if not os.path.lexists(out):
            raise
        kept = _beside(stage, out)
        raise FileExistsError(
            f"Output folder {str(out)!r} was written by another process while "
            f"this fit ran (another fit to the same --out?): it is left as it "
            f"is, and this run is saved in {str(kept)!r} instead."
        ) from error


def _beside(stage, out):
    """Rename ``stage`` to the first free ``out-2``, ``out-3``, ...; its
    path (``stage`` itself if no rename succeeds)."""
    for number in range(2, 1000):
        free = out.parent / f"{out.name}-{number}"
        if os.path.lexists(free):
            continue
        try:
            os.rename(stage, free)
        except OSError:
            continue
        return free
    return stage
