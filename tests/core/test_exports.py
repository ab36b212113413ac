"""Spreadsheet and Markdown exports: nothing a user uploaded or a model wrote can run as a
formula in a spreadsheet or turn into a link, HTML or new structure in Markdown."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from core.exports import markdown_text, neutralise, to_csv, to_markdown_table


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


# -- neutralise ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    [
        "=HYPERLINK(\"http://evil.example\", \"Click\")",
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
        "  =1+1",  # spreadsheets that trim the cell first
        "\n@SUM(A1)",
        "+1 555 0100",  # a phone number is text, not a sum
        "-1e3",
        "- cheap plans",
    ],
)
def test_a_cell_that_a_spreadsheet_would_run_gets_a_leading_quote(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize(
    "cell", ["-3", "-0.25", "42", "Acme", "e-mail us", "a=b", " leading space", "", "50%"]
)
def test_plain_text_and_plain_numbers_written_as_text_stay_as_they_are(cell: str) -> None:
    assert neutralise(cell) == cell


@pytest.mark.parametrize("value", [-3, -2.5, 0, Decimal("-1.10"), np.int64(-7), None, True])
def test_numbers_and_other_non_text_values_are_untouched(value: object) -> None:
    assert neutralise(value) is value


# -- CSV ----------------------------------------------------------------------------------


def test_the_csv_header_uses_human_labels() -> None:
    frame = pd.DataFrame({"competitor": ["Acme"], "link_count": [3], "cost_usd": ["0.01"]})
    rows = read_csv(to_csv(frame, {"competitor": "Company"}))
    assert rows[0] == ["Company", "Link count", "Cost usd"]


def test_the_csv_is_utf8_with_a_byte_order_mark_for_excel() -> None:
    frame = pd.DataFrame({"name": ["Société Générale", "東京"]})
    data = to_csv(frame)
    assert data.startswith(b"\xef\xbb\xbf")
    assert read_csv(data)[1:] == [["Société Générale"], ["東京"]]
    assert b"\r\n" in data  # the line ending Excel and RFC 4180 expect


def test_every_csv_cell_and_header_is_neutralised_and_numbers_stay_numbers() -> None:
    frame = pd.DataFrame({
        "=cmd": ["=1+1", "@SUM(A1)", "fine"],
        "delta": [-3, -4, 2],
        "note": ["-3", "+44 20 7946 0000", "\t=2"],
    })
    rows = read_csv(to_csv(frame))
    assert rows[0] == ["'=cmd", "Delta", "Note"]
    assert rows[1:] == [
        ["'=1+1", "-3", "-3"],
        ["'@SUM(A1)", "-4", "'+44 20 7946 0000"],
        ["fine", "2", "'\t=2"],
    ]


def test_lists_are_joined_and_missing_values_are_empty() -> None:
    frame = pd.DataFrame({
        "strengths": [["cheap", "fast"], ["=evil", "ok"], None],
        "score": [1.5, float("nan"), None],
    })
    rows = read_csv(to_csv(frame))
    assert rows[1:] == [["cheap; fast", "1.5"], ["'=evil; ok", ""], ["", ""]]


# -- Markdown -----------------------------------------------------------------------------


def test_the_markdown_table_escapes_pipes_and_line_breaks() -> None:
    frame = pd.DataFrame({"competitor": ["Acme | Co"], "note": ["line one\nline two"]})
    table = to_markdown_table(frame, {"note": "Notes"})
    assert table.splitlines() == [
        "| Competitor | Notes |",
        "| --- | --- |",
        r"| Acme \| Co | line one line two |",
    ]


def test_a_markdown_cell_cannot_become_a_link_or_html() -> None:
    frame = pd.DataFrame({"note": ["[click](javascript:alert(1)) <img src=x onerror=alert(1)>"]})
    row = to_markdown_table(frame).splitlines()[2]
    assert not re.search(r"(?<!\\)[\[\]<>]", row)  # every bracket is escaped
    assert "javascript:" not in row
    assert row == (
        r"| \[click\](javascript&#58;alert(1)) \<img src=x onerror=alert(1)\> |"
    )


def test_markdown_text_keeps_text_readable_but_inert() -> None:
    assert markdown_text("# Not a heading") == r"\# Not a heading"
    assert markdown_text("1. not a list") == r"1\. not a list"
    assert markdown_text("Plans at $29 and $49") == r"Plans at \$29 and \$49"
    assert markdown_text("a\\[b") == r"a\\\[b"  # a backslash cannot cancel the escape
    assert markdown_text("See https://acme.example/pricing") == (
        "See https://acme.example/pricing"
    )
    assert markdown_text("JavaScript:void(0)") == "JavaScript&#58;void(0)"
