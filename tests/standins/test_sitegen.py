"""The synthetic site generator: deterministic, shaped like a real crawl, and sized on
request."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from linkgraph.measure import build_graph, vital_signs
from standins.sitegen import SAMPLES, edges_for, generate_site, write_sample
from standins.sitegen import main as sitegen_main

HOST = "https://example.com"
NAV = [f"{HOST}/"] + [f"{HOST}/{s}/" for s in
                      ("blog", "products", "docs", "support", "about", "news", "careers")]


@pytest.fixture(scope="module")
def site() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_site(3_000, seed=5, orphan_share=0.05, dead_end_share=0.08)


def test_the_same_seed_gives_the_same_site() -> None:
    first = generate_site(800, seed=42)
    again = generate_site(800, seed=42)
    other = generate_site(800, seed=43)
    pd.testing.assert_frame_equal(first[0], again[0])
    pd.testing.assert_frame_equal(first[1], again[1])
    assert not first[0].equals(other[0])


def test_pages_are_unique_and_links_clean(site) -> None:
    edges, metadata = site
    assert len(metadata) == 3_000 and metadata["url"].is_unique
    assert not edges.duplicated().any()
    assert not (edges["source"] == edges["target"]).any()
    assert set(edges["source"]) | set(edges["target"]) <= set(metadata["url"])


def test_orphans_and_dead_ends_come_in_the_requested_shares(site) -> None:
    edges, metadata = site
    orphans = ~metadata["url"].isin(edges["target"])
    dead_ends = ~metadata["url"].isin(edges["source"])
    assert orphans.mean() == pytest.approx(0.05, abs=0.005)
    assert dead_ends.mean() == pytest.approx(0.08, abs=0.005)
    assert metadata.loc[orphans, "url"].str.contains("/lp/").any()  # campaign landing pages
    assert not metadata.loc[orphans, "url"].str.contains("/lp/").all()  # and unlinked pages


def test_urls_are_hierarchical(site) -> None:
    _, metadata = site
    urls = set(metadata["url"])
    assert set(NAV) <= urls
    paths = metadata["url"].str.removeprefix(HOST)
    posts = paths[paths.str.startswith("/blog/") & (metadata["page_type"] == "article")]
    assert len(posts) > 500
    assert posts.str.fullmatch(r"/blog/20\d\d/(0[1-9]|1[0-2])/[a-z]+(-[a-z]+)+(-\d+)?").all()
    assert paths.str.fullmatch(r"/products/[a-z-]+/[a-z-]+/[a-z-]+\d*").any()
    assert paths.str.fullmatch(r"/blog/20\d\d/\d\d/page/\d+/").any()  # long months paginate
    # Every page under a section sits below a page for its parent folder.
    listed = paths[(paths != "/") & ~paths.str.startswith("/lp/")
                   & (metadata["page_type"] != "pagination")]
    parents = listed.str.replace(r"[^/]+/?$", "", regex=True)
    assert (HOST + parents).isin(urls).all()
    assert (metadata["path_depth"] == paths.str.strip("/").str.split("/").str.len()
            .where(paths != "/", 0)).all()


def test_navigation_links_every_page_to_home_and_sections(site) -> None:
    edges, metadata = site
    linking = metadata.loc[metadata["url"].isin(edges["source"]) & (metadata["status"] == 200),
                           "url"]
    nav_links = edges[edges["target"].isin(NAV)].groupby("source")["target"].nunique()
    expected = np.where(linking.isin(NAV), len(NAV) - 1, len(NAV))
    assert (nav_links.reindex(linking).to_numpy() == expected).all()


def test_every_linked_page_is_reachable_from_home(site) -> None:
    edges, metadata = site
    signs = vital_signs(build_graph(edges, pages=metadata["url"]))
    assert signs.start_url == f"{HOST}/"
    # Only the orphans and nothing below them are out of reach: orphans are leaves.
    assert ((signs.depth < 0) == signs.orphan).all()
    assert signs.summary()["click_depth"]["deeper than 5"] > 0  # paginated archives


def test_metrics_have_long_tails_and_follow_links(site) -> None:
    edges, metadata = site
    clicks, impressions = metadata["clicks"], metadata["impressions"]
    assert (clicks <= impressions).all() and (clicks >= 0).all()
    assert impressions.max() > 50 * impressions.median()
    assert clicks.max() > 20 * max(clicks.median(), 1)
    inlinks = edges["target"].value_counts().reindex(metadata["url"], fill_value=0)
    assert inlinks.corr(impressions.set_axis(metadata["url"]), method="spearman") > 0.2


def test_statuses_are_mostly_200_with_a_few_404_and_301(site) -> None:
    edges, metadata = site
    counts = metadata["status"].value_counts()
    assert counts[200] > 0.95 * len(metadata) and counts[404] > 0 and counts[301] > 0
    broken = metadata.loc[metadata["status"] == 404, "url"]
    assert not broken.isin(edges["source"]).any()  # a 404 links nowhere
    assert broken.isin(edges["target"]).all()  # but is linked to
    redirects = metadata.loc[metadata["status"] == 301, "url"]
    assert (edges["source"].value_counts().reindex(redirects) == 1).all()
    assert (metadata.loc[metadata["status"] != 200, "clicks"] == 0).all()


def test_nav_links_sets_the_sections_and_small_sites_are_refused() -> None:
    edges, metadata = generate_site(60, seed=1, nav_links=4)
    sections = metadata.loc[metadata["page_type"] == "section", "url"]
    assert sections.tolist() == [f"{HOST}/blog/", f"{HOST}/products/", f"{HOST}/docs/"]
    with pytest.raises(ValueError, match="at least 8 pages"):
        generate_site(5)


@pytest.mark.parametrize("target", [2_000, 30_000, 120_000])
def test_edges_for_lands_near_the_target(target: int) -> None:
    edges, _ = edges_for(target, seed=2)
    assert abs(len(edges) - target) <= 0.2 * target


def test_write_sample_writes_two_readable_csvs(tmp_path: Path) -> None:
    edges_path, metadata_path = write_sample(tmp_path / "edges.csv", tmp_path / "pages.csv")
    edges, metadata = pd.read_csv(edges_path), pd.read_csv(metadata_path)
    assert list(edges.columns) == ["source", "target"]
    assert len(metadata) == 300 and {"url", "clicks", "impressions", "status"} <= set(metadata)
    expected_edges, _ = generate_site(300, seed=7)
    assert len(edges) == len(expected_edges)
    assert re.match(r"https://example\.com/", edges["source"].iloc[0])


def test_the_command_line_writes_the_sample_where_it_is_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edges_path, metadata_path = tmp_path / "links.csv", tmp_path / "pages.csv"
    assert sitegen_main(["--edges", str(edges_path), "--metadata", str(metadata_path),
                         "--pages", "120", "--seed", "3"]) == 0
    assert len(pd.read_csv(metadata_path)) == 120
    expected_edges, _ = generate_site(120, seed=3)
    assert len(pd.read_csv(edges_path)) == len(expected_edges)
    assert f"Wrote {edges_path} and {metadata_path}" in capsys.readouterr().out


def test_the_shipped_sample_is_what_the_generator_writes(tmp_path: Path) -> None:
    """``python -m standins.sitegen`` with no options reproduces samples/ exactly."""
    edges_path, metadata_path = write_sample(tmp_path / "edges.csv", tmp_path / "pages.csv")
    assert edges_path.read_bytes() == (SAMPLES / "site_edges.csv").read_bytes()
    assert metadata_path.read_bytes() == (SAMPLES / "site_metadata.csv").read_bytes()
