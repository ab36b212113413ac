"""Drawing a site's link graph, from a hundred pages to a million links.

Layout: a radial "scan" — the start page in the centre, each ring one click deeper, pages
that cannot be reached from the start on the outermost ring. Within a ring pages are
ordered by URL, so a site section (/blog/..., /docs/...) forms one arc. It costs one sort
(O(n log n)) and reads like a site map; a force-directed layout (networkx's
``spring_layout``) costs O(n²) per iteration and took minutes at 10k links where this
takes milliseconds (bench/linkgraph.py measures both, results in bench/RESULTS.md).

Rendering: plotly's WebGL scatter for what a browser can draw interactively — at most
``MAX_NODES`` pages and ``MAX_EDGES`` links, chosen as the top pages by the chosen metric
or the neighbourhood of one page. For a larger graph the overview is a raster: every page
and a sample of points along every link binned into a ``size``×``size`` image on the
server (numpy ``histogram2d``), so the browser receives a fixed-size picture however big
the graph is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

MAX_NODES = 2_000
MAX_EDGES = 10_000
RASTER_SIZE = 500
EDGE_SAMPLES = 6
_RING_JITTER = 0.35


def radial_layout(urls: Sequence[str] | np.ndarray, depth: np.ndarray) -> np.ndarray:
    """(n, 2) positions: radius = click depth (unreachable pages outermost), angle by URL."""
    depth = np.asarray(depth)
    n = len(depth)
    if n == 0:
        return np.zeros((0, 2))
    ring = np.where(depth < 0, depth.max(initial=0) + 2, depth).astype(float)
    order = np.lexsort((np.asarray(urls, dtype=object).astype(str), ring))
    rank_in_ring = np.empty(n, dtype=float)
    sorted_rings = ring[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_rings)) + 1]
    sizes = np.diff(np.r_[starts, n])
    position = np.arange(n) - np.repeat(starts, sizes)
    rank_in_ring[order] = (position + 0.5) / np.repeat(sizes, sizes)
    angle = 2 * np.pi * rank_in_ring
    # Spread a crowded ring over a band so its pages do not sit on one thin circle.
    radius = ring + _RING_JITTER * ((np.arange(n) * 0.618034) % 1.0) * (ring > 0)
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


def _scaled(values: np.ndarray, low: float = 5, high: float = 22) -> np.ndarray:
    values = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
    values = np.sqrt(np.clip(values - values.min(initial=0), 0, None))
    top = values.max(initial=0)
    return np.full(len(values), low) if top == 0 else low + (high - low) * values / top


def choose_nodes(
    table: pd.DataFrame, metric: str, *, focus: str | None = None, radius: int = 1,
    src: np.ndarray | None = None, dst: np.ndarray | None = None, limit: int = MAX_NODES,
) -> np.ndarray:
    """Indices to draw: the neighbourhood of ``focus`` (within ``radius`` links, either
    direction) or the top ``limit`` pages by ``metric``."""
    if focus is not None and src is not None and dst is not None:
        matches = np.flatnonzero(table["url"].to_numpy() == focus)
        if matches.size == 0:
            raise ValueError(f"{focus!r} is not a page of this graph.")
        chosen = {int(matches[0])}
        frontier = set(chosen)
        for _ in range(max(1, radius)):
            mask_out = np.isin(src, list(frontier))
            mask_in = np.isin(dst, list(frontier))
            frontier = (set(dst[mask_out].tolist()) | set(src[mask_in].tolist())) - chosen
            chosen |= frontier
            if len(chosen) >= limit:
                break
        return np.array(sorted(chosen))[:limit]
    values = pd.to_numeric(table[metric], errors="coerce").fillna(-np.inf).to_numpy()
    if len(values) <= limit:
        return np.arange(len(values))
    return np.argpartition(-values, limit - 1)[:limit]


def interactive_figure(
    table: pd.DataFrame, positions: np.ndarray, src: np.ndarray, dst: np.ndarray,
    metric: str, nodes: np.ndarray, *, title: str = "",
) -> go.Figure:
    """A WebGL scatter of ``nodes`` (coloured and sized by ``metric``) and the links among
    them (at most ``MAX_EDGES``), with the URL and the metrics on hover."""
    keep = np.zeros(len(table), dtype=bool)
    keep[nodes] = True
    edge_mask = keep[src] & keep[dst]
    e_src, e_dst = src[edge_mask][:MAX_EDGES], dst[edge_mask][:MAX_EDGES]
    xs = np.column_stack([positions[e_src, 0], positions[e_dst, 0],
                          np.full(len(e_src), np.nan)]).ravel()
    ys = np.column_stack([positions[e_src, 1], positions[e_dst, 1],
                          np.full(len(e_src), np.nan)]).ravel()
    values = pd.to_numeric(table[metric], errors="coerce").to_numpy()[nodes]
    shown = table.iloc[nodes]
    hover_columns = [c for c in ("in_degree", "out_degree", "depth", "pagerank") if c in table]
    if metric not in hover_columns:
        hover_columns.append(metric)
    hover = shown["url"].astype(str)
    for column in hover_columns:
        hover = hover + f"<br>{column.replace('_', ' ')}: " + shown[column].map(_fmt)
    figure = go.Figure()
    figure.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", hoverinfo="skip",
                                  line={"width": 0.5, "color": "rgba(120,120,120,0.35)"},
                                  name="links"))
    figure.add_trace(go.Scattergl(
        x=positions[nodes, 0], y=positions[nodes, 1], mode="markers", name="pages",
        text=hover, hovertemplate="%{text}<extra></extra>",
        marker={"size": _scaled(values), "color": np.nan_to_num(values, nan=0.0),
                "colorscale": "Viridis", "showscale": True,
                "colorbar": {"title": {"text": metric.replace("_", " ")}},
                "line": {"width": 0}},
    ))
    _frame(figure, title or f"{len(nodes):,} pages and {len(e_src):,} links, by {metric}")
    return figure


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "–" if np.isnan(value) else f"{value:.4g}"
    return str(value)


def overview_image(
    positions: np.ndarray, src: np.ndarray, dst: np.ndarray, *, size: int = RASTER_SIZE,
    max_edges: int = 2_000_000,
) -> np.ndarray:
    """A ``size``×``size`` density image of pages and links (log-scaled, 0..1)."""
    if len(positions) == 0:
        return np.zeros((size, size))
    extent = float(np.abs(positions).max()) or 1.0
    bins = np.linspace(-extent, extent, size + 1)
    image, _, _ = np.histogram2d(positions[:, 1], positions[:, 0], bins=[bins, bins])
    step = max(1, len(src) // max_edges)
    a, b = positions[src[::step]], positions[dst[::step]]
    for t in np.linspace(0.1, 0.9, EDGE_SAMPLES):
        points = a + (b - a) * t
        lines, _, _ = np.histogram2d(points[:, 1], points[:, 0], bins=[bins, bins])
        image += 0.3 * lines
    image = np.log1p(image)
    top = image.max()
    return image / top if top else image


def overview_figure(image: np.ndarray, *, pages: int, links: int) -> go.Figure:
    levels = np.round(np.asarray(image) * 255).astype(np.uint8)  # 1 byte a cell to ship
    figure = go.Figure(go.Heatmap(z=levels, colorscale="Magma", showscale=False,
                                  hoverinfo="skip"))
    _frame(figure, f"Overview of all {pages:,} pages and {links:,} links (density, "
                   "start page in the centre, one ring per click)")
    figure.update_yaxes(scaleanchor="x")
    return figure


def _frame(figure: go.Figure, title: str) -> None:
    figure.update_layout(
        title={"text": title, "font": {"size": 14}}, showlegend=False, height=640,
        margin={"l": 10, "r": 10, "t": 40, "b": 10}, plot_bgcolor="white",
        xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x"},
    )
