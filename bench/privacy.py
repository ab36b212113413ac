"""The privacy scanner: recall and false positives on the labelled corpus, and scan time.

Also home to two things the other benchmarks share: ``ordinary_prompt()``, an 8,000-character
analyst prompt with URLs and numbers but no personal data, and ``percentiles()``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from bench import Section
from llm import privacy

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "llm" / "privacy_corpus.jsonl"
PROMPT_CHARS = 8_000

_SITES = ("www.example.com", "shop.example.org", "blog.example.net", "docs.example.io")
_PATHS = ("guides/internal-linking", "blog/link-graph-basics", "products/running-shoes",
          "category/trail?page=2", "pricing", "about/team", "help/returns-policy",
          "blog/2024/core-web-vitals", "compare/plan-a-vs-plan-b?utm_source=newsletter")
_TOPICS = ("internal linking", "page speed", "duplicate titles", "thin content", "redirect chains",
           "canonical tags", "anchor text", "crawl depth", "orphan pages", "structured data")
_SENTENCES = (
    "The crawl of https://{site}/{path} found {pages:,} pages, and {broken} of them return 404.",
    "About {pct}% of the internal links point at pages more than {depth} clicks from the home "
    "page, which is where {topic} starts to hurt.",
    "Between {date} and the end of the quarter, organic sessions rose from {a:,} to {b:,}.",
    "The page at https://{site}/{path} ranks for {kw} keywords, but its title repeats the one "
    "on https://{site2}/{path2}.",
    "Fixing {topic} on the {n} templates would take roughly {hours} hours at ${rate} an hour.",
    "Our audit in version {major}.{minor}.{patch} of the crawler flagged {n} issues with {topic}.",
    "Competitors publish about {n} articles a month; we published {m} and lost {pct}% of "
    "the clicks on {topic} queries.",
    "The median largest contentful paint is {lcp} seconds on mobile and {lcp2} on desktop.",
    "A redirect chain of {depth} hops sits in front of https://{site}/{path}; one hop is enough.",
    "Please keep {topic} in mind when you compare the {n} category pages with the {m} guides.",
    "The sitemap lists {a:,} URLs while the crawl reached {b:,}, so {broken} pages are orphans.",
    "Anchor text such as \"click here\" appears {n} times; descriptive anchors help {topic}.",
    "Budget for the next sprint is ${budget:,}, of which {pct}% goes to {topic}.",
    "Page {n} of the report (updated {date}) shows the {topic} trend for the last {m} weeks.",
)


LEAD = "Here is this week's site audit. Read it and tell me what to fix first."


def ordinary_prompt(chars: int = PROMPT_CHARS, seed: int = 7, lead: str = LEAD) -> str:
    """Realistic analyst prose, URLs and numbers, no personal data; exactly ``chars`` long."""
    rng = random.Random(seed)
    parts: list[str] = [lead] if lead else []
    while sum(len(p) + 1 for p in parts) < chars:
        template = rng.choice(_SENTENCES)
        parts.append(template.format(
            site=rng.choice(_SITES), site2=rng.choice(_SITES), path=rng.choice(_PATHS),
            path2=rng.choice(_PATHS), topic=rng.choice(_TOPICS), pages=rng.randint(200, 9000),
            broken=rng.randint(3, 90), pct=rng.randint(2, 60), depth=rng.randint(3, 7),
            date=f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            a=rng.randint(1000, 90000), b=rng.randint(1000, 90000), kw=rng.randint(5, 400),
            n=rng.randint(2, 40), m=rng.randint(2, 40), hours=rng.randint(4, 80),
            rate=rng.choice((60, 85, 120)), major=rng.randint(1, 4), minor=rng.randint(0, 9),
            patch=rng.randint(0, 20), lcp=round(rng.uniform(1.2, 4.8), 1),
            lcp2=round(rng.uniform(0.8, 2.5), 1), budget=rng.randint(2, 40) * 500,
        ))
    text = " ".join(parts)
    cut = text.rfind(" ", 0, chars)  # end on a whole word, then pad the last sentence
    return text[:cut] + "." * (chars - cut)


def percentiles(samples: list[float], *qs: float) -> list[float]:
    """Nearest-rank percentiles of ``samples`` (``qs`` in 0-100)."""
    ordered = sorted(samples)
    return [ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]
            for q in qs]


def timed_ms(action: Callable[[], object], repeats: int, warmup: int = 20) -> list[float]:
    """Wall time of ``repeats`` calls of ``action``, in milliseconds, after ``warmup`` calls."""
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        action()
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return samples


def run(repeats: int = 1000) -> Section:
    measured = privacy.measure_corpus(CORPUS)
    counts = measured["counts"]
    prompt = ordinary_prompt()
    flagged = privacy.scan(prompt)
    if flagged:
        raise AssertionError(f"the ordinary prompt was flagged: {flagged}")
    p50, p99 = percentiles(timed_ms(lambda: privacy.scan(prompt), repeats), 50, 99)
    rows: list[list[object]] = [
        ["prompts in the corpus (private / public)",
         f"{counts['total']} ({counts['private']} / {counts['public']})"],
        ["recall (private prompts flagged)",
         f"{measured['recall']:.1%} ({counts['true_positive']}/{counts['private']})"],
        ["false-positive rate (public prompts flagged)",
         f"{measured['false_positive_rate']:.1%} ({counts['false_positive']}/{counts['public']})"],
    ]
    for kind, recall in measured["per_kind_recall"].items():
        rows.append([f"recall, {kind}", f"{recall:.1%}"])
    rows += [
        [f"scan time, {len(prompt):,}-char ordinary prompt, p50 (ms)", p50],
        [f"scan time, {len(prompt):,}-char ordinary prompt, p99 (ms)", p99],
    ]
    notes = [
        f"Corpus: {CORPUS.relative_to(CORPUS.parents[2])}, scored by "
        "`llm.privacy.measure_corpus`. Per-kind recall counts the private prompts labelled "
        "with a kind in which that kind (not just any finding) was detected. The corpus is "
        "the scanner's own test fixture, so these are in-sample figures: a regression check, "
        "not an estimate of recall on prompts nobody has seen.",
        f"Scan time: {repeats} scans after 20 warm-up scans of the same analyst prose "
        "(URLs, dates, prices, counts, version numbers; nothing private, and nothing flagged).",
    ]
    if measured["misses"]:
        shown = "; ".join(f"{m['note'] or m['kinds']}" for m in measured["misses"][:5])
        notes.append(f"Missed private prompts ({len(measured['misses'])}): {shown}.")
    if measured["false_positives"]:
        shown = "; ".join(f"{f['note']} ({f['found'][0][0]})"
                          for f in measured["false_positives"][:5])
        notes.append(f"False positives ({len(measured['false_positives'])}): {shown}.")
    return Section(
        name="privacy",
        title="Privacy scanner: recall, false positives, scan time",
        headers=["metric", "value"],
        rows=rows,
        notes=notes,
    )
