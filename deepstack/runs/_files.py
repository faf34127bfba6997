"""Reading tables from files and writing run folders all at once."""

import contextlib
import csv
import hashlib
import json
import os
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

READERS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xlsm": "excel",
}


def read_table(source, *, what="data"):
    """A DataFrame from a CSV / TSV / Parquet / Excel path, or ``source`` itself.

    A CSV's delimiter (comma, semicolon, tab or bar) is sniffed from its
    first lines; with semicolons, the decimal mark is a comma. A CSV or TSV
    that is not UTF-8 is read as Windows-1252, with a warning. An Excel
    workbook's first sheet is read, with a warning naming the others.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for
    an unknown extension, an unreadable file or a table without rows.
    """
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"{what} file not found: {str(path)!r}.")
        kind = READERS.get(path.suffix.lower())
        if kind is None:
            raise ValueError(
                f"Cannot read {what} file {str(path)!r}: unknown format "
                f"{path.suffix or '(no extension)'!r}; use .csv, .tsv, .parquet "
                "or .xlsx."
            )
        try:
            if kind == "parquet":
                frame = pd.read_parquet(path)
            elif kind == "excel":
                frame = _read_excel(path)
            else:
                frame = _read_delimited(path, kind)
        except (
            ValueError,
            OSError,
            UnicodeDecodeError,
            pd.errors.ParserError,
            zipfile.BadZipFile,  # an .xlsx that is no workbook
        ) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ValueError(
                f"Cannot read {what} file {str(path)!r} as {kind}: "
                f"{type(exc).__name__}: {first}"
            ) from exc
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"The {what} table is empty ({frame.shape[0]} rows).")
    return frame


def _read_excel(path):
    """An Excel workbook's first sheet (openpyxl), with a warning naming the
    sheets left unread."""
    with pd.ExcelFile(path, engine="openpyxl") as workbook:
        first, *others = workbook.sheet_names
        frame = pd.read_excel(workbook, sheet_name=first)
    if others:
        warnings.warn(
            f"{path.name!r} has {len(others) + 1} sheets; the first, {first!r}, "
            f"was read and {others} were not.",
            UserWarning,
            stacklevel=4,
        )
    return frame


def _read_delimited(path, kind):
    """A CSV / TSV: UTF-8, else Windows-1252 (what spreadsheets on Windows
    write in Western Europe and the Americas), with a warning."""
    options = {"sep": "\t"} if kind == "tsv" else _csv_dialect(path)
    try:
        frame = pd.read_csv(path, **options)
    except UnicodeDecodeError as exc:
        options["encoding"] = "cp1252"
        try:
            frame = pd.read_csv(path, **options)
        except UnicodeDecodeError:
            raise exc from None
        warnings.warn(
            f"{path.name!r} is not UTF-8; it was read as Windows-1252 (Western "
            "European), the encoding spreadsheets on Windows write.",
            UserWarning,
            stacklevel=4,
        )
    _note_repeated_names(path, frame, options)
    return frame


def _note_repeated_names(path, frame, options):
    """A warning for each name the header repeats (pandas reads the second
    ``x`` as ``x.1``: both are columns, under names the file does not show)."""
    header = pd.read_csv(path, header=None, nrows=1, dtype=str, **options).iloc[0]
    for name, count in header.value_counts().items():
        if count > 1:
            read_as = [str(c) for c, h in zip(frame.columns, header) if h == name]
            warnings.warn(
                f"{path.name!r} names {count} columns {name!r}; they are read "
                f"as {read_as}.",
                UserWarning,
                stacklevel=5,
            )


# Delimiters a CSV may use; a semicolon goes with a decimal comma (what a
# spreadsheet writes where the comma is the decimal mark).
_DELIMITERS = ",;\t|"


def _csv_dialect(path, sample_bytes=65536):
    """``read_csv`` keywords for the file's delimiter, sniffed by the standard
    library from its first lines (a comma when the sniffer cannot tell)."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        sample = handle.read(sample_bytes)
    lines = sample.splitlines()
    if len(lines) > 1 and len(sample) == sample_bytes:
        sample = "\n".join(lines[:-1])  # the last line may be cut short
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        delimiter = ","
    if delimiter == ";":
        return {"sep": ";", "decimal": ","}
    return {"sep": delimiter}


def fingerprint(frame):
    """Column names, dtypes, row count and a content hash of ``frame``
    (lists and mappings, which do not hash, hashed as text)."""
    try:
        hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except TypeError:
        text = frame.copy()
        for name in frame.columns[(frame.dtypes == object).to_numpy()]:
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
def staged_folder(out, *, overwrite=False):
    """Yield a temporary folder beside ``out``; rename it to ``out`` on success.

    An exception (or Ctrl-C) inside the block removes the temporary folder,
    so ``out`` is either complete or as it was: never half-written. An
    existing ``out`` is refused unless ``overwrite``, and then replaced only
    once the new run is complete.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        else:
            raise FileExistsError(
                f"Output folder {str(out)!r} already exists; choose another "
                "--out or pass --overwrite."
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    stage.chmod(0o777 & ~umask)
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
