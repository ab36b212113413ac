"""Reading uploaded CSV files without surprises.

Uploads come from spreadsheets and crawlers: UTF-8, UTF-8 with a byte-order mark or
Latin-1; commas, semicolons or tabs; sometimes gzip-compressed; sometimes empty, only a
header, with duplicate headers or rows with the wrong number of fields. ``read_table``
turns any of that into either a table and a list of plain-words notes (what was
repaired or skipped, with counts), or a ``CSVError`` that says what is wrong and what to
do. Nothing here guesses silently: every skipped row is counted and reported.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from dataclasses import dataclass, field

import pandas as pd

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
MAX_EXPANSION = 20  # a gzip that inflates more than this is refused (a zip bomb guard)
DELIMITERS = [",", ";", "\t", "|"]


class CSVError(ValueError):
    """The file cannot be used; the message says why and what to do."""


@dataclass
class Table:
    frame: pd.DataFrame
    encoding: str
    delimiter: str
    notes: list[str] = field(default_factory=list)
    bad_rows: int = 0


def _inflate(data: bytes, name: str, max_bytes: int) -> bytes:
    if not data.startswith(b"\x1f\x8b"):
        return data
    limit = max(max_bytes, len(data) * MAX_EXPANSION)
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as packed:
            out = packed.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise CSVError(f"{name} looks gzip-compressed but cannot be unpacked ({exc}).") from exc
    if len(out) > limit:
        raise CSVError(
            f"{name} unpacks to more than {limit // (1024 * 1024)} MB; that is too large "
            "(or a zip bomb). Split it or upload it uncompressed."
        )
    return out


def _decode(data: bytes, name: str) -> tuple[str, str]:
    for encoding in ("utf-8-sig", "utf-8"):
        try:
            return data.decode(encoding), "UTF-8 with BOM" if data.startswith(
                b"\xef\xbb\xbf"
            ) else "UTF-8"
        except UnicodeDecodeError:
            continue
    if b"\x00" in data[:4096]:
        raise CSVError(
            f"{name} looks like a binary file (or UTF-16), not a CSV: export it again as "
            "CSV UTF-8."
        )
    return data.decode("latin-1"), "Latin-1"


def _delimiter(text: str, name: str) -> str:
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        first = text.splitlines()[0] if text else ""
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)  # type: ignore[arg-type]
        return best if counts[best] else ","


def read_table(
    data: bytes,
    *,
    name: str = "The file",
    max_bytes: int = DEFAULT_MAX_BYTES,
    required: tuple[str, ...] = (),
) -> Table:
    """Parse an uploaded CSV/TSV (optionally gzip) into a table of strings."""
    if len(data) > max_bytes:
        raise CSVError(
            f"{name} is {len(data) / 1024 / 1024:.1f} MB; the limit is "
            f"{max_bytes // (1024 * 1024)} MB. Split it into smaller files."
        )
    data = _inflate(data, name, max_bytes)
    if not data.strip():
        raise CSVError(f"{name} is empty: export the table again with a header row and data.")
    text, encoding = _decode(data, name)
    delimiter = _delimiter(text, name)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise CSVError(f"{name} holds only blank lines.")
    header = [h.strip() for h in rows[0]]
    notes: list[str] = []
    if encoding != "UTF-8":
        notes.append(f"Read as {encoding}.")
    if any(not h for h in header):
        raise CSVError(
            f"{name} has an empty column name (column {header.index('') + 1}); give every "
            "column a name in the first row."
        )
    lowered = [h.lower() for h in header]
    duplicates = sorted({h for h in lowered if lowered.count(h) > 1})
    if duplicates:
        raise CSVError(
            f"{name} has the column name(s) {', '.join(duplicates)} more than once; rename "
            "them so each column is unique."
        )
    body = rows[1:]
    if not body:
        raise CSVError(f"{name} has a header row but no data rows.")
    good = [r for r in body if len(r) == len(header)]
    bad = len(body) - len(good)
    if bad:
        notes.append(
            f"Skipped {bad:,} of {len(body):,} rows with the wrong number of fields "
            f"(expected {len(header)})."
        )
    if not good:
        raise CSVError(
            f"No row of {name} has the {len(header)} fields its header names; check the "
            "delimiter and quoting."
        )
    frame = pd.DataFrame(good, columns=header, dtype="string")
    missing = [c for c in required if c.lower() not in lowered]
    if missing:
        raise CSVError(
            f"{name} needs the column(s) {', '.join(missing)}; it has "
            f"{', '.join(header)}. Rename a column or map it."
        )
    frame.columns = lowered
    return Table(frame, encoding, delimiter, notes, bad)
