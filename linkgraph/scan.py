"""The link-graph workflow's pipeline: files in, a scan out.

``scan_site`` reads and validates the edge list (and the optional metadata), builds the
graph, measures its vital signs, joins the metadata onto the pages and lays the graph
out for drawing. Every step's notes (rows skipped, URLs that matched nothing, ...) travel
with the result so the page can say what was done to the data.

A page of the site that only the metadata names (a sitemap or analytics export knows
it, no link leads to it or from it) is a page of the graph too: an orphan linked from
nowhere, measured like every other page. A metadata URL joins the graph when it matches
no page and is on the site: the host the links are on (a site path when the pages are
paths or all on one host). Other hosts' URLs stay out, and the join says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from linkgraph.draw import overview_image, radial_layout
from linkgraph.load import (
    EXAMPLES,
    EdgeList,
    JoinReport,
    Metadata,
    _hosts,
    _match_keys,
    _on_path,
    _single_host,
    join_metadata,
    load_edges,
)
from linkgraph.load import load_metadata as read_metadata
from linkgraph.measure import Graph, VitalSigns, add_pages, build_graph, vital_signs

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "samples"
SAMPLE_EDGES = SAMPLE_DIR / "site_edges.csv"
SAMPLE_METADATA = SAMPLE_DIR / "site_metadata.csv"
NODE_LABELS = {
    "url": "URL", "in_degree": "Links in", "out_degree": "Links out",
    "depth": "Click depth (-1 = unreachable)", "component": "Component", "pagerank": "PageRank",
    "hub": "Hub score", "authority": "Authority score", "orphan": "Orphan (no links in)",
    "dead_end": "Dead end (no links out)",
}
EDGE_LABELS = {"source": "From URL", "target": "To URL"}
QUOTED_CHARS = 200
"""The longest a URL or a cell is quoted in a sentence or a prompt (the data keeps it whole)."""
_CUT_AFTER = "/?&=#;,:| \t\r\n"


def shorten(text: object, limit: int = QUOTED_CHARS) -> str:
    """``text`` as it may be quoted: whole when it has at most ``limit`` characters, else
    its start and its end around "…", at most ``limit`` characters in all.

    The cuts fall on a separator (``/ ? & = # ; , : |`` or a space), so a part of a URL
    is kept whole or left out: an e-mail address or a number in its query string is never
    cut in two, where the privacy scanner would no longer know it. A start or an end
    without a separator is left out: ``https://example.com/`` + two million letters is
    quoted as ``https://example.com/…``."""
    text = str(text)
    if len(text) <= limit:
        return text
    half = max(limit - 1, 0) // 2
    head, tail = text[:half], text[len(text) - half :] if half else ""
    last = max(head.rfind(c) for c in _CUT_AFTER)
    firsts = [i for i in (tail.find(c) for c in _CUT_AFTER) if i >= 0]
    return head[: last + 1] + "…" + (tail[min(firsts) :] if firsts else "")


@dataclass
class SiteJoin(JoinReport):
    """The join of the metadata onto the pages, with the pages only the metadata names."""

    metadata_only: int = 0
    """Pages added from the metadata: no link mentions them (orphans linked from nowhere)."""
    examples_metadata_only: list[str] = field(default_factory=list)

    def sentences(self) -> list[str]:
        """The join's sentences, its example URLs shortened (``shorten``)."""
        shown = replace(self, examples_nodes=[shorten(u) for u in self.examples_nodes],
                        examples_metadata=[shorten(u) for u in self.examples_metadata])
        out = JoinReport.sentences(shown)
        if self.metadata_only:
            n = self.metadata_only
            examples = ", ".join(shorten(u) for u in self.examples_metadata_only)
            out.insert(
                1 if self.path_host else 0,
                f"{n:,} {'page appears' if n == 1 else 'pages appear'} only in the metadata: "
                f"{'it is an orphan' if n == 1 else 'they are orphans'} linked from nowhere "
                f"(nor linking anywhere in the edge list), e.g. {examples}.",
            )
        return out


@dataclass
class Scan:
    edges: EdgeList
    metadata: Metadata | None
    graph: Graph
    signs: VitalSigns
    table: pd.DataFrame
    positions: np.ndarray
    join: SiteJoin | None = None
    notes: list[str] = field(default_factory=list)

    @cached_property
    def summary(self) -> dict[str, Any]:
        """The vital signs' digest, computed once per scan (pages rerun often). With a
        traffic column in the metadata (clicks, sessions, visits, ...) the example orphans
        and dead ends are the pages with the most traffic: an orphan has no link in, so
        PageRank (the ranking without traffic) cannot tell orphans apart.
        ``examples_ranked_by`` names the ranking."""
        summary = self.signs.summary()
        column = traffic_column(self.table)
        summary["examples_ranked_by"] = column or "PageRank"
        if column:
            signs, examples = self.signs, dict(summary["examples"])
            masks = {"orphans": signs.orphan, "dead_ends": signs.dead_end,
                     "only_in_metadata": signs.orphan & ~self.graph.linked}
            for name, mask in masks.items():
                examples[name] = _most(self.table, column, mask, signs.pagerank)
            summary["examples"] = examples
        return summary

    @cached_property
    def overview(self) -> np.ndarray:
        """The raster overview of every page and link, computed once per scan."""
        return overview_image(self.positions, self.graph.src, self.graph.dst)

    @property
    def metrics(self) -> list[str]:
        """Numeric columns a drawing can be coloured and sized by."""
        skip = {"url", "component", "orphan", "dead_end"}
        return [c for c in self.table.columns
                if c not in skip and pd.api.types.is_numeric_dtype(self.table[c])]


def scan_site(
    edge_bytes: bytes,
    metadata_bytes: bytes | None = None,
    *,
    edge_name: str = "The edge list",
    metadata_name: str = "The metadata file",
    start: str | None = None,
    edge_mapping: Mapping[str, str] | None = None,
    metadata_mapping: Mapping[str, str] | None = None,
) -> Scan:
    edges = load_edges(edge_bytes, name=edge_name, mapping=edge_mapping)
    metadata = (read_metadata(metadata_bytes, name=metadata_name, mapping=metadata_mapping)
                if metadata_bytes else None)
    graph = build_graph(edges.frame)
    only = metadata_only_pages(graph, metadata) if metadata is not None else []
    graph = add_pages(graph, only)
    signs = vital_signs(graph, start)
    table = signs.node_table()
    join = None
    notes = list(edges.report.notes)
    if metadata is not None:
        notes += metadata.report.notes
        # join_metadata matches URLs forgivingly and returns one row per page, keyed by the
        # page's own URL, which node_table then attaches. The pages added from the
        # metadata are matched like the others.
        joined, report = join_metadata(table["url"], metadata)
        join = SiteJoin(**asdict(report), metadata_only=graph.unlinked,
                        examples_metadata_only=[str(u) for u in only[:EXAMPLES]])
        table = signs.node_table(joined)
        notes += join.sentences()
    positions = radial_layout(table["url"].to_numpy(), signs.depth)
    return Scan(edges, metadata, graph, signs, table, positions, join, notes)


TRAFFIC_WORDS = ("clicks", "sessions", "visits", "pageviews", "views", "entrances", "users",
                 "visitors", "impressions")
"""Metadata columns that measure a page's traffic, the most telling first: a column whose
name is or ends with one of these (spaces, case, - and _ aside) ranks the worst pages."""


def traffic_column(table: pd.DataFrame) -> str | None:
    """The table's best traffic column (``TRAFFIC_WORDS``) with a number in it, or None."""
    keys = {re.sub(r"[\s_\-]+", "", str(c).strip().lower()): c for c in table.columns}
    for word in TRAFFIC_WORDS:
        for key, column in keys.items():
            if key.endswith(word) and pd.api.types.is_numeric_dtype(table[column]) \
                    and table[column].notna().any():
                return str(column)
    return None


def _most(table: pd.DataFrame, column: str, mask: np.ndarray, pagerank: np.ndarray,
          k: int = 5) -> list[str]:
    """Up to k pages of ``mask`` with the most ``column`` (no figure last), PageRank
    breaking ties."""
    chosen = np.flatnonzero(mask)
    traffic = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)[chosen]
    order = np.lexsort((-pagerank[chosen], -np.nan_to_num(traffic, nan=-np.inf)))
    return [str(table["url"].iat[i]) for i in chosen[order[:k]]]


def metadata_only_pages(graph: Graph, metadata: Metadata) -> list[str]:
    """The metadata's URLs that are pages of the site but match no page of ``graph``, as
    the graph names its pages (a path when its pages are paths, else an absolute URL).

    They match as ``join_metadata`` matches them (normalised, without a trailing slash,
    on the path when the pages are all on one host), so each joins its own metadata row;
    URLs of the same page count once (the first row, as in the join). On the site means:
    for a graph of paths, a path (or a URL of the metadata's only host, which the join
    reads by its path); for a graph on one host, that host's URLs and site paths; for a
    graph on several hosts (links to other sites), a URL on a host of a linking page, or
    a path when the graph keeps paths of its own (a path and a URL of a linking host that
    name one page count as one). Other URLs stay out of the graph."""
    urls = metadata.frame["url"].astype(str).reset_index(drop=True)
    if not graph.n or urls.empty:
        return []
    # Metadata mostly names the pages as the links do: one hash look-up each, and the
    # forgiving keys only for the rest.
    named = pd.Index(graph.urls, dtype=object).get_indexer(urls.to_numpy(dtype=object)) >= 0
    if named.all():
        return []
    nodes = pd.Series(graph.urls, dtype="string")
    node_keys = _match_keys(nodes)
    node_hosts = _hosts(node_keys)
    paths_only = bool(node_hosts.isna().all())
    path_host = _single_host(node_hosts) or (
        _single_host(_hosts(_match_keys(urls))) if paths_only else None
    )
    urls = urls[~named].astype("string")
    meta_keys = _match_keys(urls)
    meta_hosts = _hosts(meta_keys)
    if path_host:
        node_keys, meta_keys = _on_path(node_keys, path_host), _on_path(meta_keys, path_host)
    new = ~_among(meta_keys, node_keys) & ~_bools(meta_keys.duplicated())
    if not new.any():
        return []
    is_path = _bools(meta_hosts.isna())
    if paths_only:
        on_site = is_path | _bools(meta_hosts == path_host) if path_host else is_path
    elif path_host:
        on_site = is_path | _bools(meta_hosts == path_host)
    else:
        linking = pd.Series(graph.urls[np.unique(graph.src)], dtype="string")
        hosts = set(_hosts(linking).dropna())
        on_site = _bools(meta_hosts.isin(hosts)) | (is_path & bool(node_hosts.isna().any()))
        # Beside other sites' URLs the graph may keep site paths (the loader cannot tell
        # which host they are on): a page it names by path and the metadata by URL, or
        # the other way round, is the same page, though the join cannot match the two.
        if hosts:
            site = re.compile("^https?://(?:" + "|".join(map(re.escape, hosts)) + ")(?=/)")
            node_paths = node_keys.str.replace(site, "", regex=True)
            meta_paths = meta_keys.str.replace(site, "", regex=True)
            new &= ~_among(meta_paths, node_paths) & ~_bools(meta_paths.duplicated())
    chosen = urls[new & on_site]
    if path_host and not chosen.empty:
        chosen = _on_path(chosen, path_host)  # the page's path, then as the graph has it
        if not paths_only:
            scheme = nodes.head(10_000).str.extract(r"^(https?)://", expand=False).mode()[0]
            relative = _bools(chosen.str.startswith("/"))
            chosen[relative] = f"{scheme}://{path_host}" + chosen[relative]
    return [str(u) for u in chosen]


def _among(values: pd.Series, pool: pd.Series) -> np.ndarray:
    """Which ``values`` are in ``pool`` (hash look-ups on Python strings: arrow-backed
    strings look up several times slower)."""
    index = pd.Index(pool.to_numpy(dtype=object), dtype=object).unique()
    return index.get_indexer(values.to_numpy(dtype=object)) >= 0


def _bools(mask: pd.Series) -> np.ndarray:
    return mask.to_numpy(dtype=bool, na_value=False)


def sample_files() -> tuple[bytes, bytes]:
    """The small synthetic site that ships with the app, so the page can be tried at once."""
    return SAMPLE_EDGES.read_bytes(), SAMPLE_METADATA.read_bytes()
