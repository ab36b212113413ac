"""The link-graph pipeline at 10k, 100k and 1M links, and the common way at 10k.

Each size runs in a fresh process (so its peak memory, read from VmHWM, is its own): a
synthetic site from ``standins.sitegen`` is written to CSV bytes (not timed), then timed:
load + validate (``linkgraph.load``), statistics and the node table
(``linkgraph.measure``), layout, and the drawing data the browser receives (the raster
overview and the interactive top-N figure, serialised to JSON as Streamlit would).

The baseline is what one would write first: pandas, a networkx DiGraph, networkx's
statistics, ``spring_layout`` and a plotly scatter of every node and edge.
"""

from __future__ import annotations

import json
import subprocess
import sys

from bench import Section

SIZES = (10_000, 100_000, 1_000_000)
TARGETS = {100_000: 8.0, 1_000_000: 60.0}
MEMORY_TARGET_GIB = 4.0

_OURS = r"""
import io, json, re, time
from standins.sitegen import edges_for
from linkgraph.scan import scan_site
from linkgraph.draw import choose_nodes, interactive_figure, overview_figure, overview_image
import plotly.io as pio
edges, metadata = edges_for({size}, seed=1)
edge_bytes = edges.to_csv(index=False).encode()
meta_bytes = metadata.to_csv(index=False).encode()
started = time.perf_counter()
scan = scan_site(edge_bytes, meta_bytes)
measured = time.perf_counter()
g = scan.graph
image = overview_image(scan.positions, g.src, g.dst)
overview = pio.to_json(overview_figure(image, pages=g.n, links=g.m))
nodes = choose_nodes(scan.table, "pagerank")
figure = pio.to_json(interactive_figure(scan.table, scan.positions, g.src, g.dst,
                                        "pagerank", nodes))
drawn = time.perf_counter()
peak = int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1))
print(json.dumps({{"pages": g.n, "links": g.m, "csv_mb": len(edge_bytes) / 2**20,
                   "measure_s": measured - started, "draw_s": drawn - measured,
                   "total_s": drawn - started, "peak_mib": peak / 1024,
                   "browser_kb": (len(overview) + len(figure)) / 1024}}))
"""

_BASELINE = r"""
import io, json, re, time
import networkx as nx
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from standins.sitegen import edges_for
edges, _ = edges_for({size}, seed=1)
edge_bytes = edges.to_csv(index=False).encode()
started = time.perf_counter()
frame = pd.read_csv(io.BytesIO(edge_bytes)).dropna().drop_duplicates()
frame = frame[frame["source"] != frame["target"]]
graph = nx.from_pandas_edgelist(frame, "source", "target", create_using=nx.DiGraph)
pagerank = nx.pagerank(graph)
hubs, authorities = nx.hits(graph)
components = nx.number_weakly_connected_components(graph)
home = next(iter(graph.nodes))
depth = nx.single_source_shortest_path_length(graph, home)
measured = time.perf_counter()
pos = nx.spring_layout(graph, seed=1)
xs, ys = [], []
for a, b in graph.edges():
    xs += [pos[a][0], pos[b][0], None]
    ys += [pos[a][1], pos[b][1], None]
figure = go.Figure([go.Scatter(x=xs, y=ys, mode="lines"),
                    go.Scatter(x=[p[0] for p in pos.values()], y=[p[1] for p in pos.values()],
                               mode="markers", marker={{"color": list(pagerank.values())}})])
shipped = pio.to_json(figure)
drawn = time.perf_counter()
peak = int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1))
print(json.dumps({{"pages": graph.number_of_nodes(), "links": graph.number_of_edges(),
                   "csv_mb": len(edge_bytes) / 2**20, "measure_s": measured - started,
                   "draw_s": drawn - measured, "total_s": drawn - started,
                   "peak_mib": peak / 1024, "browser_kb": len(shipped) / 1024}}))
"""


def _run(code: str, timeout: float = 900) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run() -> Section:
    rows, notes = [], []
    for size in SIZES:
        r = _run(_OURS.format(size=size))
        target = TARGETS.get(size)
        verdict = ""
        if target:
            ok = r["total_s"] <= target and r["peak_mib"] / 1024 <= MEMORY_TARGET_GIB
            verdict = f"≤ {target:g} s" + (f", ≤ {MEMORY_TARGET_GIB:g} GiB" if size >= 10**6
                                          else "") + (": met" if ok else ": NOT met")
        rows.append([f"Ambient, {size:,} links", f"{r['pages']:,}", f"{r['links']:,}",
                     round(r["csv_mb"], 1), r["measure_s"], r["draw_s"], r["total_s"],
                     round(r["peak_mib"]), round(r["browser_kb"]), verdict])
    base = _run(_BASELINE.format(size=SIZES[0]))
    ours = rows[0]
    rows.append([f"common way, {SIZES[0]:,} links", f"{base['pages']:,}",
                 f"{base['links']:,}", round(base["csv_mb"], 1), base["measure_s"],
                 base["draw_s"], base["total_s"], round(base["peak_mib"]),
                 round(base["browser_kb"]),
                 f"{base['total_s'] / ours[6]:.0f}× slower than Ambient at this size"])
    notes += [
        "Timed: load + validate + statistics + node table + layout ('measure'), then the "
        "drawing data the browser receives ('draw': raster overview + interactive top "
        "2,000 pages by PageRank, serialised to JSON). Generating the synthetic site is "
        "not timed. Each row runs in a fresh process; peak memory is that process's VmHWM.",
        "Common way: pandas, a networkx DiGraph, networkx PageRank/HITS/components/BFS, "
        "spring_layout and a plotly scatter of every node and edge. Its spring_layout is "
        "what makes a force layout unusable beyond a few thousand pages, and it ships every "
        "edge to the browser; Ambient's radial layout is one sort, and the browser gets a "
        "fixed-size picture plus at most 2,000 pages and 10,000 links.",
    ]
    return Section(
        name="linkgraph",
        title="Link graph: load, validate, measure and draw",
        headers=["pipeline", "pages", "links", "CSV (MB)", "measure (s)", "draw (s)",
                 "total (s)", "peak (MiB)", "sent to browser (KB)", "target"],
        rows=rows,
        notes=notes,
    )
