"""The link-graph workflow's pipeline: files in, a scan out.

``scan_site`` reads and validates the edge list (and the optional metadata), builds the
graph, measures its vital signs, joins the metadata onto the pages and lays the graph
out for drawing. Every step's notes (rows skipped, URLs that matched nothing, ...) travel
with the result so the page can say what was done to the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from linkgraph.draw import overview_image, radial_layout
from linkgraph.load import EdgeList, JoinReport, Metadata, join_metadata, load_edges
from linkgraph.load import load_metadata as read_metadata
from linkgraph.measure import Graph, VitalSigns, build_graph, vital_signs

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


@dataclass
class Scan:
    edges: EdgeList
    metadata: Metadata | None
    graph: Graph
    signs: VitalSigns
    table: pd.DataFrame
    positions: np.ndarray
    join: JoinReport | None = None
    notes: list[str] = field(default_factory=list)

    @cached_property
    def summary(self) -> dict[str, Any]:
        """The vital signs' digest, computed once per scan (pages rerun often)."""
        return self.signs.summary()

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
    signs = vital_signs(graph, start)
    table = signs.node_table()
    join = None
    notes = list(edges.report.notes)
    if metadata is not None:
        notes += metadata.report.notes
        # join_metadata matches URLs forgivingly and returns one row per page, keyed by the
        # page's own URL, which node_table then attaches.
        joined, join = join_metadata(table["url"], metadata)
        table = signs.node_table(joined)
        notes += join.sentences()
    positions = radial_layout(table["url"].to_numpy(), signs.depth)
    return Scan(edges, metadata, graph, signs, table, positions, join, notes)


def sample_files() -> tuple[bytes, bytes]:
    """The small synthetic site that ships with the app, so the page can be tried at once."""
    return SAMPLE_EDGES.read_bytes(), SAMPLE_METADATA.read_bytes()
