from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from linkgraph.draw import (
    MAX_EDGES,
    MAX_NODES,
    choose_nodes,
    interactive_figure,
    overview_figure,
    overview_image,
    radial_layout,
)


def test_the_start_page_is_the_centre_and_each_click_a_ring() -> None:
    urls = ["/", "/a", "/b", "/a/1", "/island"]
    depth = np.array([0, 1, 1, 2, -1])
    pos = radial_layout(urls, depth)
    radius = np.hypot(pos[:, 0], pos[:, 1])
    assert radius[0] == pytest.approx(0)
    assert 1 <= radius[1] < 1.5 and 1 <= radius[2] < 1.5
    assert 2 <= radius[3] < 2.5
    assert radius[4] > radius[3]  # unreachable pages sit outermost


def test_pages_of_one_section_sit_next_to_each_other() -> None:
    urls = ["/"] + [f"/blog/{i}" for i in range(5)] + [f"/docs/{i}" for i in range(5)]
    depth = np.array([0] + [1] * 10)
    pos = radial_layout(urls, depth)
    angles = np.mod(np.arctan2(pos[1:, 1], pos[1:, 0]), 2 * np.pi)
    order = np.argsort(angles)
    sections = ["blog" if i < 5 else "docs" for i in order]
    assert sections == sorted(sections) or sections == sorted(sections, reverse=True)


def graph(n: int, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n, n * 5)
    dst = rng.integers(0, n, n * 5)
    table = pd.DataFrame({"url": [f"/p/{i}" for i in range(n)],
                          "pagerank": rng.random(n), "in_degree": np.bincount(dst, minlength=n),
                          "depth": rng.integers(0, 6, n)})
    return table, src, dst


def test_the_browser_never_gets_more_than_it_can_draw() -> None:
    table, src, dst = graph(50_000)
    positions = radial_layout(table["url"], table["depth"].to_numpy())
    nodes = choose_nodes(table, "pagerank")
    assert len(nodes) == MAX_NODES
    assert set(nodes) == set(np.argsort(-table["pagerank"].to_numpy())[:MAX_NODES])
    figure = interactive_figure(table, positions, src, dst, "pagerank", nodes)
    pages, links = figure.data[1], figure.data[0]
    assert len(pages.x) == MAX_NODES and len(links.x) <= 3 * MAX_EDGES
    assert "pagerank" in pages.hovertemplate or "pagerank" in pages.text[0]
    image = overview_image(positions, src, dst, size=200)
    assert image.shape == (200, 200) and image.min() >= 0 and image.max() == pytest.approx(1)
    assert overview_figure(image, pages=50_000, links=len(src)).data[0].z.shape == (200, 200)


def test_the_neighbourhood_of_a_page_can_be_drilled_into() -> None:
    table = pd.DataFrame({"url": ["/", "/a", "/b", "/c", "/far"], "pagerank": [5, 4, 3, 2, 1]})
    src, dst = np.array([0, 0, 1, 3]), np.array([1, 2, 3, 4])
    assert set(choose_nodes(table, "pagerank", focus="/a", src=src, dst=dst)) == {0, 1, 3}
    assert set(choose_nodes(table, "pagerank", focus="/a", radius=2, src=src,
                            dst=dst)) == {0, 1, 2, 3, 4}
    with pytest.raises(ValueError, match="not a page"):
        choose_nodes(table, "pagerank", focus="/nope", src=src, dst=dst)
