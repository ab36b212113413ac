"""The scripted provider answers like a real one: in order, streamed, with reported usage
that the router prices and books, failing when told to (so the router falls back), and
keeping the requests it received."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from llm.errors import RateLimited, Unreachable
from llm.prices import load_prices
from llm.providers.base import ChatRequest, Usage, estimate_tokens
from llm.router import LLMRequest, Notice, Origin, RouteError, Router, RouterSettings
from standins.scripted import DEFAULT_REPLY, MODEL, ScriptedProvider, ScriptedReply
from store.db import Database
from store.models import LLMCallRow

QUESTION = "Which pages have no inlinks?"
ANSWER = "Three pages have no inlinks: the landing pages under /lp/."


def ask(text: str = QUESTION, **kw: object) -> LLMRequest:
    return LLMRequest(messages=[{"role": "user", "content": text}], max_tokens=64, **kw)


def ledger(db: Database) -> list[LLMCallRow]:
    with db.read() as s:
        return list(s.scalars(select(LLMCallRow).order_by(LLMCallRow.id)))


def test_scripted_replies_come_out_in_order_streamed_then_the_default() -> None:
    provider = ScriptedProvider()
    provider.enqueue(["First answer.", ["Second ", "answer, ", "in pieces."]])
    assert provider.pending == 2
    request = ChatRequest(messages=[{"role": "user", "content": QUESTION}])

    assert list(provider.stream(request)) == ["First answer."]
    second = provider.stream(request)
    assert list(second) == ["Second ", "answer, ", "in pieces."]
    assert second.reply is not None and second.reply.text == "Second answer, in pieces."
    for _ in range(3):  # an empty queue answers for ever, as a benchmark needs
        assert provider.complete(request).text == DEFAULT_REPLY
    assert provider.pending == 0


def test_usage_is_reported_priced_and_booked_by_the_router(db: Database) -> None:
    provider = ScriptedProvider([ANSWER], tier="cloud", name="scripted-cloud",
                                model="gpt-4o-mini")
    prices = load_prices()
    router = Router(db, providers={"cloud": provider}, settings=RouterSettings(),
                    prices=prices)

    result = router.complete(ask(tier="cloud", origin=Origin(session_id="s-1", page="Home")))

    prompt, completion = estimate_tokens(QUESTION), estimate_tokens(ANSWER)
    assert result.text == ANSWER and (result.tier, result.model) == ("cloud", "gpt-4o-mini")
    assert result.usage == Usage(prompt, completion, "reported")
    [row] = ledger(db)
    assert (row.status, row.tier, row.provider, row.model) == (
        "ok", "cloud", "scripted-cloud", "gpt-4o-mini"
    )
    assert (row.prompt_tokens, row.completion_tokens, row.usage_source) == (
        prompt, completion, "reported"
    )
    assert row.cost_nusd == prices.cost_nusd("cloud", "gpt-4o-mini", prompt, completion) > 0
    assert row.session_id == "s-1" and row.page == "Home"


def test_a_scripted_usage_and_finish_reason_are_what_the_reply_reports() -> None:
    provider = ScriptedProvider([ScriptedReply(("Cut off",), Usage(900, 512), "length")])
    reply = provider.complete(ChatRequest(messages=[{"role": "user", "content": QUESTION}]))
    assert (reply.text, reply.finish_reason) == ("Cut off", "length")
    assert reply.usage == Usage(900, 512, "reported")


def test_a_scripted_failure_makes_the_router_fall_back_to_another_tier(db: Database) -> None:
    down = ScriptedProvider([Unreachable("The embedded model could not be loaded; "
                                         "check the model file.")], tier="embedded")
    local = ScriptedProvider([ANSWER], tier="local", model="gemma2:2b")
    router = Router(db, providers={"embedded": down, "local": local},
                    settings=RouterSettings())

    result = router.complete(ask())  # chat starts on the embedded tier

    assert (result.tier, result.text) == ("local", ANSWER)
    assert [(a.tier, a.status) for a in result.attempts] == [
        ("embedded", "error"), ("local", "ok")
    ]
    assert "embedded failed: The embedded model could not be loaded" in result.route_reason
    assert [(r.tier, r.status, r.provider) for r in ledger(db)] == [
        ("embedded", "error", "scripted"), ("local", "ok", "scripted")
    ]


def test_a_failure_mid_stream_keeps_what_arrived_and_books_an_estimate(db: Database) -> None:
    breaking = ScriptedProvider(
        [["Three pages ", "have no ", RateLimited("Too many requests; wait a minute.",
                                                  retry_after=60)]],
        tier="embedded",
    )
    local = ScriptedProvider([ANSWER], tier="local")
    router = Router(db, providers={"embedded": breaking, "local": local},
                    settings=RouterSettings())

    pieces = list(router.stream(ask()))

    texts = [p for p in pieces if isinstance(p, str)]
    notices = [p for p in pieces if isinstance(p, Notice)]
    assert texts[:2] == ["Three pages ", "have no "] and "".join(texts[2:]) == ANSWER
    assert len(notices) == 1 and "Too many requests" in notices[0].text
    error, ok = ledger(db)
    assert (error.tier, error.status, error.usage_source) == ("embedded", "error", "estimated")
    assert error.completion_tokens == estimate_tokens("Three pages have no ")
    assert router.health.cooling_for("embedded") > 0  # it asked for quiet
    assert ok.status == "ok" and ok.usage_source == "reported"


def test_every_tier_failing_is_a_route_error_with_the_reason(db: Database) -> None:
    router = Router(db, providers={
        "embedded": ScriptedProvider(available=False, health_detail="Switched off."),
        "local": ScriptedProvider([Unreachable("Ollama is not running.")], tier="local"),
    }, settings=RouterSettings())
    with pytest.raises(RouteError, match="No model could answer: Ollama is not running.") as e:
        router.complete(ask())
    reasons = [d.reason for d in e.value.decisions]
    assert "Skipped embedded: Switched off." in reasons
    assert [(a.tier, a.status) for a in e.value.attempts] == [("local", "error")]


def test_requests_are_recorded_as_the_router_sent_them(db: Database) -> None:
    provider = ScriptedProvider(['{"names": ["Globex"]}'], tier="local")
    router = Router(db, providers={"local": provider}, settings=RouterSettings())
    schema = {"type": "object", "properties": {"names": {"type": "array"}},
              "required": ["names"]}

    result = router.complete(ask("Name a rival of Acme", purpose="extract", schema=schema,
                                 temperature=0.0))

    assert result.data == {"names": ["Globex"]}
    [request] = provider.requests
    assert request is provider.last_request
    assert request.messages == [{"role": "user", "content": "Name a rival of Acme"}]
    assert (request.schema, request.max_tokens, request.temperature) == (schema, 64, 0.0)
    assert request.model == MODEL


def test_a_provider_that_has_had_no_request_says_so() -> None:
    with pytest.raises(LookupError, match="no request"):
        _ = ScriptedProvider().last_request
    with pytest.raises(TypeError, match="text or an llm.errors exception"):
        ScriptedProvider([["fine", 42]])  # type: ignore[list-item]
