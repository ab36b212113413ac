"""Reading uploaded CSV files without surprises.

Uploads come from spreadsheets and crawlers: UTF-8 with or without a byte-order mark, UTF-16
(Excel's "Unicode Text"), or a legacy code page such as Windows-1252 (Excel's plain "CSV");
commas, semicolons, tabs or pipes; sometimes gzip-compressed; sometimes empty, only a header,
with duplicate headers or rows with the wrong number of fields; now and then not a CSV at
all (an image, an Excel workbook, a web page). ``read_table`` turns any of that into either
a table and a list of plain-words notes (what was repaired or skipped, with counts), or a
``CSVError`` that says what is wrong and what to do. Nothing here guesses silently: the
encoding read is named, and every skipped row is counted and reported.

Encodings, in order: UTF-8 (the fast path: pyarrow checks it while parsing); UTF-16 and
UTF-32 by their byte-order mark, or by their pattern of zero bytes when there is none; else
the code page charset-normalizer finds most likely, Windows-1252 first among equals (it
reads bytes 0x80-0x9F as the euro sign, curly quotes and dashes where Latin-1 has control
characters). Anything not UTF-8 is transcoded to UTF-8 once, then parsed like UTF-8.

Large files (a crawl's million links) are parsed by pyarrow's CSV reader, which is an
order of magnitude faster than ``csv.reader``; the ``csv`` module remains the fallback for
whatever pyarrow will not parse, and both paths give the same table, notes and refusals.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
MAX_EXPANSION = 20  # a gzip that inflates more than this is refused (a zip bomb guard)
# The csv module refuses a cell over 128 KiB with an error that reads like bad quoting; a
# cell may be as long as the file (a 2 MB URL is data, not a broken file), and the file's
# own size cap bounds the memory.
csv.field_size_limit(max(csv.field_size_limit(), DEFAULT_MAX_BYTES * MAX_EXPANSION))
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
    """Refuse images, workbooks, PDFs and archives by their first bytes."""
    for magic, what in _NOT_CSV.items():
        if head.startswith(magic):
            raise CSVError(f"{name} is {what}, not a CSV: open it and export it as CSV UTF-8.")


def _refuse_markup(head: bytes, name: str) -> None:
    if head.removeprefix(codecs.BOM_UTF8).lstrip()[:14].lower().startswith(_MARKUP):
        raise CSVError(
            f"{name} is an HTML or XML page (a sitemap?), not a CSV: export the table as CSV."
        )


def _binary(name: str) -> CSVError:
    return CSVError(
        f"{name} looks like a binary file (it holds NUL bytes), not a CSV: export it again "
        "as CSV UTF-8."
    )


# --- encodings --------------------------------------------------------------------------

_BOMS = (  # UTF-32 LE first: its mark starts with UTF-16 LE's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_WIDE = ("utf_16_le", "utf_16_be", "utf_32_le", "utf_32_be")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""Characters no text table holds (tab, line feed and carriage return are fine)."""

_COMMON = ("cp1252",)
"""What a spreadsheet on a Western-language Windows writes: first among equal guesses."""
_USUAL = frozenset({
    "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258", "cp874",
    "cp932", "shift_jis", "euc_jp", "gb18030", "gbk", "gb2312", "cp936", "big5", "big5hkscs",
    "cp950", "cp949", "euc_kr", "koi8_r", "koi8_u", "iso8859_2", "iso8859_5", "iso8859_7",
    "iso8859_9", "iso8859_15",
})
"""Other code pages of today's Windows and Unix tools; DOS, Mac and EBCDIC ones come last."""
_HANDICAP = {"common": 0.0, "usual": 0.05, "rare": 0.25}
"""Added to charset-normalizer's "chaos" (0..1) of a guess, by how often files use it."""
_LATIN_1 = ("latin_1", "iso8859_1")
_DETECT_BYTES = 64 * 1024  # of lines with non-ASCII bytes, what charset-normalizer sees

_NAMES = {
    "utf-16-le": "UTF-16", "utf-16-be": "UTF-16", "utf_16_le": "UTF-16",
    "utf_16_be": "UTF-16", "utf-32-le": "UTF-32", "utf-32-be": "UTF-32",
    "utf_32_le": "UTF-32", "utf_32_be": "UTF-32", "latin_1": "Latin-1",
    "cp874": "Windows-874 (Thai)", "cp932": "Shift_JIS (Windows)", "shift_jis": "Shift_JIS",
    "euc_jp": "EUC-JP", "gb18030": "GB18030", "gbk": "GBK", "gb2312": "GB2312",
    "cp936": "GBK", "big5": "Big5", "big5hkscs": "Big5-HKSCS", "cp950": "Big5 (Windows)",
    "cp949": "Windows-949 (Korean)", "euc_kr": "EUC-KR", "koi8_r": "KOI8-R",
    "koi8_u": "KOI8-U", "mac_roman": "Mac OS Roman",
}


def encoding_name(codec: str) -> str:
    """A Python codec's name as people know it: cp1252 is Windows-1252."""
    if codec in _NAMES:
        return _NAMES[codec]
    if re.fullmatch(r"cp125\d", codec):
        return f"Windows-{codec[2:]}"
    if codec.startswith("iso8859_"):
        return f"ISO-8859-{codec[8:]}"
    return codec.replace("_", "-").upper()


def _utf8_label(data: bytes) -> str:
    return "UTF-8 with BOM" if data.startswith(codecs.BOM_UTF8) else "UTF-8"


def _wide_unicode(data: bytes, name: str) -> tuple[bytes, str] | None:
    """UTF-16 or UTF-32, found by its byte-order mark or (without one) by its zero bytes,
    as UTF-8 and the encoding's name; None for other files. A file with NUL bytes that is
    not UTF-16 or UTF-32 is refused as binary."""
    bom, codec = next(((b, c) for b, c in _BOMS if data.startswith(b)), (b"", None))
    if codec is None:
        if b"\x00" not in data[:4096]:
            return None
        codec = _bomless_wide(data[:4096])
        if codec is None:
            raise _binary(name)
    try:
        text = data[len(bom):].decode(codec)
    except UnicodeDecodeError as exc:
        if not bom:
            raise _binary(name) from exc
        raise CSVError(
            f"{name} starts as {encoding_name(codec)} text, but byte {exc.start + len(bom) + 1:,} "
            f"is not valid {encoding_name(codec)} ({exc.reason}): export it again as CSV "
            "UTF-8."
        ) from exc
    if _CONTROL.search(text, 0, SAMPLE_BYTES):
        raise _binary(name)
    return text.encode("utf-8"), encoding_name(codec)


def _bomless_wide(head: bytes) -> str | None:
    """UTF-16 or UTF-32 without a byte-order mark, if charset-normalizer agrees with the
    zero bytes: in UTF-16 every other byte of Latin text is zero, and of Asian text the
    commas, tabs and line ends have one."""
    half = len(head) // 2
    if half < 2 or max(head[0::2].count(0), head[1::2].count(0)) < half * 0.2:
        return None
    from charset_normalizer import from_bytes

    best = from_bytes(head[: len(head) // 4 * 4], cp_isolation=list(_WIDE)).best()
    return best.encoding if best is not None else None


def _legacy_encodings(data: bytes) -> list[str]:
    """Code pages the file may be in, most likely first, by charset-normalizer's reading
    of the lines with non-ASCII bytes.

    Each guess counts as the most common of its equals (code pages that read these bytes
    the same), and rarer code pages need a clearly better score ("chaos") to come first.
    Windows-1252 is always scored (charset-normalizer may stop before trying it), and
    comes first when every non-ASCII byte is in 0x80-0x9F: there Windows-1252 has the euro
    sign, curly quotes and dashes, while the letters of the other scripts' code pages lie
    above 0x9F. Latin-1 is left to the caller, after Windows-1252.
    """
    from charset_normalizer import from_bytes

    sample = _non_ascii_lines(data)
    matches = [*from_bytes(sample), *from_bytes(sample, cp_isolation=["cp1252"], threshold=1.0)]
    ranked: list[tuple[float, float, str]] = []
    for match in matches:
        equals = [match.encoding, *match.could_be_from_charset]
        codec = min(equals, key=lambda c: (_how_common(c) != "common", c not in _USUAL))
        ranked.append((match.chaos + _HANDICAP[_how_common(codec)], -match.coherence, codec))
    ranked.sort()
    if re.search(b"[\x80-\x9f]", sample) and not re.search(b"[\xa0-\xff]", sample):
        ranked.insert(0, (0.0, 0.0, "cp1252"))
    return [c for _, _, c in ranked if c not in _LATIN_1 and c not in _WIDE]


def _how_common(codec: str) -> str:
    return "common" if codec in _COMMON else "usual" if codec in _USUAL else "rare"


def _non_ascii_lines(data: bytes) -> bytes:
    """About ``_DETECT_BYTES`` of the lines holding a byte above 0x7F: what tells code pages
    apart (the ASCII lines read the same in all of them)."""
    end_of_line = b"\n" if b"\n" in data else b"\r"
    high = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) >= 0x80)
    pieces, size, at = [], 0, 0
    while size < _DETECT_BYTES and at < len(high):
        index = int(high[at])
        start = data.rfind(end_of_line, max(0, index - _DETECT_BYTES), index) + 1
        end = data.find(end_of_line, index, index + _DETECT_BYTES)
        end = min(len(data), index + _DETECT_BYTES) if end < 0 else end + 1
        pieces.append(data[start:end])
        size += end - start
        at = int(np.searchsorted(high, end))
    return b"".join(pieces)


def _transcode(data: bytes) -> tuple[bytes, str]:
    """A file that is not UTF-8 as UTF-8, and the name of the encoding it was read as.

    Windows-1252 comes before Latin-1 whatever the guesses: the two agree on every byte
    but 0x80-0x9F, which Windows-1252 reads as characters (the euro sign, curly quotes,
    dashes) and Latin-1 as invisible control characters. Latin-1, which reads any byte,
    is the last resort.
    """
    body = data.removeprefix(codecs.BOM_UTF8)
    for codec in dict.fromkeys([*_legacy_encodings(body), "cp1252", "latin_1"]):
        try:
            text = body.decode(codec)
        except UnicodeDecodeError:
            continue
        return text.encode("utf-8"), encoding_name(codec)
    raise AssertionError("latin_1 decodes any bytes")  # pragma: no cover


def _sample_text(data: bytes) -> str | None:
    """The first ``SAMPLE_BYTES`` as UTF-8 (a character cut at the end dropped), or None
    when they are not UTF-8. The full parse confirms the rest."""
    sample = data[:SAMPLE_BYTES]
    try:
        return sample.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if len(data) > SAMPLE_BYTES and exc.start >= len(sample) - 3:
            return sample[: exc.start].decode("utf-8-sig")
    return None


def _as_utf8(data: bytes, name: str) -> tuple[bytes, str, str]:
    """The file as UTF-8 (presumed when its first bytes are: the parse confirms it), the
    name of the encoding it was read as, and its first ``SAMPLE_BYTES`` as text."""
    wide = _wide_unicode(data, name)
    if wide is None:
        sample = _sample_text(data)
        if sample is not None:
            return data, _utf8_label(data), sample
        wide = _transcode(data)
    data, encoding = wide
    return data, encoding, _sample_text(data) or ""


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
    _refuse_non_text(data[:4096], name)
    data, encoding, sample = _as_utf8(data, name)
    if not data or data == codecs.BOM_UTF8:
        raise CSVError(f"{name} is empty: export the table again with a header row and data.")
    if data.isspace():
        raise CSVError(
            f"{name} holds only blank lines or spaces: export the table again with a header "
            "row and data."
        )
    _refuse_markup(data[:4096], name)
    delimiter = _delimiter(sample)
    try:
        parsed = _parse_fast(data, sample, delimiter)
    except _NotUTF8:
        parsed = None
    if parsed is None:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:  # UTF-8 at the start only: read it all as a code page
            data, encoding = _transcode(data)
            sample = _sample_text(data) or ""
            delimiter = _delimiter(sample)
            parsed = _parse_fast(data, sample, delimiter)
            text = "" if parsed else data.decode("utf-8")
        if parsed is None:
            parsed = _parse_slow(text, delimiter, name)
    header, body, bad, lines = parsed
    if encoding != "UTF-8":
        notes.append(f"Read as {encoding}.")
    unclosed = bool(bad) and data.count(b'"') % 2 == 1
    return _finish(name, header, body, bad, lines, encoding, delimiter, notes, required,
                   unclosed)


_Parsed = tuple[list[str], pd.DataFrame, int, "np.ndarray | None"]


class _NotUTF8(Exception):
    """pyarrow met bytes that are not UTF-8 past the sample that looked like UTF-8."""


def _parse_slow(text: str, delimiter: str, name: str) -> _Parsed:
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
    return header, body, bad, np.asarray(lines, dtype=np.int64)


def _parse_fast(data: bytes, sample: str, delimiter: str) -> _Parsed | None:
    """pyarrow's CSV reader, or None when it is missing or reads the file differently.

    ``data`` is UTF-8, or presumed so from its first bytes: pyarrow checks every cell it
    converts (``_NotUTF8`` when one is not), and fails on a skipped row that is not UTF-8
    (None: the fallback finds out).
    """
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

    def parse() -> pa.Table:
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=False),
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
        table = parse()
    except pa.ArrowInvalid as exc:
        if "utf8" in str(exc).lower():
            raise _NotUTF8 from exc
        return None
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
    return header, body, len(skipped) - blank_skipped, lines


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
