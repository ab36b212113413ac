"""The router's decision rules, with real providers: the embedded model, the official ollama
client against the fake Ollama server, and the official openai client against the fake
OpenAI server (which captures everything it receives)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from llm import privacy, reports
from llm import router as router_module
from llm.context import ContextSpec, Turn
from llm.health import TierHealth
from llm.ledger import Budget
from llm.prices import load_prices
from llm.providers import get_provider
from llm.providers.cloud import CloudProvider
from llm.providers.ollama import OllamaProvider
from llm.reports import Filters, totals
from llm.router import LLMRequest, Notice, Origin, RouteError, Router, RouterSettings
from standins.ollama_server import FakeOllama, Reply, closed_port_host
from standins.openai_server import FakeOpenAI, server_error
from store.db import Database

CARD = "4111 1111 1111 1111"
SCHEMA = {
    "type": "object",
    "properties": {"company": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["company", "score"],
}
PRICES = load_prices()


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama() as fake:
        yield fake


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def make_router(
    db: Database,
    ollama_host: str | None,
    openai_url: str | None,
    **settings: object,
) -> Router:
    providers = {"embedded": get_provider("embedded")}
    if ollama_host:
        providers["local"] = OllamaProvider(host=ollama_host, timeout=5)
    if openai_url:
        providers["cloud"] = CloudProvider(api_key="sk-test-key", base_url=openai_url,
                                           timeout=5)
    return Router(db, providers=providers, settings=RouterSettings(**settings), prices=PRICES)


def ask(text: str, **kw: object) -> LLMRequest:
    kw.setdefault("max_tokens", 24)
    return LLMRequest(messages=[{"role": "user", "content": text}], **kw)  # type: ignore[arg-type]


def rows(db: Database, request_id: str) -> list[tuple[str, str]]:
    return [(r.tier, r.status) for r in reports.calls_for_request(db, request_id)]


# -- privacy --------------------------------------------------------------------------


def test_a_card_number_never_reaches_the_cloud_even_when_pinned(
    db: Database, ollama: FakeOllama, openai_fake: FakeOpenAI
) -> None:
    router = make_router(db, ollama.host, openai_fake.base_url)
    for request in (
        ask(f"Charge my card {CARD} for the renewal.", tier="cloud"),
        ask(f"Card: {CARD.replace(' ', '-')}. Analyse it.", purpose="analyze"),
        ask(f"My card is {CARD}", model="gpt-4o"),
    ):
        result = router.complete(request)
        assert result.tier in ("local", "embedded")
        assert "payment card" in result.route_reason
    assert openai_fake.chat_requests() == []
    assert "4111" not in openai_fake.all_raw_text()


def test_redact_then_escalate_sends_placeholders_and_restores_the_answer(
    db: Database, openai_fake: FakeOpenAI
) -> None:
    router = make_router(db, None, openai_fake.base_url, privacy_mode="redact")
    openai_fake.enqueue("I will write to [EMAIL_1] today.")
    result = router.complete(ask("Draft a note to ann.lee@example.com", tier="cloud"))
    assert result.tier == "cloud"
    assert "ann.lee@example.com" not in openai_fake.all_raw_text()
    assert "[EMAIL_1]" in openai_fake.all_text()
    assert result.text == "I will write to ann.lee@example.com today."


def test_cloud_can_be_turned_off(db: Database, openai_fake: FakeOpenAI) -> None:
    router = make_router(db, None, openai_fake.base_url, allow_cloud=False)
    result = router.complete(ask("Hello", purpose="analyze"))
    assert result.tier == "embedded" and "turned off" in result.route_reason
    assert openai_fake.chat_requests() == []


# -- pin and difficulty ----------------------------------------------------------------


def test_a_pinned_tier_or_model_is_used(
    db: Database, ollama: FakeOllama, openai_fake: FakeOpenAI
) -> None:
    router = make_router(db, ollama.host, openai_fake.base_url)
    assert router.complete(ask("Hi", tier="cloud")).tier == "cloud"
    assert router.complete(ask("Hi", tier="local")).tier == "local"
    pinned = router.complete(ask("Hi", model="gpt-4o"))
    assert pinned.tier == "cloud" and openai_fake.chat_requests()[-1].body["model"] == "gpt-4o"
    assert "Pinned to the model gpt-4o" in pinned.route_reason


def test_purpose_expert_and_size_choose_the_starting_tier(
    db: Database, ollama: FakeOllama, openai_fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The floors are under test here: every question looks easy, so the learned difficulty
    # step (tests/llm/test_quality_routing.py) never raises the start above them.
    monkeypatch.setattr("llm.router.quality.difficulty", lambda question: 0.0)
    router = make_router(db, ollama.host, openai_fake.base_url)
    # Room to finish, so a cut-off answer does not escalate (that is the cascade's test).
    chat = router.complete(ask("Hi", max_tokens=256, temperature=0.0))
    assert chat.tier == "embedded" and "chat starts on the embedded tier" in chat.route_reason
    assert router.complete(ask("Compare Acme and Globex", purpose="analyze")).tier == "local"
    expert = router.complete(ask("Hi", expert="Analyst", expert_tier="cloud"))
    assert expert.tier == "cloud" and "Analyst expert" in expert.route_reason
    ollama.enqueue("Short answer.")
    long = router.complete(ask("word " * 5000))
    assert long.tier == "local" and "too long for the embedded tier" in long.route_reason


# -- availability ----------------------------------------------------------------------


def test_an_unreachable_tier_is_skipped_and_the_user_told_why(db: Database) -> None:
    router = make_router(db, closed_port_host(), None)
    result = router.complete(ask("Summarise our plan", purpose="analyze"))
    assert result.tier == "embedded"
    assert "Ollama is not running" in result.route_reason and "ollama serve" in result.route_reason


def test_health_checks_are_cached(db: Database, ollama: FakeOllama) -> None:
    router = make_router(db, ollama.host, None)
    for _ in range(3):
        router.complete(ask("Hi", purpose="analyze"))
    assert len(ollama.requests_to("/api/tags")) == 1


def test_repeated_failures_cool_a_tier_down_until_it_recovers(
    db: Database, ollama: FakeOllama
) -> None:
    now = [0.0]
    router = make_router(db, ollama.host, None)
    router.health = TierHealth(ttl_s=0, cooldown_after=3, cooldown_s=60, clock=lambda: now[0])
    for _ in range(3):
        ollama.enqueue(Reply.http_error(500, "model runner crashed"))
        result = router.complete(ask("Hi", purpose="analyze"))
        assert result.tier == "embedded"  # fell back, and the failure was booked
        assert rows(db, result.request_id)[0] == ("local", "error")
    chats_before = len(ollama.requests_to("/api/chat"))
    cooled = router.complete(ask("Hi", purpose="analyze"))
    assert "rests for 60 s more" in cooled.route_reason
    assert len(ollama.requests_to("/api/chat")) == chats_before  # not even tried
    now[0] = 61.0
    recovered = router.complete(ask("Hi", purpose="analyze"))
    assert recovered.tier == "local"


def test_when_no_tier_can_answer_the_error_says_why_and_is_booked(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llm.providers.embedded
    from llm.providers.embedded import EmbeddedProvider

    monkeypatch.setattr(llm.providers.embedded, "bundled_model_path",
                        lambda: Path("/nonexistent/model.gguf"))  # a broken install
    router = Router(db, providers={"embedded": EmbeddedProvider()}, settings=RouterSettings())
    stream = router.stream(ask("Hi"))
    with pytest.raises(RouteError, match="No model could answer: The embedded model file"):
        list(stream)
    assert rows(db, stream.request_id) == [("embedded", "blocked")]


# -- cascade ---------------------------------------------------------------------------


def test_invalid_json_from_a_cheap_tier_is_repaired_once_then_escalated(
    db: Database, ollama: FakeOllama, openai_fake: FakeOpenAI
) -> None:
    router = make_router(db, ollama.host, openai_fake.base_url)
    ollama.enqueue("Sure! The company is Acme.", '{"company": "Acme"}')
    openai_fake.enqueue(json.dumps({"company": "Acme", "score": 7}))
    stream = router.stream(ask("Rate Acme", purpose="extract", schema=SCHEMA, max_tokens=60))
    notices = [p.text for p in stream if isinstance(p, Notice)]
    result = stream.result
    assert result is not None and result.tier == "cloud"
    assert result.data == {"company": "Acme", "score": 7}
    assert rows(db, result.request_id) == [
        ("local", "escalated"), ("local", "escalated"), ("cloud", "ok")
    ]
    assert any("repairing" in n for n in notices) and any("Escalating to the cloud" in n
                                                             for n in notices)
    repair = ollama.requests_to("/api/chat")[-1].body["messages"][-1]["content"]
    assert "could not be used" in repair
    assert ollama.requests_to("/api/chat")[-1].format == SCHEMA


def test_a_json_answer_wrapped_in_prose_is_repaired_without_asking_again(
    db: Database, ollama: FakeOllama
) -> None:
    router = make_router(db, ollama.host, None)
    ollama.enqueue('Here you go:\n```json\n{"company": "Acme", "score": 3,}\n```')
    result = router.complete(ask("Rate Acme", purpose="extract", schema=SCHEMA))
    assert result.data == {"company": "Acme", "score": 3}
    assert len(ollama.requests_to("/api/chat")) == 1


def test_an_empty_answer_escalates_one_tier(
    db: Database, ollama: FakeOllama, openai_fake: FakeOpenAI
) -> None:
    router = make_router(db, ollama.host, openai_fake.base_url)
    ollama.enqueue(" ")
    openai_fake.enqueue("A real answer.")
    result = router.complete(ask("Compare", purpose="analyze"))
    assert result.tier == "cloud" and result.text == "A real answer."
    assert "the answer was empty" in result.route_reason


def test_cloud_errors_fall_back_to_a_local_tier(
    db: Database, ollama: FakeOllama, openai_fake: FakeOpenAI
) -> None:
    router = make_router(db, ollama.host, openai_fake.base_url)
    openai_fake.enqueue(server_error())
    result = router.complete(ask("Hi", expert_tier="cloud", expert="Analyst"))
    assert result.tier in ("local", "embedded")
    statuses = rows(db, result.request_id)
    assert statuses[0] == ("cloud", "error") and statuses[-1][1] == "ok"


# -- budgets and the ledger ------------------------------------------------------------


def test_a_cloud_call_over_budget_is_refused_with_what_is_left_and_when_it_resets(
    db: Database, openai_fake: FakeOpenAI
) -> None:
    router = make_router(db, None, openai_fake.base_url,
                         budget=Budget(daily_usd=Decimal("0.00001"), session_usd=None))
    stream = router.stream(ask("Hi " * 200, tier="cloud", max_tokens=500))
    with pytest.raises(RouteError, match=r"daily cloud budget of \$0.00001 would be exceeded"):
        list(stream)
    assert "resets at 00:00 UTC" in stream.decisions[-1].reason
    assert rows(db, stream.request_id) == [("cloud", "blocked")]
    assert openai_fake.chat_requests() == []
    # Local tiers are never blocked by a budget.
    assert router.complete(ask("Hi")).tier == "embedded"


def test_the_session_budget_is_separate_from_the_daily_one(
    db: Database, openai_fake: FakeOpenAI
) -> None:
    router = make_router(db, None, openai_fake.base_url,
                         budget=Budget(daily_usd=None, session_usd=Decimal("0.0003")))
    first = Origin(session_id="a" * 32)
    refused = 0
    for _ in range(10):
        try:
            router.complete(ask("Hello there " * 20, tier="cloud", origin=first, max_tokens=400))
        except RouteError as exc:
            assert "session's cloud budget" in str(exc) and "Start a new session" in str(exc)
            refused += 1
    assert refused > 0
    other = router.complete(ask("Hello", tier="cloud", origin=Origin(session_id="b" * 32)))
    assert other.tier == "cloud"


def test_fifty_concurrent_cloud_calls_never_overshoot_the_budget(
    db: Database, openai_fake: FakeOpenAI
) -> None:
    cap = Decimal("0.001")
    router = make_router(db, None, openai_fake.base_url,
                         budget=Budget(daily_usd=cap, session_usd=None))
    outcomes: list[str] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        try:
            router.complete(ask(f"Request {i}: " + "tell me about widgets " * 30,
                                tier="cloud", max_tokens=400))
            result = "ok"
        except RouteError:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(outcomes) == 50
    spent = totals(db, Filters(tier="cloud")).cost_usd
    assert spent <= cap
    assert outcomes.count("ok") > 0 and outcomes.count("refused") > 0
    assert len(openai_fake.chat_requests()) == outcomes.count("ok")


def test_the_ledger_books_cost_and_savings_to_the_cent(
    db: Database, openai_fake: FakeOpenAI
) -> None:
    router = make_router(db, None, openai_fake.base_url,
                         budget=Budget(daily_usd=None, session_usd=None))
    expected_cost = Decimal(0)
    for i in range(40):
        model = "gpt-4o" if i % 2 else "gpt-4o-mini"
        result = router.complete(ask("Price check " * (i + 1), model=model, max_tokens=300))
        price = PRICES.models[model]
        usage = result.usage
        assert usage.source == "reported"
        expected = (price.input * usage.prompt_tokens + price.output * usage.completion_tokens)
        expected /= 1_000_000
        assert result.cost_usd == expected
        expected_cost += expected
    local_only = make_router(db, None, None)
    for i in range(10):
        local_only.complete(ask(f"Local question {i}"))
    booked = totals(db)
    assert booked.calls == 50
    assert booked.cost_usd == expected_cost
    assert round(booked.cost_usd, 2) == round(expected_cost, 2)
    cloud = totals(db, Filters(tier="cloud"))
    assert cloud.counterfactual_usd - cloud.cost_usd == cloud.savings_usd
    local = totals(db, Filters(tier="embedded"))
    assert local.cost_usd == 0 and local.savings_usd == local.counterfactual_usd > 0
    by_tier = {row["tier"]: row for row in reports.breakdown(db, "tier")}
    assert by_tier["cloud"]["calls"] == 40 and by_tier["embedded"]["calls"] == 10
    assert by_tier["cloud"]["cost_usd"] == expected_cost


def test_a_cut_off_text_answer_never_pays_the_cloud_to_be_cut_off_again(
    db: Database, ollama: FakeOllama, openai_fake: FakeOpenAI
) -> None:
    router = make_router(db, ollama.host, openai_fake.base_url)
    ollama.enqueue("word " * 50)
    result = router.complete(ask("Write a long essay", purpose="analyze", max_tokens=5))
    assert result.tier == "local" and not result.validated and "cut off" in result.note
    assert openai_fake.chat_requests() == []


def test_a_pinned_tier_that_is_not_set_up_is_refused_and_booked(db: Database) -> None:
    router = make_router(db, None, None)
    stream = router.stream(ask("Hi", tier="cloud"))
    with pytest.raises(RouteError, match="cloud tier is not set up"):
        list(stream)
    assert rows(db, stream.request_id) == [("embedded", "blocked")]


def test_a_stream_that_breaks_books_an_estimate_of_what_was_sent(
    db: Database, ollama: FakeOllama
) -> None:
    router = make_router(db, ollama.host, None)
    ollama.enqueue(Reply.error_mid_stream("one two three four five six", after=4,
                                          error="model runner crashed"))
    result = router.complete(ask("Summarise the plan", purpose="analyze"))
    failed = reports.calls_for_request(db, result.request_id)[0]
    assert (failed.tier, failed.status) == ("local", "error")
    assert failed.completion_tokens > 0 and failed.usage_source == "estimated"
    assert "model runner crashed" in failed.error_text


# -- one plan per call, a context fitted per attempt ------------------------------------


def conversation(turns: int, newest: str = "What did we decide about the gears?") -> ContextSpec:
    history = [
        Turn("user" if i % 2 == 0 else "assistant",
             f"Message {i}: we talked about widgets, gears and the spring order. " * 4)
        for i in range(turns)
    ]
    return ContextSpec("You are a helpful assistant.", ("Recent activity: none.",),
                       (*history, Turn("user", newest)), reserve_for_reply=32)


def counting_scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the privacy scan reads (through the module the router uses)."""
    from llm import privacy

    seen: list[str] = []
    real = privacy.scan

    def scan(text: str) -> list[privacy.Finding]:
        seen.append(text)
        return real(text)

    monkeypatch.setattr(router_module.privacy, "scan", scan)
    return seen


def test_a_fallback_to_a_smaller_window_gets_a_context_refitted_for_it_and_says_so(
    db: Database, ollama: FakeOllama, openai_fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    scanned = counting_scans(monkeypatch)
    router = Router(db, providers={
        "embedded": get_provider("embedded"),
        "local": OllamaProvider(host=ollama.host, timeout=5, num_ctx=1024),
        "cloud": CloudProvider(api_key="sk-test-key", base_url=openai_fake.base_url, timeout=5),
    }, settings=RouterSettings(), prices=PRICES)
    spec = conversation(60)  # about 4,000 tokens: fits the cloud's window, not 1,024
    request = LLMRequest(context=spec, expert="Analyst", expert_tier="cloud", max_tokens=32)
    assert request.messages == spec.messages()  # derived from the spec, unfitted
    openai_fake.enqueue(server_error())
    ollama.enqueue("We chose the steel gears.")
    result = router.complete(request)

    assert result.tier == "local" and result.text == "We chose the steel gears."
    assert rows(db, result.request_id) == [("cloud", "error"), ("local", "ok")]
    # Planned once: one scan of each unfitted message, nothing scanned again per attempt.
    assert scanned == [m["content"] for m in spec.messages()]
    assert sum(d.step == "difficulty" for d in result.decisions) == 1
    # The cloud was sent the whole conversation, fitted to its own window.
    sent_cloud = openai_fake.chat_requests()[0].body["messages"]
    assert [m["content"] for m in sent_cloud] == [m["content"] for m in spec.messages()]
    # The local tier was sent a context fitted to its 1,024-token window, and only that.
    context = result.context
    assert context is not None and context.window == 1024
    assert context.used_tokens + context.reserved_for_reply <= 1024
    sent = ollama.requests_to("/api/chat")[-1]
    assert sent.body["messages"] == context.messages
    assert sent.options["num_ctx"] == 1024
    assert context.messages[-1]["content"] == "What did we decide about the gears?"
    assert context.dropped_messages > 30
    refit = [d for d in result.decisions if d.step == "context"]
    assert len(refit) == 1 and refit[0].tier == "local"
    assert refit[0].reason == (
        "Refitted the context for the local tier's 1,024-token window: "
        f"{context.dropped_messages:,} older messages left out."
    )
    assert refit[0].reason in result.route_reason


def test_the_size_floor_counts_what_fitting_cannot_leave_out(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm.router import Decision

    monkeypatch.setattr(get_provider("embedded"), "context_window", lambda model=None: 1024)
    router = make_router(db, closed_port_host(), None)
    # A long conversation with a short question: older messages are dropped to fit, so
    # only the system prompt and the newest message count, and chat starts on embedded.
    decisions: list[Decision] = []
    plan = router._plan(LLMRequest(context=conversation(60), max_tokens=16), decisions)
    assert plan.candidates[0] == "embedded"
    # (the difficulty step may add how hard the question looked; the floor comes first)
    assert decisions[-1].reason.startswith("Starting on embedded: chat starts on the embedded tier")
    # A newest message too long for the window starts higher.
    decisions = []
    long = LLMRequest(context=conversation(2, "word " * 1000), max_tokens=16)
    assert router._plan(long, decisions).candidates[0] == "local"
    assert "too long for the embedded tier" in decisions[-1].reason


def test_redact_mode_through_a_spec_redacts_once_and_restores_the_answer(
    db: Database, openai_fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = make_router(db, None, openai_fake.base_url, privacy_mode="redact")
    redactions: list[privacy.Redaction | None] = []
    real_redact = privacy.redact

    def redact(text: str, mapping: privacy.Redaction | None = None):  # type: ignore[no-untyped-def]
        redactions.append(mapping)
        return real_redact(text, mapping)

    monkeypatch.setattr(router_module.privacy, "redact", redact)
    spec = ContextSpec(
        "You are a helpful assistant.",
        ("Remembered facts:\n- email: ann.lee@example.com", "Recent activity: none."),
        (Turn("user", "My card is 4111 1111 1111 1111, keep it safe."),
         Turn("assistant", "Noted."),
         Turn("user", "Draft a note to ann.lee@example.com about the renewal.")),
        reserve_for_reply=64,
    )
    openai_fake.enqueue("I will write to [EMAIL_1] today.")
    result = router.complete(LLMRequest(context=spec, tier="cloud", max_tokens=64))

    assert result.tier == "cloud"
    assert result.text == "I will write to ann.lee@example.com today."
    raw = openai_fake.all_raw_text()
    assert "ann.lee@example.com" not in raw and "4111" not in raw
    sent = [m["content"] for m in openai_fake.chat_requests()[0].body["messages"]]
    assert "[EMAIL_1]" in sent[0] and "[EMAIL_1]" in sent[-1]  # one value, one placeholder
    assert "[CARD_1]" in sent[1] and "EMAIL_2" not in "".join(sent)
    # Redacted once, with one mapping: only the texts that held something private.
    assert len(redactions) == 3 and all(r is redactions[0] for r in redactions)
    assert result.context is not None and result.context.messages[0]["content"] == sent[0]


def test_a_finding_that_spans_two_sections_is_still_redacted(
    db: Database, openai_fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real scanner treats a blank line as a boundary; this one does not, so the
    # redaction must still cover a finding that only the joined system message shows.
    import re

    real = privacy.scan
    spanning = re.compile(r"open\s+sesame")

    def scan(text: str) -> list[privacy.Finding]:
        extra = [privacy.Finding("api_key", m.start(), m.end(), m.group())
                 for m in spanning.finditer(text)]
        return sorted([*real(text), *extra], key=lambda f: f.start)

    monkeypatch.setattr(router_module.privacy, "scan", scan)
    router = make_router(db, None, openai_fake.base_url, privacy_mode="redact")
    pieces = ("The door word is open", "sesame, said Ali.")
    assert not scan(pieces[0]) and not scan(pieces[1]) and scan("\n\n".join(pieces))
    spec = ContextSpec("You are a helpful assistant.", pieces,
                       (Turn("user", "What is the door word?"),), reserve_for_reply=32)
    result = router.complete(LLMRequest(context=spec, tier="cloud", max_tokens=32))
    assert result.tier == "cloud"
    assert "sesame" not in openai_fake.all_raw_text()
    assert "Ali" in openai_fake.all_text()  # the rest of the section still went
