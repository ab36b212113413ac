"""Uploading a link graph: a corpus of malformed and awkward files, each answered by its own
message (tests/linkgraph/linkgraph_files/expected.json), and the pieces behind the answers: URL
normalising, column mapping, the metadata join and a 100,000-link load."""

from __future__ import annotations

import gzip
import io
import json
import random
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd
import pytest

from core import csvfiles
from core.csvfiles import CSVError, read_table
from linkgraph.load import (
    SIZE_CAP_BYTES,
    EdgeList,
    LinkGraphError,
    MappingNeeded,
    Metadata,
    join_metadata,
    load_edges,
    load_metadata,
    normalise_url,
)

CORPUS = Path(__file__).parent / "linkgraph_files"
MANIFEST: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text("utf-8"))
H = "https://www.example.com"


def load(name: str, mapping: dict[str, str] | None = None) -> tuple[EdgeList | Metadata, str]:
    """Load a corpus file as its manifest says; the message is every note (and, for
    metadata, the sentences of its join onto the manifest's graph)."""
    entry = MANIFEST[name]
    options: dict[str, Any] = {"mapping": mapping}
    if "max_bytes" in entry:
        options["max_bytes"] = entry["max_bytes"]
    data = (CORPUS / name).read_bytes()
    if entry["kind"] == "edges":
        edges = load_edges(data, **options)
        return edges, " ".join(edges.report.notes)
    metadata = load_metadata(data, **options)
    sentences = list(metadata.report.notes)
    if "join_with" in entry:
        graph = load_edges((CORPUS / entry["join_with"]).read_bytes()).frame
        _, joined = join_metadata(pd.unique(graph.to_numpy().ravel()), metadata)
        sentences += joined.sentences()
    return metadata, " ".join(sentences)


def outcome_of(name: str) -> tuple[str, str, EdgeList | Metadata | None]:
    """ok, refused or mapping, with the message; any other exception fails the test."""
    try:
        result, message = load(name)
    except MappingNeeded as exc:
        return "mapping", str(exc), None
    except LinkGraphError as exc:
        return "refused", str(exc), None
    return "ok", message, result


def test_the_corpus_and_its_manifest_match() -> None:
    files = {p.name for p in CORPUS.iterdir()} - {"expected.json"}
    assert files == set(MANIFEST)
    assert len(files) >= 32
    assert {".csv", ".tsv", ".gz"} <= {Path(f).suffix for f in files}
    for entry in MANIFEST.values():
        assert entry["kind"] in ("edges", "metadata")
        assert entry["outcome"] in ("ok", "refused", "mapping")
        assert entry["contains"].strip()


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_every_file_gets_its_expected_answer(name: str) -> None:
    entry = MANIFEST[name]
    outcome, message, result = outcome_of(name)
    assert outcome == entry["outcome"], message
    assert entry["contains"] in message
    if result is not None and "kept" in entry:
        assert result.report.counts["kept"] == entry["kept"] == len(result.frame)


def unpacked(name: str) -> bytes:
    data = (CORPUS / name).read_bytes()
    try:
        return gzip.decompress(data) if name.endswith(".gz") else data
    except (OSError, EOFError):
        return data


def test_each_message_is_specific_to_its_file() -> None:
    """No file's expected message also answers another file (of different content)."""
    messages = {name: outcome_of(name)[1] for name in MANIFEST}
    for name, entry in MANIFEST.items():
        others = [
            n for n, m in messages.items()
            if n != name and entry["contains"] in m and unpacked(n) != unpacked(name)
        ]
        assert not others, f"{name}'s message {entry['contains']!r} also answers {others}"


@pytest.mark.parametrize(
    "name", sorted(n for n, e in MANIFEST.items() if e["outcome"] == "mapping")
)
def test_a_mapping_makes_a_file_with_unknown_columns_load(name: str) -> None:
    entry = MANIFEST[name]
    with pytest.raises(MappingNeeded) as raised:
        load(name)
    assert raised.value.suggestion == entry["mapping"]
    assert set(entry["mapping"].values()) <= set(raised.value.columns)
    result, _ = load(name, mapping=entry["mapping"])
    assert result.report.counts["kept"] == entry["kept"]
    assert any("as you mapped them" in note for note in result.report.notes)


def test_a_mapping_must_name_existing_and_different_columns() -> None:
    data = (CORPUS / "misnamed_columns.csv").read_bytes()
    with pytest.raises(MappingNeeded, match="names no column of the edge list for the target"):
        load_edges(data, mapping={"source": "a", "target": "nope"})
    with pytest.raises(MappingNeeded, match="uses one column twice"):
        load_edges(data, mapping={"source": "a", "target": "A"})
    edges = load_edges(data, mapping={"source": "B", "target": "a"})  # case-insensitive
    assert edges.frame.iloc[0].tolist() == [f"{H}/about", f"{H}/"]


def test_one_missing_role_is_named_and_guessed_from_the_values() -> None:
    with pytest.raises(MappingNeeded) as raised:
        load_edges(f"From,weight,other\n{H}/,3,{H}/about\n".encode())
    assert "needs a target column; found: From, weight, other" in str(raised.value)
    assert raised.value.suggestion == {"source": "From", "target": "other"}


def test_loaded_edges_are_clean_strings() -> None:
    crlf, _ = load("crlf_line_endings.csv")
    assert list(crlf.frame.columns) == ["source", "target"]
    assert crlf.frame["source"].dtype == "str"
    assert not crlf.frame.apply(lambda c: c.str.contains("\r")).any().any()
    spaced, _ = load("blank_lines_and_spaces.csv")
    assert spaced.frame.iloc[0].tolist() == [f"{H}/", f"{H}/about"]
    latin1, _ = load("latin1_accents.csv")
    assert f"{H}/café" in set(latin1.frame["target"])
    bom, _ = load("utf8_bom.csv")
    assert bom.frame.iloc[0].tolist() == [f"{H}/", f"{H}/café"]
    quoted, _ = load("quoted_commas_newlines.csv")
    assert f"{H}/search?q=a,b" in set(quoted.frame["source"])
    mixed, _ = load("mixed_absolute_relative.csv")
    assert not mixed.frame.apply(lambda c: c.str.startswith("/")).any().any()


def test_counts_add_up() -> None:
    edges, _ = load("wrong_field_counts.csv")
    assert edges.report.counts == {
        "rows": 8, "kept": 5, "bad_rows": 3, "non_url": 0, "self_loops": 0,
        "duplicates": 0, "pages": 6,
    }
    loops, _ = load("self_loops.csv")
    assert loops.report.counts["self_loops"] == 3
    assert loops.report.counts["rows"] == 5


def test_a_real_gzip_bomb_is_refused_at_the_default_cap() -> None:
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", compresslevel=1, mtime=0) as out:
        out.write(b"source,target\n")
        chunk = b"/a,/b\n" * 100_000
        for _ in range(SIZE_CAP_BYTES // len(chunk) + 2):
            out.write(chunk)
    assert len(packed.getvalue()) < 2 * 1024 * 1024
    with pytest.raises(LinkGraphError, match=r"unpacks to more than 200 MB.*zip bomb"):
        load_edges(packed.getvalue())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (" https://Example.COM/About#team ", "https://example.com/About"),
        ("HTTPS://A.com", "https://a.com/"),
        ("https://a.com?x=1", "https://a.com/?x=1"),
        ("//cdn.example.com/a.js", "https://cdn.example.com/a.js"),
        ("/blog/", "/blog/"),
        ("/", "/"),
        ("/café?q=1,2", "/café?q=1,2"),
        ("https://a.com:8080/x", "https://a.com:8080/x"),
        ("javascript:void(0)", None),
        ("mailto:someone@example.com", None),
        ("ftp://example.com/file", None),
        ("N/A", None),
        ("", None),
        ("#top", None),
        ("42", None),
        ("https://", None),
        ("https://a.com/two words", None),
        ("about.html", None),
    ],
)
def test_normalise_url(url: str, expected: str | None) -> None:
    assert normalise_url(url) == expected


def metadata(text: str) -> Metadata:
    return load_metadata(text.encode())


def test_join_reports_both_directions() -> None:
    nodes = [f"{H}/", f"{H}/about", f"{H}/team"]
    frame, report = join_metadata(nodes, metadata(
        f"url,clicks\n{H}/,10\n{H}/about/,4\n{H}/old-page,1\n{H}/gone,2\n"
    ))
    assert frame["url"].tolist() == nodes
    assert frame["clicks"].tolist()[:2] == [10.0, 4.0] and pd.isna(frame["clicks"].iloc[2])
    assert (report.nodes_without_metadata, report.metadata_without_node) == (1, 2)
    assert report.examples_nodes == [f"{H}/team"]
    assert report.examples_metadata == [f"{H}/old-page", f"{H}/gone"]
    assert report.sentences() == [
        f"1 page in the graph has no metadata, e.g. {H}/team.",
        f"2 URLs in the metadata match no page of the graph, e.g. {H}/old-page, {H}/gone.",
    ]


def test_join_matches_absolute_urls_and_paths_of_a_single_host() -> None:
    absolute = [f"{H}/", f"{H}/about", f"{H}/blog"]
    frame, report = join_metadata(absolute, metadata("page,clicks\n/,1\n/about,2\n/old,3\n"))
    assert frame["clicks"].tolist()[:2] == [1.0, 2.0]
    assert report.path_host == "www.example.com"
    assert (report.nodes_without_metadata, report.metadata_without_node) == (1, 1)
    assert report.examples_metadata == ["/old"]
    # and the other way round: a graph of paths, metadata with the host
    frame, report = join_metadata(
        pd.Series(["/", "/about"]), metadata(f"url,clicks\n{H}/,1\n{H}/about/,2\n")
    )
    assert frame["clicks"].tolist() == [1.0, 2.0]
    assert report.nodes_without_metadata == report.metadata_without_node == 0
    assert "Every page of the graph has metadata" in " ".join(report.sentences())


def test_join_does_not_match_paths_when_the_graph_has_several_hosts() -> None:
    nodes = [f"{H}/about", "https://shop.example.com/about"]
    _, report = join_metadata(nodes, metadata("url,clicks\n/about,1\n"))
    assert report.path_host is None
    assert (report.nodes_without_metadata, report.metadata_without_node) == (2, 1)


def test_join_without_metadata_keeps_the_nodes_and_says_nothing() -> None:
    frame, report = join_metadata([f"{H}/", f"{H}/a"], None)
    assert frame.columns.tolist() == ["url"] and len(frame) == 2
    assert report.sentences() == []


def test_metadata_columns_become_numbers_when_mostly_numbers() -> None:
    console, _ = load("metadata_search_console.csv")
    row = console.frame.iloc[0]
    assert (row["Clicks"], row["Impressions"], row["CTR"]) == (1234.0, 45678.0, 2.7)
    decimal, _ = load("metadata_decimal_comma.csv")
    assert decimal.frame["bounce rate"].tolist() == [0.45, 0.6, 1.0]
    crawler, _ = load("metadata_crawler_export.csv")
    assert crawler.frame["Status Code"].tolist() == [200.0, 301.0]
    assert crawler.frame["Indexability"].tolist() == ["Indexable", "Non-Indexable"]
    odd, _ = load("metadata_non_numeric.csv")
    assert odd.report.counts["non_numeric"] == 3
    assert odd.frame["clicks"].isna().sum() == 2


def test_counts_that_cannot_be_are_said_by_line_and_left_empty() -> None:
    result = metadata(
        "url,clicks,Page Views,position\n"
        f"{H}/,12,100,1.5\n{H}/a,4,-7,-2\n{H}/b,1e400,5,1e400\n{H}/c,-3,inf,3\n"
        f"{H}/d,9,1,2\n"
    )
    said = " ".join(result.report.notes)
    assert "line 4: clicks is 1e400, too large to be a count" in said
    assert "line 5: clicks is -3; a count cannot be negative" in said
    assert "line 3: Page Views is -7; a count cannot be negative" in said
    assert "line 4: position is 1e400, too large to be a number" in said
    assert "Left a cell empty on line 4: clicks is 1e400" in said  # and what became of it
    assert "'inf' on line 5" in said  # a word, not a number
    assert "position is -2" not in said  # not a count: may be negative
    frame = result.frame
    assert frame["clicks"].isna().tolist() == [False, False, True, True, False]
    assert frame["Page Views"].isna().tolist() == [False, True, False, True, False]
    assert frame["position"].tolist()[:2] == [1.5, -2.0] and pd.isna(frame["position"][2])
    assert not frame.select_dtypes("number").isin([float("inf"), float("-inf")]).any().any()
    assert result.report.counts["out_of_range"] == 4


def test_whole_counts_stay_whole() -> None:
    result = metadata(f"url,clicks\n{H}/,12\n{H}/a,4\n")
    assert result.frame["clicks"].dtype == "int64"


def test_cells_that_are_not_urls_are_described_as_what_they_are() -> None:
    with pytest.raises(LinkGraphError) as raised:
        load_edges(b"source,target\n1,home\n2,about\n")
    message = str(raised.value)
    assert "the source column holds numbers (e.g. '1' on line 2, '2' on line 3)" in message
    assert "the target column holds text that is not a URL (e.g. 'home' on line 2" in message
    assert "target column holds numbers" not in message
    with pytest.raises(LinkGraphError) as raised:
        load_edges(f"source,target\n{H}/,home\n{H}/a,about us\n".encode())
    message = str(raised.value)
    assert "the source column holds URLs and the target column holds text that is not a URL"\
        in message
    assert "numbers" not in message
    with pytest.raises(LinkGraphError, match="holds text that is not a URL, e.g. 'Home'"):
        metadata("url,clicks\nHome,10\nAbout us,4\n")
    with pytest.raises(LinkGraphError, match="web addresses without http:// or https://"):
        load_edges(b"source,target\nwww.example.com/a,www.example.com/b\n")


def test_a_line_break_inside_a_url_gets_advice_that_fits() -> None:
    broken = b'source,target\n"https://x.example/a\nb",https://x.example/c\n'
    with pytest.raises(LinkGraphError) as raised:
        load_edges(broken)
    message = str(raised.value)
    assert "URLs with a line break inside (e.g. 'https://x.example/a\\nb' on line 2)" in message
    assert "A URL cannot contain a line break" in message
    assert "Check which columns" not in message
    edges = load_edges(broken + b"https://x.example/,https://x.example/c\n")
    assert "'https://x.example/a\\nb' on line 2 contains a line break" in " ".join(
        edges.report.notes
    )
    assert "a URL cannot contain one" in " ".join(edges.report.notes)
    with pytest.raises(LinkGraphError) as raised:
        load_metadata(b'url,clicks\n"https://x.example/a\nb",3\n')
    assert "A URL cannot contain a line break" in str(raised.value)
    assert "Choose the column" not in str(raised.value)
    kept = load_metadata(b'url,clicks\n"https://x.example/a\nb",3\nhttps://x.example/,4\n')
    assert "a URL cannot contain one" in " ".join(kept.report.notes)


def test_encodings_reach_the_link_graph_exactly() -> None:
    windows, _ = load("windows1252_metadata.csv")
    assert windows.frame["title"].tolist() == [
        "Home – “Welcome”", "About us – the team", "Blog: prices from €9 ‘a month’",
        "Contact… and “support”",
    ]
    unicode_text, _ = load("excel_unicode_text.txt")
    assert f"{H}/café" in set(unicode_text.frame["target"])
    no_bom, _ = load("utf16_no_bom.csv")
    assert no_bom.frame.iloc[0].tolist() == [f"{H}/", f"{H}/über-uns"]


@pytest.mark.parametrize(
    "name",
    sorted(n for n in MANIFEST if not n.endswith(".gz") and "max_bytes" not in MANIFEST[n]),
)
def test_read_tables_fast_and_fallback_parsers_agree(name: str) -> None:
    """pyarrow reads uploads, the csv module reads what pyarrow will not: same table, notes,
    refusals and line numbers."""
    data = (CORPUS / name).read_bytes()

    def read() -> tuple[Any, ...] | str:
        try:
            table = read_table(data)
        except CSVError as exc:
            return str(exc)
        lines = None if table.lines is None else table.lines.tolist()
        return (table.frame.to_dict("list"), table.notes, table.bad_rows, table.header,
                table.encoding, table.delimiter, lines)

    fast = read()
    with mock.patch.object(csvfiles, "_parse_fast", return_value=None):
        assert read() == fast


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b'a,b\n\n1,2\n3\n4,5,6\n"x\ny",z\n   \n,\n7,8\n9\n', [3, 6, 10]),
        (b"a,b\r1,2\r3\r4,5\r", [2, 4]),
        (b"a;b\r\n1;2\r\n\r\n3;4\r\n", [2, 4]),
    ],
)
def test_read_table_knows_the_line_of_each_row(data: bytes, lines: list[int]) -> None:
    fast = read_table(data)
    with mock.patch.object(csvfiles, "_parse_fast", return_value=None):
        slow = read_table(data)
    assert fast.lines is not None and slow.lines is not None
    assert fast.lines.tolist() == slow.lines.tolist() == lines


def test_a_hundred_thousand_links_load_with_the_right_counts() -> None:
    """A smoke check, not a stopwatch: the scale works and nothing is lost on the way."""
    rng = random.Random(7)
    lines, pairs = ["source,target"], set()
    for _ in range(100_000):
        a, b = rng.randrange(20_000), rng.randrange(20_000)
        lines.append(f"{H}/p/{a},{H}/p/{b}")
        if a != b:
            pairs.add((a, b))
    lines += [f"{H}/p/1,N/A", f"{H}/p/1,{H}/p/1,extra"]
    edges = load_edges(("\n".join(lines) + "\n").encode())
    counts = edges.report.counts
    assert counts["kept"] == len(pairs) == len(edges.frame)
    assert counts["rows"] == 100_002 and counts["bad_rows"] == 1 and counts["non_url"] == 1
    assert counts["self_loops"] + counts["duplicates"] + len(pairs) == 100_000
    assert "'N/A' on line 100002" in " ".join(edges.report.notes)
