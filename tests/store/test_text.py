"""Text that one database refuses is saved alike on both: NUL (PostgreSQL: "text fields
cannot contain NUL (0x00) bytes") and lone surrogates (no driver can encode them) can come
from a pasted message, a CSV cell or a model, and must not turn into a lost save."""

from __future__ import annotations

import pytest

from assistant.turn import ChatTurn
from core.conversation import add_message, history
from core.csvfiles import CSVError
from core.events import recent_events, record_event
from core.memory import facts, remember, scope_for
from core.sessions import ensure_session
from core.tasks import add_task, import_tasks, list_tasks
from llm.providers.cloud import CloudProvider
from llm.router import Router, RouterSettings
from standins.openai_server import FakeOpenAI, RawContent
from store.db import Database
from store.text import storable

HOSTILE = "Call\x00 Acme \ud800now"
SAVED = "Call Acme \ufffdnow"


def test_storable_changes_only_what_cannot_be_stored() -> None:
    assert storable(HOSTILE) == SAVED
    plain = "Tabs\tnewlines\n, accents é and emoji \U0001f30a"
    assert storable(plain) is plain


def test_every_kind_of_user_text_saves_on_this_database(db: Database) -> None:
    sid = ensure_session(db, None)
    add_message(db, sid, "user", HOSTILE)
    add_task(db, sid, HOSTILE, notes=HOSTILE)
    remember(db, scope_for(db, sid), "company", HOSTILE)
    record_event(db, sid, "form_submitted", f"Added the task '{HOSTILE}'")
    assert history(db, sid)[0].content == SAVED
    assert [(t.title, t.notes) for t in list_tasks(db, sid)] == [(SAVED, SAVED)]
    assert facts(db, scope_for(db, sid))["company"] == SAVED
    assert SAVED in recent_events(db, sid, 5)[0].summary


def test_a_csv_with_nul_bytes_is_refused_with_a_sentence_and_nothing_saved(
    db: Database,
) -> None:
    sid = ensure_session(db, None)
    add_task(db, sid, "Call Acme")
    with pytest.raises(CSVError, match="binary file .* export it again as CSV UTF-8"):
        import_tasks(db, sid, b"title,notes\nEmail\x00 Globex,first\n")
    assert [t.title for t in list_tasks(db, sid)] == ["Call Acme"]


def test_a_model_answer_with_nul_and_bad_escapes_is_stored(db: Database) -> None:
    with FakeOpenAI(api_key="sk-storable-0123456789") as cloud:
        cloud.enqueue(RawContent(b"\\u0000\\ud800"))
        router = Router(db, providers={"cloud": CloudProvider(
            api_key="sk-storable-0123456789", base_url=cloud.base_url)},
            settings=RouterSettings())
        sid = ensure_session(db, None)
        turn = ChatTurn(db, sid, "Is the\x00 café nice?", router=router)
        "".join(turn.stream())
    user, answer = history(db, sid)
    assert user.content == "Is the café nice?"
    assert answer.status == "ok" and answer.content == "Caf \ufffd  is open."


@pytest.mark.parametrize("text", ["\x00", " \x00 \n"])
def test_a_message_of_nothing_but_nul_is_empty(db: Database, text: str) -> None:
    from assistant.turn import ChatInputError

    sid = ensure_session(db, None)
    with pytest.raises(ChatInputError, match="empty"):
        ChatTurn(db, sid, text, router=Router(db, providers={}, settings=RouterSettings()))
    assert history(db, sid) == []
