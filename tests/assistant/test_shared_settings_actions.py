"""Shared settings through the assistant (issue #16): an admin may change a budget or the
privacy mode by asking, after a click, and the change is audited; anyone else is refused,
asked nothing, and changes nothing — the assistant is no way around the read-only page."""

from __future__ import annotations

from assistant.actions import Outcome, Pending, Proposal, confirm, execute
from core.people import ADMINS_ONLY, sign_in
from core.sessions import ensure_session
from llm.settings import changes, stored
from store.db import Database
from tests.assistant.conftest import action_events, context

RAISE = Proposal("change_setting", {"setting": "daily_budget_usd", "value": "5.00"})


def test_a_member_cannot_change_a_shared_setting_through_the_assistant(db: Database) -> None:
    sign_in(db, "bob@example.com", admin=False)
    sid = ensure_session(db, None, "bob@example.com")
    ctx = context(db, sid)
    refused = execute(ctx, RAISE)
    assert refused == Outcome(False, ADMINS_ONLY)  # no confirmation button to click
    assert confirm(ctx, Pending(RAISE, "Change it?")) == Outcome(False, ADMINS_ONLY)
    assert confirm(ctx, RAISE) == Outcome(False, ADMINS_ONLY)
    for other in ({"setting": "privacy_mode", "value": "redact"},
                  {"setting": "allow_cloud", "value": "on"},
                  {"setting": "user_daily_budget_usd", "value": "none"}):
        assert execute(ctx, Proposal("change_setting", other)) == Outcome(False, ADMINS_ONLY)
    assert stored(db) == {} and changes(db) == []
    tried = action_events(db, sid)
    assert tried and all(not e["ok"] and e["action"] == "change_setting" for e in tried)


def test_an_admin_changes_it_after_a_click_and_the_change_is_audited(db: Database) -> None:
    sign_in(db, "ann@example.com", admin=True)
    sid = ensure_session(db, None, "ann@example.com")
    ctx = context(db, sid)
    asked = execute(ctx, RAISE)
    assert isinstance(asked, Pending)
    assert asked.summary == "Change the team's daily cloud budget to 5.00 for everyone?"
    assert stored(db) == {}  # nothing before the click
    assert confirm(ctx, asked).ok
    assert stored(db)["daily_budget_usd"] == "5.00"
    [change] = changes(db)
    assert (change.user, change.key, change.new) == ("ann@example.com", "daily_budget_usd",
                                                     "5.00")
    bad = execute(ctx, Proposal("change_setting", {"setting": "daily_budget_usd",
                                                   "value": "lots"}))
    assert not bad.ok and "must be an amount in dollars" in bad.message


def test_the_local_user_of_a_personal_install_is_the_admin(db: Database) -> None:
    ctx = context(db, ensure_session(db, None))
    asked = execute(ctx, Proposal("change_setting", {"setting": "allow_cloud",
                                                     "value": "off"}))
    assert isinstance(asked, Pending) and confirm(ctx, asked).ok
    assert stored(db)["allow_cloud"] is False
    assert [c.user for c in changes(db)] == ["local"]
