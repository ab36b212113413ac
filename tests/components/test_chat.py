"""The sidebar chat's comforts through AppTest: conversations, clear, export, narration."""

from __future__ import annotations

import json

from components.chat import _export_json, _export_markdown
from core.conversation import active_conversation, add_message, history
from core.narration import narrate
from store.db import get_database
from tests.apptest import new_app, rerun


def started_app(app_env: str):  # noqa: ANN201
    at = new_app()
    at.run()
    assert not at.exception
    sid = at.session_state.session_id
    db = get_database()
    add_message(db, sid, "user", "What is a link graph?")
    add_message(db, sid, "assistant", "A map of which pages link to which.", tier="embedded",
                model="SmolLM2-135M-Instruct")
    rerun(at)
    return at, db, sid


def chat_texts(at) -> list[str]:  # noqa: ANN001
    return [m.markdown[0].value for m in at.sidebar.chat_message if m.markdown]


def test_clearing_asks_first_and_then_removes_the_messages(app_env: str) -> None:
    at, db, sid = started_app(app_env)
    at.button(key="chat_clear").click()
    rerun(at)
    assert any("Delete all 2 messages" in w.value for w in at.warning)
    assert len(history(db, sid)) == 2  # nothing removed before the confirmation
    at.button(key="chat_clear_no").click()
    rerun(at)
    assert len(history(db, sid)) == 2
    at.button(key="chat_clear").click()
    rerun(at)
    at.button(key="chat_clear_yes").click()
    rerun(at)
    assert history(db, sid) == [] and chat_texts(at) == []


def test_a_new_conversation_and_switching_back(app_env: str) -> None:
    at, db, sid = started_app(app_env)
    first = active_conversation(db, sid)
    at.button(key="chat_new").click()
    rerun(at)
    assert chat_texts(at) == []
    switch = at.selectbox(key="chat_switch")
    assert any(o.startswith("What is a link graph? (2)") for o in switch.options), switch.options
    switch.set_value(first)
    rerun(at)
    assert chat_texts(at) == ["What is a link graph?", "A map of which pages link to which."]


def test_exports_carry_every_message() -> None:
    from core.conversation import Message

    messages = [
        Message(1, "user", "Hi <b>there</b>"),
        Message(2, "assistant", "Hello!", tier="embedded", model="SmolLM2-135M-Instruct"),
        Message(3, "narration", "50% done"),
    ]
    markdown = _export_markdown(messages)
    assert "**You**" in markdown and "**Assistant** (SmolLM2-135M-Instruct)" in markdown
    assert "Hi <b>there</b>" in markdown and "**Progress**" in markdown
    data = json.loads(_export_json(messages))
    assert [m["role"] for m in data] == ["user", "assistant", "narration"]
    assert data[1]["model"] == "SmolLM2-135M-Instruct"


def test_narration_posted_from_a_job_shows_in_the_chat(app_env: str) -> None:
    at, db, sid = started_app(app_env)
    narrate(db, sid, "Long job: 50% done", source="test")
    rerun(at)
    captions = [c.value for c in at.sidebar.caption]
    assert any("Long job: 50% done" in c for c in captions)


def test_the_chat_shows_how_full_the_context_is(app_env: str) -> None:
    at = new_app()
    at.run()
    at.sidebar.chat_input[0].set_value("Hello!")
    rerun(at)
    assert not at.exception
    rerun(at)
    bars = at.sidebar.get("progress")
    assert bars and "Context" in bars[0].proto.text and "tokens" in bars[0].proto.text


def test_a_message_over_the_limit_says_the_limit_and_keeps_the_text(app_env: str) -> None:
    """100,000 characters: neither emptied nor cut without a word, and nothing stored."""
    from assistant.turn import MAX_USER_CHARS

    at = new_app()
    at.run()
    sid = at.session_state.session_id
    long_message = "Please read this log. " + "x" * 100_000
    at.sidebar.chat_input[0].set_value(long_message)
    rerun(at)
    assert not at.exception
    warning = " ".join(w.value for w in at.sidebar.warning)
    assert f"{len(long_message):,} characters" in warning and f"{MAX_USER_CHARS:,}" in warning
    assert [c.value for c in at.sidebar.code] == [long_message]  # all of it, to copy
    assert history(get_database(), sid) == []


def test_messages_waiting_together_are_all_answered_in_one_run(app_env: str) -> None:
    """Messages sent while a run was busy wait together; the next run answers each of them
    (each reply has its own Stop button: one shared key failed the whole run)."""
    at = new_app()
    at.run()
    sid = at.session_state.session_id
    at.session_state.chat_prompts = ["Hi", "Hello again"]
    rerun(at)
    assert not at.exception
    messages = history(get_database(), sid)
    assert [m.content for m in messages if m.role == "user"] == ["Hi", "Hello again"]
    assert sum(m.role == "assistant" for m in messages) == 2


def test_a_replys_copy_and_why_popover_holds_the_reply_the_reason_and_the_ledger_link(
        app_env: str) -> None:
    """Drawn with the reply, not on opening: a popover that reruns when it closes loses a
    navigation click (tests/e2e/test_popover_navigation.py)."""
    at = new_app()
    at.run()
    sid = at.session_state.session_id
    db = get_database()
    reply = add_message(db, sid, "assistant", "A map of which pages link to which.",
                        tier="embedded", model="SmolLM2-135M-Instruct",
                        meta={"route_reason": "short question: the embedded tier",
                              "request_id": "0" * 32})
    rerun(at)
    assert not at.exception
    assert [c.value for c in at.sidebar.code] == [reply.content]
    assert any(c.value == "short question: the embedded tier" for c in at.sidebar.caption)
    [link] = at.sidebar.get("page_link")
    assert link.proto.label == "Open its rows in the cost ledger"


def test_a_long_conversation_draws_its_latest_six_messages_at_first(app_env: str) -> None:
    """Six, not ten or twenty: each drawn message costs every page change (about 6 ms a
    message; bench/RESULTS.md, "pages"), and six fill the history box."""
    at, db, sid = started_app(app_env)  # 2 messages
    for i in range(30):
        add_message(db, sid, "user", f"note {i}")
    rerun(at)
    assert chat_texts(at) == [f"note {i}" for i in range(24, 30)]
    assert any(c.value == "Showing the latest 6 of 32 messages." for c in at.sidebar.caption)


def test_the_latest_messages_are_drawn_and_earlier_ones_on_request(app_env: str) -> None:
    from components.chat import FIRST_SHOWN, MORE_SHOWN

    at, db, sid = started_app(app_env)  # 2 messages
    for i in range(FIRST_SHOWN + MORE_SHOWN):
        add_message(db, sid, "user", f"note {i}")
    total = FIRST_SHOWN + MORE_SHOWN + 2
    rerun(at)
    assert chat_texts(at) == [f"note {i}" for i in range(MORE_SHOWN, FIRST_SHOWN + MORE_SHOWN)]
    assert any(c.value == f"Showing the latest {FIRST_SHOWN} of {total} messages."
               for c in at.sidebar.caption)
    at.button(key="chat_earlier").click()
    rerun(at)
    shown = FIRST_SHOWN + MORE_SHOWN
    assert len(chat_texts(at)) == shown and chat_texts(at)[-1] == f"note {shown - 1}"
    assert any(c.value == f"Showing the latest {shown} of {total} messages."
               for c in at.sidebar.caption)
    at.button(key="chat_earlier").click()
    rerun(at)
    assert chat_texts(at)[:2] == ["What is a link graph?", "A map of which pages link to which."]
    assert len(chat_texts(at)) == total
    assert not [b for b in at.button if b.key == "chat_earlier"]  # all shown: no button
