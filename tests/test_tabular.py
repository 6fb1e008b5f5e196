"""Reading CSV and XLSX tables: encodings, delimiters, row numbers, broken files."""

from __future__ import annotations

import datetime
import io
import zipfile

import openpyxl
import pytest

from tumar.tabular import FileProblem, open_table, sniff_format

Rows = list[tuple[int, list[str | None]]]


def read(data: bytes, **kwargs: object) -> tuple[list[str], Rows]:
    with open_table(io.BytesIO(data), **kwargs) as table:  # type: ignore[arg-type]
        return table.header, list(table.rows)


def problem(data: bytes, **kwargs: object) -> FileProblem:
    with pytest.raises(FileProblem) as caught:
        read(data, **kwargs)
    return caught.value


def xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for values in rows:
        sheet.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_utf8_with_a_byte_order_mark_and_semicolons() -> None:
    header, rows = read('\ufeffa;b\n1;Әлия\n\n2;"x;y"\n'.encode())
    assert header == ["a", "b"]
    # row numbers as a spreadsheet shows them: the blank line is row 3
    assert rows == [(2, ["1", "Әлия"]), (4, ["2", "x;y"])]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_comes_from_the_header(delimiter: str) -> None:
    header, rows = read(delimiter.join(["a", "b", "c"]).encode() + b"\n1" + delimiter.encode())
    assert header == ["a", "b", "c"]
    assert rows == [(2, ["1", None])]


def test_cp1251_is_refused_with_a_hint_naming_the_line() -> None:
    data = "a,b\n1,ok\n2,Иванов\n".encode("cp1251")
    found = problem(data)
    assert found.code == "encoding"
    assert "line 3" in found.message and "cp1251" in found.message
    assert "--encoding cp1251" in found.message


def test_kazakh_text_in_kz1048_is_named_as_such() -> None:
    found = problem("a,b\n1,Әлия Қасымова\n".encode("kz1048"))
    assert "kz1048" in found.message


def test_a_named_encoding_is_used() -> None:
    _, rows = read("a,b\n1,Иванов\n".encode("cp1251"), encoding="cp1251")
    assert rows == [(2, ["1", "Иванов"])]
    assert problem(b"a,b\n", encoding="no-such-codec").code == "encoding"


def test_utf16_is_refused_unless_named() -> None:
    data = "a,b\n1,Иванов\n".encode("utf-16")
    assert "UTF-16" in problem(data).message
    assert read(data, encoding="utf-16")[1] == [(2, ["1", "Иванов"])]


def test_broken_files() -> None:
    assert problem(b"").code == "empty"
    assert problem(b'a,b\n1,"never closed\n').code == "format"
    assert problem(b"PK\x03\x04 not really a zip").code == "format"
    assert problem(b"\n\n").code == "empty"


def test_a_large_file_reports_the_right_line() -> None:
    data = b"a,b\n" + b"x,y\n" * 30_000 + "z,Иван\n".encode("cp1251")
    assert "line 30002" in problem(data).message


def test_xlsx_numbers_dates_and_blank_rows() -> None:
    data = xlsx(
        [
            ["Personnel Number", "Hired", "Rate"],
            [1001, datetime.datetime(2024, 3, 1), 1.5],
            [],
            ["  0042 ", datetime.date(2024, 3, 2), 2.0],
        ]
    )
    assert sniff_format(data) == "xlsx"
    header, rows = read(data)
    assert header == ["Personnel Number", "Hired", "Rate"]
    assert rows == [(2, ["1001", "2024-03-01", "1.5"]), (4, ["0042", "2024-03-02", "2"])]


def test_xlsx_that_unpacks_too_far_is_refused() -> None:
    data = xlsx([["a", "b"], ["x" * 30_000, "y" * 30_000]])
    assert problem(data, max_unpacked_bytes=50_000).code == "too_large"
    assert read(data, max_unpacked_bytes=10_000_000)[1] == [(2, ["x" * 30_000, "y" * 30_000])]


def test_a_zip_that_is_not_a_workbook() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert problem(out.getvalue()).code == "format"


def test_progress_is_reported() -> None:
    seen: list[tuple[int, int | None]] = []
    data = b"a\n" + b"x\n" * 2500
    with open_table(io.BytesIO(data), progress=lambda d, t: seen.append((d, t))) as table:
        assert len(list(table.rows)) == 2500
    assert seen[-1] == (len(data), len(data))
    assert len(seen) >= 3
