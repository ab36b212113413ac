"""The action registry: the built-ins are registered whatever is imported first, schemas
are closed, proposals are validated with a reason, handler failures become outcomes, and
nothing runs without the user's turn or, when destructive, the user's click."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from assistant.actions import (
    REGISTRY,
    USER_TURN_ONLY,
    Action,
    ActionContext,
    Outcome,
    Pending,
    Proposal,
    Rejection,
    confirm,
    execute,
    register,
    validate,
)
from core.events import recent_events
from core.memory import facts, scope_for
from core.tasks import add_task, list_tasks
from store.db import Database
from tests.assistant.conftest import action_events, context, titles

BUILTINS = {
    "remember_fact", "forget_fact", "minimise_card", "expand_card", "go_to_page",
    "add_task", "update_task", "complete_task", "delete_task", "list_tasks", "clear_tasks",
    "calculate", "change_setting",
}

# -- the registry -------------------------------------------------------------------------


def test_the_registry_holds_the_built_in_actions_with_closed_schemas() -> None:
    assert set(REGISTRY) == BUILTINS
    assert {a.name for a in REGISTRY.values() if a.destructive} == {
        "delete_task", "clear_tasks", "change_setting"}  # a shared setting waits for a click
    for action in REGISTRY.values():
        assert action.schema["additionalProperties"] is False
        assert action.description.endswith(".")


@pytest.mark.parametrize(
    "first", ["assistant.actions", "assistant.builtin_actions", "assistant.planner"]
)
def test_the_built_ins_are_registered_whichever_module_is_imported_first(first: str) -> None:
    probe = (
        f"import {first}\n"
        "from assistant.actions import REGISTRY\n"
        "print(','.join(sorted(REGISTRY)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.strip().split(",")) == BUILTINS


def test_register_refuses_a_second_action_of_the_same_name_and_open_schemas() -> None:
    def run(ctx: ActionContext, args: dict[str, Any]) -> Outcome:
        return Outcome(True, "ran")

    with pytest.raises(ValueError, match="already registered"):
        register(Action("add_task", "Again.", {"type": "object",
                                               "additionalProperties": False}, False, run))
    with pytest.raises(ValueError, match="additionalProperties false"):
        register(Action("open_schema", "Open.", {"type": "object"}, False, run))
    assert "open_schema" not in REGISTRY


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"name": "add_task", "args": {}}, "add_task needs 'title'"),
        ({"name": "add_task", "args": {"priority": 1}}, "needs 'title'"),
        ({"name": "launch_rockets", "args": {}}, "no action called 'launch_rockets'"),
        ({"args": {}}, "no action called None"),
        ({"name": "add_task", "args": {"title": "Call Acme", "colour": "red"}},
         "add_task does not take 'colour'; it takes 'title', 'priority'"),
        ({"name": "add_task", "args": ["Call Acme"]}, "args of add_task must be an object"),
        ({"name": "add_task", "args": {"title": "Call Acme", "priority": 9}},
         "'priority' of add_task is not valid: 9 is greater than the maximum of 5"),
        ({"name": "add_task", "args": {"title": ""}}, "'title' of add_task is not valid"),
        ({"name": "go_to_page", "args": {"page": "x" * 61}}, "'page' of go_to_page"),
        ({"name": "complete_task", "args": {"task": [1]}}, "'task' of complete_task"),
        ("delete all tasks", "must be an object with a name and args"),
    ],
)
def test_invalid_proposals_are_rejected_with_a_reason_naming_the_problem(
    db: Database, sid: str, raw: object, reason: str
) -> None:
    checked = validate(raw)
    assert isinstance(checked, Rejection)
    assert reason in checked.reason
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        outcome = execute(context(db, sid), Proposal(raw["name"], raw.get("args")))  # type: ignore[arg-type]
        assert outcome == Outcome(False, checked.reason)
    assert list_tasks(db, sid) == [] and action_events(db, sid) == []


def test_a_valid_proposal_comes_back_as_a_proposal() -> None:
    checked = validate({"name": "add_task", "args": {"title": "Call Acme", "priority": 1}})
    assert checked == Proposal("add_task", {"title": "Call Acme", "priority": 1})
    assert validate(checked) == checked
    assert validate({"name": "list_tasks"}) == Proposal("list_tasks", {})


# -- running ------------------------------------------------------------------------------


def test_a_safe_action_runs_at_once_and_is_logged(db: Database, sid: str) -> None:
    outcome = execute(context(db, sid), Proposal("add_task", {"title": "Call Acme",
                                                              "priority": 2}))
    assert outcome == Outcome(True, "Added the task 'Call Acme' (priority 2).")
    [task] = list_tasks(db, sid)
    assert (task.title, task.priority) == ("Call Acme", 2)
    [event] = [e for e in recent_events(db, sid) if e.kind == "action_run"]
    assert event.page == "Tasks" and "Added the task 'Call Acme'" in event.summary
    assert event.data["action"] == "add_task" and event.data["ok"] is True
    assert event.data["args"] == {"title": "Call Acme", "priority": 2}
    assert event.data["confirmed"] is False


def test_handler_errors_become_unsuccessful_outcomes(db: Database, sid: str) -> None:
    ctx = context(db, sid)
    add_task(db, sid, "Call Acme")
    duplicate = execute(ctx, Proposal("add_task", {"title": "CALL ACME"}))
    assert duplicate == Outcome(
        False, "A task called 'Call Acme' is already on the list. Give the new one a "
        "different title, or change the existing one."
    )
    missing = execute(ctx, Proposal("complete_task", {"task": "Call Initech"}))
    assert not missing.ok and "No task called 'Call Initech'" in missing.message
    nothing = execute(ctx, Proposal("update_task", {"task": "Call Acme"}))
    assert not nothing.ok and "Nothing to change" in nothing.message
    bad_key = execute(ctx, Proposal("remember_fact", {"key": "!!", "value": "x"}))
    assert not bad_key.ok and "letters or digits" in bad_key.message
    assert titles(db, sid) == ["Call Acme"]
    assert [e["ok"] for e in action_events(db, sid)] == [False, False, False, False]


def test_nothing_runs_unless_the_user_started_the_turn(db: Database, sid: str) -> None:
    add_task(db, sid, "Call Acme")
    ctx = context(db, sid, user_turn=False)
    for proposal in (
        Proposal("add_task", {"title": "Injected"}),
        Proposal("remember_fact", {"key": "name", "value": "Mallory"}),
        Proposal("delete_task", {"task": "Call Acme"}),
        Proposal("clear_tasks", {}),
    ):
        assert execute(ctx, proposal) == Outcome(False, USER_TURN_ONLY)
        assert confirm(ctx, proposal) == Outcome(False, USER_TURN_ONLY)
        assert confirm(ctx, Pending(proposal, "Sure?")) == Outcome(False, USER_TURN_ONLY)
    assert USER_TURN_ONLY == "Actions run only on a turn the user started."
    assert titles(db, sid) == ["Call Acme"]
    assert facts(db, scope_for(db, sid)) == {}
    assert action_events(db, sid) == []


def test_a_pending_action_survives_a_round_trip_through_json(db: Database, sid: str) -> None:
    ctx = context(db, sid)
    add_task(db, sid, "Call Acme")
    pending = execute(ctx, Proposal("delete_task", {"task": "Call Acme"}))
    assert isinstance(pending, Pending)
    stored = json.loads(json.dumps(pending.to_dict()))
    assert stored["summary"] == "Delete the task 'Call Acme'?"
    restored = validate(stored)
    assert isinstance(restored, Proposal)
    assert confirm(ctx, restored).ok and list_tasks(db, sid) == []
