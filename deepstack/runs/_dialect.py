"""How a CSV / TSV file is written, told from its first bytes and lines: its
compression, its encoding, its delimiter, and the decimal mark of its
numbers (a point or a comma, column by column)."""

import bz2
import codecs
import contextlib
import csv
import gzip
import io
import lzma
import re
import warnings
import zipfile

import pandas as pd

from deepstack._warnings import user_stacklevel
from deepstack.tables._reading import _DECORATION
from deepstack.tables._reading import _GROUP as _SPACE  # spaces grouping thousands


def _open_zip(path):
    """The one file of a ZIP archive, as pandas reads it (binary)."""
    archive = zipfile.ZipFile(path)
    names = [n for n in archive.namelist() if not n.endswith("/")]
    if len(names) != 1:
        archive.close()
        raise ValueError(f"a ZIP archive must hold one file; this one holds {names}")
    return archive.open(names[0])


# Compressed CSV / TSV files (pandas infers the compression from the same
# suffixes): how to open one for reading its first lines.
COMPRESSIONS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open, ".zip": _open_zip}


def open_binary(path):
    """``path`` opened for reading bytes, decompressed when its suffix says
    so."""
    opener = COMPRESSIONS.get(path.suffix.lower())
    return open(path, "rb") if opener is None else opener(path)


def delimited_options(path, kind):
    """``read_csv`` keywords for a CSV / TSV: its encoding, its delimiter
    and ``index_col=False``.

    The encoding is UTF-8; UTF-16 after its byte-order mark (Excel's
    "Unicode Text"); else Windows-1252 (what spreadsheets on Windows write
    in Western Europe and the Americas), with a warning. A TSV's delimiter
    is a tab; a CSV's is sniffed from its first lines, or named by a first
    line ``sep=;`` (Excel's), which is skipped. ``index_col=False``: rows
    that end with a delimiter the header does not (an empty last field) are
    read as the header names them, not with their first value as the index
    and every column shifted by one.
    """
    options = {"index_col": False}
    encoding = _encoding(path)
    if encoding is not None:
        options["encoding"] = encoding
    options.update(_dialect(path, kind, encoding or "utf-8-sig"))
    return options


def _encoding(path):
    """The encoding of the file ``path``, None for UTF-8 (pandas' default)."""
    with open_binary(path) as handle:
        start = handle.read(2)
    if start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    try:
        _decode(path, "utf-8")
    except UnicodeDecodeError as exc:
        try:
            _decode(path, "cp1252")
        except UnicodeDecodeError:
            raise exc from None
        warnings.warn(
            f"{path.name!r} is not UTF-8; it was read as Windows-1252 (Western "
            "European), the encoding spreadsheets on Windows write.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        return "cp1252"
    return None


def _decode(path, encoding, block_bytes=1 << 20):
    """Decode the file ``path`` in ``encoding`` a block at a time (memory
    stays small); raises ``UnicodeDecodeError`` where it is not, and
    ``ValueError`` for a NUL byte, which no text table holds."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with open_binary(path) as handle:
        while block := handle.read(block_bytes):
            if b"\0" in block:
                raise ValueError(
                    f"{path.name!r} holds NUL bytes, which a text table does not: "
                    "it is no CSV, or UTF-16 without its byte-order mark; save it "
                    "as CSV (UTF-8)."
                )
            decoder.decode(block)
    decoder.decode(b"", final=True)


# Delimiters a CSV may use.
_DELIMITERS = ",;\t|"
# Excel's first line naming the delimiter.
_SEP_LINE = re.compile(r'"?sep=(.)"?\r?')


def _dialect(path, kind, encoding, sample_bytes=65536):
    """``read_csv`` keywords for the file's delimiter: a tab for a TSV, else
    sniffed by the standard library from its first lines (a comma when the
    sniffer cannot tell); ``skiprows`` too after a line ``sep=;``."""
    with io.TextIOWrapper(
        open_binary(path), encoding=encoding, errors="replace", newline=""
    ) as handle:
        sample = handle.read(sample_bytes)
    first, _, rest = sample.partition("\n")
    if hint := _SEP_LINE.fullmatch(first):
        return {"sep": hint.group(1), "skiprows": 1}
    if kind == "tsv":
        return {"sep": "\t"}
    lines = sample.splitlines()
    if len(lines) > 1 and len(sample) == sample_bytes:
        sample = "\n".join(lines[:-1])  # the last line may be cut short
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        delimiter = ","
    return {"sep": delimiter}


@contextlib.contextmanager
def whole_rows():
    """Raise ``ValueError`` where pandas would drop the values of a row
    beyond the header's names (``index_col=False`` does, with a warning)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "error", "Length of header", category=pd.errors.ParserWarning
        )
        try:
            yield
        except pd.errors.ParserWarning:
            raise ValueError(
                "a row holds more values than the header names columns; name "
                "every column in the header (or remove the values beyond them)"
            ) from None


# Numbers whose decimal mark is sure: other than three digits after the
# mark, a lone zero or four digits and more before it, or thousands grouped
# before it (by the other mark, or by spaces as French writes them). Where
# one to three digits, a mark and three digits are all a column holds,
# either reading fits: "8,680" is 8.68, or 8680 with a thousands separator.
_EXPONENT = r"(?:[eE][+-]?\d+)?"


def _sure(mark, other):
    m, o = re.escape(mark), re.escape(other)
    return (
        rf"[+-]?(?:\d{{1,3}}(?:(?:{o}\d{{3}})+|(?:{_SPACE}\d{{3}})+){m}\d+"
        rf"|\d{{1,3}}(?:{o}\d{{3}}){{2,}}"
        rf"|(?:0|\d{{4,}})?{m}\d+"
        rf"|\d*{m}(?:\d{{1,2}}|\d{{4,}})){_EXPONENT}"
    )


_MARKS = {
    ",": _sure(",", "."),
    ".": _sure(".", ","),
    "?,": r"[+-]?[1-9]\d{0,2},\d{3}",
    "?.": r"[+-]?[1-9]\d{0,2}\.\d{3}",
}
# The rows of a file's sample whose numbers tell its decimal mark.
_MARK_ROWS = 2000


def _column_mark(values):
    """The decimal mark ``values`` (strings) show: "," or "." where some are
    sure (the more frequent), "?," or "?." where the numbers fit both
    readings, None without decimals."""
    text = values.iloc[:_MARK_ROWS].str.strip()
    text = text[text.str.contains(r"\d[.,]\d", regex=True)]
    if text.empty:
        return None
    text = text.str.replace(_DECORATION, r"\1", regex=True)
    counts = {mark: int(text.str.fullmatch(p).sum()) for mark, p in _MARKS.items()}
    if counts[","] or counts["."]:
        return "," if counts[","] > counts["."] else "."
    if counts["?,"] or counts["?."]:
        return "?," if counts["?,"] >= counts["?."] else "?."
    return None


def decimal_marks(sample, sep, name):
    """The decimal mark of the file ``name`` whose first rows, as written,
    are ``sample`` (a DataFrame of strings), and the columns whose numbers
    have a decimal comma (see :func:`decimal_points`).

    Columns decide by their numbers: a column that writes "0,5" or
    "1.234,5" has a decimal comma, one that writes "0.67" or "48366.28" a
    decimal point. Where columns disagree, each keeps its own, and the file's
    mark is the more frequent. A column whose numbers fit either reading
    ("8,680": 8.68, or 8680) follows the file's mark; where no column
    decides, a file with semicolons between fields (as a spreadsheet set to
    a decimal-comma language writes) has a decimal comma, and other files a
    decimal point; such a guess is said in a warning. A file with commas
    between fields has decimal points: a comma within a field there is
    quoted, more often a list or a code ("1,5") than a number.
    """
    if sep == ",":
        return ".", []
    marks = {column: _column_mark(sample[column]) for column in sample.columns}
    sure = [mark for mark in marks.values() if mark in (",", ".")]
    if sure:
        decimal = "," if sure.count(",") > sure.count(".") else "."
    else:
        guessed = set(marks.values())
        decimal = "," if sep == ";" and "?," in guessed and "?." not in guessed else "."
    commas = [
        column
        for column, mark in marks.items()
        if mark == "," or (decimal == "," and mark != ".")
    ]
    if len(set(sure)) != 1:  # nothing, or columns that disagree, decide
        for column, mark in marks.items():
            if mark == "?," or (mark == "?." and sep == ";"):
                _warn_either(name, column, sample[column], mark[1], decimal)
    return decimal, commas


def _warn_either(name, column, values, mark, decimal):
    """Warn that the numbers of ``column``, whose ``mark`` may mark decimals
    or separate thousands, were read with the decimal mark ``decimal``."""
    text = values.str.strip()
    shown = pd.unique(text[text.str.fullmatch(_MARKS["?" + mark])])[:3]
    first, word = shown[0], _WORDS[mark]
    if mark == decimal:
        read = f"with a decimal {word} ({first!r} as {first.replace(',', '.')})"
        other = f"if the {word} separates thousands, write them without it"
    else:
        read = f"with a thousands separator ({first!r} as {first.replace(mark, '')})"
        other = f"if it marks decimals, write them with a decimal {_WORDS[decimal]}"
    warnings.warn(
        f"{name!r}: the numbers of column {column!r} "
        f"({', '.join(repr(v) for v in shown)}) have three digits after a {word}, "
        "which may mark decimals or separate thousands, and no other number of "
        f"the file tells which: they are read {read}; {other}.",
        UserWarning,
        stacklevel=user_stacklevel(),
    )


_WORDS = {",": "comma", ".": "point"}


# A number as a decimal-comma locale writes it: "-39,1", "1.234,5", "1.234",
# "48 366,28" (a no-break space too, as French writes thousands).
_DECIMAL_COMMA = (
    rf"[+-]?(?:\d{{1,3}}(?:\.\d{{3}})+|\d{{1,3}}(?:{_SPACE}\d{{3}})+|\d+)(?:,\d+)?"
)


# What groups thousands in such a number.
_GROUPS = rf"\.|(?<=\d){_SPACE}(?=\d)"


def decimal_points(frame, columns):
    """``frame`` with the numbers of ``columns`` (decimal-comma columns) that
    pandas left as text (in a column with a missing-value marker, say, or
    with thousands separators) written as numbers are elsewhere: "39,1" as
    "39.1", "1.234,5" and "1 234,5" as "1234.5". The columns are read as
    numbers later, at fit and at predict alike, which would take "39,1"
    for no number."""
    for name in columns:
        values = frame[name]
        if not (
            pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
        ):
            continue
        text = values.astype("string").str.strip()
        bare = text.str.replace(_DECORATION, r"\1", regex=True)  # "€ 5", "5 %"
        numbers = bare.str.fullmatch(_DECIMAL_COMMA).fillna(False).to_numpy(bool)
        if numbers.any():
            points = text[numbers].str.replace(_GROUPS, "", regex=True)
            points = points.str.replace(",", ".", regex=False).astype(object)
            values = values.astype(object)
            values[numbers] = points
            frame[name] = values.astype(frame[name].dtype)
    return frame
