"""Reading uploads in the encodings spreadsheets write: Excel's plain "CSV" (Windows-1252 on
a Western Windows), its "Unicode Text" (UTF-16 LE with a BOM, tab-separated), UTF-16/32
with or without a byte-order mark, and other code pages, each read exactly and named in a
note; and the files that still are no CSV, refused. The fast parser (pyarrow) and the
fallback (the csv module) agree on every file here."""

from __future__ import annotations

from unittest import mock

import pytest

from core import csvfiles
from core.csvfiles import CSVError, Table, encoding_name, read_table
from core.sessions import ensure_session
from core.tasks import import_tasks, list_tasks
from store.db import Database

H = "https://www.example.com"
TASKS = (
    "title,notes\r\n"
    "Pay the €120 invoice,“urgent” – before Friday\r\n"
    "Call Zoë,‘again’ … maybe — or write\r\n"
)
TASK_ROWS = {
    "title": ["Pay the €120 invoice", "Call Zoë"],
    "notes": ["“urgent” – before Friday", "‘again’ … maybe — or write"],
}
EXCEL_UNICODE_TEXT = "title\tnotes\r\nPay €5\t“soon” – café\r\nPlan Q3\t\r\n"
C1_CONTROLS = {chr(c) for c in range(0x80, 0xA0)}


def read_both(data: bytes) -> Table:
    """The table pyarrow reads, after checking the csv module reads the same."""
    fast = read_table(data)
    with mock.patch.object(csvfiles, "_parse_fast", return_value=None):
        slow = read_table(data)
    assert fast.frame.to_dict("list") == slow.frame.to_dict("list")
    assert (fast.notes, fast.encoding, fast.delimiter, fast.header, fast.bad_rows) == (
        slow.notes, slow.encoding, slow.delimiter, slow.header, slow.bad_rows
    )
    assert fast.lines is not None and slow.lines is not None
    assert fast.lines.tolist() == slow.lines.tolist()
    return fast


def test_windows_1252_is_read_exactly() -> None:
    table = read_both(TASKS.encode("cp1252"))
    assert table.frame.to_dict("list") == TASK_ROWS
    assert table.encoding == "Windows-1252"
    assert table.notes == ["Read as Windows-1252."]
    assert table.lines is not None and table.lines.tolist() == [2, 3]


@pytest.mark.parametrize(
    "byte", [b for b in range(0x80, 0xA0) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)]
)
def test_no_byte_windows_1252_reads_becomes_a_control_character(byte: int) -> None:
    """Latin-1 reads 0x80-0x9F as invisible control characters; Windows-1252 reads them
    as €, ‚, „, …, curly quotes, dashes, ™, Š, Œ, Ž... and a file it reads is read by it."""
    char = bytes([byte]).decode("cp1252")
    table = read_both(f"title,notes\nprice {char} list,x\n".encode("cp1252"))
    assert table.frame["title"].tolist() == [f"price {char} list"]
    assert not C1_CONTROLS & set(table.frame["title"][0])


def test_a_file_that_is_utf_8_only_at_the_start_is_read_as_windows_1252() -> None:
    """The first 64 KB decide nothing: a euro sign near the end still reads as one."""
    head = "".join(f"Task {i} café,note {i}\n" for i in range(5000))
    data = ("title,notes\n" + head).encode("utf-8") + "Pay €5,“now”\n".encode("cp1252")
    assert len(data) > csvfiles.SAMPLE_BYTES
    table = read_both(data)
    assert table.encoding == "Windows-1252"
    assert table.frame["title"].iloc[-1] == "Pay €5"
    assert table.frame["notes"].iloc[-1] == "“now”"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_skipped_row_past_the_start_decides_the_encoding_too() -> None:
    """pyarrow converts no cell of a row with the wrong number of fields (it cannot even
    show it to the handler: it says so on stderr), so the fallback finds the code page."""
    data = ("title,notes\n" + "Task,note\n" * 8000).encode() + "Pay €5,x,“y”\n".encode("cp1252")
    assert len(data) > csvfiles.SAMPLE_BYTES
    table = read_both(data)
    assert table.encoding == "Windows-1252"
    assert table.notes == [
        "Read as Windows-1252.",
        "Skipped 1 of 8,001 rows with the wrong number of fields (expected 2).",
    ]


def test_utf_8_needs_no_note() -> None:
    table = read_both(TASKS.encode("utf-8"))
    assert table.frame.to_dict("list") == TASK_ROWS
    assert (table.encoding, table.notes) == ("UTF-8", [])
    bom = read_both(TASKS.encode("utf-8-sig"))
    assert bom.frame.to_dict("list") == TASK_ROWS
    assert bom.notes == ["Read as UTF-8 with BOM."]


def test_excel_unicode_text_is_read() -> None:
    """Excel's "Unicode Text": UTF-16 LE with a byte-order mark, tabs, CRLF."""
    table = read_both(EXCEL_UNICODE_TEXT.encode("utf-16"))
    assert table.frame.to_dict("list") == {
        "title": ["Pay €5", "Plan Q3"], "notes": ["“soon” – café", ""],
    }
    assert (table.encoding, table.delimiter, table.notes) == ("UTF-16", "\t", ["Read as UTF-16."])
    assert table.lines is not None and table.lines.tolist() == [2, 3]


@pytest.mark.parametrize(
    ("encoded", "name"),
    [
        (b"\xff\xfe" + EXCEL_UNICODE_TEXT.encode("utf-16-le"), "UTF-16"),
        (b"\xfe\xff" + EXCEL_UNICODE_TEXT.encode("utf-16-be"), "UTF-16"),
        (EXCEL_UNICODE_TEXT.encode("utf-16-le"), "UTF-16"),  # no byte-order mark
        (EXCEL_UNICODE_TEXT.encode("utf-16-be"), "UTF-16"),
        (b"\xff\xfe\x00\x00" + EXCEL_UNICODE_TEXT.encode("utf-32-le"), "UTF-32"),
        (b"\x00\x00\xfe\xff" + EXCEL_UNICODE_TEXT.encode("utf-32-be"), "UTF-32"),
    ],
    ids=["utf16le-bom", "utf16be-bom", "utf16le", "utf16be", "utf32le-bom", "utf32be-bom"],
)
def test_utf_16_and_32_are_read_with_or_without_a_byte_order_mark(
    encoded: bytes, name: str
) -> None:
    table = read_both(encoded)
    assert table.frame["notes"].tolist() == ["“soon” – café", ""]
    assert table.notes == [f"Read as {name}."]


def test_asian_text_in_utf_16_without_a_byte_order_mark_is_read() -> None:
    """Few zero bytes (only the commas and line ends have one), yet UTF-16."""
    japanese = "title,notes\n会議の準備をする,金曜日まで\nメールを送る,明日の朝\n"
    table = read_both(japanese.encode("utf-16-le"))
    assert table.frame["title"].tolist() == ["会議の準備をする", "メールを送る"]
    assert table.notes == ["Read as UTF-16."]


def test_other_code_pages_are_found_and_named() -> None:
    russian = (
        "title,notes\nПозвонить клиенту,срочно до пятницы\nНаписать письмо партнёрам,"
        "завтра утром\nПодготовить отчёт,в понедельник\n"
    )
    table = read_both(russian.encode("cp1251"))
    assert table.frame["title"].tolist() == [
        "Позвонить клиенту", "Написать письмо партнёрам", "Подготовить отчёт",
    ]
    assert table.notes == ["Read as Windows-1251."]
    japanese = "title,notes\n会議の準備をする,金曜日まで\nメールを送る,明日の朝\n"
    table = read_both(japanese.encode("cp932"))
    assert table.frame["title"].tolist() == ["会議の準備をする", "メールを送る"]
    assert table.notes == ["Read as Shift_JIS (Windows)."]


def test_encoding_names_are_the_ones_people_know() -> None:
    assert [encoding_name(c) for c in ("cp1252", "cp1250", "latin_1", "utf_16_le",
                                       "iso8859_15", "gb18030", "koi8_r")] == [
        "Windows-1252", "Windows-1250", "Latin-1", "UTF-16", "ISO-8859-15", "GB18030",
        "KOI8-R",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"title,notes\nEmail\x00 Globex,first\n", "looks like a binary file"),
        (bytes([1, 0, 2, 0, 3, 0, 4, 0] * 200), "looks like a binary file"),  # zeros, no text
        (b"\xff\xfe" + "title\nx\n".encode("utf-16-le") + b"\x00", "byte 19 is not valid UTF-16"),
        ("<!DOCTYPE html><html></html>".encode("utf-16"), "is an HTML or XML page"),
        (b"\xff\xfe", "is empty"),
        (" \r\n\t\r\n".encode("utf-16"), "holds only blank lines or spaces"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is a PNG image"),
        (b"PK\x03\x04\x14\x00\x06\x00", "an Excel .xlsx workbook?"),
    ],
    ids=["nul", "zero-pattern", "odd-utf16", "utf16-html", "bom-only", "utf16-blank", "png",
         "xlsx"],
)
def test_what_is_not_a_csv_is_still_refused(data: bytes, message: str) -> None:
    with pytest.raises(CSVError, match=message):
        read_table(data)


def test_a_windows_1252_task_list_imports_exactly(db: Database) -> None:
    sid = ensure_session(db, None)
    report = import_tasks(db, sid, TASKS.encode("cp1252"))
    assert (report.added, report.skipped, report.notes) == (2, [], ["Read as Windows-1252."])
    tasks = list_tasks(db, sid)
    assert {t.title: t.notes for t in tasks} == dict(zip(*TASK_ROWS.values(), strict=True))


def test_an_excel_unicode_text_task_list_imports(db: Database) -> None:
    sid = ensure_session(db, None)
    report = import_tasks(db, sid, EXCEL_UNICODE_TEXT.encode("utf-16"))
    assert (report.added, report.notes) == (2, ["Read as UTF-16."])
    assert {t.title: t.notes for t in list_tasks(db, sid)} == {
        "Pay €5": "“soon” – café", "Plan Q3": "",
    }


def test_a_cell_of_two_megabytes_is_read_not_taken_for_bad_quoting() -> None:
    url = "https://example.com/" + "a" * 2_000_000
    data = f"source,target\nhttps://example.com/,{url}\n".encode()
    table = read_table(data, name="edges.csv")
    assert len(table.frame) == 1 and table.frame.iloc[0, 1] == url
