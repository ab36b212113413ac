"""Facts first through the real sidebar chat (AppTest): the five questions a new user asked
on the embedded model, answered exactly from Ambient's data, with an honest caption."""

from __future__ import annotations

from sqlalchemy import func, select

from components.navigation import page_titles
from core.memory import remember, scope_for
from store.db import get_database, utcnow
from store.models import JobRow, LLMCallRow
from tests.apptest import new_app, rerun


def send(at, text: str):  # noqa: ANN001, ANN201
    at.sidebar.chat_input[0].set_value(text)
    rerun(at)
    assert not at.exception
    user, reply = at.sidebar.chat_message[-2:]
    assert user.markdown[0].value == text and reply.name == "assistant"
    captions = [c.value for c in reply.caption]
    assert any(c.startswith("Answered from Ambient's data (") and c.endswith("no model call")
               for c in captions), captions
    return reply.markdown[0].value


def test_the_five_questions_are_answered_from_data_in_the_sidebar(app_env: str) -> None:
    at = new_app()
    at.run()
    assert not at.exception
    db, sid = get_database(), at.session_state.session_id

    answer = send(at, "What can you do?")
    assert "Add a task to your task list." in answer and "Calculate an arithmetic" in answer
    assert f"Pages I can open for you: {', '.join(page_titles())}." in answer

    answer = send(at, "Summarise what I just did")
    assert answer.splitlines()[-1] == "- just now on Home: Opened the Home page"

    answer = send(at, "What is my name?")
    assert answer.startswith("I don't know your name: it is not in Memory.")
    assert "“My name is …”" in answer
    remember(db, scope_for(db, sid), "name", "Ann")
    assert send(at, "What is my name?") == "Your name is Ann."

    assert send(at, "What is 17*23?") == "17 * 23 = 391"

    with db.write() as s:
        s.add(JobRow(id="f" * 32, session_id=sid, kind="long_job", title="Long job",
                     status="interrupted", total=12, completed=5, failed=0,
                     created_at=utcnow(), heartbeat_at=utcnow()))
    answer = send(at, "How is my job going?")
    assert answer.startswith("Long job: interrupted after 5 of 12 items; it can be resumed")
    assert "See it on the Long job page." in answer

    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(LLMCallRow)) == 0  # no model call
