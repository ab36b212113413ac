"""Safe downloads: CSV files a spreadsheet opens without running anything, and Markdown that
renders as the text it holds.

Spreadsheet formula injection (OWASP "CSV injection"): Excel, LibreOffice and Google Sheets
treat a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, and a tab or a
carriage return in front can smuggle one in. Anything a user uploaded or a model wrote may
end up in an export, so ``neutralise`` puts a single quote in front of such a cell; the
spreadsheet then shows the text as text. The choices, and why:

* A string is neutralised when it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
  return, **and** when its first character after leading whitespace (spaces, tabs, line
  breaks) is ``=``, ``+``, ``-`` or ``@``: some spreadsheet apps trim the cell before
  deciding it is a formula.
* A string that is a plain decimal number (``-3``, ``-0.25``, ``42``) is left alone, so a
  negative figure stays a figure: it evaluates to nothing but itself. Anything else that
  starts with ``-`` or ``+`` (``-2+3``, ``+1 555 0100``, ``-1e3``) is quoted: a phone number
  written as ``+1 ...`` is a classic carrier of a formula.
* Numbers (``int``, ``float``, ``Decimal``, NumPy scalars) are never touched: a number cell
  cannot be a formula. ``None`` and other non-strings pass through unchanged.

Markdown: ``markdown_text`` turns a value from a user or a model into inline Markdown that
cannot become a link, an image, raw HTML or new structure. Line breaks become spaces; a
heading, quote or list marker at the start is escaped; backslashes, square and angle
brackets and dollar signs are backslash-escaped (a pair of dollars is LaTeX in Streamlit's
Markdown, and "$29 and $49" is common in a pricing cell). That escaping is what stops a
model's ``[click](javascript:...)`` or ``<javascript:...>`` from becoming a link. As a
second layer ``javascript:`` and ``vbscript:`` are written ``javascript&#58;``: it reads
the same once rendered, but a tool that linkifies bare ``scheme:`` text in the raw file
finds no scheme. Plain ``https://`` addresses stay clickable (GitHub and Streamlit
autolink them).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_TRIMMED_FORMULA_STARTS = ("=", "+", "-", "@")
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_SCRIPT_SCHEME = re.compile(r"(javascript|vbscript)(\s*):", re.IGNORECASE)
_MARKDOWN_ACTIVE = re.compile(r"([\\\[\]<>$])")
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")
# What would open a heading, a quote or a list at the start of a line.
_BLOCK_START = re.compile(r"^(?:([#>])|([-+*])(?=\s|$)|([0-9]+)([.)])(?=\s|$))")
LIST_SEPARATOR = "; "


def neutralise(value: Any) -> Any:
    """``value`` made safe for a spreadsheet cell (see the module docstring for the rules)."""
    if not isinstance(value, str) or not value:
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    if value.startswith(FORMULA_STARTS) or value.lstrip().startswith(_TRIMMED_FORMULA_STARTS):
        return "'" + value
    return value


def column_label(column: str, labels: Mapping[str, str] | None = None) -> str:
    """The human label of ``column``: from ``labels``, else ``link_count`` -> ``Link count``."""
    if labels and column in labels:
        return labels[column]
    text = str(column).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def cell_text(value: Any) -> Any:
    """A cell as an export writes it: lists joined with "; ", missing values as ""."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return LIST_SEPARATOR.join(str(cell_text(item)) for item in value)
    if isinstance(value, float) and math.isnan(value):
        return ""
    if not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value):
        return ""  # pandas' NaT, NA and NumPy's NaN
    return value


def _rows(frame: pd.DataFrame) -> Iterable[list[Any]]:
    for row in frame.itertuples(index=False, name=None):
        yield [cell_text(value) for value in row]


def to_csv(frame: pd.DataFrame, labels: Mapping[str, str] | None = None) -> bytes:
    """``frame`` as CSV bytes for a download: UTF-8 with a byte-order mark (so Excel reads
    accents correctly), a header of human labels, every cell passed through ``neutralise``
    (the header too: uploaded files choose their own column names)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(column_label(c, labels)) for c in frame.columns])
    for row in _rows(frame):
        writer.writerow([neutralise(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def markdown_text(value: Any) -> str:
    """``value`` as one line of inline Markdown that shows exactly that text."""
    text = _LINE_BREAKS.sub(" ", str(cell_text(value))).strip()
    text = _MARKDOWN_ACTIVE.sub(r"\\\1", text)
    text = _BLOCK_START.sub(_escape_block_start, text)
    return _SCRIPT_SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}&#58;", text)


def _escape_block_start(match: re.Match[str]) -> str:
    marker, bullet, number, dot = match.groups()
    if number is not None:
        return f"{number}\\{dot}"
    return "\\" + (marker or bullet)


def _table_cell(value: Any) -> str:
    return markdown_text(value).replace("|", r"\|")


def to_markdown_table(frame: pd.DataFrame, labels: Mapping[str, str] | None = None) -> str:
    """``frame`` as a GitHub-flavoured Markdown table (header of human labels); pipes in
    cells are escaped and line breaks become spaces, so no value can break the table."""
    header = [_table_cell(column_label(c, labels)) for c in frame.columns]
    if not header:
        return ""
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    for row in _rows(frame):
        lines.append("| " + " | ".join(_table_cell(value) for value in row) + " |")
    return "\n".join(lines) + "\n"
