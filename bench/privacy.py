"""The privacy scanner: recall and false positives on two labelled corpora, and scan time.

Also home to two things the other benchmarks share: ``ordinary_prompt()``, an 8,000-character
analyst prompt with URLs and numbers but no personal data, and ``percentiles()``.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from bench import Section
from llm import privacy, secret_rules

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "llm" / "privacy_corpus.jsonl"
INDEPENDENT = CORPUS.with_name("privacy_corpus_independent.jsonl")
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


def _corpus_rows(label: str, measured: dict) -> list[list[object]]:
    counts = measured["counts"]
    rows: list[list[object]] = [
        [f"{label}: prompts (private / public)",
         f"{counts['total']} ({counts['private']} / {counts['public']})"],
        [f"{label}: recall (private prompts flagged)",
         f"{measured['recall']:.1%} ({counts['true_positive']}/{counts['private']})"],
        [f"{label}: false-positive rate (public prompts flagged)",
         f"{measured['false_positive_rate']:.1%} "
         f"({counts['false_positive']}/{counts['public']})"],
    ]
    rows.append([f"{label}: recall per kind", ", ".join(
        f"{kind} {recall:.0%}" for kind, recall in measured["per_kind_recall"].items())])
    return rows


def _possible_card_cost(n: int = 2000, seed: int = 7) -> float:
    """Share of random 12-19 digit order ids that the scanner calls a (possible) card."""
    rng = random.Random(seed)
    ids = ["".join(rng.choice("0123456789") for _ in range(rng.randint(12, 19)))
           for _ in range(n)]
    return sum(any(f.kind == "card" for f in privacy.scan(f"Order #{i} shipped"))
               for i in ids) / n


def run(repeats: int = 1000) -> Section:
    started = time.perf_counter()
    ruleset = secret_rules.load()
    load_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    ruleset.compile_all()
    compile_ms = (time.perf_counter() - started) * 1000
    own = privacy.measure_corpus(CORPUS)
    held_out = privacy.measure_corpus(INDEPENDENT)
    prompt = ordinary_prompt()
    flagged = privacy.scan(prompt)
    if flagged:
        raise AssertionError(f"the ordinary prompt was flagged: {flagged}")
    samples = timed_ms(lambda: privacy.scan(prompt), repeats)
    p50, p99 = percentiles(samples, 50, 99)
    rows = _corpus_rows("own corpus", own) + _corpus_rows("independent corpus", held_out)
    rows += [
        ["possible-card rule: random 12-19 digit order ids called a card",
         f"{_possible_card_cost():.1%} of 2,000"],
        ["gitleaks rules in use", ruleset.summary()],
        ["reading gitleaks.toml and building the keyword automaton, once (ms)", load_ms],
        ["compiling every gitleaks rule (never needed at once; each compiles on first use) "
         "(ms)", compile_ms],
        [f"scan time, {len(prompt):,}-char ordinary prompt, p50 (ms)", p50],
        [f"scan time, {len(prompt):,}-char ordinary prompt, p99 (ms)", p99],
        [f"scan time, {len(prompt):,}-char ordinary prompt, fastest (ms)", min(samples)],
    ]
    root = CORPUS.parents[2]
    notes = [
        f"Corpora: {CORPUS.relative_to(root)} (\"own\": the scanner's test fixture, written "
        "with the scanner, so in-sample figures: a regression check) and "
        f"{INDEPENDENT.relative_to(root)} (\"independent\": written for issue 13 from "
        "realistic mails, chats, configs, URLs, logs and CSV lines without using the "
        "scanner's patterns, with hard negatives; its generator is "
        "tests/llm/privacy_corpus_independent_build.py). Both scored by "
        "`llm.privacy.measure_corpus`; per-kind recall counts the private prompts labelled "
        "with a kind in which that kind (not just any finding) was detected. The independent "
        "corpus was also used to find gaps that were then fixed (URL-encoded e-mails, "
        "wa.me links, dotted card groups, New Relic keys, base36 client secrets), so it is "
        "no longer fully held out: on its first run (350 records then) the scanner reached "
        "96.5% recall at 2.2% false positives; the scanner before issue 13 scores 73.8% "
        "recall at 1.1% false positives on the corpus as it is now.",
        "Possible cards: any Luhn-valid 12-19 digit run that is not a known issuer's card is "
        "flagged as \"a possible card number\" unless it starts with 0, reads as a Unix time "
        "or is an ISBN/EAN barcode; one random id in ten passes Luhn, so that is the cost on "
        "order ids, ticket numbers and account ids.",
        f"Scan time: {repeats} scans after 20 warm-up scans of the same analyst prose (URLs, "
        "dates, prices, counts, version numbers; nothing private, and nothing flagged). Other "
        "work shared this 2-core machine during the run (load average "
        f"{os.getloadavg()[0]:.1f}), so p50 and the fastest scan are the figures to compare; "
        "the gitleaks keyword pass (Aho-Corasick, in Rust) and the few rules whose keywords "
        "occur in ordinary prose (\"contentful\", \"ey\", \"s.\", \"sk\") are the added "
        "cost.",
    ]
    for label, measured in (("own", own), ("independent", held_out)):
        if measured["misses"]:
            shown = "; ".join(f"{m['note'] or m['kinds']}" for m in measured["misses"][:5])
            notes.append(f"Missed private prompts, {label} corpus "
                         f"({len(measured['misses'])}): {shown}.")
        if measured["false_positives"]:
            shown = "; ".join(f"{f['note']} ({f['found'][0][0]})"
                              for f in measured["false_positives"][:5])
            notes.append(f"False positives, {label} corpus "
                         f"({len(measured['false_positives'])}): {shown}.")
    return Section(
        name="privacy",
        title="Privacy scanner: recall, false positives, scan time",
        headers=["metric", "value"],
        rows=rows,
        notes=notes,
    )
