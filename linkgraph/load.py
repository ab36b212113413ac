"""Reading a link graph from uploaded files: an edge list, per-URL metadata, and their join.

The edge list comes from a crawler or a spreadsheet: one row per link, a source (the
linking page) and a target (the linked page). The metadata file has one row per URL and
any number of other columns (clicks, impressions, status...). Both are read with
``core.csvfiles.read_table`` (encodings, delimiters, gzip, refusals) and then checked for
what only a link graph cares about:

- which columns hold the source, the target or the URL, found by name through a list of
  aliases, or given by the user as a mapping when the names say nothing (``MappingNeeded``);
- that every value is a URL: an absolute http(s) URL or a site-relative path (``/about``);
  the rest (empty cells, ``javascript:``, ``mailto:``, "N/A", free text, a URL broken by a
  line break) is counted, shown by example, described and dropped;
- self-loops and duplicate links, counted and dropped;
- metadata columns that are mostly numbers become numbers; the cells that are not are
  counted per column. A number too large to hold (1e400) and, in a column of counts
  (clicks, impressions...), a negative one are said by their line and left empty.

Every repair is a sentence in a ``Report``; every refusal is a ``LinkGraphError`` whose
message says what is wrong and what to do. A million links load in a couple of seconds:
the checks run on the distinct URLs (a crawl repeats each page thousands of times), and
rows are handled as integer codes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.csvfiles import CSVError, Table, in_sentence, read_table

SIZE_CAP_BYTES = 200 * 1024 * 1024
LONG_URL_CHARS = 2000
EXAMPLES = 3

EDGE_ROLES: dict[str, tuple[str, ...]] = {
    "source": (
        "source", "from", "from url", "source url", "src", "url from", "origin", "referrer",
        "referer", "source page", "from page", "referring page", "referring page url",
        "referring url", "source address", "linking page", "page",
    ),
    "target": (
        "target", "to", "to url", "target url", "dst", "dest", "url to", "destination",
        "destination url", "link", "link url", "href", "target page", "to page",
        "linked page", "link target", "outlink",
    ),
}
METADATA_ROLES: dict[str, tuple[str, ...]] = {
    "url": (
        "url", "address", "page", "loc", "page url", "landing page", "uri", "full url",
        "top pages", "pages", "page path", "path", "permalink",
    ),
}
_ROLE_WORDS = {"source": "source", "target": "target", "url": "URL"}
_ROLE_LABELS = {"source": "source", "target": "target", "url": "URL column"}
_DELIMITER_NAMES = {";": "semicolons", "\t": "tabs", "|": "vertical bars (|)"}

# No \s or \S: pandas runs those through Python's re instead of pyarrow's (slow).
_NOT_SPACE = r"[^\x00-\x20\x7f]"
_ABSOLUTE = r"^https?://[^/?#\x00-\x20\x7f]+"
_VALID = rf"^(?:{_ABSOLUTE[1:]}|/){_NOT_SPACE}*$"
_AUTHORITY = r"(?s)^(?P<authority>[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)(?P<rest>.*)$"


class LinkGraphError(CSVError):
    """The link graph's file cannot be used; the message says why and what to do."""


class MappingNeeded(LinkGraphError):
    """The columns' names do not say which is the source, the target or the URL.

    ``columns`` are the file's column names as spelled there; ``suggestion`` maps each
    role to the column that looks most like it (by name or by holding URLs), or None.
    Load again with ``mapping={role: column}``.
    """

    def __init__(self, message: str, columns: list[str], suggestion: dict[str, str | None]):
        super().__init__(message)
        self.columns = columns
        self.suggestion = suggestion


@dataclass
class Report:
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class EdgeList:
    frame: pd.DataFrame  # source, target: normalised URLs, one row per distinct link
    report: Report


@dataclass
class Metadata:
    frame: pd.DataFrame  # url (normalised, unique) and the file's other columns
    report: Report


@dataclass
class JoinReport:
    nodes_without_metadata: int
    metadata_without_node: int
    examples_nodes: list[str]
    examples_metadata: list[str]
    matched: int = 0
    path_host: str | None = None
    """The host whose URLs were matched on their path alone (absolute vs relative)."""

    def sentences(self) -> list[str]:
        out: list[str] = []
        if self.path_host:
            out.append(
                f"Matched URLs on their path, as the graph's pages are all on {self.path_host}."
            )
        if self.nodes_without_metadata:
            n = self.nodes_without_metadata
            out.append(
                f"{n:,} {'page' if n == 1 else 'pages'} in the graph "
                f"{'has' if n == 1 else 'have'} no metadata, e.g. "
                f"{', '.join(self.examples_nodes)}."
            )
        if self.metadata_without_node:
            n = self.metadata_without_node
            out.append(
                f"{n:,} {'URL' if n == 1 else 'URLs'} in the metadata "
                f"{'matches' if n == 1 else 'match'} no page of the graph, e.g. "
                f"{', '.join(self.examples_metadata)}."
            )
        if self.matched and not (self.nodes_without_metadata or self.metadata_without_node):
            out.append(
                f"Every page of the graph has metadata, and all {self.matched:,} metadata "
                "URLs are pages of the graph."
            )
        return out


# --- URLs -------------------------------------------------------------------------------


def _flags(mask: pd.Series) -> np.ndarray:
    """A boolean Series as a NumPy mask, missing values counting as False."""
    return mask.to_numpy(dtype=bool, na_value=False)


def _extract(values: pd.Series, pattern: str) -> dict[str, pd.Series]:
    """``str.extract`` by pyarrow (pandas loops in Python for it): each named group, with
    NA where the pattern does not match."""
    found = pc.extract_regex(pa.array(values.astype("string")), pattern)
    return {
        name: pd.Series(pc.struct_field(found, name), dtype="string", index=values.index)
        for name in re.findall(r"\(\?P<(\w+)>", pattern)
    }


def _normalise(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Normalised URLs and a mask of the values that are URLs.

    Whitespace around the value and a ``#fragment`` are dropped; ``//host/path`` is read
    as https; the scheme and host are lower-cased (they are case-insensitive, the path is
    not); an absolute URL without a path gets the root ``/``. Valid: ``http(s)://host...``
    or a path starting with ``/``, with no whitespace inside.
    """
    urls = values.astype("string").fillna("").str.strip()
    fragment = _flags(urls.str.contains("#", regex=False))
    if fragment.any():
        urls[fragment] = urls[fragment].str.replace(r"(?s)#.*", "", regex=True).str.rstrip()
    protocol_relative = _flags(urls.str.startswith("//"))
    if protocol_relative.any():
        urls[protocol_relative] = "https:" + urls[protocol_relative]
    loud = _flags(urls.str.match(r"^[A-Za-z]*[A-Z][A-Za-z]*://|^[A-Za-z]+://[^/?#]*[A-Z]"))
    if loud.any():
        parts = _extract(urls[loud], _AUTHORITY)
        urls[loud] = parts["authority"].str.lower() + parts["rest"]
    bare = _flags(urls.str.match(_ABSOLUTE + r"(?:\?.*)?$"))
    if bare.any():
        parts = _extract(urls[bare], _AUTHORITY)
        urls[bare] = parts["authority"] + "/" + parts["rest"]
    return urls, _flags(urls.str.match(_VALID))


def normalise_url(url: str) -> str | None:
    """One URL as the loaders store it, or None if it is not a URL or site path."""
    urls, valid = _normalise(pd.Series([url]))
    return str(urls.iloc[0]) if valid[0] else None


def _hosts(urls: pd.Series) -> pd.Series:
    """The host of each absolute URL (NA for a site path)."""
    return _extract(urls, r"^https?://(?P<host>[^/?#]+)")["host"]


def _match_keys(urls: pd.Series) -> pd.Series:
    """The forgiving form URLs are joined on: normalised and without a trailing slash
    (the root keeps its slash)."""
    keys, valid = _normalise(urls)
    keys = keys.where(valid, urls.astype("string").fillna("").str.strip())
    slash = _flags(keys.str.endswith("/") & (keys != "/") & ~keys.str.match(r"^https?://[^/]+/$"))
    if slash.any():
        keys[slash] = keys[slash].str.slice(0, -1)
    return keys


def _on_path(keys: pd.Series, host: str) -> pd.Series:
    """``https://host/about`` as ``/about``; other hosts' URLs as they are."""
    here = _flags(keys.str.match(r"^https?://" + re.escape(host) + r"/"))
    if here.any():
        keys = keys.copy()
        keys[here] = keys[here].str.replace(r"^https?://[^/]+", "", regex=True)
    return keys


# --- columns ----------------------------------------------------------------------------


def _alias_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def _url_share(values: pd.Series) -> float:
    """How many of the first 200 filled cells are URLs (0..1)."""
    sample = values[values.str.strip() != ""].head(200)
    return float(_normalise(sample)[1].mean()) if len(sample) else 0.0


def _find_roles(
    table: Table,
    roles: dict[str, tuple[str, ...]],
    mapping: Mapping[str, str] | None,
    name: str,
    what: str,
) -> tuple[dict[str, str], str | None]:
    """Each role's column (lower-cased, as in ``table.frame``) and how it was found."""
    header = table.header
    lowered = [h.lower() for h in header]
    if mapping is not None:
        chosen: dict[str, str] = {}
        for role in roles:
            column = (mapping.get(role) or "").strip().lower()
            if column not in lowered:
                raise MappingNeeded(
                    f"The mapping names no column of {in_sentence(name)} for the "
                    f"{_ROLE_WORDS[role]} (it has {', '.join(header)}); choose one below.",
                    header, {r: mapping.get(r) for r in roles},
                )
            chosen[role] = column
        if len(set(chosen.values())) < len(chosen):
            raise MappingNeeded(
                f"Choose a different column for each of {_and(list(roles))}; the mapping "
                "uses one column twice.",
                header, {r: mapping.get(r) for r in roles},
            )
        return chosen, "as you mapped them"
    found: dict[str, str] = {}
    for role, aliases in roles.items():
        keys = [_alias_key(a) for a in aliases]
        candidates = sorted(
            (c for c in lowered if _alias_key(c) in keys and c not in found.values()),
            key=lambda c: keys.index(_alias_key(c)),
        )
        if len(candidates) > 1:  # e.g. a crawler's "Target" (_blank) beside "Destination"
            shares = [_url_share(table.frame[c]) for c in candidates]
            candidates = [candidates[shares.index(max(shares))]]
        if candidates:
            found[role] = candidates[0]
    missing = [r for r in roles if r not in found]
    if not missing:
        return found, None
    suggestion: dict[str, str | None] = {r: _original(header, c) for r, c in found.items()}
    spare = [c for c in lowered if c not in found.values() and _url_share(table.frame[c]) >= 0.5]
    for role in missing:
        suggestion[role] = _original(header, spare.pop(0)) if spare else None
    words = " and a ".join(_ROLE_WORDS[r] for r in missing)
    raise MappingNeeded(
        f"{name} needs a {words} column; found: {', '.join(header)}. {what}",
        header, {r: suggestion[r] for r in roles},
    )


def _original(header: list[str], lowered: str) -> str:
    return next(h for h in header if h.lower() == lowered)


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _read(data: bytes, name: str, max_bytes: int) -> tuple[Table, list[str]]:
    try:
        table = read_table(data, name=name, max_bytes=max_bytes)
    except LinkGraphError:
        raise
    except CSVError as exc:
        raise LinkGraphError(str(exc)) from exc
    notes = list(table.notes)
    if table.delimiter in _DELIMITER_NAMES:
        notes.append(f"Columns are separated by {_DELIMITER_NAMES[table.delimiter]}.")
    return table, notes


def _column_note(header: list[str], found: dict[str, str], how: str | None) -> str | None:
    named = {role: _original(header, column) for role, column in found.items()}
    if how is None and all(role == column for role, column in found.items()):
        return None
    parts = [f"'{column}' as the {_ROLE_LABELS[role]}" for role, column in named.items()]
    return f"Read {_and(parts)}" + (f", {how}." if how else ".")


def _show(value: str, line: int | None) -> str:
    value = str(value)
    shown = "an empty cell" if not value.strip() else repr(
        value if len(value) <= 60 else value[:57] + "..."
    )
    return f"{shown} on line {line}" if line is not None else shown


def _examples(values: pd.Series, rows: np.ndarray, lines: np.ndarray | None) -> list[str]:
    """A few offending values, with the line of the file each is on when known."""
    return [
        _show(values.iloc[i], int(lines[i]) if lines is not None else None)
        for i in np.flatnonzero(rows)[:EXAMPLES]
    ]


# --- edges ------------------------------------------------------------------------------


def load_edges(
    data: bytes,
    *,
    name: str = "The edge list",
    mapping: Mapping[str, str] | None = None,
    max_bytes: int = SIZE_CAP_BYTES,
) -> EdgeList:
    """Read an edge list (CSV, TSV, gzip) into distinct, valid ``source → target`` links.

    Rows with the wrong number of fields, values that are not URLs, self-loops and
    duplicate links are dropped, each counted in the report. Site-relative paths are
    resolved against the host when the file names exactly one.
    """
    table, notes = _read(data, name, max_bytes)
    if len(table.header) < 2:
        raise LinkGraphError(
            f"{name} has a single column ({table.header[0]}); it needs two, the linking "
            "page and the linked page. If the file uses another separator than comma, "
            "semicolon, tab or |, export it again as CSV."
        )
    found, how = _find_roles(table, EDGE_ROLES, mapping, name, "Choose which is which below.")
    if note := _column_note(table.header, found, how):
        notes.append(note)
    sources, targets = table.frame[found["source"]], table.frame[found["target"]]
    rows, n = len(table.frame) + table.bad_rows, len(table.frame)
    # Validate and normalise each distinct value once; rows become integer codes.
    codes, distinct = pd.factorize(pd.concat([sources, targets], ignore_index=True))
    normalised, valid = _normalise(pd.Series(distinct))
    unchanged = bool((normalised == pd.Series(distinct)).all())
    merge, distinct_urls = pd.factorize(normalised)
    urls, codes = pd.Index(distinct_urls), merge[codes]
    valid_url = np.zeros(len(urls), dtype=bool)
    valid_url[merge] = valid
    source_code, target_code = codes[:n], codes[n:]
    ok = valid_url[source_code] & valid_url[target_code]
    non_url = n - int(ok.sum())
    if non_url:
        valid_source, valid_target = valid_url[source_code], valid_url[target_code]
        if non_url == n:
            raise LinkGraphError(_nothing_is_a_url(
                name, rows, table.lines, [("source", sources, valid_source),
                                          ("target", targets, valid_target)],
            ))
        bad_values = targets.where(valid_source, sources)
        examples = _examples(bad_values, ~ok, table.lines)
        notes.append(
            f"Dropped {non_url:,} {'row' if non_url == 1 else 'rows'} whose source or target "
            f"is not a URL, e.g. {', '.join(examples)}."
        )
        broken = _line_breaks(
            sources.where(~valid_source | valid_target, targets), ~ok, table.lines
        )
        if broken:
            notes.append(broken)
    kept = np.flatnonzero(ok)  # positions in table.frame of the rows still in
    source_code, target_code = source_code[kept], target_code[kept]
    resolved = _resolve_relative(urls, source_code, target_code, notes)
    if resolved is not None:
        urls, source_code, target_code = resolved
    loops = source_code == target_code
    self_loops = int(loops.sum())
    if self_loops == len(loops):
        raise LinkGraphError(
            f"Every link in {in_sentence(name)} points from a page to itself "
            f"({self_loops:,} self-loops), so no graph remains; check the column mapping."
        )
    if self_loops:
        notes.append(
            f"Dropped {self_loops:,} {'self-loop' if self_loops == 1 else 'self-loops'} "
            "(a page linking to itself)."
        )
    kept, source_code, target_code = kept[~loops], source_code[~loops], target_code[~loops]
    pair = source_code.astype(np.int64) * len(urls) + target_code
    repeated = pd.Series(pair).duplicated().to_numpy()
    duplicates = int(repeated.sum())
    if duplicates:
        notes.append(f"Dropped {duplicates:,} duplicate {'link' if duplicates == 1 else 'links'}.")
    kept, source_code, target_code = (
        kept[~repeated], source_code[~repeated], target_code[~repeated]
    )
    used = np.zeros(len(urls), dtype=bool)
    used[source_code] = used[target_code] = True
    if long_note := _long_urls(urls[used]):
        notes.append(long_note)
    if unchanged and resolved is None:  # the file's own strings will do: no copy of a take
        rows_in = np.zeros(n, dtype=bool)
        rows_in[kept] = True
        source_values, target_values = sources[rows_in], targets[rows_in]
    else:
        source_values, target_values = urls.take(source_code), urls.take(target_code)
    frame = pd.DataFrame({
        "source": pd.Series(source_values, dtype="str").reset_index(drop=True),
        "target": pd.Series(target_values, dtype="str").reset_index(drop=True),
    })
    pages = int(used.sum())
    notes.insert(0, f"Kept {len(frame):,} of {rows:,} links between {pages:,} pages.")
    counts = {
        "rows": rows, "kept": len(frame), "bad_rows": table.bad_rows, "non_url": non_url,
        "self_loops": self_loops, "duplicates": duplicates, "pages": pages,
    }
    return EdgeList(frame, Report(notes, counts))


_NUMBER = r"[-+]?(?:\d+(?:[.,]\d+)*|\.\d+)(?:[eE][-+]?\d+)?"
_KINDS: tuple[tuple[str, str, str], ...] = (
    # (what the cells are, a pattern they match, what to do about them), first match wins
    ("empty cells", r"^$", "Check which columns are the source and the target, and that "
     "they are filled."),
    ("placeholders such as N/A or -", r"^(?:(?i:n/?a|none|null|nil)|[-\u2013\u2014?]+)$",
     "Fill those cells with URLs, or leave such rows out."),
    ("numbers", rf"^{_NUMBER}$", "If your export uses page IDs, replace them with the "
     "pages' URLs (or paths starting with /) first."),
    ("URLs with a line break inside", r"[\r\n]", "A URL cannot contain a line break: the "
     "cell was quoted across two lines. Remove the line breaks from those cells and upload "
     "the file again."),
    ("javascript:, mailto: or tel: links, which lead to no page",
     r"^(?i:javascript|mailto|tel|sms|data):", "Export the links between pages."),
    ("URLs with spaces inside", r"^(?:https?://|/)[^ \t]*[ \t]", "A URL cannot contain "
     "spaces: write them as %20 in the file, or export the URLs again."),
    ("links of another protocol than http(s)",
     r"^(?i:ftps?|sftp|file|wss?|ssh|git|smb|irc|news|gopher|telnet)://",
     "Export the links between web pages."),
    ("web addresses without http:// or https://", r"^(?i:www\.)[^ \t]+$",
     "Put https:// before each address, or export full URLs."),
    ("paths without the / they start with", r"^[^ \t/]+\.(?i:html?|php|aspx?|jsp)(?:[?#]|$)",
     "Start each path with / (for a page of the site), or export full URLs."),
    ("web addresses without http:// or https://",
     r"^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?:[/:?][^ \t]*)?$",
     "Put https:// before each address, or export full URLs."),
    ("paths without the / they start with", r"^[^ \t/]+/[^ \t]*$",
     "Start each path with / (for a page of the site), or export full URLs."),
)
_TEXT = "text that is not a URL"
_CHECK_COLUMNS = "Check which columns are the source and the target."
_CHOOSE_COLUMN = "Choose the column with the URLs."


def _kind(values: pd.Series, check: str) -> tuple[str, str, np.ndarray]:
    """What most of these cells (none of them a URL) are, in words; what to do about it
    (``check``, which column to use, for free text and empty cells); and a mask of the
    cells of that kind."""
    text = values.astype("string").fillna("").str.strip()
    masks: dict[str, np.ndarray] = {}
    advice = {what: a for what, _, a in _KINDS} | {_TEXT: check, "empty cells": check}
    taken = np.zeros(len(text), dtype=bool)
    for what, pattern, _ in _KINDS:
        mask = _flags(text.str.contains(pattern, regex=True)) & ~taken
        taken |= mask
        masks[what] = masks.get(what, np.zeros(len(text), dtype=bool)) | mask
    masks[_TEXT] = ~taken
    what = max(masks, key=lambda w: int(masks[w].sum()))  # the first of equals
    return what, advice[what], masks[what]


def _none_of(rows: int, name: str) -> str:
    return (f"None of the {rows:,} rows of {in_sentence(name)} has" if rows > 1
            else f"The one row of {in_sentence(name)} does not have")


def _holds(roles: list[str]) -> str:
    return f"the {_and(roles)} {'column holds' if len(roles) == 1 else 'columns hold'}"


def _nothing_is_a_url(
    name: str,
    rows: int,
    lines: np.ndarray | None,
    columns: list[tuple[str, pd.Series, np.ndarray]],
) -> str:
    """Why no row of an edge list has a URL at both ends: what each column holds instead
    (by example) and what to do about it."""
    kinds: dict[str, list[str]] = {}  # what the cells are: the roles holding such cells
    cells: dict[str, list[tuple[int, int, str]]] = {}  # what the cells are: (row, role, value)
    advice: list[str] = []
    for order, (role, values, valid) in enumerate(columns):
        if valid.all():
            kinds.setdefault("URLs", []).append(role)
            continue
        bad = np.flatnonzero(~valid)
        what, what_to_do, mask = _kind(values.iloc[bad], _CHECK_COLUMNS)
        kinds.setdefault(what, []).append(role)
        cells.setdefault(what, []).extend(
            (int(i), order, str(values.iloc[i])) for i in bad[mask][:EXAMPLES]
        )
        advice += [] if what_to_do in advice else [what_to_do]
    examples: dict[str, list[str]] = {}
    for what, found in cells.items():
        first: dict[str, int] = {}  # each value once, at its first row
        for row, _, value in sorted(found):
            first.setdefault(value, row)
        examples[what] = [
            _show(value, int(lines[row]) if lines is not None else None)
            for value, row in list(first.items())[:EXAMPLES]
        ]
    if list(kinds) == ["numbers"]:
        roles = kinds["numbers"]
        return (
            f"The {_and(roles)} {'column' if len(roles) == 1 else 'columns'} of "
            f"{in_sentence(name)} {'holds' if len(roles) == 1 else 'hold'} numbers (e.g. "
            f"{examples['numbers'][0]}), not URLs. {advice[0]}"
        )
    described = [
        f"{_holds(roles)} URLs" if what == "URLs"
        else f"{_holds(roles)} {what} (e.g. {', '.join(examples[what])})"
        for what, roles in kinds.items()
    ]
    return (
        f"{_none_of(rows, name)} a URL (http:// or https://) or a site path (/...) as both "
        f"source and target: {_and(described)}. {' '.join(advice)}"
    )


def _line_breaks(values: pd.Series, rows: np.ndarray, lines: np.ndarray | None) -> str | None:
    """Advice for the values of ``rows`` with a line break inside (a quoted cell that runs
    over two lines): no URL has one."""
    broken = rows & _flags(values.astype("string").str.strip().str.contains(r"[\r\n]"))
    n = int(broken.sum())
    if not n:
        return None
    examples = _examples(values, broken, lines)
    if n == 1:
        return (
            f"{examples[0]} contains a line break (its cell is "
            "quoted across two lines), and a URL cannot contain one: remove the line break "
            "from that cell and upload the file again."
        )
    return (
        f"{n:,} of these values contain a line break (their cells are quoted across lines), "
        f"e.g. {', '.join(examples)}, and a URL cannot contain one: remove the line breaks "
        "from those cells and upload the file again."
    )


def _resolve_relative(
    urls: pd.Index, source_code: np.ndarray, target_code: np.ndarray, notes: list[str]
) -> tuple[pd.Index, np.ndarray, np.ndarray] | None:
    """Site paths beside absolute URLs of a single host are that host's pages: resolve
    them (new URLs and codes), or note why not and return None."""
    used = np.zeros(len(urls), dtype=bool)
    used[source_code] = used[target_code] = True
    series = pd.Series(urls[used], dtype="string")
    hosts = _hosts(series)
    paths = series[hosts.isna()]
    distinct_hosts = hosts.dropna().unique()
    if paths.empty:
        return None
    if len(distinct_hosts) == 0:
        notes.append("Pages are given as site paths (like /about), without a host.")
        return None
    if len(distinct_hosts) > 1:
        notes.append(
            f"Kept {len(paths):,} site {'path' if len(paths) == 1 else 'paths'} (like "
            f"{paths.iloc[0]}) as {'it is' if len(paths) == 1 else 'they are'}: the links "
            f"name {len(distinct_hosts)} hosts, so there is no one host to resolve them on."
        )
        return None
    scheme = _extract(series[hosts.notna()], r"^(?P<scheme>https?)://")["scheme"].mode().iloc[0]
    base = f"{scheme}://{distinct_hosts[0]}"
    full = pd.Series(urls, dtype="string")
    is_path = _flags(full.str.startswith("/"))
    full[is_path] = base + full[is_path]
    merge, resolved = pd.factorize(full)
    notes.append(
        f"Resolved {len(paths):,} site {'path' if len(paths) == 1 else 'paths'} (like "
        f"{paths.iloc[0]}) against {base}, the only host in the links."
    )
    return pd.Index(resolved), merge[source_code], merge[target_code]


def _long_urls(urls: pd.Index) -> str | None:
    lengths = pd.Series(urls, dtype="string").str.len()
    long = int((lengths > LONG_URL_CHARS).sum())
    if not long:
        return None
    return (
        f"Kept {long:,} {'URL' if long == 1 else 'URLs'} longer than {LONG_URL_CHARS:,} "
        f"characters (the longest has {int(lengths.max()):,}); some browsers and tools cut "
        "such URLs short."
    )


# --- metadata ---------------------------------------------------------------------------


def load_metadata(
    data: bytes,
    *,
    name: str = "The metadata file",
    mapping: Mapping[str, str] | None = None,
    max_bytes: int = SIZE_CAP_BYTES,
) -> Metadata:
    """Read per-URL metadata: one row per URL, mostly-numeric columns as numbers.

    Rows whose URL is not a URL are dropped; of repeated URLs the first row is kept.
    """
    table, notes = _read(data, name, max_bytes)
    found, how = _find_roles(
        table, METADATA_ROLES, mapping, name, "Choose the column that holds the page URLs below."
    )
    if note := _column_note(table.header, found, how):
        notes.append(note)
    url_column = found["url"]
    raw = table.frame[url_column]
    rows = len(table.frame) + table.bad_rows
    urls, valid = _normalise(raw)
    non_url = int((~valid).sum())
    if non_url == len(valid):
        what, advice, mask = _kind(raw, _CHOOSE_COLUMN)
        if what == "numbers":
            advice = f"{_CHOOSE_COLUMN} {advice}"
        raise LinkGraphError(
            f"No row of {in_sentence(name)} has a URL (http:// or https://) or a "
            f"site path (/...) in the column '{_original(table.header, url_column)}': it "
            f"holds {what}, e.g. {', '.join(_examples(raw, mask, table.lines))}. {advice}"
        )
    if non_url:
        notes.append(
            f"Dropped {non_url:,} {'row' if non_url == 1 else 'rows'} without a URL in "
            f"'{_original(table.header, url_column)}', e.g. "
            f"{', '.join(_examples(raw, ~valid, table.lines))}."
        )
        if broken := _line_breaks(raw, ~valid, table.lines):
            notes.append(broken)
    repeated = _flags(urls.duplicated() & pd.Series(valid))
    duplicates = int(repeated.sum())
    if duplicates:
        examples = list(dict.fromkeys(urls[repeated].head(50)))[:EXAMPLES]
        notes.append(
            f"Dropped {duplicates:,} {'row' if duplicates == 1 else 'rows'} repeating a URL "
            f"already listed (kept the first row of each), e.g. {', '.join(examples)}."
        )
    keep = valid & ~repeated
    lines = table.lines[keep] if table.lines is not None else None
    frame = pd.DataFrame({"url": pd.Series(urls[keep].to_numpy(), dtype="str")})
    numbers, texts, non_numeric, out_of_range = [], [], 0, 0
    for column in (c for c in table.frame.columns if c != url_column):
        label = _original(table.header, column)
        label = f"{label} (column)" if label.lower() == "url" else label
        cells = table.frame[column][keep].reset_index(drop=True)
        values, column_notes, bad = _as_numbers(cells, label, lines)
        if values is None:
            frame[label] = pd.Series(cells.to_numpy(), dtype="str")
            texts.append(f"{label} (text)")
        else:
            ranged, range_notes, outside = _in_range(values, cells, label, lines)
            frame[label] = ranged.to_numpy()
            numbers.append(f"{label} (numbers)")
            notes += column_notes + range_notes
            non_numeric += bad
            out_of_range += outside
    described = ", ".join(numbers + texts)
    notes.insert(0, f"Read metadata for {len(frame):,} URL{'' if len(frame) == 1 else 's'}" + (
        f": {described}." if described else ", with no other columns."))
    counts = {
        "rows": rows, "kept": len(frame), "bad_rows": table.bad_rows, "non_url": non_url,
        "duplicates": duplicates, "non_numeric": non_numeric, "out_of_range": out_of_range,
    }
    return Metadata(frame, Report(notes, counts))


def _as_numbers(
    values: pd.Series, label: str, lines: np.ndarray | None
) -> tuple[pd.Series | None, list[str], int]:
    """The column as numbers if most filled cells are numbers, with a note on the rest.

    Spaces inside a number are thousands separators (``1 234``). A comma followed by
    groups of three digits is one too (``1,234``); any other comma is a decimal comma
    (``0,5``, ``1.234,5``). A trailing ``%`` is dropped: ``12.5%`` reads as 12.5.
    """
    text = values.astype("string").fillna("").str.strip()
    filled = _flags(text != "")
    if not filled.any():
        return None, [], 0
    cleaned = text.str.replace("[ \t\u00a0\u202f]", "", regex=True)
    percent = _flags(cleaned.str.endswith("%"))
    cleaned = cleaned.str.removesuffix("%")
    thousands = _flags(cleaned.str.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?"))
    cleaned[thousands] = cleaned[thousands].str.replace(",", "", regex=False)
    european = _flags(cleaned.str.fullmatch(r"-?\d{1,3}(?:\.\d{3})*,\d+"))
    cleaned[european] = (
        cleaned[european].str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    )
    numbers = pd.to_numeric(cleaned.astype(object), errors="coerce")
    # "inf" and "infinity" are words here, not numbers; 1e400 is a number too large
    # (``_in_range`` says so).
    word = _flags(cleaned.str.contains("[A-DF-Za-df-z]", regex=True))
    numbers[word] = np.nan
    parsed = _flags(numbers.notna())
    if parsed.sum() * 2 <= filled.sum():
        return None, [], 0
    bad = filled & ~parsed
    notes = []
    if bad.any():
        n = int(bad.sum())
        notes.append(
            f"Column '{label}': {n:,} of {int(filled.sum()):,} cells "
            f"{'is not a number and was' if n == 1 else 'are not numbers and were'} left "
            f"empty, e.g. {', '.join(_examples(text, bad, lines))}."
        )
    if (percent & parsed).any():
        notes.append(f"Column '{label}': read percentages as numbers (12.5% as 12.5).")
    if (european & parsed).any():
        notes.append(f"Column '{label}': read decimal commas (0,5 as 0.5).")
    return numbers.astype("float64"), notes, int(bad.sum())


COUNT_WORDS = (
    "clicks", "impressions", "sessions", "users", "visitors", "visits", "views", "entrances",
    "conversions", "links", "backlinks", "referringdomains", "count",
)
"""A metadata column whose name is or ends with one of these (spaces, case, - and _
aside: "Clicks", "Page views", "unique_inlinks") holds counts: whole numbers, never
negative."""
MAX_COUNT = 2**53
"""Counts from here up are not exact as numbers (and no page has that many clicks)."""


def is_count(label: str) -> bool:
    key = _alias_key(label)
    return any(key.endswith(word) for word in COUNT_WORDS)


def _in_range(
    numbers: pd.Series, cells: pd.Series, label: str, lines: np.ndarray | None
) -> tuple[pd.Series, list[str], int]:
    """The numbers without those that cannot be: too large to represent (1e400 is
    infinity as a float) and, in a count column, negative or past ``MAX_COUNT``. Those
    are left empty, each said by its line. A whole column stays whole: 12 clicks, not 12.0.
    """
    count = is_count(label)
    values = numbers.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        huge = ~np.isfinite(values) & ~np.isnan(values)
        if count:
            huge |= np.abs(values) >= MAX_COUNT
            negative = values < 0
        else:
            negative = np.zeros(len(values), dtype=bool)
    problems = negative | huge
    notes = []
    if problems.any():
        text = cells.astype("string").fillna("").str.strip()
        unit = "a count" if count else "a number"
        reasons = {
            int(i): f"{label} is {text.iloc[i]}; a count cannot be negative" if negative[i]
            else f"{label} is {text.iloc[i]}, too large to be {unit}"
            for i in np.flatnonzero(problems)[:EXAMPLES]
        }
        for i, reason in reasons.items():
            where = f" on line {int(lines[i])}" if lines is not None else ""
            notes.append(f"Left a cell empty{where}: {reason}.")
        more = int(problems.sum()) - len(reasons)
        if more:
            notes.append(
                f"Left {more:,} more {'cell' if more == 1 else 'cells'} of '{label}' empty "
                f"for the same reasons, e.g. {', '.join(_examples(text, _after(problems), lines))}."
            )
        numbers = numbers.mask(problems)
    values = numbers.to_numpy(dtype="float64", na_value=np.nan)
    if not np.isnan(values).any() and (values % 1 == 0).all() and np.abs(values).max() < 2**53:
        numbers = numbers.astype("int64")  # counts stay whole: 12 clicks, not 12.0
    return numbers, notes, int(problems.sum())


def _after(mask: np.ndarray, skip: int = EXAMPLES) -> np.ndarray:
    """The mask without its first ``skip`` set positions."""
    rest = mask.copy()
    rest[np.flatnonzero(mask)[:skip]] = False
    return rest


# --- join -------------------------------------------------------------------------------


def join_metadata(
    node_urls: Sequence[str] | pd.Series, metadata: Metadata | None
) -> tuple[pd.DataFrame, JoinReport]:
    """Attach metadata to the graph's pages: one row per node, in the nodes' order.

    URLs match when they are equal after normalising (see ``_normalise``) and dropping a
    trailing slash (``/about/`` is ``/about``; the root keeps its slash). When one side
    names pages by absolute URL and the other by site path, they are matched on the path
    if the graph's pages are all on one host (or, for a graph of paths, the metadata's
    are). When several metadata rows match one page, the first wins. Without metadata
    the frame has the ``url`` column only and the report is empty.
    """
    nodes = pd.Series(node_urls, dtype="string").reset_index(drop=True)
    if metadata is None:
        return pd.DataFrame({"url": nodes.astype("str")}), JoinReport(0, 0, [], [])
    meta_urls = metadata.frame["url"].astype("string").reset_index(drop=True)
    node_keys, meta_keys = _match_keys(nodes), _match_keys(meta_urls)
    node_hosts, meta_hosts = _hosts(node_keys), _hosts(meta_keys)
    path_host = _single_host(node_hosts) or (
        _single_host(meta_hosts) if node_hosts.isna().all() else None
    )
    mixed = (node_hosts.isna().any() and meta_hosts.notna().any()) or (
        meta_hosts.isna().any() and node_hosts.notna().any()
    )
    if path_host:
        node_keys, meta_keys = _on_path(node_keys, path_host), _on_path(meta_keys, path_host)
    table = metadata.frame.drop(columns="url").set_axis(pd.Index(meta_keys), axis=0)
    table = table[~table.index.duplicated()]
    joined = table.reindex(pd.Index(node_keys)).reset_index(drop=True)
    joined.insert(0, "url", nodes.astype("str"))
    has_meta = table.index.get_indexer(node_keys) >= 0  # hash look-ups; isin is slow here
    in_graph = pd.Index(node_keys).unique().get_indexer(meta_keys) >= 0
    report = JoinReport(
        nodes_without_metadata=int((~has_meta).sum()),
        metadata_without_node=int((~in_graph).sum()),
        examples_nodes=[str(u) for u in nodes[~has_meta].head(EXAMPLES)],
        examples_metadata=[str(u) for u in meta_urls[~in_graph].head(EXAMPLES)],
        matched=int(in_graph.sum()),
        path_host=path_host if mixed else None,
    )
    return joined, report


def _single_host(hosts: pd.Series) -> str | None:
    distinct = hosts.dropna().unique()
    return str(distinct[0]) if len(distinct) == 1 else None
