"""Reading a table (CSV or XLSX) from a file, one row at a time.

This knows files, not staff or organisations: it yields the header row and then each data row
as a list of cell texts (``None`` for an empty cell), with the row number a spreadsheet shows
(the header is row 1). Problems that make the whole file unreadable (wrong encoding, not a
workbook, a broken CSV quote, ...) raise :class:`FileProblem` with a sentence for a person.

CSV: UTF-8 with or without a byte-order mark unless another encoding is named. A file that is
not valid UTF-8 is refused, with a hint when it looks like Windows-1251 (Excel's "CSV" in a
Russian locale). The delimiter (comma, semicolon or tab) is taken from the header row.
XLSX: the first worksheet, read with openpyxl in read-only (streaming) mode.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import IO, Literal, TypeVar

Format = Literal["csv", "xlsx"]
Progress = Callable[[int, int | None], None]  # (done, total): bytes or rows; total may be unknown
Cells = list[str | None]
T = TypeVar("T")

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_ZIP_MAGIC = b"PK\x03\x04"
_DELIMITERS = (",", ";", "\t")
_PROGRESS_EVERY = 1000


class FileProblem(Exception):
    """The file as a whole cannot be read; ``code`` names the kind of problem."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # "encoding", "format", "empty"
        self.message = message


@dataclass(slots=True)
class Table:
    format: Format
    header: list[str]
    rows: Iterator[tuple[int, Cells]]  # (row number, cells) of non-blank data rows
    encoding: str | None = None  # CSV only
    delimiter: str | None = None  # CSV only


def sniff_format(head: bytes) -> Format:
    """XLSX files are ZIP archives; anything else is taken for CSV."""
    return "xlsx" if head.startswith(_ZIP_MAGIC) else "csv"


def check_encoding(name: str) -> str:
    """The canonical name of the text encoding ``name``; a FileProblem if Python knows no such
    text encoding (``base64`` and the like are codecs, but not text encodings)."""
    try:
        if len(name) > 64:
            raise LookupError(name)
        canonical = codecs.lookup(name).name
        io.TextIOWrapper(io.BytesIO(), encoding=canonical).detach()
        return canonical
    except (LookupError, ValueError, UnicodeError):
        raise FileProblem("encoding", f"Unknown text encoding {name[:64]!r}.") from None


@contextmanager
def open_table(
    fh: IO[bytes],
    *,
    fmt: Format | None = None,
    encoding: str | None = None,
    max_unpacked_bytes: int | None = None,
    progress: Progress | None = None,
) -> Iterator[Table]:
    """Open a seekable binary file as a table. Iterating ``rows`` may raise FileProblem."""
    start = fh.tell()
    head = fh.read(8)
    fh.seek(start)
    if not head:
        raise FileProblem("empty", "The file is empty.")
    fmt = fmt or sniff_format(head)
    if fmt == "xlsx":
        with _open_xlsx(fh, max_unpacked_bytes, progress) as table:
            yield table
    else:
        with _open_csv(fh, encoding, progress) as table:
            yield table


# ---- CSV ------------------------------------------------------------------------------------


@contextmanager
def _open_csv(fh: IO[bytes], encoding: str | None, progress: Progress | None) -> Iterator[Table]:
    head = fh.read(4)
    fh.seek(0)
    if encoding is None and head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise FileProblem(
            "encoding",
            'The file is UTF-16 (Excel\'s "Unicode text"). Save it as "CSV UTF-8", or name '
            "the encoding utf-16.",
        )
    codec = check_encoding(encoding or "utf-8")
    if codec == "utf-8":
        codec = "utf-8-sig"  # drop a byte-order mark if there is one
    size = _size(fh)
    text = io.TextIOWrapper(fh, encoding=codec, errors="strict", newline="")
    try:
        yield _csv_table(fh, text, codec, size, progress)
    finally:
        text.detach()  # leave the caller's file open


def _csv_table(
    fh: IO[bytes],
    text: io.TextIOWrapper,
    codec: str,
    size: int | None,
    progress: Progress | None,
) -> Table:
    first = _decode(lambda: text.readline(), fh, codec)
    delimiter = max(_DELIMITERS, key=first.count)
    if not first.count(delimiter):
        delimiter = ","
    reader = csv.reader(_lines(first, text), delimiter=delimiter, strict=True)
    header = _csv_row(reader, fh, codec)
    if header is None or not any(h.strip() for h in header):
        raise FileProblem("empty", "The file is empty or its first row (the header) is.")

    def rows() -> Iterator[tuple[int, Cells]]:
        number = 1
        while (record := _csv_row(reader, fh, codec, number + 1)) is not None:
            number += 1
            cells: Cells = [c.strip() or None for c in record]
            if any(cells):
                yield number, cells
            if progress is not None and number % _PROGRESS_EVERY == 0:
                progress(fh.tell(), size)
        if progress is not None:
            progress(size or 0, size)

    return Table("csv", [h.strip() for h in header], rows(), encoding=codec, delimiter=delimiter)


def _lines(first: str, text: io.TextIOWrapper) -> Iterator[str]:
    yield first
    yield from text


def _csv_row(
    reader: Iterator[list[str]], fh: IO[bytes], codec: str, row: int = 1
) -> list[str] | None:
    try:
        return _decode(lambda: next(reader, None), fh, codec)
    except csv.Error as exc:
        raise FileProblem("format", f"Row {row}: the file is not valid CSV ({exc}).") from None


def _decode(read: Callable[[], T], fh: IO[bytes], codec: str) -> T:
    try:
        return read()
    except UnicodeDecodeError as exc:
        raise FileProblem("encoding", _encoding_message(exc, _line_of(exc, fh), codec)) from None


def _line_of(exc: UnicodeDecodeError, fh: IO[bytes]) -> int | None:
    """The line (1-based) of the undecodable byte: the decoder was given the chunk that ends at
    the file's current position."""
    try:
        offset = fh.tell() - len(exc.object) + exc.start
        fh.seek(0)
        return fh.read(max(offset, 0)).count(b"\n") + 1
    except (OSError, ValueError):
        return None


def _encoding_message(exc: UnicodeDecodeError, line: int | None, codec: str) -> str:
    name = "UTF-8" if codec == "utf-8-sig" else codec
    where = f" (line {line}, byte 0x{exc.object[exc.start]:02X})" if line is not None else ""
    message = f"The file is not valid {name} text{where}."
    legacy = _guess_legacy(exc.object[exc.start : exc.start + 400])
    if codec == "utf-8-sig" and legacy is not None:
        code, label = legacy
        message += (
            f' It looks like {label}: save it as "CSV UTF-8", or name the encoding {code} '
            f"(command line: --encoding {code}; admin API: Content-Type: text/csv; "
            f"charset={code})."
        )
    else:
        message += ' Save it as "CSV UTF-8", or name its encoding.'
    return message


_KAZAKH_ONLY = "ӘәҒғҚқҢңӨөҰұҮүҺһ"
_KZ1048_KAZAKH = frozenset(
    b for b in range(0x80, 0x100) if bytes([b]).decode("kz1048", "replace") in _KAZAKH_ONLY
)


def _guess_legacy(sample: bytes) -> tuple[str, str] | None:
    """Whether bytes above 0x7F read as Cyrillic letters in a Windows code page: cp1251
    (Russian) or kz1048 (Kazakh, which cp1251 cannot write)."""
    high = [b for b in sample if b > 0x7F]
    if not high:
        return None
    text = bytes(high).decode("kz1048", "replace")
    letters = sum(1 for ch in text if "\u0400" <= ch <= "\u04ff")
    if letters / len(high) < 0.8:
        return None
    if any(b in _KZ1048_KAZAKH for b in high):
        return "kz1048", "Windows-1048 (Kazakh, kz1048)"
    return "cp1251", "Windows-1251 (cp1251)"


def _size(fh: IO[bytes]) -> int | None:
    try:
        here = fh.tell()
        end = fh.seek(0, io.SEEK_END)
        fh.seek(here)
        return end
    except (OSError, ValueError):
        return None


# ---- XLSX -----------------------------------------------------------------------------------


@contextmanager
def _open_xlsx(
    fh: IO[bytes], max_unpacked_bytes: int | None, progress: Progress | None
) -> Iterator[Table]:
    import openpyxl

    not_xlsx = FileProblem("format", "The file is not a readable XLSX workbook.")
    try:
        with zipfile.ZipFile(fh) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        raise not_xlsx from None
    if max_unpacked_bytes is not None and unpacked > max_unpacked_bytes:
        raise FileProblem(
            "too_large",
            f"The workbook unpacks to {unpacked} bytes, more than {max_unpacked_bytes}.",
        )
    fh.seek(0)
    try:
        book = openpyxl.load_workbook(fh, read_only=True, data_only=True)
    except Exception:  # openpyxl fails in many ways on a damaged or hostile workbook
        raise not_xlsx from None
    try:
        if not book.worksheets:
            raise FileProblem("empty", "The workbook has no worksheet.")
        sheet = book.worksheets[0]
        total = getattr(sheet, "max_row", None)
        sheet.reset_dimensions()  # some writers store wrong dimensions; read every cell
        it = sheet.iter_rows(values_only=True)
        try:
            first = next(it, None)
        except Exception as exc:  # openpyxl raises many kinds on a corrupt sheet
            raise FileProblem("format", f"The worksheet cannot be read ({exc}).") from None
        if first is None or not any(_cell(v) for v in first):
            raise FileProblem("empty", "The first row of the first worksheet is empty.")
        header = [_cell(v) or "" for v in first]

        def rows() -> Iterator[tuple[int, Cells]]:
            number = 1
            while True:
                try:
                    values = next(it, None)
                except Exception as exc:
                    raise FileProblem(
                        "format", f"Row {number + 1}: the worksheet cannot be read ({exc})."
                    ) from None
                if values is None:
                    break
                number += 1
                cells = [_cell(v) for v in values]
                if any(cells):
                    yield number, cells
                if progress is not None and number % _PROGRESS_EVERY == 0:
                    progress(number, total)
            if progress is not None:
                progress(number, number)

        yield Table("xlsx", header, rows())
    finally:
        book.close()


def _cell(value: object) -> str | None:
    """A cell as text. Whole numbers lose Excel's ".0"; dates become ISO dates."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, datetime):
        text = value.date().isoformat() if value.time() == time() else value.isoformat()
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    return text.strip() or None
