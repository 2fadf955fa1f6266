"""Reading a CSV table of candidates or measurements, with one-line errors that never echo its contents.

Used by the pool of a campaign (orchestrator/space.py) and by the lookup oracle, so both read a file
alike: UTF-8 with or without a byte-order mark, a header naming unique columns, then one record per line;
a blank line is skipped, a record with more or fewer fields than the header is an error. An optional row
filter (``where``) keeps the records whose cells equal given values (numbers compared as numbers).

Errors are :class:`CsvFileError` with a message that names the file and, where it helps, the line; the
contents of a file that is not a valid table are never quoted (it may be any file the path points to).
"""

from __future__ import annotations

import csv
import math
import re
import unicodedata
import stat
from pathlib import Path
from typing import Any, Mapping, Sequence

FIELD_LIMIT = 131072  # characters in one field: the csv module's default limit, 128 KB


class CsvFileError(ValueError):
    """The file cannot be read as a table; the message is one line, naming the file (and line)."""


def _kind_of(path: Path) -> str | None:
    """What a path is when it is not a regular file (None when it is one)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "file not found"
    except OSError as exc:
        return f"cannot be opened ({exc.strerror or type(exc).__name__})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, not a CSV file"
    if stat.S_ISCHR(mode):
        return "is a character device, not a CSV file"
    if stat.S_ISBLK(mode):
        return "is a block device, not a CSV file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe, not a CSV file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a CSV file"
    return "is not a regular file"


def looks_like_header(header: Sequence[str]) -> bool:
    """Whether a first line may be quoted back in an error: short printable names, at least two of them."""
    return len(header) >= 2 and all(0 < len(h) <= 64 and h.isprintable() for h in header)


def describe_columns(header: Sequence[str]) -> str:
    """The columns for an error message, or a neutral phrase when the first line may not be a header
    (a single column could be the first line of any text file: it is not quoted)."""
    if looks_like_header(header):
        shown = ", ".join(header[:40]) + (f", ... ({len(header)} columns)" if len(header) > 40 else "")
        return f"columns: {shown}"
    if len(header) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if sep in header[0] and all(part.strip() for part in header[0].split(sep)):
                return (f"its header names a single column, which looks separated by {name}: save the file with "
                        "commas as the separator")
        return "its header names a single column"
    return "its first line is not a header of column names"


def read_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the records of a CSV file: ``(names, [(line number, cells), ...])``.

    Cells are stripped of surrounding spaces; line numbers are 1-based lines of the file (the header is
    line 1), so a user can find the record. Raises :class:`CsvFileError`.
    """
    path = Path(path)
    what = _kind_of(path)
    if what is not None:
        raise CsvFileError(f"{path}: {what}")
    records: list[tuple[int, list[str]]] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, strict=True)
            line = 1
            try:
                header = [h.strip() for h in next(reader, [])]
                for cells in reader:
                    line = reader.line_num
                    cells = [c.strip() for c in cells]
                    if any(cells):  # else a blank line
                        records.append((line, cells))
            except csv.Error as exc:
                text = str(exc)
                if "field larger than field limit" in text:
                    raise CsvFileError(f"{path.name}, line {reader.line_num}: a field is longer than "
                                       f"{FIELD_LIMIT // 1024} KB; a table cell holds a short value") from None
                if "unexpected end of data" in text or "EOF" in text:
                    raise CsvFileError(f"{path.name}: a quote opened near line {line + 1} is never closed "
                                       f"(unbalanced \"); close it or remove it") from None
                raise CsvFileError(f"{path.name}, line {reader.line_num}: not valid CSV ({text})") from None
    except UnicodeDecodeError as exc:
        raise CsvFileError(f"{path.name} is not a UTF-8 text file (undecodable byte at offset {exc.start}); "
                           "save it as UTF-8 CSV") from None
    except OSError as exc:
        raise CsvFileError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not header or not any(header):
        raise CsvFileError(f"{path.name} is empty: it needs a header line naming its columns, then one "
                           "record per line")
    if header[0].lower().startswith("sep=") and not any(h.strip() for h in header[1:]):
        first = ",".join(header)[:10]
        if first[4:5] not in ("", ","):  # sep=; or sep=<tab>: a spreadsheet's export in its own dialect
            raise CsvFileError(f"{path.name}: the first line '{first}' is Excel's hint that the file is separated "
                               f"by {first[4:5]!r}, not by commas; save it as comma-separated CSV (CSV UTF-8, with "
                               "decimal points, not commas)")
        raise CsvFileError(f"{path.name}: the first line '{first}' is Excel's separator hint, not "
                           "a header; delete that line so that the column names come first")
    if len(header) == 1 and ";" in header[0] and all(p.strip() for p in header[0].split(";")):
        raise CsvFileError(f"{path.name}: its header '{header[0][:40]}' looks separated by semicolons: save the "
                           "file with commas as the separator, and decimal points (a spreadsheet set to decimal "
                           "commas writes semicolons)")
    blank = [i + 1 for i, h in enumerate(header) if not h.strip()]
    if blank and len(header) >= 2 and all(0 < len(h) <= 200 and h.isprintable() for h in header if h.strip()):
        which = "the first column" if blank == [1] else \
            f"column{'s' if len(blank) > 1 else ''} {', '.join(map(str, blank[:5]))}"
        raise CsvFileError(f"{path.name}: the header leaves {which} without a name (a row index a spreadsheet or "
                           "pandas wrote?); name it, or remove the column (pandas: to_csv(..., index=False))")
    invisible = [(i, c) for i, h in enumerate(header) if 0 < len(h) <= 200 for c in h
                 if not c.isprintable() and unicodedata.category(c) == "Cf"]
    if len(header) >= 2 and invisible and all(0 < len(h) <= 200 for h in header):
        i, c = invisible[0]  # a zero-width space pasted into a name: named, not "not a header" (fuzz round twenty)
        raise CsvFileError(f"{path.name}: the header's column {i + 1} ('{header[i].encode('unicode_escape').decode()}') "
                           f"holds U+{ord(c):04X} {unicodedata.name(c, 'an invisible character')}, which no one "
                           "typing the name would write; remove it from the header")
    if not all(0 < len(h) <= 200 and h.isprintable() for h in header):
        tabs = len(header) == 1 and "\t" in header[0] and all(p.strip() for p in header[0].split("\t"))
        raise CsvFileError(f"{path.name} does not look like a CSV table: its first line is not a header of "
                           "column names (short, printable, comma-separated names)"
                           + ("; it looks separated by tabs: save the file with commas as the separator"
                              if tabs else ""))
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise CsvFileError(f"{path.name}: the header names the column '{name}' twice; column names "
                               "must be unique")
        seen.add(name)
    for line, cells in records:
        if len(cells) != len(header):
            raise CsvFileError(f"{path.name}, line {line}: {len(cells)} fields, but the header names "
                               f"{len(header)} columns")
    return header, records


def strict_float(text: Any) -> float:
    """``float(text)`` as a data file means it (ValueError otherwise): without Python's digit separators
    ('2_5' is not 25), with ASCII digits only (Python reads the full-width '５' and the Arabic-Indic '١٢' as
    5 and 12), and not a non-zero number too small for a float ('1e-400' is not 0)."""
    if isinstance(text, str):
        if not plain_digits(text):
            raise ValueError(f"could not convert string to float: {text!r}")
        x = float(text)
        if underflows(text, x):
            raise ValueError(f"{text!r} is too small for a float: it would be stored as 0")
        return x
    return float(text)


def underflows(text: str, x: float) -> bool:
    """Whether ``text``, a non-zero number, was read as ``x`` = 0 (1e-400: below the smallest float)."""
    return x == 0.0 and any(c in "123456789" for c in text.lower().split("e")[0])


def unreadable_number(text: str) -> str:
    """Why a cell that Python's float() reads is not taken as a number here (too small for a float, digit
    separators, other scripts' digits): a phrase for the error; '' for a number, and for text."""
    try:
        strict_float(text)
    except ValueError as exc:
        try:
            float(text)
        except (ValueError, OverflowError):
            return ""  # text
        return number_hint(text, exc)
    return ""


def plain_digits(text: str) -> bool:
    """Text without what Python's int() and float() also read: '_' separators and digits of other scripts."""
    return "_" not in text and text.isascii()


def number_hint(text: Any, exc: Exception) -> str:
    """What to write instead of a number ``strict_float`` (or int) refused with ``exc`` ('' if nothing)."""
    if "too small" in str(exc):
        return str(exc)
    if isinstance(text, str) and not plain_digits(text):
        return "write it in plain ASCII digits, without '_'"
    return ""


def parse_number(text: str) -> float | None:
    """The cell as a float, or None when it is not a number (``nan``/``inf`` are numbers here; '2_5' is not)."""
    try:
        return strict_float(text)
    except ValueError:
        return None


def output_cell(text: str) -> Any:
    """An extra column's cell (kept as an output by import and tell --csv): the number it says, or its text
    where a number would lose what it says: an identifier with leading zeros (000123), more digits than a
    float holds (a 20-digit barcode), or no finite number at all."""
    x = parse_number(text)
    if x is None or not math.isfinite(x):
        return text
    body = text.strip().lstrip("+-")
    mantissa = re.split(r"[eE]", body)[0]
    digits = mantissa.replace(".", "").lstrip("0")  # ('_' is no number here: parse_number refused it)
    whole = mantissa.split(".")[0]
    if (len(whole) > 1 and whole.startswith("0")) or len(digits.rstrip("0") if "." in mantissa else digits) > 15:
        return text
    return x


def check_where(where: Any) -> Any:
    """A ``where:`` filter ({column: value or [values]}) as written in a campaign file: each value text or a
    finite number. ValueError naming the column otherwise: true/false would be read as 1/0, and an empty
    value, inf or nan, or a nested list or mapping can never equal a cell."""
    if not isinstance(where, dict):
        return where  # the field's type check reports it
    for column, wanted in where.items():
        for w in wanted if isinstance(wanted, list) else [wanted]:
            if isinstance(w, bool):
                raise ValueError(f"{column}: {str(w).lower()} is a boolean, which would match the number "
                                 f"{int(w)}; write {int(w)}, or '{str(w).lower()}' in quotes for text")
            if w is None or isinstance(w, (list, dict)) or (isinstance(w, float) and not math.isfinite(w)):
                what = "an empty value" if w is None else repr(w)
                raise ValueError(f"{column}: {what} can never equal a cell; give text or a finite number (or a "
                                 f"list of them), e.g. {{{column}: 105}}")
    return where


def cell_matches(text: str, wanted: Any) -> bool:
    """Whether a cell equals a filter value: as numbers when both are numbers, else as text."""
    if isinstance(wanted, (list, tuple)):
        return any(cell_matches(text, w) for w in wanted)
    if isinstance(wanted, (int, float)) and not isinstance(wanted, bool):
        x = parse_number(text)
        return x is not None and math.isclose(x, float(wanted), rel_tol=1e-9, abs_tol=1e-12)
    return text == str(wanted)


def unmatched_where(header: Sequence[str], records: list[tuple[int, list[str]]],
                    where: Mapping[str, Any] | None, file: str) -> list[tuple[str, str]]:
    """(column, message) per ``where:`` value that equals no cell of its column (a typo such as 150 for 105, or
    '1_0' for 10, in a list of allowed values would otherwise drop out silently), naming the values the
    column does hold. Columns missing from the header are left to the caller."""
    out = []
    for name, wanted in (where or {}).items():
        if name not in header:
            continue
        j = header.index(name)
        distinct = {cells[j] for _, cells in records}  # a where column holds few values (temperatures, plates)
        for w in wanted if isinstance(wanted, (list, tuple)) else [wanted]:
            if not any(cell_matches(c, w) for c in distinct):
                numbers = {c: parse_number(c) for c in distinct}
                held = sorted(distinct, key=lambda c: (numbers[c] is None, numbers[c] or 0.0, c))
                shown = ", ".join(held[:12]) + (f", ... ({len(held)} values)" if len(held) > 12 else "")
                hint = " (written as text; a number is written without '_')" if isinstance(w, str) and \
                    parse_number(w.replace("_", "")) is not None and "_" in w else ""
                out.append((name, f"no row of {file} has {w!r}{hint}; the column holds {shown or 'no values'}"))
    return out


def filter_rows(header: Sequence[str], records: list[tuple[int, list[str]]],
                where: Mapping[str, Any] | None) -> list[tuple[int, list[str]]]:
    """The records whose cells equal ``where``'s values (a value or a list of allowed values per column).

    Raises KeyError naming a column that is not in the header.
    """
    if not where:
        return records
    cols = []
    for name, wanted in where.items():
        if name not in header:
            raise KeyError(name)
        cols.append((header.index(name), wanted))
    return [(line, cells) for line, cells in records if all(cell_matches(cells[j], w) for j, w in cols)]


STANDARD_INPUT = ("-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0")


def data_file_name(value: str, what: str) -> str:
    """A CSV path as written in a campaign file: ValueError for an empty one (it named the campaign's folder)
    and for the standard input (read once, where a campaign reads its data files again on every resume)."""
    if not value.strip():
        raise ValueError(f"is empty; give the {what} CSV file, relative to the campaign file")
    if value.strip() in STANDARD_INPUT:
        raise ValueError(f"'{value}' is the standard input, which a campaign cannot read again when it resumes; "
                         "save the rows to a CSV file and give its path")
    return value
