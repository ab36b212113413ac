"""Facts first for "Read the scan": Ambient's own reading cites the real figures of the
shipped sample, counted here again straight from its CSV files, and says what to fix first."""

from __future__ import annotations

import csv
from collections import deque

from linkgraph.reading import figures_reading, fixes
from linkgraph.scan import SAMPLE_EDGES, SAMPLE_METADATA, sample_files, scan_site

START = "https://example.com/"


def sample_by_hand() -> dict[str, object]:
    """The sample's figures, counted from the files without linkgraph's code."""
    with SAMPLE_EDGES.open(newline="") as f:
        links = {(r["source"], r["target"]) for r in csv.DictReader(f)
                 if r["source"] != r["target"]}
    with SAMPLE_METADATA.open(newline="") as f:
        listed = [r["url"] for r in csv.DictReader(f)]
    pages = {u for link in links for u in link} | set(listed)
    linked_to = {t for _, t in links}
    linking = {s for s, _ in links}
    orphans = {p for p in pages if p not in linked_to and p != START}
    dead_ends = pages - linking
    depth = {START: 0}
    queue = deque([START])
    out: dict[str, list[str]] = {}
    for s, t in links:
        out.setdefault(s, []).append(t)
    while queue:
        page = queue.popleft()
        for nxt in out.get(page, []):
            if nxt not in depth:
                depth[nxt] = depth[page] + 1
                queue.append(nxt)
    return {"pages": len(pages), "links": len(links), "orphans": len(orphans),
            "dead_ends": len(dead_ends), "unreachable": len(pages) - len(depth),
            "max_depth": max(depth.values()), "orphan_urls": orphans,
            "dead_end_urls": dead_ends}


def test_the_reading_of_the_shipped_sample_cites_its_real_figures() -> None:
    scan = scan_site(*sample_files())
    text = figures_reading(scan.summary)
    real = sample_by_hand()
    assert real["pages"] == 300  # the sample the app ships (samples/)
    assert f"{real['pages']:,} pages, {real['links']:,} links" in text
    share = round(100 * real["orphans"] / real["pages"], 2)
    assert f"**Orphans** (no link in): {real['orphans']:,} ({share:g} %)" in text
    share = round(100 * real["dead_ends"] / real["pages"], 2)
    assert f"**Dead ends** (no link out): {real['dead_ends']:,} ({share:g} %)" in text
    assert f"at most {real['max_depth']} clicks" in text
    assert f"from the start page: {real['unreachable']:,} (" in text
    # The worst orphans and dead ends it names are orphans and dead ends.
    named = [u.strip("`") for u in text.split("`")[1::2]]
    orphan_line = next(line for line in text.splitlines() if "**Orphans**" in line)
    worst = orphan_line.split("`")[1::2]
    assert worst and set(worst) <= real["orphan_urls"]
    dead_line = next(line for line in text.splitlines() if "**Dead ends**" in line)
    assert set(dead_line.split("`")[1::2]) <= real["dead_end_urls"]
    assert START in named
    components = scan.summary["components"]["count"]
    assert f"**Components:** {components:,};" in text


def test_what_to_fix_first_puts_pages_nobody_can_reach_before_the_rest() -> None:
    scan = scan_site(*sample_files())
    todo = fixes(scan.summary)
    real = sample_by_hand()
    assert todo, "the sample has orphans and dead ends to fix"
    if real["unreachable"]:
        assert todo[0].startswith(f"Link the {real['unreachable']:,} pages that cannot be "
                                  f"reached from `{START}`")
    assert any(f"Give the {real['orphans']:,} orphans a link" in fix for fix in todo)
    assert any(f"Add links out of the {real['dead_ends']:,} dead ends" in fix for fix in todo)
    text = figures_reading(scan.summary)
    assert "**What to fix first**\n\n1. " + todo[0] in text


def test_a_healthy_site_has_nothing_to_fix() -> None:
    scan = scan_site(b"source,target\n/,/a\n/a,/b\n/b,/\n")
    assert fixes(scan.summary) == []
    text = figures_reading(scan.summary)
    assert "3 pages, 3 links" in text and "Nothing stands out" in text
    assert "the site is one piece" in text


def _site(metadata: str | None) -> str:
    edges = ("from,to\n/,/a\n/,/b\n/a,/b\n/b,/a\n/x,/a\n/y,/a\n/z,/b\n")
    scan = scan_site(edges.encode(), metadata.encode() if metadata else None, start="/")
    return figures_reading(scan.summary), scan.summary


def test_the_worst_orphans_are_those_with_the_most_traffic_when_the_metadata_has_it() -> None:
    # /x, /y and /z are orphans (no link in); /w only the metadata names (an orphan too).
    # PageRank cannot tell them apart; their clicks can, and a page without a figure is last.
    text, summary = _site("url,Page Views\n/x,5\n/y,\n/z,40\n/w,12\n/,900\n")
    assert summary["examples_ranked_by"] == "Page Views"
    assert summary["examples"]["orphans"] == ["/z", "/w", "/x", "/y"]
    orphan_line = next(line for line in text.splitlines() if "**Orphans**" in line)
    assert "Worst (most Page Views): `/z`, `/w`, `/x`" in orphan_line
    dead_line = next(line for line in text.splitlines() if "**Dead ends**" in line)
    assert dead_line.endswith("Worst (most Page Views): `/w`.")  # the only one


def test_without_traffic_the_worst_pages_are_ranked_by_pagerank_and_say_so() -> None:
    text, summary = _site(None)
    assert summary["examples_ranked_by"] == "PageRank"
    assert set(summary["examples"]["orphans"]) == {"/x", "/y", "/z"}
    assert "Worst (highest PageRank)" in text
    # A metadata file with no traffic column ranks by PageRank too.
    _, summary = _site("url,status\n/x,200\n/z,404\n")
    assert summary["examples_ranked_by"] == "PageRank"
