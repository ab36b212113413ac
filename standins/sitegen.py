"""Synthetic site link graphs that look like a real crawl, for tests, benchmarks and the
app's sample.

A site here is a home page ``/``, sections (``/blog/``, ``/products/``, ``/docs/`` ...)
and hierarchies under them: ``/blog/2024/05/some-slug``, ``/products/kitchen/compact/...``,
``/docs/webhooks/...``. Its links are the ones a crawler finds:

- navigation: every page links to the home page and every section, so the top of the
  graph is dense and the nav pages collect most of the inlinks;
- listings: a parent lists its children, 20-30 to a page; longer listings are paginated
  (``.../page/2/`` links to ``.../page/3/`` ...), which is what pushes old posts and
  products many clicks deep;
- breadcrumbs (a page links to its parent), related links between siblings, in-content
  links drawn from a long-tailed popularity (a few pages are linked from everywhere), and
  blog posts linking to a few older posts;
- defects: orphan pages (campaign landing pages under ``/lp/`` and pages dropped from their
  listing: no inlinks), dead ends (no outlinks; some of them 404s), and a few 301s whose
  only link is their redirect target.

The metadata has clicks and impressions with long tails (lognormal, higher for pages with
many inlinks and near the top, low for orphans), the HTTP status, the section and page
type, and ``path_depth`` (URL segments, a hint for click depth).

Everything is vectorised and deterministic for a seed: 1M links take seconds.

``python -m standins.sitegen`` rewrites the sample the app ships, ``samples/site_edges.csv``
and ``samples/site_metadata.csv`` (300 pages, seed 7; ``--help`` for the options).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

# Name, share of the pages, shape. The first ``nav_links - 1`` sections exist.
_SECTIONS = (
    ("blog", 0.34, "dated"),
    ("products", 0.28, "catalogue"),
    ("docs", 0.18, "topics"),
    ("support", 0.08, "topics"),
    ("about", 0.02, "flat"),
    ("news", 0.06, "dated"),
    ("careers", 0.02, "flat"),
    ("community", 0.05, "topics"),
    ("pricing", 0.01, "flat"),
    ("partners", 0.02, "flat"),
)
_PAGE_SIZE = {"dated": 20, "catalogue": 24, "topics": 10**9, "flat": 30}
_LATEST = (2025, 6)  # the newest month of a dated section
SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _words(text: str) -> list[str]:
    return text.split()


_WORDS = _words(
    "analytics audit backlink brand budget campaign canonical checklist content conversion "
    "crawl dashboard data design email engine experiment funnel growth guide index insight "
    "keyword landing launch local metric mobile network onboarding page performance pipeline "
    "pricing privacy query ranking report roadmap schema search security signal sitemap speed "
    "strategy team template traffic trend update video workflow review lessons mistakes "
    "ideas tips case study playbook benchmark survey"
)
_CATEGORIES = _words(
    "kitchen garden lighting furniture outdoor office storage bath textiles decor tools audio "
    "cameras laptops phones tablets wearables gaming toys books sports travel pets beauty health"
)
_SUBCATEGORIES = _words(
    "accessories essentials classics premium compact professional kids eco smart vintage "
    "starter bundles refurbished limited seasonal"
)
_TOPICS = _words(
    "getting-started installation configuration api authentication billing integrations "
    "reporting troubleshooting security migration webhooks sdk cli deployment monitoring faq "
    "limits permissions export import glossary release-notes tutorials best-practices "
    "accounts teams notifications search performance backups mobile desktop plugins themes "
    "localisation accessibility compliance pricing-plans support-policy"
)

_KINDS = ("home", "section", "category", "listing", "pagination", "article", "landing")
_HOME, _SECTION, _CATEGORY, _LISTING, _PAGINATION, _ARTICLE, _LANDING = range(len(_KINDS))


_Ints = int | np.ndarray  # one value for every page added, or one per page


class _Pages:
    """The pages of a site under construction, appended in blocks."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.blocks: dict[str, list[np.ndarray]] = {
            key: [] for key in ("listed_by", "parent", "section", "kind", "first", "count")
        }

    @property
    def n(self) -> int:
        return len(self.paths)

    def add(
        self, paths: list[str], *, listed_by: _Ints, parent: _Ints, section: _Ints,
        kind: _Ints, first: _Ints = -1, count: _Ints = 0,
    ) -> np.ndarray:
        """Append pages; ``first``/``count`` give the slot range of a listing's children
        (for related links between siblings)."""
        start, size = self.n, len(paths)
        self.paths.extend(paths)
        values = {"listed_by": listed_by, "parent": parent, "section": section, "kind": kind,
                  "first": first, "count": count}
        for key, value in values.items():
            self.blocks[key].append(np.broadcast_to(np.asarray(value, dtype=np.int64), size))
        return np.arange(start, start + size)

    def column(self, key: str) -> np.ndarray:
        return np.concatenate(self.blocks[key])


def _unique_names(rng: np.random.Generator, pool: list[str], k: int) -> list[str]:
    names = [pool[i] for i in rng.permutation(len(pool))[: min(k, len(pool))]]
    return names + [f"{pool[i % len(pool)]}-{2 + i // len(pool)}" for i in range(k - len(names))]


def _slugs(rng: np.random.Generator, n: int) -> list[str]:
    """Three different words per slug (choosing each past the ones already taken)."""
    words = np.asarray(_WORDS, dtype=object)
    size = len(words)
    first = rng.integers(0, size, n)
    second = rng.integers(0, size - 1, n)
    second += second >= first
    low, high = np.minimum(first, second), np.maximum(first, second)
    third = rng.integers(0, size - 2, n)
    third += third >= low
    third += third >= high
    return ["-".join(row) for row in zip(words[first], words[second], words[third], strict=True)]


def _distinct(urls: np.ndarray) -> np.ndarray:
    """Two articles of a listing may draw the same slug: number the repeats ("-2")."""
    while True:
        frame = pd.Series(urls, dtype=object)
        repeat = frame.groupby(frame).cumcount().to_numpy()
        if not repeat.any():
            return urls
        again = np.flatnonzero(repeat)
        urls[again] = [f"{u}-{r + 1}" for u, r in zip(urls[again], repeat[again], strict=True)]


def _split(rng: np.random.Generator, total: int, parts: int, recency: float = 0.0) -> np.ndarray:
    """``total`` children over ``parts`` parents, skewed (a few big categories)."""
    weights = rng.lognormal(0.0, 0.8, parts) * np.exp(-recency * np.arange(parts))
    return rng.multinomial(total, weights / weights.sum())


def _fill_listings(
    site: _Pages, rng: np.random.Generator, listings: np.ndarray, counts: np.ndarray,
    section: int, page_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Children for each listing page, paginated ``page_size`` to a page: every
    ``page_size + 1``-th slot of a listing is its next page (``.../page/2/``), which lists
    the following slots. Returns the slots' page indices and which of them are articles."""
    total = int(counts.sum())
    base = site.n
    starts = np.cumsum(counts) - counts
    owner = np.repeat(np.arange(len(listings)), counts)
    position = np.arange(total) - starts[owner]
    chunk, place = np.divmod(position, page_size + 1)
    is_next_page = (place == page_size) & (position < counts[owner] - 1)
    listed_by = np.where(chunk == 0, listings[owner], base + np.arange(total) - place - 1)
    listing_paths = [site.paths[i] for i in listings]
    slugs = _slugs(rng, total)
    paths = [
        f"{listing_paths[o]}page/{c + 2}/" if nxt else listing_paths[o] + slug
        for o, c, nxt, slug in zip(owner.tolist(), chunk.tolist(), is_next_page.tolist(), slugs,
                                   strict=True)
    ]
    slots = site.add(
        paths, listed_by=listed_by, parent=listings[owner], section=section,
        kind=np.where(is_next_page, _PAGINATION, _ARTICLE),
        first=base + starts[owner], count=counts[owner],
    )
    return slots, ~is_next_page


def _build_section(
    site: _Pages, rng: np.random.Generator, index: int, page: int, name: str, shape: str,
    budget: int,
) -> np.ndarray | None:
    """The ``budget`` pages under one section page; for a dated section, returns its
    articles from the oldest to the newest."""
    prefix = f"/{name}/"
    if shape == "dated":
        months = int(np.clip(round(budget / 25), 1, 180))
        years = 1 + max(0, months - _LATEST[1] + 11) // 12
        if years + months >= budget // 2:
            shape = "flat"
    elif shape == "catalogue":
        per_category = rng.integers(2, 7, size=int(np.clip(round(math.sqrt(budget) / 4), 1, 25)))
        if len(per_category) + per_category.sum() >= budget // 2:
            shape = "flat"
    elif shape == "topics":
        topics = int(np.clip(round(math.sqrt(budget) / 2), 1, 40))
        if topics >= budget // 2:
            shape = "flat"

    first_page = site.n
    if shape == "dated":
        ages = np.arange(months)  # 0 is the newest month
        year_of, month_of = np.divmod(_LATEST[0] * 12 + _LATEST[1] - 1 - ages, 12)
        year_values = sorted(set(year_of.tolist()), reverse=True)
        year_pages = site.add([f"{prefix}{y}/" for y in year_values], listed_by=page,
                              parent=page, section=index, kind=_CATEGORY)
        owners = year_pages[year_values[0] - year_of]
        listings = site.add(
            [f"{prefix}{y}/{m + 1:02d}/" for y, m in zip(year_of.tolist(), month_of.tolist(),
                                                          strict=True)],
            listed_by=owners, parent=owners, section=index, kind=_LISTING,
        )
        recency = 0.01
    elif shape == "catalogue":
        categories = site.add(
            [f"{prefix}{c}/" for c in _unique_names(rng, _CATEGORIES, len(per_category))],
            listed_by=page, parent=page, section=index, kind=_CATEGORY,
        )
        owners = np.repeat(categories, per_category)
        names = [s for k in per_category.tolist() for s in _unique_names(rng, _SUBCATEGORIES, k)]
        listings = site.add(
            [site.paths[o] + f"{s}/" for o, s in zip(owners.tolist(), names, strict=True)],
            listed_by=owners, parent=owners, section=index, kind=_LISTING,
        )
        recency = 0.0
    elif shape == "topics":
        listings = site.add([f"{prefix}{t}/" for t in _unique_names(rng, _TOPICS, topics)],
                            listed_by=page, parent=page, section=index, kind=_LISTING)
        recency = 0.0
    else:
        listings, recency = np.array([page]), 0.0
    counts = _split(rng, budget - (site.n - first_page), len(listings), recency)
    slots, is_article = _fill_listings(site, rng, listings, counts, index, _PAGE_SIZE[shape])
    if shape != "dated":
        return None
    # A month lists its newest posts first: oldest first is (age, slot) descending.
    age = np.repeat(np.arange(len(listings)), counts)
    order = np.lexsort((-slots, -age))
    return slots[order][is_article[order]]


def _pick(rng: np.random.Generator, candidates: np.ndarray, k: int) -> np.ndarray:
    k = int(min(max(k, 0), len(candidates)))
    return np.sort(rng.choice(candidates, size=k, replace=False)) if k else candidates[:0]


def generate_site(
    pages: int,
    *,
    seed: int = 0,
    host: str = "https://example.com",
    orphan_share: float = 0.03,
    dead_end_share: float = 0.05,
    nav_links: int = 8,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A synthetic site of ``pages`` pages: (edges with columns source, target as absolute
    URLs; metadata with url, section, page_type, path_depth, status, clicks,
    impressions). ``nav_links`` is the navigation every page carries: the home page and
    ``nav_links - 1`` sections (the sections the site has, at least one)."""
    n_sections = int(np.clip(nav_links - 1, 1, len(_SECTIONS)))
    if pages < 1 + n_sections:
        raise ValueError(
            f"A site with {n_sections} sections needs at least {1 + n_sections} pages "
            f"(home and sections); ask for more pages or fewer nav_links."
        )
    if not (0 <= orphan_share < 1 and 0 <= dead_end_share < 1):
        raise ValueError("orphan_share and dead_end_share are shares of the pages, in [0, 1).")
    rng = np.random.default_rng(seed)
    host = host.rstrip("/")
    site = _Pages()
    home = site.add(["/"], listed_by=-1, parent=-1, section=-1, kind=_HOME)[0]
    chosen = _SECTIONS[:n_sections]
    section_pages = site.add([f"/{name}/" for name, _, _ in chosen], listed_by=home,
                             parent=home, section=np.arange(n_sections), kind=_SECTION)

    n_orphans = round(orphan_share * pages)
    rest = pages - site.n
    n_landing = min(n_orphans // 2, rest // 2)
    rest -= n_landing
    shares = np.array([share for _, share, _ in chosen])
    exact = rest * shares / shares.sum()
    budgets = np.floor(exact).astype(int)
    budgets[np.argsort(budgets - exact, kind="stable")[: rest - budgets.sum()]] += 1

    dated: list[np.ndarray] = []
    for index, ((name, _, shape), budget) in enumerate(zip(chosen, budgets, strict=True)):
        if budget > 0:
            articles = _build_section(site, rng, index, int(section_pages[index]), name,
                                      shape, int(budget))
            if articles is not None:
                dated.append(articles)
    landing = site.add([f"/lp/{slug}" for slug in _slugs(rng, n_landing)], listed_by=-1,
                       parent=-1, section=-1, kind=_LANDING)

    n = site.n
    listed_by, parent = site.column("listed_by"), site.column("parent")
    section, kind = site.column("section"), site.column("kind")
    first, count = site.column("first"), site.column("count")
    articles = np.flatnonzero(kind == _ARTICLE)
    nav = np.r_[home, section_pages]

    # In-content links go to pages with a long-tailed popularity, mostly in the same section.
    popularity = rng.pareto(1.2, n) + 1.0
    content_src = np.r_[articles, landing]
    k = rng.poisson(1.2, len(content_src))
    src_content = np.repeat(content_src, k)
    same_section = rng.random(len(src_content)) < 0.8
    dst_content = np.empty(len(src_content), dtype=np.int64)
    pools = [articles] + [articles[section[articles] == s] for s in range(n_sections)]
    keys = np.where(same_section, section[src_content] + 1, 0)  # 0: anywhere on the site
    for key, pool in enumerate(pools):
        mask = keys == key
        if mask.any() and len(pool):
            cdf = np.cumsum(popularity[pool])
            dst_content[mask] = pool[np.searchsorted(cdf, rng.random(mask.sum()) * cdf[-1])]
        elif mask.any():
            dst_content[mask] = home
    # Related links to siblings in the same listing.
    k = rng.poisson(1.0, len(articles))
    src_related = np.repeat(articles, k)
    dst_related = first[src_related] + (rng.random(len(src_related))
                                        * count[src_related]).astype(np.int64)
    related = kind[dst_related] == _ARTICLE
    src_related, dst_related = src_related[related], dst_related[related]
    # Blog posts link to a few older posts.
    older_src, older_dst = [], []
    for chronological in dated:
        k = rng.poisson(1.5, len(chronological))
        rank = np.repeat(np.arange(len(chronological)), k)
        back = rank - 1 - rng.geometric(0.05, len(rank))
        keep = back >= 0
        older_src.append(chronological[rank[keep]])
        older_dst.append(chronological[back[keep]])
    featured = np.argsort(-np.where(kind == _ARTICLE, popularity, 0), kind="stable")[:10]
    with_listing = np.flatnonzero(listed_by >= 0)
    with_parent = np.flatnonzero(parent >= 0)
    next_pages = np.flatnonzero(kind == _PAGINATION)
    src = np.concatenate([
        np.repeat(np.arange(n), len(nav)), listed_by[with_listing], with_parent,
        next_pages, np.full(len(featured), home), src_content, src_related, *older_src,
    ])
    dst = np.concatenate([
        np.tile(nav, n), with_listing, parent[with_parent], listed_by[next_pages], featured,
        dst_content, dst_related, *older_dst,
    ])

    # Defects: orphans lose their inlinks, dead ends their outlinks, a 301 links only to
    # its redirect target (a sibling, or its listing).
    unlinked = _pick(rng, articles, n_orphans - len(landing))
    orphans = np.r_[landing, unlinked]
    candidates = np.setdiff1d(articles, unlinked)
    dead_ends = _pick(rng, candidates, round(dead_end_share * pages))
    candidates = np.setdiff1d(candidates, dead_ends)
    redirects = _pick(rng, candidates, round(0.01 * pages))
    is_orphan = np.zeros(n, dtype=bool)
    is_orphan[orphans] = True
    silent = np.zeros(n, dtype=bool)
    silent[dead_ends] = silent[redirects] = True
    keep = ~is_orphan[dst] & ~silent[src]
    target = first[redirects] + (rng.random(len(redirects)) * count[redirects]).astype(np.int64)
    target = np.where((target == redirects) | is_orphan[target] | (kind[target] != _ARTICLE),
                      parent[redirects], target)
    src = np.r_[src[keep], redirects]
    dst = np.r_[dst[keep], target]
    pairs = np.sort((src * n + dst)[src != dst])
    src, dst = np.divmod(pairs[np.r_[True, pairs[1:] != pairs[:-1]]], n)

    status = np.full(n, 200)
    status[_pick(rng, dead_ends, round(0.3 * len(dead_ends)))] = 404
    status[redirects] = 301
    paths = pd.Series(site.paths, dtype=object)
    path_depth = (paths.str.count("/") - paths.str.endswith("/")).to_numpy()
    inlinks = np.bincount(dst, minlength=n)
    log_impressions = (
        3.0 + 0.5 * np.log1p(inlinks) + 0.3 * np.log(popularity) - 0.35 * path_depth
        + rng.normal(0.0, 1.3, n) - 1.5 * is_orphan + 2.0 * (kind == _HOME)
    )
    broken = status != 200
    log_impressions[broken] = rng.normal(0.5, 1.0, broken.sum())
    impressions = np.floor(np.exp(log_impressions)).astype(np.int64)
    ctr = np.clip(rng.beta(1.5, 40.0, n) * np.where(path_depth == 0, 4.0, 1.0), 0, 0.6)
    clicks = np.where(broken, 0, rng.binomial(impressions, ctr))

    urls = _distinct(np.array([host + p for p in site.paths], dtype=object))
    edges = pd.DataFrame({"source": urls[src], "target": urls[dst]})
    names = np.array([name for name, _, _ in chosen] + ["landing"], dtype=object)
    metadata = pd.DataFrame({
        "url": urls,
        "section": np.where(section >= 0, names[section], np.where(kind == _HOME, "home",
                                                                     "landing")),
        "page_type": np.asarray(_KINDS, dtype=object)[kind],
        "path_depth": path_depth,
        "status": status,
        "clicks": clicks,
        "impressions": impressions,
    })
    return edges, metadata


def pages_for(target_edges: int, *, seed: int = 0, **options) -> int:
    """The page count that gives about ``target_edges`` links (measured on a small site
    with the same options, which has nearly the same links per page)."""
    if target_edges <= 0:
        raise ValueError("target_edges must be positive.")
    probe = int(np.clip(target_edges / 12, 100, 5_000))
    edges, metadata = generate_site(probe, seed=seed, **options)
    return max(probe // 10, round(target_edges * len(metadata) / max(len(edges), 1)))


def edges_for(
    target_edges: int, seed: int = 0, **options
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``generate_site`` with the page count that gives about ``target_edges`` links."""
    return generate_site(pages_for(target_edges, seed=seed, **options), seed=seed, **options)


def write_sample(
    path_edges: str | Path = SAMPLES / "site_edges.csv",
    path_metadata: str | Path = SAMPLES / "site_metadata.csv",
    pages: int = 300,
    seed: int = 7,
) -> tuple[Path, Path]:
    """Write a small synthetic site as two CSVs (by default, the sample the app ships)."""
    edges, metadata = generate_site(pages, seed=seed)
    path_edges, path_metadata = Path(path_edges), Path(path_metadata)
    edges.to_csv(path_edges, index=False)
    metadata.to_csv(path_metadata, index=False)
    return path_edges, path_metadata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m standins.sitegen",
        description="Write a synthetic site's links and page metadata as two CSVs "
        "(by default the sample the app ships, in samples/).",
    )
    parser.add_argument("--edges", type=Path, default=SAMPLES / "site_edges.csv",
                        help="where the links go (default: %(default)s)")
    parser.add_argument("--metadata", type=Path, default=SAMPLES / "site_metadata.csv",
                        help="where the page metadata goes (default: %(default)s)")
    parser.add_argument("--pages", type=int, default=300, help="pages (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="seed (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.pages < 1:
        parser.error("--pages must be at least 1.")
    edges, metadata = write_sample(args.edges, args.metadata, args.pages, args.seed)
    print(f"Wrote {edges} and {metadata} ({args.pages} pages, seed {args.seed}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
