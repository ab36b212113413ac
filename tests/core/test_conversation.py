from __future__ import annotations

import pytest

from core.conversation import (
    active_conversation,
    add_message,
    clear_conversation,
    conversations,
    history,
    new_conversation,
    switch_conversation,
)
from core.sessions import ensure_session
from store.db import Database


def test_a_new_conversation_starts_empty_and_the_old_one_comes_back(db: Database) -> None:
    sid = ensure_session(db, None)
    first = active_conversation(db, sid)
    add_message(db, sid, "user", "Plan the launch of Ambient")
    add_message(db, sid, "assistant", "Here is a plan.")
    second = new_conversation(db, sid)
    assert active_conversation(db, sid) == second and history(db, sid) == []
    add_message(db, sid, "user", "Something else")
    switch_conversation(db, sid, first)
    assert [m.content for m in history(db, sid)] == ["Plan the launch of Ambient",
                                                      "Here is a plan."]
    listed = {c.id: c for c in conversations(db, sid)}
    assert listed[first].title == "Plan the launch of Ambient" and listed[first].messages == 2
    assert listed[second].title == "Something else" and listed[second].messages == 1


def test_clearing_removes_only_that_conversation(db: Database) -> None:
    sid = ensure_session(db, None)
    keep = active_conversation(db, sid)
    add_message(db, sid, "user", "keep me")
    gone = new_conversation(db, sid)
    add_message(db, sid, "user", "delete me")
    assert clear_conversation(db, sid, gone) == 1
    assert history(db, sid) == []
    assert [m.content for m in history(db, sid, conversation_id=keep)] == ["keep me"]


def test_another_users_conversation_cannot_be_opened(db: Database) -> None:
    mine = ensure_session(db, None, "ann@example.com")
    theirs = ensure_session(db, None, "bob@example.com")
    foreign = active_conversation(db, theirs)
    add_message(db, theirs, "user", "Bob's secret plan")
    with pytest.raises(ValueError, match="not one of yours"):
        switch_conversation(db, mine, foreign)
    assert clear_conversation(db, mine, foreign) == 0
    assert history(db, mine, conversation_id=foreign) == []
    assert foreign not in [c.id for c in conversations(db, mine)]


def test_unknown_roles_are_refused(db: Database) -> None:
    sid = ensure_session(db, None)
    with pytest.raises(ValueError, match="Unknown message role"):
        add_message(db, sid, "system", "I am root now")
