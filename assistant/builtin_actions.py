"""The built-in actions: remember and forget facts, open pages, minimise and expand step
cards, add, change, complete, delete, list and clear tasks, and calculate.

Each is a handler (and, for a destructive one, a ``prepare`` that asks the question and
pins the args the click will run with) registered with ``assistant.actions.register``,
the same way any other action would be. Handlers raise ``ValueError`` (``TaskError``, the
memory store's sentences) for what the user can fix; the registry turns that into an
unsuccessful ``Outcome``. ``assistant/__init__.py`` imports this module, so the built-ins
are registered whenever the package is used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from assistant import calculator
from assistant.actions import Action, ActionContext, Outcome, Run, register
from core import memory, tasks
from core.people import owner
from llm import settings
from store.owners import LOCAL_USER


def _match(wanted: str, options: Sequence[str]) -> str | None:
    """``"competitive analysis"`` finds ``"Competitive analysis"``; so do case and spacing."""
    def squash(text: str) -> str:
        return re.sub(r"[\W_]+", "", text.casefold())

    for option in options:
        if option.casefold() == wanted.strip().casefold():
            return option
    for option in options:
        if squash(option) == squash(wanted) and squash(wanted):
            return option
    return None


def _text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


def _args(required: Sequence[str] = (), **properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


PRIORITY = {"type": "integer", "minimum": 1, "maximum": 5}
TASK_REF = {"type": ["integer", "string"], "minLength": 1, "maxLength": tasks.TITLE_LIMIT}


def _scope(ctx: ActionContext) -> str:
    return memory.scope_for(ctx.db, ctx.session_id)


def _remember_fact(ctx: ActionContext, args: dict[str, Any]) -> Outcome:
    fact = memory.remember(ctx.db, _scope(ctx), args["key"], args["value"])
    return Outcome(True, f"I'll remember that {fact.key.replace('_', ' ')} is {fact.value}.")


def _forget_fact(ctx: ActionContext, args: dict[str, Any]) -> Outcome:
    if memory.forget(ctx.db, _scope(ctx), args["key"]):
        return Outcome(True, f"I have forgotten {args['key']}.")
    known = ", ".join(memory.facts(ctx.db, _scope(ctx))) or "none yet"
    return Outcome(
        False, f"Nothing is remembered as '{args['key']}'; the remembered facts are: {known}."
    )


def _card(expanded: bool) -> Run:
    def run(ctx: ActionContext, args: dict[str, Any]) -> Outcome:
        key = args["key"]
        if ctx.cards:
            found = _match(key, ctx.cards)
            if found is None:
                raise ValueError(
                    f"There is no step called '{key}' on this page; the steps are: "
                    f"{', '.join(ctx.cards)}."
                )
            key = found
        verb = "Expanded" if expanded else "Minimised"
        return Outcome(True, f"{verb} '{key}'.", {"type": "card", "key": key,
                                                   "expanded": expanded})

    return run


def _go_to_page(ctx: ActionContext, args: dict[str, Any]) -> Outcome:
    page = args["page"].strip()
    if ctx.pages:
        found = _match(page, ctx.pages)
        if found is None:
            raise ValueError(
                f"There is no page called '{page}'; the pages are: {', '.join(ctx.pages)}."
            )
        page = found
    return Outcome(True, f"Opening the {page} page.", {"type": "navigate", "page": page})


def _add_task(ctx: ActionContext, args: dict[str, Any]) -> Outcome:
    task = tasks.add_task(
        ctx.db, ctx.session_id, args["title"], args.get("priority", tasks.DEFAULT_PRIORITY)
    )
    return Outcome(True, f"Added the task '{task.title}' (priority {task.priority}).")


def _update_task(ctx: ActionContext, args: dict[str, Any]) -> Outcome:
    task = tasks.find_task(ctx.db, ctx.session_id, args["task"])
    changed = tasks.update_task(
        ctx.db, ctx.session_id, task.id,
        title=args.get("title"), priority=args.get("priority"), notes=args.get("notes"),
    )
    what = []
    if changed.title != task.title:
        what.append(f"renamed to '{changed.title}'")
    if changed.priority != task.priority:
        what.append(f"priority {changed.priority}")
    if changed.notes != task.notes:
        what.append("notes updated")
    return Outcome(True, f"Updated the task '{task.title}': {', '.join(what) or 'no change'}.")


def _complete_task(ctx: ActionContext, args: dict[str, Any]) -> Outcome:
    task = tasks.find_task(ctx.db, ctx.session_id, args["task"])
    if task.done:
        return Outcome(True, f"The task '{task.title}' was already done.")
    tasks.complete_task(ctx.db, ctx.session_id, task.id)
    return Outcome(True, f"Marked the task '{task.title}' as done.")


def _prepare_delete_task(ctx: ActionContext, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    task = tasks.find_task(ctx.db, ctx.session_id, args["task"])
    return f"Delete the task '{task.title}'?", {"task": task.id}


def _delete_task(ctx: ActionContext, args: dict[str, Any]) -> Outcome:
    task = tasks.find_task(ctx.db, ctx.session_id, args["task"])
    gone = tasks.delete_task(ctx.db, ctx.session_id, task.id)
    return Outcome(True, f"Deleted the task '{gone.title}'.")


def describe_tasks(listed: Sequence[tasks.Task]) -> str:
    """The task list in one short paragraph (what list_tasks tells the user)."""
    if not listed:
        return "Your task list is empty."
    open_ones = [t for t in listed if not t.done]
    done = [t for t in listed if t.done]
    parts = []
    if open_ones:
        items = "; ".join(f"#{t.id} {t.title} (priority {t.priority})" for t in open_ones)
        parts.append(f"{len(open_ones)} open: {items}.")
    if done:
        parts.append(f"{len(done)} done: {'; '.join(f'#{t.id} {t.title}' for t in done)}.")
    return " ".join(parts)


def _list_tasks(ctx: ActionContext, args: dict[str, Any]) -> Outcome:
    return Outcome(True, describe_tasks(tasks.list_tasks(ctx.db, ctx.session_id)))


def _prepare_clear_tasks(ctx: ActionContext, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    count = len(tasks.list_tasks(ctx.db, ctx.session_id))
    if not count:
        raise tasks.TaskError("The task list is already empty; there is nothing to clear.")
    return f"Delete all {count} task{'s' if count != 1 else ''} on your list?", {}


def _clear_tasks(ctx: ActionContext, args: dict[str, Any]) -> Outcome:
    count = tasks.clear_tasks(ctx.db, ctx.session_id)
    return Outcome(True, f"Deleted {count} task{'s' if count != 1 else ''}.")


SHARED_SETTINGS = {  # what the assistant may change for an admin, as the user says it
    "privacy_mode": "the privacy mode (keep_local or redact)",
    "allow_cloud": "the cloud switch (on or off)",
    "daily_budget_usd": "the team's daily cloud budget",
    "user_daily_budget_usd": "the daily cloud budget per person",
    "session_budget_usd": "the per-session cloud budget",
}
_ON, _OFF = ("on", "true", "yes", "allow", "allowed"), ("off", "false", "no", "block", "none")


def _setting_value(key: str, value: str) -> Any:
    value = value.strip()
    if key == "allow_cloud":
        if value.lower() not in _ON + _OFF:
            raise ValueError("The cloud switch is on or off.")
        return value.lower() in _ON
    if key.endswith("_usd"):
        return None if value.lower() in ("none", "no cap", "") else value.removeprefix("$")
    return value


def _prepare_change_setting(ctx: ActionContext, args: dict[str, Any]
                            ) -> tuple[str, dict[str, Any]]:
    key = args["setting"]
    value = _setting_value(key, args["value"])
    settings.validate(key, value)  # a bad value is refused before anyone is asked
    return f"Change {SHARED_SETTINGS[key]} to {args['value'].strip()} for everyone?", args


def _change_setting(ctx: ActionContext, args: dict[str, Any]) -> Outcome:
    key = args["setting"]
    settings.save(ctx.db, by=owner(ctx.db, ctx.session_id) or LOCAL_USER,
                  **{key: _setting_value(key, args["value"])})
    return Outcome(True, f"Changed {SHARED_SETTINGS[key]} to {args['value'].strip()}.")


def _calculate(ctx: ActionContext, args: dict[str, Any]) -> Outcome:
    """Exact arithmetic, never ``eval``: a CalculationError (a ValueError) says what failed."""
    return Outcome(True, calculator.calculate(args["expression"]).sentence())


register(Action(
    "remember_fact",
    "Remember something the user tells you about themselves (name, favourite colour, ...).",
    _args(["key", "value"], key=_text(memory.KEY_LIMIT), value=_text(memory.VALUE_LIMIT)),
    destructive=False, run=_remember_fact, grounded=("value",),
))
register(Action(
    "forget_fact", "Forget a remembered fact when the user asks you to.",
    _args(["key"], key=_text(memory.KEY_LIMIT)),
    destructive=False, run=_forget_fact, grounded=("key",),
))
register(Action(
    "minimise_card", "Minimise (collapse) a step card on the current page.",
    _args(["key"], key=_text(120)), destructive=False, run=_card(expanded=False),
))
register(Action(
    "expand_card", "Expand (open) a step card on the current page.",
    _args(["key"], key=_text(120)), destructive=False, run=_card(expanded=True),
))
register(Action(
    "go_to_page", "Open another page of the app.",
    _args(["page"], page=_text(60)), destructive=False, run=_go_to_page,
))
register(Action(
    "add_task", "Add a task to the user's task list. Priority 1 is the most urgent, 5 the least.",
    _args(["title"], title=_text(tasks.TITLE_LIMIT), priority=PRIORITY),
    destructive=False, run=_add_task, grounded=("title",),
))
register(Action(
    "update_task", "Change a task's title, priority or notes. task is its number or title.",
    _args(["task"], task=TASK_REF, title=_text(tasks.TITLE_LIMIT), priority=PRIORITY,
          notes={"type": "string", "maxLength": tasks.NOTES_LIMIT}),
    destructive=False, run=_update_task, grounded=("task", "title", "notes"),
))
register(Action(
    "complete_task", "Mark a task as done. task is its number or title.",
    _args(["task"], task=TASK_REF), destructive=False, run=_complete_task,
    grounded=("task",),
))
register(Action(
    "delete_task", "Delete a task. task is its number or title.",
    _args(["task"], task=TASK_REF), destructive=True, run=_delete_task,
    prepare=_prepare_delete_task, grounded=("task",),
))
register(Action(
    "list_tasks", "Show the user's task list.", _args(), destructive=False, run=_list_tasks,
))
register(Action(
    "clear_tasks", "Delete every task on the list.", _args(), destructive=True,
    run=_clear_tasks, prepare=_prepare_clear_tasks,
))
register(Action(
    "calculate",
    "Calculate an arithmetic expression exactly: numbers, + - * / // % **, parentheses.",
    _args(["expression"], expression=_text(calculator.MAX_CHARS)),
    destructive=False, run=_calculate, grounded=("expression",),
))
register(Action(
    "change_setting",
    "Change a shared setting (admins only): the privacy mode, the cloud switch or a cloud "
    "budget. value is what the user asked for, e.g. 2.50, none, on, off, redact.",
    _args(["setting", "value"], setting={"enum": list(SHARED_SETTINGS)}, value=_text(40)),
    destructive=True, run=_change_setting, prepare=_prepare_change_setting,
    grounded=("value",), shared=True,
))
