"""Reading uploaded CSV files without surprises.

Uploads come from spreadsheets and crawlers: UTF-8, UTF-8 with a byte-order mark or
Latin-1; commas, semicolons, tabs or pipes; sometimes gzip-compressed; sometimes empty,
only a header, with duplicate headers or rows with the wrong number of fields; now and
then not a CSV at all (an image, an Excel workbook, UTF-16). ``read_table`` turns any of
that into either a table and a list of plain-words notes (what was repaired or skipped,
with counts), or a ``CSVError`` that says what is wrong and what to do. Nothing here
guesses silently: every skipped row is counted and reported.

Large files (a crawl's million links) are parsed by pyarrow's CSV reader, which is an
order of magnitude faster than ``csv.reader``; the ``csv`` module remains the fallback for
whatever pyarrow will not parse, and both paths give the same table, notes and refusals.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
MAX_EXPANSION = 20  # a gzip that inflates more than this is refused (a zip bomb guard)
DELIMITERS = [",", ";", "\t", "|"]
SAMPLE_BYTES = 64 * 1024  # what the delimiter sniffer and the header reader look at
GZIP_MAGIC = b"\x1f\x8b"
_MARKUP = (b"<!doctype", b"<html", b"<?xml", b"<urlset", b"<sitemapindex")
_NOT_CSV = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a zip archive (an Excel .xlsx workbook?)",
    b"\xd0\xcf\x11\xe0": "an old-style Excel (.xls) workbook",
}


class CSVError(ValueError):
    """The file cannot be used; the message says why and what to do."""


@dataclass
class Table:
    frame: pd.DataFrame
    encoding: str
    delimiter: str
    notes: list[str] = field(default_factory=list)
    bad_rows: int = 0
    header: list[str] = field(default_factory=list)
    """The column names as the file spells them (``frame`` has them lower-cased)."""
    lines: np.ndarray | None = None
    """For each row of ``frame``, the line of the file it starts on (1-based), if known."""


def _megabytes(size: int) -> str:
    """A size as people say it: 200 MB, 1.5 MB, 12 KB, 170 bytes."""
    if size < 1024:
        return f"{size:,} bytes"
    value, unit = (size / 1024 / 1024, "MB") if size >= 1024 * 1024 else (size / 1024, "KB")
    return f"{value:,.0f} {unit}" if value >= 10 or value.is_integer() else f"{value:.1f} {unit}"


def in_sentence(name: str) -> str:
    """'The edge list' in the middle of a sentence: 'the edge list'."""
    return "the" + name[3:] if name.startswith("The ") else name


def _inflate(data: bytes, name: str, max_bytes: int) -> bytes:
    if not data.startswith(GZIP_MAGIC):
        return data
    limit = max(max_bytes, len(data) * MAX_EXPANSION)
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as packed:
            out = packed.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise CSVError(f"{name} looks gzip-compressed but cannot be unpacked ({exc}).") from exc
    if len(out) > limit:
        raise CSVError(
            f"{name} unpacks to more than {_megabytes(limit)}; that is too large "
            "(or a zip bomb). Split it or upload it uncompressed."
        )
    return out


def _refuse_non_text(head: bytes, name: str) -> None:
    """Refuse images, workbooks, UTF-16 and other binaries by their first bytes."""
    for magic, what in _NOT_CSV.items():
        if head.startswith(magic):
            raise CSVError(f"{name} is {what}, not a CSV: open it and export it as CSV UTF-8.")
    nuls = max(head[0::2].count(0), head[1::2].count(0))
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
        len(head) >= 4 and nuls >= len(head) // 2 * 0.4
    ):
        raise CSVError(
            f"{name} is encoded as UTF-16 (a binary file to this reader), not UTF-8: "
            "export it again as CSV UTF-8."
        )
    if b"\x00" in head:
        raise CSVError(
            f"{name} looks like a binary file (or UTF-16), not a CSV: export it again as "
            "CSV UTF-8."
        )
    if head.removeprefix(codecs.BOM_UTF8).lstrip()[:14].lower().startswith(_MARKUP):
        raise CSVError(
            f"{name} is an HTML or XML page (a sitemap?), not a CSV: export the table as CSV."
        )


def _decode(data: bytes) -> tuple[str, str]:
    for encoding in ("utf-8-sig", "utf-8"):
        try:
            return data.decode(encoding), _utf8_label(data)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "Latin-1"


def _utf8_label(data: bytes) -> str:
    return "UTF-8 with BOM" if data.startswith(codecs.BOM_UTF8) else "UTF-8"


def _sample_text(data: bytes) -> tuple[str, str]:
    """Decode the first ``SAMPLE_BYTES``; the encoding is confirmed by the full parse."""
    sample = data[:SAMPLE_BYTES]
    try:
        return sample.decode("utf-8-sig"), _utf8_label(data)
    except UnicodeDecodeError as exc:
        if len(data) > SAMPLE_BYTES and exc.start >= len(sample) - 3:
            return sample[: exc.start].decode("utf-8-sig"), _utf8_label(data)
    return sample.decode("latin-1"), "Latin-1"


def _delimiter(text: str) -> str:
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        first = text.splitlines()[0] if text else ""
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)  # type: ignore[arg-type]
        return best if counts[best] else ","


def _blank(rows: list[str]) -> bool:
    return not any(cell.strip() for cell in rows)


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
            f"{name} is {_megabytes(len(data))}; the limit is {_megabytes(max_bytes)}. "
            "Split it into smaller files."
        )
    notes: list[str] = []
    if data.startswith(GZIP_MAGIC):
        packed = len(data)
        data = _inflate(data, name, max_bytes)
        notes.append(f"Unpacked from gzip ({_megabytes(packed)} to {_megabytes(len(data))}).")
    if not data:
        raise CSVError(f"{name} is empty: export the table again with a header row and data.")
    if data.isspace():
        raise CSVError(
            f"{name} holds only blank lines or spaces: export the table again with a header "
            "row and data."
        )
    _refuse_non_text(data[:4096], name)
    sample, encoding = _sample_text(data)
    delimiter = _delimiter(sample)
    parsed = _parse_fast(data, sample, encoding, delimiter)
    if parsed is None:
        text, encoding = _decode(data)
        parsed = _parse_slow(text, encoding, delimiter, name)
    header, body, bad, lines, encoding = parsed
    if encoding != "UTF-8":
        notes.append(f"Read as {encoding}.")
    unclosed = bool(bad) and data.count(b'"') % 2 == 1
    return _finish(name, header, body, bad, lines, encoding, delimiter, notes, required,
                   unclosed)


_Parsed = tuple[list[str], pd.DataFrame, int, "np.ndarray | None", str]


def _parse_slow(text: str, encoding: str, delimiter: str, name: str) -> _Parsed:
    """The ``csv`` module: slower, but reads whatever pyarrow refuses."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    good: list[list[str]] = []
    lines: list[int] = []
    bad = 0
    line = 0
    try:
        for row in reader:
            start, line = line + 1, reader.line_num
            if _blank(row):
                continue
            if header is None:
                header = row
            elif len(row) == len(header):
                good.append(row)
                lines.append(start)
            else:
                bad += 1
    except csv.Error as exc:
        raise CSVError(
            f"{name} cannot be read as CSV near line {reader.line_num} ({exc}); check the "
            "quoting, or export it again."
        ) from exc
    if header is None:
        raise CSVError(f"{name} holds only blank lines.")
    body = pd.DataFrame(good, columns=range(len(header)), dtype="string")
    return header, body, bad, np.asarray(lines, dtype=np.int64), encoding


def _parse_fast(data: bytes, sample: str, encoding: str, delimiter: str) -> _Parsed | None:
    """pyarrow's CSV reader, or None when it is missing or reads the file differently."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow ships with the app
        return None
    first = next(
        (row for row in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
         if not _blank(row)),
        None,
    )
    if first is None:
        return None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    skipped: list[int] = []  # pyarrow's record numbers of rows with the wrong width
    blank_skipped = 0

    def on_bad_row(row: pacsv.InvalidRow) -> str:
        nonlocal blank_skipped
        skipped.append(row.number or 0)
        blank_skipped += _blank(row.text.replace('"', "").split(delimiter))
        return "skip"

    def parse(pa_encoding: str) -> pa.Table:
        nonlocal blank_skipped
        skipped.clear()
        blank_skipped = 0
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(
                autogenerate_column_names=True, use_threads=False, encoding=pa_encoding
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=b'"' in data,
                invalid_row_handler=on_bad_row,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(len(first))},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    try:
        try:
            table = parse("latin1" if encoding == "Latin-1" else "utf8")
        except pa.ArrowInvalid as exc:
            if encoding == "Latin-1" or "utf8" not in str(exc).lower():
                raise
            encoding = "Latin-1"
            table = parse("latin1")
    except pa.ArrowException:
        return None
    if table.num_rows == 0 or table.num_columns != len(first):
        return None
    header = [str(v) for v in table.slice(0, 1).to_pylist()[0].values()]
    if [h.strip() for h in header] != [h.strip() for h in first]:
        return None
    body = table.slice(1).to_pandas(types_mapper=lambda t: pd.StringDtype() if t == pa.string()
                                    else None)
    body.columns = range(len(header))
    blank = np.ones(len(body), dtype=bool)
    for column in body.columns:
        blank &= (body[column].str.strip() == "").to_numpy(dtype=bool, na_value=True)
    lines = _record_lines(data, table.num_rows + len(skipped), skipped)
    if blank.any():
        body = body[~blank].reset_index(drop=True)
        lines = lines[~blank] if lines is not None else None
    return header, body, len(skipped) - blank_skipped, lines, encoding


def _record_lines(data: bytes, records: int, skipped: list[int]) -> np.ndarray | None:
    """The line each good data row starts on, found without a second parse.

    A newline ends a record unless it sits inside quotes, i.e. after an odd number of
    quote characters (``""`` escapes keep the parity right). pyarrow skips empty lines and
    numbers the remaining records from 1 (the header); ``skipped`` holds the numbers of
    the rows it skipped. Line ends are LF (or CRLF), or lone CRs when the file has no LF.
    If the count disagrees with pyarrow's (mixed line ends, odd quoting), the lines are
    unknown rather than wrong.
    """
    if 0 in skipped:
        return None
    buffer = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buffer == (10 if b"\n" in data else 13))
    breaks = newlines
    if b'"' in data:
        quotes = np.flatnonzero(buffer == 34)
        breaks = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(buffer)]))
    length = ends - starts
    crlf_only = (length == 1) & (buffer[np.minimum(starts, len(buffer) - 1)] == 13)
    starts = starts[(length > 0) & ~crlf_only]
    if len(starts) != records:
        return None
    line_of_record = np.searchsorted(newlines, starts) + 1
    keep = np.ones(records, dtype=bool)
    keep[0] = False
    keep[np.asarray(skipped, dtype=np.int64) - 1] = False
    return line_of_record[keep]


def _finish(
    name: str,
    header: list[str],
    body: pd.DataFrame,
    bad: int,
    lines: np.ndarray | None,
    encoding: str,
    delimiter: str,
    notes: list[str],
    required: tuple[str, ...],
    unclosed_quote: bool = False,
) -> Table:
    """The checks and notes both parsers share, in the order users meet them."""
    hint = (
        '; a quote (") opened in the file is never closed, which swallows the lines after it'
        if unclosed_quote else ""
    )
    header = [h.strip() for h in header]
    width = len(header)
    unnamed = 0
    while len(header) > 1 and not header[-1] and body.shape[0] and (
        body[len(header) - 1].str.strip() == ""
    ).all():
        header.pop()
        unnamed += 1
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
    rows = len(body) + bad
    if not rows:
        raise CSVError(f"{name} has a header row but no data rows.")
    if unnamed:
        notes.append(f"Ignored {unnamed} empty unnamed column(s) at the end of each row.")
    if bad:
        notes.append(
            f"Skipped {bad:,} of {rows:,} rows with the wrong number of fields "
            f"(expected {width}){hint}."
        )
    if body.empty:
        raise CSVError(
            f"No row of {in_sentence(name)} has the {width} fields its header names"
            f"{hint or '; check the delimiter and quoting'}."
        )
    frame = body.iloc[:, : len(header)].copy()
    frame.columns = header
    missing = [c for c in required if c.lower() not in lowered]
    if missing:
        raise CSVError(
            f"{name} needs the column(s) {', '.join(missing)}; it has "
            f"{', '.join(header)}. Rename a column or map it."
        )
    frame.columns = lowered
    return Table(frame, encoding, delimiter, notes, bad, header, lines)
