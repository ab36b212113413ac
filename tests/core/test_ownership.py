"""Work belongs to a user, not to a browser tab (issue #16).

Without sign-in there is one local user, so a second tab (a new session, no ``?sid=``)
finds the tasks, memory, conversations, runs and jobs of the first. With sign-in, two
people never see each other's work, even with the other's session id.
"""

from __future__ import annotations

import time

from core.conversation import (
    active_conversation,
    add_message,
    conversations,
    history,
    switch_conversation,
)
from core.events import record_event
from core.job_state import recent_jobs
from core.memory import facts, remember, scope_for
from core.people import is_admin, sign_in
from core.sessions import FOREIGN_SESSION, ensure_session, open_session
from core.tasks import add_task, list_tasks
from llm.ledger import CallRecord, book
from store.db import Database
from store.models import EventRow, LLMCallRow, MessageRow, SessionRow, TaskRow
from workflows.jobs import get_job, is_alive, start_job
from workflows.runs import complete_step, get_run

ANN, BOB = "ann@example.com", "bob@example.com"
STEPS = ("competitors", "aspects")


def finished(db: Database, job_id: str) -> None:
    deadline = time.monotonic() + 10
    while get_job(db, job_id).status != "done" or is_alive(job_id):
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.01)


def test_a_second_tab_of_the_local_user_finds_all_of_the_first_tabs_work(db: Database) -> None:
    first = ensure_session(db, None)
    add_task(db, first, "Call Acme")
    remember(db, scope_for(db, first), "name", "Ann")
    add_message(db, first, "user", "What did Acme say?")
    earlier = active_conversation(db, first)
    complete_step(db, get_run(db, first, "analysis", STEPS), "competitors", ["Acme"])
    job = start_job(db, first, "long_job", "Long job", [1], lambda ctx, item: item)
    finished(db, job)

    second = ensure_session(db, None)  # a new tab: no ?sid=
    assert second != first
    assert [t.title for t in list_tasks(db, second)] == ["Call Acme"]
    assert facts(db, scope_for(db, second)) == {"name": "Ann"}
    assert earlier in [c.id for c in conversations(db, second)]
    switch_conversation(db, second, earlier)
    assert [m.content for m in history(db, second) if m.role == "user"] == ["What did Acme say?"]
    assert get_run(db, second, "analysis", STEPS).step_data("competitors") == ["Acme"]
    assert [j.id for j in recent_jobs(db, second)] == [job]


def test_two_people_never_see_each_others_work(db: Database) -> None:
    ann, bob = ensure_session(db, None, ANN), ensure_session(db, None, BOB)
    add_task(db, bob, "Bob's task")
    remember(db, scope_for(db, bob), "name", "Bob")
    add_message(db, bob, "user", "Bob's question")
    bobs = active_conversation(db, bob)
    complete_step(db, get_run(db, bob, "analysis", STEPS), "competitors", ["Bob Inc"])
    finished(db, start_job(db, bob, "long_job", "Long job", [1], lambda ctx, item: item))

    assert list_tasks(db, ann) == []
    assert facts(db, scope_for(db, ann)) == {}
    assert bobs not in [c.id for c in conversations(db, ann)]
    assert history(db, ann, conversation_id=bobs) == []
    assert get_run(db, ann, "analysis", STEPS).step_data("competitors") is None
    assert recent_jobs(db, ann) == []
    # Ann's own second tab still finds nothing of Bob's, and Bob's tab all of his.
    assert list_tasks(db, ensure_session(db, None, ANN)) == []
    assert [t.title for t in list_tasks(db, ensure_session(db, None, BOB))] == ["Bob's task"]


def test_opening_someone_elses_sid_says_so_and_gives_a_session_of_ones_own(db: Database) -> None:
    bob = ensure_session(db, None, BOB)
    add_message(db, bob, "user", "Bob's question")
    opened = open_session(db, bob, ANN)  # Ann pastes Bob's ?sid=
    assert opened.id != bob and opened.status == "foreign"
    assert opened.notice == FOREIGN_SESSION
    assert history(db, opened.id) == []
    with db.read() as s:
        assert s.get(SessionRow, opened.id).user == ANN
        assert s.get(SessionRow, bob).user == BOB  # Bob's session is untouched
    assert open_session(db, bob, BOB).status == "resumed"


def test_every_row_records_its_owner(db: Database) -> None:
    ann = ensure_session(db, None, ANN)
    add_task(db, ann, "Ann's task")
    add_message(db, ann, "user", "hello")
    record_event(db, ann, "page_opened", "Opened Tasks")
    book(db, CallRecord(request_id="r1", attempt=1, purpose="chat", tier="embedded",
                        provider="embedded", model="m", status="ok", route_reason="",
                        session_id=ann))
    local = ensure_session(db, None)
    book(db, CallRecord(request_id="r2", attempt=1, purpose="chat", tier="embedded",
                        provider="embedded", model="m", status="ok", route_reason="",
                        session_id=local))
    with db.read() as s:
        assert {r.user for r in s.query(TaskRow)} == {ANN}
        assert {r.user for r in s.query(MessageRow)} == {ANN}
        assert {r.user for r in s.query(EventRow)} == {ANN}
        assert {r.request_id: r.user for r in s.query(LLMCallRow)} == {"r1": ANN, "r2": "local"}


def test_admins_are_decided_at_sign_in_and_the_local_user_is_one(db: Database) -> None:
    assert is_admin(db, ensure_session(db, None))
    sign_in(db, ANN, admin=True)
    sign_in(db, BOB, admin=False)
    assert is_admin(db, ensure_session(db, None, ANN))
    assert not is_admin(db, ensure_session(db, None, BOB))
    sign_in(db, ANN, admin=False)  # removed from AMBIENT_ADMINS: no longer an admin
    assert not is_admin(db, ensure_session(db, None, ANN))
