from __future__ import annotations

import pytest

from core.events import digest, recent_events, record_event
from core.sessions import ensure_session
from store.db import Database


def test_events_are_stored_in_order_and_kept_per_session(db: Database) -> None:
    mine, other = ensure_session(db, None), ensure_session(db, None)
    record_event(db, mine, "page_opened", "Opened the Tasks page", page="Tasks")
    record_event(db, other, "page_opened", "Opened the Costs page", page="Costs")
    record_event(db, mine, "form_submitted", "Added task 'Call Acme'", data={"task": "Call Acme"})
    events = recent_events(db, mine)
    assert [e.kind for e in events] == ["page_opened", "form_submitted"]
    assert events[1].data == {"task": "Call Acme"}
    assert [e.summary for e in recent_events(db, other)] == ["Opened the Costs page"]


def test_recent_events_returns_the_newest_oldest_first(db: Database) -> None:
    sid = ensure_session(db, None)
    for i in range(30):
        record_event(db, sid, "step_completed", f"Step {i} done")
    events = recent_events(db, sid, limit=5)
    assert [e.summary for e in events] == [f"Step {i} done" for i in range(25, 30)]


def test_the_digest_says_what_the_user_just_did_last(db: Database) -> None:
    sid = ensure_session(db, None)
    record_event(db, sid, "page_opened", "Opened the Home page", page="Home")
    record_event(db, sid, "job_started", "Started the long job", page="Long job")
    text = digest(recent_events(db, sid))
    lines = text.splitlines()
    assert "most recent" in lines[0]
    assert lines[-1].endswith("job started on Long job: Started the long job")
    assert digest([]) == "The user has not done anything yet in this session."


def test_unknown_kinds_are_refused_and_summaries_bounded(db: Database) -> None:
    sid = ensure_session(db, None)
    with pytest.raises(ValueError, match="Unknown event kind 'mouse_moved'"):
        record_event(db, sid, "mouse_moved", "x=3 y=4")
    event = record_event(db, sid, "error_shown", "boom\n" * 500)
    assert len(event.summary) <= 300 and "\n" not in event.summary
