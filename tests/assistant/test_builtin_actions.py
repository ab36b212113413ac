"""The built-in actions as a user meets them: facts remembered and forgotten, tasks found
by title or number, deletions that wait for a click and delete what they named, and the
page and card effects the UI carries out."""

from __future__ import annotations

from assistant.actions import Outcome, Pending, Proposal, confirm, execute
from assistant.builtin_actions import describe_tasks
from core.memory import facts, scope_for
from core.sessions import ensure_session
from core.tasks import add_task, complete_task, find_task, list_tasks, update_task
from store.db import Database
from tests.assistant.conftest import PAGES, action_events, context, titles

# -- facts and tasks ----------------------------------------------------------------------


def test_remember_and_forget_a_fact(db: Database, sid: str) -> None:
    ctx = context(db, sid)
    outcome = execute(ctx, Proposal("remember_fact", {"key": "Favourite colour",
                                                      "value": "green"}))
    assert outcome.ok and "favourite colour is green" in outcome.message
    assert facts(db, scope_for(db, sid)) == {"favourite_colour": "green"}
    assert execute(ctx, Proposal("forget_fact", {"key": "favourite colour"})).ok
    assert facts(db, scope_for(db, sid)) == {}
    missing = execute(ctx, Proposal("forget_fact", {"key": "shoe size"}))
    assert not missing.ok and "Nothing is remembered as 'shoe size'" in missing.message


def test_task_actions_find_tasks_by_title_or_number(db: Database, sid: str) -> None:
    ctx = context(db, sid)
    acme = add_task(db, sid, "Call Acme")
    changed = execute(ctx, Proposal("update_task", {"task": "call acme", "priority": 1,
                                                    "notes": "renewal"}))
    assert changed == Outcome(True, "Updated the task 'Call Acme': priority 1, notes updated.")
    assert find_task(db, sid, acme.id).notes == "renewal"
    done = execute(ctx, Proposal("complete_task", {"task": acme.id}))
    assert done == Outcome(True, "Marked the task 'Call Acme' as done.")
    assert execute(ctx, Proposal("complete_task", {"task": f"#{acme.id}"})).message == (
        "The task 'Call Acme' was already done."
    )
    add_task(db, sid, "Email Globex", priority=1)
    listed = execute(ctx, Proposal("list_tasks", {}))
    assert listed.ok
    assert listed.message == (
        f"1 open: #{acme.id + 1} Email Globex (priority 1). 1 done: #{acme.id} Call Acme."
    )


def test_the_task_list_reads_as_one_short_paragraph(db: Database, sid: str) -> None:
    assert describe_tasks([]) == "Your task list is empty."
    first = add_task(db, sid, "Call Acme", priority=2)
    second = add_task(db, sid, "Email Globex")
    assert describe_tasks(list_tasks(db, sid)) == (
        f"2 open: #{first.id} Call Acme (priority 2); #{second.id} Email Globex "
        f"(priority {second.priority})."
    )
    complete_task(db, sid, first.id)
    complete_task(db, sid, second.id)
    assert describe_tasks(list_tasks(db, sid)) == (
        f"2 done: #{first.id} Call Acme; #{second.id} Email Globex."
    )


# -- destructive actions wait for a click -------------------------------------------------


def test_delete_waits_for_confirmation_and_deletes_what_it_named(
    db: Database, sid: str
) -> None:
    ctx = context(db, sid)
    acme = add_task(db, sid, "Call Acme")
    add_task(db, sid, "Email Globex")
    pending = execute(ctx, Proposal("delete_task", {"task": "call acme"}))
    assert isinstance(pending, Pending)
    assert pending.summary == "Delete the task 'Call Acme'?"
    assert pending.proposal == Proposal("delete_task", {"task": acme.id})
    assert titles(db, sid) == ["Call Acme", "Email Globex"]
    assert action_events(db, sid) == []

    # A rename between the question and the click does not redirect the click.
    update_task(db, sid, acme.id, title="Call Acme Corp")
    add_task(db, sid, "Call Acme")
    outcome = confirm(ctx, pending)
    assert outcome == Outcome(True, "Deleted the task 'Call Acme Corp'.")
    assert titles(db, sid) == ["Email Globex", "Call Acme"]
    [event] = action_events(db, sid)
    assert event["action"] == "delete_task" and event["confirmed"] is True

    again = confirm(ctx, pending)
    assert not again.ok and f"no task #{acme.id}" in again.message


def test_clear_tasks_asks_first_and_refuses_an_empty_list(db: Database, sid: str) -> None:
    ctx = context(db, sid)
    assert execute(ctx, Proposal("clear_tasks", {})) == Outcome(
        False, "The task list is already empty; there is nothing to clear."
    )
    other = ensure_session(db, None, "bob@example.com")  # someone else's list
    add_task(db, other, "Not yours")
    add_task(db, sid, "Call Acme")
    add_task(db, sid, "Email Globex")
    pending = execute(ctx, Proposal("clear_tasks", {}))
    assert isinstance(pending, Pending)
    assert pending.summary == "Delete all 2 tasks on your list?"
    assert len(list_tasks(db, sid)) == 2
    assert confirm(ctx, pending) == Outcome(True, "Deleted 2 tasks.")
    assert list_tasks(db, sid) == []
    assert titles(db, other) == ["Not yours"]


def test_a_destructive_proposal_for_a_missing_task_says_so_at_once(
    db: Database, sid: str
) -> None:
    outcome = execute(context(db, sid), Proposal("delete_task", {"task": "Call Initech"}))
    assert isinstance(outcome, Outcome) and not outcome.ok
    assert "No task called 'Call Initech'" in outcome.message


# -- effects for the UI -------------------------------------------------------------------


def test_go_to_page_returns_a_navigate_effect(db: Database, sid: str) -> None:
    outcome = execute(context(db, sid, pages=PAGES), Proposal("go_to_page",
                                                              {"page": "costs"}))
    assert outcome == Outcome(True, "Opening the Costs page.",
                              {"type": "navigate", "page": "Costs"})
    spaced = execute(context(db, sid, pages=PAGES),
                     Proposal("go_to_page", {"page": "competitive-analysis"}))
    assert spaced.effect == {"type": "navigate", "page": "Competitive analysis"}
    unknown = execute(context(db, sid, pages=PAGES), Proposal("go_to_page",
                                                              {"page": "Billing"}))
    assert not unknown.ok and unknown.effect is None
    assert "no page called 'Billing'" in unknown.message and "Costs" in unknown.message
    anything = execute(context(db, sid), Proposal("go_to_page", {"page": "Reports"}))
    assert anything.effect == {"type": "navigate", "page": "Reports"}


def test_card_actions_return_card_effects(db: Database, sid: str) -> None:
    ctx = context(db, sid, cards=("upload", "aspects"))
    assert execute(ctx, Proposal("minimise_card", {"key": "Upload"})).effect == {
        "type": "card", "key": "upload", "expanded": False,
    }
    assert execute(ctx, Proposal("expand_card", {"key": "aspects"})).effect == {
        "type": "card", "key": "aspects", "expanded": True,
    }
    unknown = execute(ctx, Proposal("expand_card", {"key": "results"}))
    assert not unknown.ok and "the steps are: upload, aspects" in unknown.message
