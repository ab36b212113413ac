"""A scripted analyst day through the router, priced against sending everything to the cloud.

Over 200 requests — chat, extraction with JSON schemas, analysis, summaries and progress
narration — go through ``Router.complete`` with three tiers: the real embedded model, the
real Ollama provider (official client) against the fake Ollama server, and the real cloud
provider (official OpenAI client) against the fake OpenAI server. The fakes answer from a
script: the local tier gives a bad first answer (prose instead of JSON, broken or
mismatched JSON, empty, a refusal) on about 8% of the requests it starts on, so the
cascade has to repair or escalate. A few prompts carry personal data; they must never
reach the cloud, and the benchmark fails if any private span shows up in what the fake
cloud received.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from bench import Section
from bench.privacy import ordinary_prompt
from llm import privacy, reports
from llm.ledger import Budget
from llm.prices import load_prices
from llm.providers import get_provider
from llm.providers.cloud import CloudProvider
from llm.providers.ollama import OllamaProvider
from llm.router import LLMRequest, Origin, RouteError, Router, RouteResult, RouterSettings
from standins.ollama_server import FakeOllama
from standins.openai_server import FakeOpenAI
from store.db import open_database

TARGET_SAVINGS = 0.85
SHORT = 48  # max_tokens for requests that start on the embedded model (keeps the run short)
SESSION = "analyst-day-0001"

ASSISTANT = ("You are Ambient, a concise assistant for an SEO analyst. Answer in one or two "
             "short sentences.")
NARRATOR = "You narrate a running workflow for the user: one short, friendly sentence."
EXTRACTOR = "Extract the requested fields from the text. Reply with JSON only."
ANALYST = "You are a careful SEO analyst. Be specific and brief."

# -- schemas ---------------------------------------------------------------------------

_STR = {"type": "string", "minLength": 1}
AUDIT_FACTS = {
    "type": "object",
    "properties": {"pages_crawled": {"type": "integer", "minimum": 0},
                   "broken_links": {"type": "integer", "minimum": 0},
                   "top_issue": _STR,
                   "urls": {"type": "array", "items": _STR}},
    "required": ["pages_crawled", "broken_links", "top_issue", "urls"],
}
PAGE_META = {
    "type": "object",
    "properties": {"title": _STR, "h1": _STR, "word_count": {"type": "integer"},
                   "has_canonical": {"type": "boolean"}},
    "required": ["title", "h1", "word_count", "has_canonical"],
}
KEYWORDS = {
    "type": "object",
    "properties": {"keywords": {"type": "array", "minItems": 1, "items": {
        "type": "object",
        "properties": {"term": _STR, "intent": {"enum": [
            "informational", "commercial", "transactional", "navigational"]}},
        "required": ["term", "intent"]}}},
    "required": ["keywords"],
}
PRIORITY = {
    "type": "object",
    "properties": {"issue": _STR, "impact": {"type": "integer", "minimum": 1, "maximum": 5},
                   "effort": {"type": "integer", "minimum": 1, "maximum": 5},
                   "rationale": _STR},
    "required": ["issue", "impact", "effort", "rationale"],
}
CONTACT = {
    "type": "object",
    "properties": {"name": _STR, "role": _STR, "email": _STR, "phone": _STR},
    "required": ["name", "email"],
}
INVOICE = {
    "type": "object",
    "properties": {"vendor": _STR, "amount": {"type": "number"}, "currency": _STR,
                   "iban": _STR},
    "required": ["vendor", "amount", "currency", "iban"],
}

# -- what the fake local tier says when it gets it wrong --------------------------------

BAD_ANSWERS = {
    "prose": "Sure! The audit covers a few thousand pages and a handful of broken links.",
    "partial": '{"pages_crawled": 2381, "broken_links": 40, "top_issue": "redirect',
    "mismatch": json.dumps({"summary": "Mostly fine, a few redirect chains."}),
    "empty": " ",
    "refusal": "I'm sorry, but I can't help with that request.",
}
# First answers of the local tier for the requests it fails on, in order; the request's
# good answer follows. Two bad answers to a schema request mean repair failed: cloud.
SCHEMA_FAILURES = (("prose",), ("partial", "partial"), ("mismatch", "prose"), ("empty",),
                   ("prose", "mismatch"), ("mismatch",))
TEXT_FAILURES = (("empty",), ("refusal",), ("empty",))

CHAT_QUESTIONS = (
    "What is an orphan page?", "Why do redirect chains hurt crawling?",
    "What does a canonical tag do?", "Is a 302 redirect bad for SEO?",
    "How long should a page title be?", "What is crawl depth?",
    "Should I noindex tag pages?", "What is anchor text?",
    "How do I find duplicate titles?", "What is a good largest contentful paint?",
    "Do internal links pass authority?", "What is thin content?",
    "How often should I recrawl the site?", "What is structured data for?",
    "Why would a page drop out of the index?", "Is a sitemap still useful?",
    "What does hreflang do?", "How many links per page is too many?",
    "What is a soft 404?", "Should category pages have intro text?",
    "What is keyword cannibalisation?", "Why is my new page not ranking yet?",
    "What is a link graph?", "How do I prioritise technical fixes?",
)
FOLLOW_UPS = ("And how do I fix it?", "Can you give one example?", "Is that urgent for us?",
              "What should I check first?")
CHAT_ANSWER = ("Start with the pages that get traffic but sit deep in the site: link them from "
               "a hub page, fix the redirect chains in front of them, and recrawl next week.")
EXPERT_REQUESTS = (
    "Draft three title ideas for our internal linking guide.",
    "Write a two-sentence pitch for the site audit to our CMO.",
    "Suggest a meta description for the pricing comparison page.",
    "Propose a name for the monthly technical SEO report.",
    "Rewrite this heading to be clearer: Fix stuff that breaks crawling.",
    "Give me a one-line summary of why page speed matters for us.",
)
EVENTS = (
    "step 2 of 4 finished, 312 pages crawled", "25% of the crawl is done",
    "3 rows were rejected because their URL was malformed",
    "the link graph is ready with 1,284 pages and 5,902 links",
    "the keyword export finished", "the audit found 37 broken links",
    "the crawl is paused while the site slows down", "the report was saved",
)
QUERIES = ("best trail running shoes 2026", "how to fix redirect chains", "plan a vs plan b",
           "returns policy example", "buy running shoes online", "example shop login",
           "what is crawl depth", "core web vitals checklist", "cheap trail shoes sale",
           "link graph tool", "canonical tag example", "site audit template")
TOPICS = ("internal linking", "page speed", "duplicate titles", "redirect chains",
          "canonical tags", "orphan pages", "structured data", "thin content")
PRIVATE_PROMPTS: tuple[tuple[str, str, dict[str, Any] | None, str], ...] = (
    ("extract", "Extract the contact from this email signature.\n--\nMaria Lopez\nHead of "
     "SEO, Example Retail\nmaria.lopez@example.com\n+44 20 7946 0958",
     CONTACT, json.dumps({"name": "Maria Lopez", "role": "Head of SEO",
                          "email": "maria.lopez@example.com", "phone": "+44 20 7946 0958"})),
    ("extract", "Extract the invoice fields: Example Links Ltd billed 1,250.00 EUR for the "
     "backlink audit, payable to IBAN DE89 3704 0044 0532 0130 00 within 30 days.",
     INVOICE, json.dumps({"vendor": "Example Links Ltd", "amount": 1250.0, "currency": "EUR",
                          "iban": "DE89 3704 0044 0532 0130 00"})),
    ("chat", "Draft a short reply to priya.shah@example.org thanking her for the backlink "
     "report.", None, "Thanks for the backlink report, Priya; it helps a lot."),
    ("chat", "Why does this request fail with 401? curl -H 'Authorization: Bearer "
     "sk-proj-Q3vT9xLmW2aZ7bN4cR8dK1fH6jP0sY5u' https://api.example.com/v1/crawl",
     None, "The key is rejected: check that it is active and sent in the right header."),
    ("summarize", "Summarise this support ticket in one sentence: the customer (phone "
     "+1 415 555 0132) says the crawl of shop.example.org stopped at 40% twice this week.",
     None, "The customer reports that the crawl stopped at 40% twice this week."),
    ("analyze", "Which of these leads should we call first, and why?\nname,email,visits\n"
     "Ann Lee,ann.lee@example.com,42\nOmar Haddad,omar.h@example.net,17",
     None, "Call Ann Lee first: 42 visits show stronger interest than 17."),
)


@dataclass
class Task:
    purpose: str
    messages: list[dict[str, str]]
    answer: str  # what a model that works answers (JSON text for schema requests)
    schema: dict[str, Any] | None = None
    max_tokens: int = SHORT
    local_failures: tuple[str, ...] = ()  # bad first answers from the local tier
    private: bool = False
    expert: str | None = None
    expert_tier: str | None = None
    page: str = "Chat"

    def request(self) -> LLMRequest:
        return LLMRequest(
            messages=self.messages, purpose=self.purpose, schema=self.schema,
            expert=self.expert, expert_tier=self.expert_tier, max_tokens=self.max_tokens,
            origin=Origin(session_id=SESSION, user="analyst", page=self.page),
        )


# -- the day's script ---------------------------------------------------------------------


def _prose(rng: random.Random, chars: int) -> str:
    return ordinary_prompt(chars, seed=rng.randrange(10**6), lead="")


def _chat(rng: random.Random, n: int) -> list[Task]:
    tasks = []
    for i in range(n):
        question = CHAT_QUESTIONS[i % len(CHAT_QUESTIONS)]
        messages = [{"role": "system", "content": ASSISTANT}]
        if i % 3 == 2:  # a follow-up in a conversation already under way
            messages += [{"role": "user", "content": CHAT_QUESTIONS[(i + 5) % len(CHAT_QUESTIONS)]},
                         {"role": "assistant", "content": CHAT_ANSWER}]
            question = rng.choice(FOLLOW_UPS)
        messages.append({"role": "user", "content": question})
        tasks.append(Task("chat", messages, CHAT_ANSWER))
    return tasks


def _expert_chats() -> list[Task]:
    return [Task("chat", [{"role": "system", "content": "You are a senior content strategist."},
                          {"role": "user", "content": text}],
                 "Three options: Internal Linking, Explained; Build a Link Graph That Ranks; "
                 "Fix Orphan Pages in an Afternoon.", expert="Strategist", expert_tier="cloud")
            for text in EXPERT_REQUESTS]


def _narrations(n: int) -> list[Task]:
    return [Task("narrate", [{"role": "system", "content": NARRATOR},
                             {"role": "user",
                              "content": f"Tell the user: {EVENTS[i % len(EVENTS)]}."}],
                 "Good news: that step is done, and the next one has started.", page="Site audit")
            for i in range(n)]


def _summaries(rng: random.Random, short: int, long: int) -> list[Task]:
    tasks = [Task("summarize", [{"role": "user", "content": "Summarise this audit excerpt in "
                                 "one sentence.\n\n" + _prose(rng, rng.randint(400, 900))}],
                  "Redirect chains and orphan pages are the main problems; fix them first.",
                  page="Site audit")
             for _ in range(short)]
    tasks += [Task("summarize", [{"role": "user", "content": "Summarise this crawl report for "
                                  "the weekly email in under 100 words.\n\n"
                                  + _prose(rng, rng.randint(16_000, 28_000))}],
                   "This week's crawl covered the whole site. Most problems are redirect chains "
                   "in front of the blog, orphan guides that no menu links to, and duplicate "
                   "titles on category pages. Page speed held steady on desktop but slipped on "
                   "mobile. Fixing the chains and linking the orphans would take about two "
                   "days and should recover most of the lost clicks.",
                   max_tokens=200, page="Reports")
              for _ in range(long)]
    return tasks


def _extractions(rng: random.Random, n: int) -> list[Task]:
    tasks = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            text = _prose(rng, rng.randint(1200, 3000))
            instruction = ("Extract pages crawled, broken links, the top issue and every URL "
                           "mentioned.")
            answer = {"pages_crawled": rng.randint(200, 9000), "broken_links": rng.randint(3, 90),
                      "top_issue": rng.choice(TOPICS),
                      "urls": ["https://www.example.com/pricing", "https://docs.example.io/about/team"]}
            schema = AUDIT_FACTS
        elif kind == 1:
            title = f"{rng.choice(TOPICS).title()} Guide"
            text = (f'<html><head><title>{title}</title><link rel="canonical" '
                    f'href="https://www.example.com/guides/{i}"></head><body><h1>{title}</h1>'
                    f"<p>{_prose(rng, rng.randint(800, 2000))}</p></body></html>")
            instruction = ("Extract the title, the h1, the word count and whether a canonical "
                           "is set.")
            answer = {"title": title, "h1": title, "word_count": rng.randint(150, 400),
                      "has_canonical": True}
            schema = PAGE_META
        else:
            text = "\n".join(rng.sample(QUERIES, 6))
            instruction = "Classify the search intent of each query."
            answer = {"keywords": [{"term": q, "intent": rng.choice(
                ["informational", "commercial", "transactional", "navigational"])}
                for q in text.splitlines()]}
            schema = KEYWORDS
        tasks.append(Task("extract", [{"role": "system", "content": EXTRACTOR},
                                      {"role": "user", "content": f"{instruction}\n\n{text}"}],
                          json.dumps(answer), schema, max_tokens=300, page="Site audit"))
    return tasks


def _analyses(rng: random.Random, scored: int, free: int) -> list[Task]:
    tasks = [Task("analyze", [{"role": "system", "content": ANALYST},
                              {"role": "user", "content": "Pick the single most urgent issue in "
                               "this audit and rate its impact and effort from 1 to 5.\n\n"
                               + _prose(rng, rng.randint(1500, 4000))}],
                  json.dumps({"issue": rng.choice(TOPICS), "impact": rng.randint(3, 5),
                              "effort": rng.randint(1, 4),
                              "rationale": "It affects the most visited templates."}),
                  PRIORITY, max_tokens=300, page="Link graph")
             for _ in range(scored)]
    tasks += [Task("analyze", [{"role": "system", "content": ANALYST},
                               {"role": "user", "content": "Compare these two audits and say "
                                "which site needs attention first, in under 80 words.\n\n"
                                f"Site A:\n{_prose(rng, 1500)}\n\nSite B:\n{_prose(rng, 1500)}"}],
                   "Site B first: its redirect chains sit in front of the pages that earn the "
                   "most clicks, while Site A's problems are on archive pages few people visit.",
                   max_tokens=300, page="Link graph")
              for _ in range(free)]
    return tasks


def _private() -> list[Task]:
    tasks = []
    for purpose, text, schema, answer in PRIVATE_PROMPTS:
        system = EXTRACTOR if schema else ASSISTANT
        tasks.append(Task(purpose, [{"role": "system", "content": system},
                                    {"role": "user", "content": text}], answer, schema,
                          max_tokens=300 if purpose in ("extract", "analyze") else SHORT,
                          private=True))
    return tasks


def analyst_day(seed: int = 2026) -> list[Task]:
    """The day's requests in a shuffled but fixed order, with the local tier's failures set."""
    rng = random.Random(seed)
    extractions = _extractions(rng, 50)
    analyses = _analyses(rng, 20, 16)
    summaries = _summaries(rng, 16, 8)
    # ~8% of the requests that start on the local tier get bad first answers there.
    structured = rng.sample(extractions + analyses[:20], len(SCHEMA_FAILURES))
    for task, failures in zip(structured, SCHEMA_FAILURES, strict=True):
        task.local_failures = failures
    free_text = rng.sample(analyses[20:] + summaries[16:], len(TEXT_FAILURES))
    for task, failures in zip(free_text, TEXT_FAILURES, strict=True):
        task.local_failures = failures
    tasks = (_chat(rng, 62) + _expert_chats() + _narrations(20) + summaries + extractions
             + analyses + _private())
    rng.shuffle(tasks)
    return tasks


# -- the fake tiers' side of the script --------------------------------------------------


@dataclass
class Script:
    """What the fake servers answer to the request being routed right now."""

    task: Task | None = None
    local: deque[str] = field(default_factory=deque)

    def start(self, task: Task) -> None:
        self.task = task
        self.local = deque(BAD_ANSWERS[name] for name in task.local_failures)

    def local_reply(self, endpoint: str, body: dict[str, Any]) -> str:
        assert self.task is not None
        return self.local.popleft() if self.local else self.task.answer

    def cloud_reply(self, body: dict[str, Any]) -> str:
        assert self.task is not None
        return self.task.answer


# -- the run -------------------------------------------------------------------------------


def _route(result: RouteResult) -> str:
    first = result.attempts[0].tier
    return first if first == result.tier else f"{first} → {result.tier}"


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def run(seed: int = 2026) -> Section:
    tasks = analyst_day(seed)
    for task in tasks:  # the private ones really are private, the others really are not
        found = [f for m in task.messages for f in privacy.scan(m["content"])]
        assert bool(found) == task.private, (task.messages[-1]["content"][:120], found)
    private_spans = [f.text for t in tasks if t.private
                     for m in t.messages for f in privacy.scan(m["content"])]

    embedded = get_provider("embedded")
    embedded.count_tokens("load")  # load the model before the clock starts
    script = Script()
    results: list[tuple[Task, RouteResult]] = []
    seconds: dict[str, list[float]] = {}  # wall time per request, by route
    failed: list[tuple[Task, str]] = []
    with (FakeOllama(default_reply=script.local_reply) as local_fake,
          FakeOpenAI(default_reply=script.cloud_reply) as cloud_fake,
          tempfile.TemporaryDirectory() as tmp):
        db = open_database(f"sqlite:///{tmp}/bench.db")
        try:
            router = Router(
                db,
                providers={
                    "embedded": embedded,
                    "local": OllamaProvider(host=local_fake.host, timeout=30),
                    "cloud": CloudProvider(api_key="bench-placeholder", timeout=30,
                                           base_url=cloud_fake.base_url),
                },
                settings=RouterSettings(budget=Budget(daily_usd=None, session_usd=None)),
                prices=load_prices(),
            )
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            for task in tasks:
                script.start(task)
                began = time.perf_counter()
                try:
                    result = router.complete(task.request())
                except RouteError as exc:
                    failed.append((task, str(exc)))
                    continue
                results.append((task, result))
                seconds.setdefault(_route(result), []).append(time.perf_counter() - began)
            elapsed = time.perf_counter() - started
            load_after = os.getloadavg()[0]
            booked = reports.totals(db)
            by_tier = {row["tier"]: row for row in reports.breakdown(db, "tier")}
        finally:
            db.dispose()
        cloud_text = cloud_fake.all_text()
        cloud_raw = cloud_fake.all_raw_text()
        cloud_requests = len(cloud_fake.chat_requests())

    # -- checks: privacy, validation ------------------------------------------------------
    leaked = [span for span in private_spans if span in cloud_raw]
    assert not leaked, f"private spans reached the cloud: {leaked}"
    cloud_findings = privacy.scan(cloud_text)
    assert not cloud_findings, f"the cloud received private data: {cloud_findings}"
    private_results = [(t, r) for t, r in results if t.private]
    assert all(r.tier != "cloud" and "stays on this machine" in r.route_reason
               for _, r in private_results)
    validated = 0
    schema_checked = 0
    for task, result in results:
        if task.schema is not None:
            jsonschema.validate(result.data, task.schema)
            schema_checked += 1
        validated += result.validated

    # -- figures ----------------------------------------------------------------------------
    calls = len(tasks)
    answered = Counter(r.tier for _, r in results)
    assert booked.calls == sum(row["calls"] for row in by_tier.values())
    tokens = {tier: row["tokens"] for tier, row in by_tier.items()}
    all_tokens = sum(tokens.values())
    escalated = Counter(_route(r) for _, r in results if r.tier != r.attempts[0].tier)
    repairs = sum(1 for _, r in results for d in r.decisions
                  if d.step == "cascade" and "once more" in d.reason)
    local_start = [t for t, r in results if r.attempts[0].tier == "local"]
    bad_first = sum(1 for t in local_start if t.local_failures)
    savings = booked.savings_share or 0.0
    verdict = "met" if savings >= TARGET_SAVINGS else "MISSED"
    purposes = Counter(t.purpose for t in tasks)

    rows: list[list[object]] = [
        ["requests (calls)", f"{calls} ({', '.join(f'{n} {p}' for p, n in purposes.items())})"],
        ["attempts booked in the ledger", str(booked.calls)],
    ]
    for tier in ("embedded", "local", "cloud"):
        row = by_tier.get(tier, {"calls": 0})
        rows.append([
            f"{tier}: calls answered / attempts / tokens (all attempts)",
            f"{answered[tier]} ({_share(answered[tier], calls)}) / {row['calls']} / "
            f"{tokens.get(tier, 0):,} ({_share(tokens.get(tier, 0), all_tokens)})",
        ])
    rows += [
        ["total cost (USD)", f"${booked.cost_usd:.6f}"],
        ["all-cloud counterfactual (USD)", f"${booked.counterfactual_usd:.6f}"],
        ["share of cloud spend avoided (savings / counterfactual)",
         f"{savings:.1%} (target ≥ {TARGET_SAVINGS:.0%}: {verdict})"],
        ["escalation rate (answered on a higher tier than the first tried)",
         f"{_share(sum(escalated.values()), calls)} ("
         + ", ".join(f"{n} {path}" for path, n in sorted(escalated.items())) + ")"],
        ["local tier: bad first answers / repairs asked",
         f"{bad_first} of {len(local_start)} requests that started there "
         f"({_share(bad_first, len(local_start))}) / {repairs}"],
        ["answers used that passed validation",
         f"{validated}/{len(results)} (schema answers re-checked with jsonschema: "
         f"{schema_checked}/{schema_checked})"],
        ["requests no tier could answer", str(len(failed))],
        ["personal-data prompts kept local / private spans seen by the cloud",
         f"{len(private_results)}/{sum(t.private for t in tasks)} / {len(leaked)} "
         f"({len(private_spans)} spans checked; scan of all cloud traffic: "
         f"{len(cloud_findings)} findings)"],
        ["cloud requests received by the fake server", str(cloud_requests)],
        ["wall time of the day (s) / per request (s)", f"{elapsed:.1f} / {elapsed / calls:.2f}"],
        ["mean time per request by route (s)",
         ", ".join(f"{route} {statistics.mean(times):.2f} ({len(times)})"
                   for route, times in sorted(seconds.items()))],
    ]
    prices = load_prices()
    reference = prices.models[prices.reference_model]
    notes = [
        "Tiers on this machine: embedded = the REAL SmolLM2-135M-Instruct in-process "
        "(llama.cpp); local = the real `OllamaProvider` (official `ollama` client) against "
        "the fake Ollama server (standins/ollama_server.py; no Ollama binary here); cloud "
        "= the real `CloudProvider` (official `openai` client) against the fake OpenAI "
        "server (standins/openai_server.py). The fakes are stand-ins with scripted replies "
        "and count tokens as words; the embedded model's counts come from its tokenizer.",
        f"Script: the local tier's first answer is bad (prose instead of JSON, broken or "
        f"mismatched JSON, empty, a refusal) for {bad_first} of the {len(local_start)} "
        "requests that start there; a schema request is asked once to repair, then "
        "escalates; the cloud answers correctly. Requests that start on the embedded model "
        f"are capped at {SHORT} tokens to keep the run short, so its cut-off answers "
        "escalate to the local tier (free) — most of the escalations counted above.",
        f"Counterfactual: the same tokens of each answering attempt priced on the reference "
        f"model {prices.reference_model} from llm/prices.json (${reference.input}/M input, "
        f"${reference.output}/M output, checked {reference.checked}); local tiers cost "
        "$0 in that table. Budgets off (no daily or session cap), privacy mode keep_local.",
        "Validation is the router's (non-empty, not cut off, not a refusal, JSON that "
        "matches the schema); it says nothing about whether the tiny embedded model's answer "
        "is any good.",
        f"Wall time depends on other work on this 2-core machine (load average "
        f"{load_before:.1f} at the start, {load_after:.1f} at the end): llama.cpp slows down "
        "sharply when it has to share a core. The routing itself did not change between "
        "runs (llama-cpp-python samples with a fixed default seed).",
    ]
    if failed:
        notes.append("Unanswered: " + "; ".join(f"{t.purpose}: {why}" for t, why in failed[:3]))
    return Section(
        name="cost",
        title="An analyst day through the router, against all-cloud",
        headers=["metric", "value"],
        rows=rows,
        notes=notes,
    )

