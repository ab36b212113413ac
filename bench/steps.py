"""Each model step on the embedded model, graded by what the step is for: the measurement
behind the tiers declared beside the steps (``llm.limits.StepNeed``).

A step declared above the embedded tier ("local": the competitor suggestions, the
analysis, the scan's commentary) should fail here most of the time, and the step declared
on it (the introduction's greeting) should pass. Every case runs the step's own request
through a real ``Router`` that has only the embedded tier (SmolLM2-135M in-process, as on
a new machine with no Ollama and no key), and is graded as the user would see it (after
the step's own checks: the page's filtering of suggested names, the greeting cut to the
two sentences it asks for) by rules that need no model:

- suggestions: of the names left after the page's own checks, how many are real
  competitors (a short answer key per business, below); a case passes with at least two
  real names and no more made-up names than real ones;
- analysis: the answer is valid (schema, no repeat of the instructions), its position
  names the competitor or an aspect, its strengths and weaknesses differ, and it is not
  "unknown" throughout;
- commentary on the shipped sample's scan: kept (not rejected) and citing at least two of
  the scan's real figures;
- greeting: kept and says the user's name (at most three sentences, which the cut to two
  always meets).

The local and cloud tiers cannot run on this machine (no Ollama binary, no network), so
the table measures the bottom rung only: whether the embedded model may be trusted with
each step. ``run(subset=1)`` (`--subset 1`) is the small version the test suite runs.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench import Section
from linkgraph.measure import distributions
from linkgraph.reading import DISTRIBUTED_METRICS, READING_NEEDS, scan_request
from linkgraph.scan import sample_files, scan_site
from llm.ledger import Budget
from llm.limits import StepNeed
from llm.prices import load_prices
from llm.providers import get_provider
from llm.router import Origin, Router, RouterSettings
from store.db import open_database
from workflows.competitive import (
    ANALYSIS_FIELDS,
    ANALYSIS_NEEDS,
    SUGGEST_NEEDS,
    analyse_competitor,
    suggest_competitors,
)
from workflows.introduction import INTRODUCTION_NEEDS, greeting_request, greeting_text

# Businesses anyone can name competitors for, and the names that count as real (matched
# ignoring case, either way round: "Microsoft Teams" matches "Teams").
SUGGEST_CASES: tuple[tuple[str, frozenset[str]], ...] = (
    ("We sell accounting software to small businesses.",
     frozenset({"QuickBooks", "Intuit", "Xero", "FreshBooks", "Sage", "Wave", "Zoho Books",
                "Zoho", "NetSuite", "MYOB", "Bench", "Kashoo"})),
    ("We run a video streaming service for films and TV series.",
     frozenset({"Netflix", "Hulu", "Disney+", "Disney Plus", "Amazon Prime Video",
                "Prime Video", "HBO Max", "Max", "Apple TV+", "Paramount+", "Peacock",
                "YouTube", "Crunchyroll", "Mubi"})),
    ("We make a team chat app for companies.",
     frozenset({"Slack", "Microsoft Teams", "Teams", "Discord", "Google Chat", "Mattermost",
                "Rocket.Chat", "Zoom", "Workplace", "Flock", "Chanty", "Element"})),
    ("We sell electric cars.",
     frozenset({"Tesla", "BYD", "Rivian", "Lucid", "Volkswagen", "Nissan", "Polestar",
                "Hyundai", "Kia", "BMW", "Ford", "General Motors", "Chevrolet", "NIO",
                "XPeng", "Renault", "Volvo", "Mercedes-Benz", "Audi", "Toyota"})),
    ("We build a search engine for the web.",
     frozenset({"Google", "Bing", "Microsoft Bing", "DuckDuckGo", "Yahoo", "Baidu",
                "Yandex", "Brave Search", "Brave", "Ecosia", "Startpage", "Qwant",
                "Perplexity"})),
)
ANALYSIS_CASES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Slack", ("Pricing", "Product features"), "We make a team chat app for companies."),
    ("Netflix", ("Pricing", "Market share"),
     "We run a video streaming service for films and TV series."),
    ("Xero", ("Pricing", "Customer support"),
     "We sell accounting software to small businesses."),
    ("Tesla", ("Product features", "Brand and reputation"), "We sell electric cars."),
    ("DuckDuckGo", ("Use of AI", "Market share"), "We build a search engine for the web."),
)
GREETING_CASES: tuple[tuple[str, str], ...] = (
    ("Ada", "#2f7d6d"), ("Grace", "blue"), ("Linus", "#ff8c00"), ("Mina", "purple"),
    ("Tomás", "#dc1e1e"),
)


@dataclass
class Outcome:
    passed: bool
    detail: str
    seconds: float


def _real(name: str, key: frozenset[str]) -> bool:
    folded = name.casefold().strip(" .")
    return any(k.casefold() == folded or (len(k) > 3 and k.casefold() in folded)
               or (len(folded) > 3 and folded in k.casefold()) for k in key)


def grade_suggestions(names: list[str], key: frozenset[str]) -> tuple[bool, str]:
    real = [n for n in names if _real(n, key)]
    made_up = len(names) - len(real)
    passed = len(real) >= 2 and made_up <= len(real)
    return passed, f"{len(real)} real of {len(names)} kept" + (
        f" ({', '.join(names[:4])})" if names else "")


def grade_analysis(data: dict | None, validated: bool, competitor: str,
                   aspects: tuple[str, ...]) -> tuple[bool, str]:
    if not validated or not isinstance(data, dict):
        return False, "rejected or not valid"
    position = str(data.get("position", ""))
    words = {w.casefold() for a in aspects for w in a.split() if len(w) > 3}
    on_topic = competitor.casefold() in position.casefold() or any(
        w in position.casefold() for w in words)
    def points(field: str) -> list[str]:
        value = data.get(field) or []
        return [str(p).casefold() for p in (value if isinstance(value, list) else [value])]

    strengths, weaknesses = points("strengths"), points("weaknesses")
    texts = [position, *strengths, *weaknesses, *points("opportunities")]
    name = re.compile(re.escape(competitor), re.IGNORECASE)
    all_unknown = all(name.sub("", t).strip(" .:-").casefold() in ("", "unknown", "n/a")
                      for t in texts)
    distinct = bool(strengths) and strengths != weaknesses
    passed = on_topic and distinct and not all_unknown
    why = [] if passed else [reason for reason, bad in (
        ("position off topic", not on_topic), ("strengths = weaknesses", not distinct),
        ("unknown throughout", all_unknown)) if bad]
    return passed, "; ".join(why) or "on topic, distinct points"


def _figures(summary: dict) -> set[str]:
    """The scan's integer figures, as a reader would see them written."""
    values = {summary.get("nodes"), summary.get("edges"), summary.get("max_click_depth"),
              (summary.get("orphans") or {}).get("count"),
              (summary.get("dead_ends") or {}).get("count"),
              (summary.get("unreachable_from_start") or {}).get("count"),
              (summary.get("components") or {}).get("count")}
    out: set[str] = set()
    for value in values:
        if isinstance(value, int) and value > 1:  # 0 and 1 are in any text
            out |= {str(value), f"{value:,}"}
    return out


def grade_commentary(text: str, rejected: str, summary: dict) -> tuple[bool, str]:
    if rejected:
        return False, f"rejected: {rejected[:80]}"
    cited = {f for f in _figures(summary)
             if re.search(rf"(?<![\d,.]){re.escape(f)}(?![\d]|,\d)", text)}
    return len(cited) >= 2, f"cites {len(cited)} of the scan's figures"


def grade_greeting(text: str, validated: bool, name: str) -> tuple[bool, str]:
    if not validated or not text.strip():
        return False, "rejected or empty"
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
    named = name.casefold() in text.casefold()
    passed = named and len(sentences) <= 3
    return passed, ("says the name" if named else "no name") + f", {len(sentences)} sentences"


def _timed(step: Callable[[], tuple[bool, str]]) -> Outcome:
    started = time.perf_counter()
    try:
        passed, detail = step()
    except Exception as exc:  # a step that fails outright is a failed case, said as such
        passed, detail = False, f"{type(exc).__name__}: {str(exc)[:80]}"
    return Outcome(passed, detail, time.perf_counter() - started)


def run(subset: int = 5) -> Section:
    cases = subset  # `python -m bench steps --subset N`: N cases per step
    provider = get_provider("embedded")
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(f"sqlite:///{folder}/steps.db")
        try:
            router = Router(db, providers={"embedded": provider},
                            settings=RouterSettings(budget=Budget(None, None)),
                            prices=load_prices())
            origin = Origin(page="bench", workflow="steps")
            results: dict[str, tuple[StepNeed, list[Outcome]]] = {}

            def suggest(business: str, key: frozenset[str]) -> tuple[bool, str]:
                return grade_suggestions(suggest_competitors(router, business, origin=origin),
                                         key)

            def analyse(name: str, aspects: tuple[str, ...], business: str) -> tuple[bool, str]:
                found = analyse_competitor(router, name, aspects, business, origin=origin)
                kept = all(found.get(f) is not None for f in ANALYSIS_FIELDS)  # else rejected
                return grade_analysis(found, kept, name, aspects)

            scan = scan_site(*sample_files())
            metrics = distributions(scan.table, scan.metrics[:DISTRIBUTED_METRICS])

            def comment() -> tuple[bool, str]:
                result = router.complete(scan_request(scan.summary, metrics, origin=origin))
                return grade_commentary(result.text, "" if result.validated else result.note,
                                        scan.summary)

            def greet(name: str, colour: str) -> tuple[bool, str]:
                result = router.complete(greeting_request(name, colour, origin))
                return grade_greeting(greeting_text(result.text), result.validated, name)

            results["Competitor suggestions"] = (SUGGEST_NEEDS, [
                _timed(lambda c=c: suggest(*c)) for c in SUGGEST_CASES[:cases]])
            results["Competitor analysis"] = (ANALYSIS_NEEDS, [
                _timed(lambda c=c: analyse(*c)) for c in ANALYSIS_CASES[:cases]])
            results["Scan commentary (shipped sample)"] = (READING_NEEDS, [
                _timed(comment) for _ in range(min(cases, 2))])
            results["Introduction greeting"] = (INTRODUCTION_NEEDS, [
                _timed(lambda c=c: greet(*c)) for c in GREETING_CASES[:cases]])
        finally:
            db.dispose()
    rows: list[list[object]] = []
    for title, (need, outcomes) in results.items():
        passed = sum(o.passed for o in outcomes)
        share = passed / len(outcomes)
        supported = (share >= 0.5) if need.tier == "embedded" else (share < 0.5)
        rows.append([
            title, need.tier, f"{passed} of {len(outcomes)}",
            f"{statistics.median(o.seconds for o in outcomes):.1f}",
            "yes" if supported else "NO",
            "; ".join(o.detail for o in outcomes)[:300],
        ])
    return Section(
        name="steps",
        title="Each model step on the embedded model, against the tier declared beside it",
        headers=["step", "declared tier", "passed on embedded", "median s", "declaration "
                 "supported", "what the grader saw"],
        rows=rows,
        notes=[
            f"{provider.default_model()} in-process (llama.cpp), through a Router with only the "
            "embedded tier, as on a new machine with no Ollama and no key; each step's own "
            "request and the page's own checks. Graded by rules, not a model (bench/steps.py).",
            "Declaration supported: a step declared above the embedded tier fails on it more "
            "often than not; one declared on it passes at least half the time. The local "
            "and cloud tiers cannot run here, so only the bottom rung is measured.",
        ],
    )
