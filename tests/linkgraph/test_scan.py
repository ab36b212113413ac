"""The scan pipeline: pages only the metadata names join the graph as orphans, and what
reaches the radiologist's prompt is bounded however long the uploaded strings are."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from core.conversation import history
from core.exports import to_csv
from core.sessions import ensure_session
from linkgraph.draw import choose_nodes, interactive_figure
from linkgraph.measure import add_pages, build_graph, distributions, vital_signs
from linkgraph.reading import (
    STATISTICS_CHARS,
    figures_reading,
    headline,
    scan_request,
    start_reading,
)
from linkgraph.scan import NODE_LABELS, QUOTED_CHARS, scan_site, shorten
from llm.router import Origin
from store.db import Database

H = "https://shop.example"
# The same four links, as a file the loader keeps as it is (the fast path) and as one it
# must rewrite: an upper-case host and site paths resolved against it (the other path).
EDGES = {
    "fast": f"source,target\n{H}/,{H}/a\n{H}/a,{H}/b\n{H}/b,{H}/a\n{H}/c,{H}/a\n",
    "rewritten": "source,target\nHTTPS://Shop.Example/,/a\n/a,/b\n/b,/a\n/c,/a\n",
}
METADATA = (
    "url,clicks\n"
    f"{H}/,100\n"
    "/a/,40\n"  # /a, by its path and with a trailing slash
    f"{H}/old-offer,25\n"  # only in the metadata: an orphan of the site
    "/Old-Offer-2?ref=mail,3\n"  # another one, by its path (paths keep their case)
    "http://shop.example/old-offer/,9\n"  # the first one again: counted once
    "https://other.example/landing,7\n"  # another site: not a page of this one
)
ONLY = [f"{H}/old-offer", f"{H}/Old-Offer-2?ref=mail"]


def _pages(scan) -> dict[str, dict]:  # noqa: ANN001
    return {row["url"]: row for row in scan.table.to_dict("records")}


@pytest.mark.parametrize("kind", list(EDGES))
def test_pages_only_in_the_metadata_are_orphans_of_the_graph(kind: str) -> None:
    scan = scan_site(EDGES[kind].encode(), METADATA.encode())
    only = ONLY
    pages = _pages(scan)
    assert scan.graph.n == 4 + 2 and scan.graph.m == 4
    assert list(scan.graph.urls[-2:]) == only and scan.graph.unlinked == 2
    for url, clicks in zip(only, (25, 3), strict=True):
        page = pages[url]
        assert page["in_degree"] == 0 and page["out_degree"] == 0
        assert page["orphan"] and page["dead_end"] and page["depth"] == -1
        assert page["clicks"] == clicks  # its own metadata row joined
        assert page["pagerank"] > 0
    components = [pages[u]["component"] for u in only]
    assert len(set(components)) == 2 and scan.signs.component_sizes[components].tolist() == [1, 1]
    assert "https://other.example/landing" not in pages and f"{H}/old-offer/" not in pages
    assert scan.signs.start_url == f"{H}/"

    summary = scan.summary
    assert summary["nodes"] == 6
    assert summary["orphans"]["count"] == 3  # /c and the two
    assert summary["orphans"]["only_in_metadata"] == 2
    assert summary["unreachable_from_start"]["count"] == 3  # /c, and the two again
    assert set(only) <= set(summary["examples"]["orphans"])
    assert summary["examples"]["only_in_metadata"] == only
    assert summary["components"]["count"] == 3
    assert "3 (50%) orphans, 2 of them only in the metadata" in headline(summary)

    said = " ".join(scan.notes)
    assert (f"2 pages appear only in the metadata: they are orphans linked from nowhere "
            f"(nor linking anywhere in the edge list), e.g. {only[0]}, {only[1]}.") in said
    assert "1 URL in the metadata matches no page of the graph, e.g. " \
        "https://other.example/landing." in said
    assert scan.join is not None and scan.join.metadata_only == 2

    # Drawn and exported like every page.
    assert scan.positions.shape == (6, 2) and np.isfinite(scan.positions).all()
    exported = pd.read_csv(io.BytesIO(to_csv(scan.table, NODE_LABELS)), encoding="utf-8-sig")
    assert set(only) <= set(exported["URL"])
    figure = interactive_figure(scan.table, scan.positions, scan.graph.src, scan.graph.dst,
                                "pagerank", choose_nodes(scan.table, "pagerank"))
    assert all(u in " ".join(figure.data[1].text) for u in only)


@pytest.mark.parametrize("edges", [
    f"source,target\n{H}/,{H}/a\n{H}/a,{H}/b\n{H}/a,https://elsewhere.example/x\n",
    # Site paths beside two hosts stay paths: the loader cannot tell whose they are.
    f"source,target\n{H}/,/a\n/a,/b\n/a,https://elsewhere.example/x\n",
], ids=["urls", "paths"])
def test_beside_links_to_other_sites_only_the_linking_hosts_pages_join(edges: str) -> None:
    metadata = (f"url,clicks\n{H}/,5\n{H}/a/,4\n{H}/new,3\nhttps://elsewhere.example/y,2\n"
                "https://other.example/z,1\n")
    scan = scan_site(edges.encode(), metadata.encode())
    assert list(scan.graph.urls[scan.graph.n - scan.graph.unlinked:]) == [f"{H}/new"]
    assert _pages(scan)[f"{H}/new"]["clicks"] == 3
    assert scan.summary["orphans"]["only_in_metadata"] == 1
    assert "https://elsewhere.example/y" not in _pages(scan)  # a page linked to, not ours


def test_metadata_paths_and_other_schemes_join_as_the_graphs_urls() -> None:
    edges = f"source,target\n{H}/,{H}/a\n{H}/a,{H}/b\n"
    metadata = ("url,clicks\n/,5\n/a,4\n/from-analytics/,3\nhttp://shop.example/http-only,2\n"
                "https://other.example/x,1\n")
    scan = scan_site(edges.encode(), metadata.encode())
    pages = _pages(scan)
    assert list(scan.graph.urls[-2:]) == [f"{H}/from-analytics/", f"{H}/http-only"]
    assert pages[f"{H}/from-analytics/"]["clicks"] == 3
    assert pages[f"{H}/http-only"]["clicks"] == 2
    assert scan.summary["orphans"]["only_in_metadata"] == 2
    assert scan.join is not None and scan.join.metadata_without_node == 1
    assert "https://other.example/x" not in pages


def test_a_graph_of_paths_takes_the_metadata_pages_as_paths() -> None:
    edges = "source,target\n/,/a\n/a,/b\n"
    metadata = f"url,clicks\n{H}/,5\n{H}/a,4\n{H}/lost,3\n"
    scan = scan_site(edges.encode(), metadata.encode())
    assert list(scan.graph.urls) == ["/", "/a", "/b", "/lost"]
    assert _pages(scan)["/lost"]["clicks"] == 3 and _pages(scan)["/lost"]["orphan"]


def test_metadata_that_matches_every_page_adds_none() -> None:
    scan = scan_site(EDGES["fast"].encode(), f"url,clicks\n{H}/,1\n{H}/b/,2\n".encode())
    assert scan.graph.n == 4 and scan.graph.unlinked == 0
    assert scan.summary["orphans"]["only_in_metadata"] == 0
    assert "only in the metadata" not in " ".join(scan.notes)
    assert "only in the metadata" not in headline(scan.summary)


def test_a_home_page_known_only_from_the_metadata_is_not_the_start() -> None:
    edges = f"source,target\n{H}/a,{H}/b\n{H}/b,{H}/c\n"
    scan = scan_site(edges.encode(), f"url,clicks\n{H}/,9\n".encode())
    assert f"{H}/" in list(scan.graph.urls)
    # The start is where it is without the metadata: the best-ranked linked page.
    assert scan.signs.start_url == scan_site(edges.encode()).signs.start_url == f"{H}/c"
    # Chosen by hand, it is the start (and so not an orphan).
    chosen = scan_site(edges.encode(), f"url,clicks\n{H}/,9\n".encode(), start=f"{H}/")
    assert chosen.signs.start_url == f"{H}/" and chosen.summary["orphans"]["only_in_metadata"] == 0


def test_build_graph_counts_the_pages_no_link_mentions() -> None:
    edges = pd.DataFrame({"source": ["a", "b"], "target": ["b", "c"]})
    assert build_graph(edges).unlinked == 0
    graph = build_graph(edges, pages=["c", "z", "y", "z"])
    assert list(graph.urls) == ["a", "b", "c", "z", "y"] and graph.unlinked == 2
    added = add_pages(build_graph(edges), ["c", "z", "y", "z"])
    assert list(added.urls) == list(graph.urls) and added.unlinked == 2
    assert (added.src == graph.src).all() and (added.dst == graph.dst).all()


# --- bounded prompts --------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("https://a.example/x", "https://a.example/x"),
    ("https://a.example/" + "z" * 1000, "https://a.example/…"),
    ("https://a.example/p?" + "q" * 1000 + "&mail=ann.lee@example.com",
     "https://a.example/p?…&mail=ann.lee@example.com"),
    ("x" * 1000, "…"),
])
def test_shorten_keeps_the_start_and_end_and_cuts_only_at_separators(
    text: str, expected: str
) -> None:
    assert shorten(text, 60) == expected
    assert len(shorten(text)) <= QUOTED_CHARS


def test_a_shortened_value_never_holds_part_of_an_address() -> None:
    email = "ann.lee@example.com"
    for pad in range(0, 120, 7):
        url = f"https://a.example/{'y' * pad}?m={email}&t={'w' * (200 - pad)}&n={email}"
        quoted = shorten(url, 80)
        assert len(quoted) <= 80
        for part in quoted.split("…"):
            # Whatever is kept of the address is the whole address.
            assert email[:5] not in part or email in part, (pad, quoted)


HUGE = f"{H}/search?q=" + "a" * 2_000_000  # a URL of 2 MB


def test_a_2_mb_url_is_shortened_in_the_prompt_and_kept_in_the_data() -> None:
    # The CSV reader takes fields of up to 1 MB, so the 2 MB URL enters through the
    # graph itself, with a 2 MB metadata column name.
    edges = pd.DataFrame({"source": [f"{H}/", HUGE, HUGE, f"{H}/b"],
                          "target": [HUGE, f"{H}/b", f"{H}/", f"{H}/c"]})
    signs = vital_signs(build_graph(edges, pages=[HUGE + "&page=2"]))
    table = signs.node_table(pd.DataFrame({"url": [HUGE], "z" * 2_000_000: [7]}))
    summary = signs.summary()
    assert HUGE in json.dumps(summary)  # the data keeps it whole
    metrics = distributions(table, list(table.columns[1:]))
    request = scan_request(summary, metrics, origin=Origin())
    prompt = "".join(m["content"] for m in request.messages)
    assert len(prompt) < 20_000
    user = request.messages[-1]["content"]
    statistics = json.loads(user[user.index("{"):])
    assert len(json.dumps(statistics, ensure_ascii=False)) <= STATISTICS_CHARS
    assert f"{H}/search?q=…" in user and "…&page=2" in user
    assert (table["url"] == HUGE).sum() == 1 and "z" * 2_000_000 in table.columns
    assert len(headline(summary)) < 500
    assert len(figures_reading(summary)) < 5_000  # Ambient's own reading quotes it short


class _Router:
    def __init__(self) -> None:
        self.requests: list = []

    def stream(self, request):  # noqa: ANN001, ANN201
        self.requests.append(request)
        return iter(["- fine"])


def test_reading_a_scan_with_a_long_url_sends_a_bounded_prompt(db: Database) -> None:
    long_url = f"{H}/p?token=" + "b" * 120_000  # the CSV reader refuses fields of 128 KiB and more
    long_name = "c" * 100_000
    edges = f"source,target\n{H}/,{long_url}\n{long_url},{H}/b\n"
    metadata = f"url,{long_name}\n{long_url},3\n{long_url[:-1]}x,4\n"
    scan = scan_site(edges.encode(), metadata.encode())
    assert scan.summary["orphans"]["only_in_metadata"] == 1
    sid = ensure_session(db, None)
    router = _Router()
    "".join(start_reading(router, db, sid, scan))  # type: ignore[arg-type]
    (request,) = router.requests
    assert sum(len(m["content"]) for m in request.messages) < 20_000
    said = [m.content for m in history(db, sid) if m.role == "narration"]
    assert len(said[0]) < 500
    assert scan.join is not None and all(len(s) < 1_000 for s in scan.join.sentences())
    # The page's table and its export keep every URL whole.
    assert long_url in set(scan.table["url"])
    exported = to_csv(scan.table, NODE_LABELS).decode("utf-8-sig")
    assert long_url in exported and long_url[:-1] + "x" in exported
