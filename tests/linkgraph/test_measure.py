"""The link graph's vital signs: checked against networkx on small random graphs, and on
hand-made graphs whose answers can be read off the drawing."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from linkgraph.measure import build_graph, distributions, vital_signs
from standins.sitegen import generate_site


def _frame(*links: str) -> pd.DataFrame:
    """Edges from "a>b" strings."""
    pairs = [link.split(">") for link in links]
    return pd.DataFrame(pairs, columns=["source", "target"])


def _random_edges(seed: int) -> pd.DataFrame:
    """A random site with dangling pages, an island, self-links and repeated links."""
    rng = np.random.default_rng(seed)
    n, m = 40, 90
    source = rng.integers(0, n, m)
    target = rng.integers(0, n, m)
    edges = pd.DataFrame({"source": [f"/p{i}" for i in source],
                          "target": [f"/p{i}" for i in target]})
    extra = _frame("/island/a>/island/b", "/island/b>/island/c", "/p3>/p3", "/island/a>/island/a")
    return pd.concat([edges, edges.head(10), extra], ignore_index=True)


def _networkx(edges: pd.DataFrame) -> nx.DiGraph:
    graph = nx.from_pandas_edgelist(edges, "source", "target", create_using=nx.DiGraph)
    graph.remove_edges_from(list(nx.selfloop_edges(graph)))
    return graph


def _by_url(values: dict, urls: np.ndarray) -> np.ndarray:
    return np.array([values[url] for url in urls])


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_statistics_match_networkx(seed: int) -> None:
    edges = _random_edges(seed)
    graph = build_graph(edges)
    signs = vital_signs(graph)
    reference = _networkx(edges)
    urls = graph.urls

    assert graph.n == reference.number_of_nodes()
    assert graph.m == reference.number_of_edges()
    assert (signs.out_degree == 0).any(), "the case should include dangling pages"
    np.testing.assert_array_equal(signs.in_degree, _by_url(dict(reference.in_degree()), urls))
    np.testing.assert_array_equal(signs.out_degree, _by_url(dict(reference.out_degree()), urls))
    assert len(signs.component_sizes) == nx.number_weakly_connected_components(reference)
    assert signs.component_sizes[0] == max(map(len, nx.weakly_connected_components(reference)))

    pagerank = nx.pagerank(reference, alpha=0.85, tol=1e-13, max_iter=1000)
    np.testing.assert_allclose(signs.pagerank, _by_url(pagerank, urls), atol=1e-6)

    # HITS is only defined up to the leading singular vector: make sure it is unique here.
    adjacency = nx.to_numpy_array(reference, nodelist=list(urls))
    first, second = np.linalg.svd(adjacency, compute_uv=False)[:2]
    assert first > 1.05 * second
    hubs, authorities = nx.hits(reference, max_iter=10_000, tol=1e-12)
    np.testing.assert_allclose(signs.hub, _by_url(hubs, urls), atol=1e-6)
    np.testing.assert_allclose(signs.authority, _by_url(authorities, urls), atol=1e-6)

    lengths = nx.single_source_shortest_path_length(reference, signs.start_url)
    np.testing.assert_array_equal(signs.depth, [lengths.get(url, -1) for url in urls])


def test_a_generated_site_matches_networkx() -> None:
    edges, _ = generate_site(400, seed=3)
    signs = vital_signs(build_graph(edges))
    reference = _networkx(edges)
    urls = signs.graph.urls
    pagerank = nx.pagerank(reference, tol=1e-13, max_iter=1000)
    np.testing.assert_allclose(signs.pagerank, _by_url(pagerank, urls), atol=1e-6)
    lengths = nx.single_source_shortest_path_length(reference, "https://example.com/")
    np.testing.assert_array_equal(signs.depth, [lengths.get(url, -1) for url in urls])


def test_build_graph_drops_self_links_and_repeats_and_keeps_their_pages() -> None:
    graph = build_graph(_frame("a>b", "a>b", "b>b", "c>c", "b>a"))
    assert sorted(graph.urls) == ["a", "b", "c"]
    pairs = {(graph.urls[s], graph.urls[d]) for s, d in zip(graph.src, graph.dst, strict=True)}
    assert pairs == {("a", "b"), ("b", "a")}
    assert graph.src.dtype == np.int32 and graph.dst.dtype == np.int32


def test_build_graph_adds_unlinked_pages_and_names_missing_columns() -> None:
    graph = build_graph(_frame("a>b"), pages=["a", "sitemap-only"])
    signs = vital_signs(graph, start="a")
    only = list(graph.urls).index("sitemap-only")
    assert signs.orphan[only] and signs.dead_end[only] and signs.depth[only] == -1
    with pytest.raises(ValueError, match="source and target.*lacks target"):
        build_graph(pd.DataFrame({"source": ["a"], "to": ["b"]}))


def test_click_depth_on_a_chain_a_diamond_and_an_island() -> None:
    edges = _frame("a>b", "b>c", "c>d",  # chain
                   "a>x", "a>y", "x>z", "y>z", "z>w",  # diamond below a
                   "i1>i2", "i2>i1")  # island
    signs = vital_signs(build_graph(edges), start="a")
    depth = dict(zip(signs.graph.urls, signs.depth.tolist(), strict=True))
    assert depth == {"a": 0, "b": 1, "c": 2, "d": 3, "x": 1, "y": 1, "z": 2, "w": 3,
                     "i1": -1, "i2": -1}
    from_c = vital_signs(signs.graph, start="c")
    assert dict(zip(from_c.graph.urls, from_c.depth.tolist(), strict=True))["d"] == 1
    assert from_c.depth[list(from_c.graph.urls).index("a")] == -1


def test_click_depth_on_a_long_chain() -> None:
    chain = [f"/{i}" for i in range(300)]
    edges = pd.DataFrame({"source": chain[:-1], "target": chain[1:]})
    signs = vital_signs(build_graph(edges), start="/0")
    assert signs.depth.tolist() == list(range(300))
    summary = signs.summary()
    assert summary["max_click_depth"] == 299
    assert summary["click_depth"]["deeper than 5"] == 300 - 6


def test_orphans_and_dead_ends() -> None:
    # home -> a -> b; c -> a (c has no inlinks); home has no inlinks but is the start.
    signs = vital_signs(build_graph(_frame("/>/a", "/a>/b", "/c>/a", "/d>/d")))
    urls = list(signs.graph.urls)
    assert signs.start_url == "/"
    assert sorted(urls[i] for i in np.flatnonzero(signs.orphan)) == ["/c", "/d"]
    assert sorted(urls[i] for i in np.flatnonzero(signs.dead_end)) == ["/b", "/d"]
    from_a = vital_signs(signs.graph, start="/a")
    assert sorted(urls[i] for i in np.flatnonzero(from_a.orphan)) == ["/", "/c", "/d"]


def test_the_default_start_is_the_home_page_else_the_best_ranked() -> None:
    # The home page is the start even when another page has more PageRank.
    site = _frame("https://ex.com/>https://ex.com/a", "https://ex.com/b>https://ex.com/a",
                  "https://ex.com/c>https://ex.com/a", "https://ex.com/a?x=1>https://ex.com/")
    assert vital_signs(build_graph(site)).start_url == "https://ex.com/"
    bare = _frame("https://ex.com>https://ex.com/a", "https://ex.com/a>https://ex.com/b")
    assert vital_signs(build_graph(bare)).start_url == "https://ex.com"
    no_home = _frame("/a>/hub", "/b>/hub", "/c>/hub", "/hub>/d")
    graph = build_graph(no_home)
    signs = vital_signs(graph)
    assert signs.start == int(np.argmax(signs.pagerank))
    assert signs.start_url == "/d"  # it collects the rank of everything that links to /hub


def test_an_unknown_start_page_is_refused_with_a_page_to_pick() -> None:
    graph = build_graph(_frame("https://ex.com/>https://ex.com/a"))
    with pytest.raises(ValueError, match=r"'/nope' is not a page of this graph; pick one of "
                                         r"its pages, e\.g\. 'https://ex\.com/'"):
        vital_signs(graph, start="/nope")
    # A missing or extra trailing slash is forgiven.
    assert vital_signs(graph, start="https://ex.com").start_url == "https://ex.com/"
    assert vital_signs(graph, start=" https://ex.com/a/ ").start_url == "https://ex.com/a"


def test_an_empty_graph_is_refused() -> None:
    with pytest.raises(ValueError, match="no pages"):
        vital_signs(build_graph(pd.DataFrame({"source": [], "target": []})))


def test_summary_is_json_and_agrees_with_the_arrays() -> None:
    edges, _ = generate_site(500, seed=11)
    signs = vital_signs(build_graph(edges))
    summary = json.loads(json.dumps(signs.summary()))
    n = signs.graph.n
    assert summary["start_page"] == "https://example.com/"
    assert summary["nodes"] == n and summary["edges"] == signs.graph.m
    assert summary["orphans"]["count"] == int(signs.orphan.sum()) > 0
    assert summary["orphans"]["percent"] == pytest.approx(100 * signs.orphan.mean(), abs=0.01)
    assert summary["dead_ends"]["count"] == int(signs.dead_end.sum()) > 0
    unreachable = int((signs.depth < 0).sum())
    assert summary["unreachable_from_start"]["count"] == unreachable > 0
    assert summary["unreachable_from_start"]["percent"] == pytest.approx(100 * unreachable / n,
                                                                         abs=0.01)
    depths = summary["click_depth"]
    assert sum(depths.values()) == n
    assert depths["0"] == 1 and depths["1"] == int((signs.depth == 1).sum())
    assert depths["deeper than 5"] == int((signs.depth > 5).sum())
    assert depths["unreachable"] == unreachable
    assert summary["components"]["largest"] == int(np.bincount(signs.component).max())
    assert summary["in_degree"]["p90"] == pytest.approx(np.quantile(signs.in_degree, 0.9),
                                                        abs=0.01)
    assert summary["out_degree"]["max"] == signs.out_degree.max()
    top = summary["top_pagerank"]
    assert len(top) == 10 and top[0]["url"] == signs.graph.urls[np.argmax(signs.pagerank)]
    assert [t["value"] for t in top] == sorted((t["value"] for t in top), reverse=True)
    assert summary["top_hubs"][0]["url"] == signs.graph.urls[np.argmax(signs.hub)]
    assert summary["top_authorities"][0]["url"] == signs.graph.urls[np.argmax(signs.authority)]
    assert set(summary["examples"]["orphans"]) <= set(signs.graph.urls[signs.orphan])


def test_components_are_numbered_by_size() -> None:
    edges = _frame("a>b", "x>y", "y>z", "z>x", "q>r", "s>q", "t>q")
    signs = vital_signs(build_graph(edges), start="x")
    by_url = dict(zip(signs.graph.urls, signs.component.tolist(), strict=True))
    assert by_url["q"] == by_url["t"] == 0  # q, r, s, t: the largest
    assert by_url["x"] == 1 and by_url["a"] == 2
    assert signs.component_sizes.tolist() == [4, 3, 2]
    assert signs.summary()["components"] == {"count": 3, "largest": 4,
                                             "largest_percent": pytest.approx(44.44)}


def test_node_table_joins_metadata_by_url() -> None:
    signs = vital_signs(build_graph(_frame("/>/a", "/a>/b")))
    metadata = pd.DataFrame({
        "url": ["/b", "/", "/elsewhere", "/b"],
        "clicks": [5, 100, 7, 999],
        "depth": [9, 9, 9, 9],
    })
    table = signs.node_table(metadata)
    assert list(table.columns) == ["url", "in_degree", "out_degree", "depth", "component",
                                   "pagerank", "hub", "authority", "orphan", "dead_end",
                                   "clicks", "depth (metadata)"]
    rows = table.set_index("url")
    assert rows.loc["/", "clicks"] == 100 and rows.loc["/b", "clicks"] == 5
    assert pd.isna(rows.loc["/a", "clicks"])
    assert "/elsewhere" not in rows.index
    assert rows["depth"].tolist() == [0, 1, 2]
    assert bool(rows.loc["/b", "dead_end"]) and not rows.loc["/", "orphan"]
    assert len(signs.node_table()) == 3
    with pytest.raises(ValueError, match="needs a url column"):
        signs.node_table(pd.DataFrame({"page": ["/"]}))


def test_distributions_on_known_numbers() -> None:
    table = pd.DataFrame({
        "clicks": [1.0, 2.0, 3.0, 4.0, np.nan],
        "depth": [0, 1, 2, -1, -1],
        "orphan": [True, False, False, False, True],
        "url": ["a", "b", "c", "d", "e"],
        "empty": [np.nan] * 5,
    })
    result = distributions(table, ["clicks", "depth", "orphan", "url", "empty"])
    assert set(result) == {"clicks", "depth", "orphan", "empty"}
    assert result["clicks"] == {"count": 4, "missing": 1, "min": 1.0, "p25": 1.75, "p50": 2.5,
                                "p75": 3.25, "p90": 3.7, "p99": pytest.approx(3.97),
                                "max": 4.0, "mean": 2.5}
    assert result["depth"]["count"] == 3 and result["depth"]["missing"] == 2
    assert result["depth"]["max"] == 2.0
    assert result["orphan"]["mean"] == pytest.approx(0.4)
    assert result["empty"]["count"] == 0 and result["empty"]["p50"] is None
    json.dumps(result)
    with pytest.raises(ValueError, match="No column 'nope'"):
        distributions(table, ["nope"])


def test_pagerank_sums_to_one_with_dead_ends() -> None:
    signs = vital_signs(build_graph(_frame("a>b", "a>c", "c>a", "d>e")))
    assert signs.pagerank.sum() == pytest.approx(1.0)
    assert signs.hub.sum() == pytest.approx(1.0) and signs.authority.sum() == pytest.approx(1.0)
