"""The action registry: what the assistant may do in the app, checked and run safely.

An action is a name, a description the model reads, a closed JSON schema for its args,
and a handler. The registry's part of an action's story (the planner's part, which turns
a message into proposals, is in ``assistant.planner``; the built-in actions themselves,
tasks, facts, pages and step cards, are in ``assistant.builtin_actions``):

1. ``register`` — an action joins ``REGISTRY`` once, with an object schema that allows no
   other properties.
2. ``validate`` — every proposal is checked against its action's JSON schema; anything
   unknown or malformed becomes a ``Rejection`` with a sentence naming the problem.
3. ``execute`` — runs safe actions at once and returns an ``Outcome``; destructive ones
   come back as ``Pending`` with a question for the user, and run only through
   ``confirm`` when the user clicks. Nothing runs unless the user started the turn.

Actions cannot touch Streamlit (nothing below ``components`` imports it): an Outcome may
carry an ``effect`` — ``{"type": "navigate", "page": "Tasks"}`` or ``{"type": "card",
"key": ..., "expanded": False}`` — that the UI layer carries out. Every run is logged as
an ``action_run`` event, so the assistant (and the user) can see what was done.

The built-ins are registered by ``assistant/__init__.py``, which imports
``assistant.builtin_actions``: Python runs a package's ``__init__`` before any of its
modules, so the registry is full whenever it is used, and this module never imports the
built-ins (they import it), so there is no import cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from core.events import record_event
from core.people import ADMINS_ONLY, is_admin
from store.db import Database

log = logging.getLogger(__name__)

USER_TURN_ONLY = "Actions run only on a turn the user started."


# -- the shapes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionContext:
    """Who is acting, where. ``pages`` and ``cards``, when given, are the only valid
    targets for go_to_page and minimise/expand_card. ``user_turn`` must be True: it says
    the user started this turn (typed a message or clicked), not a job or a narration."""

    db: Database
    session_id: str
    page: str | None = None
    user_turn: bool = False
    pages: tuple[str, ...] = ()
    cards: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    effect: dict[str, Any] | None = None


@dataclass(frozen=True)
class Proposal:
    name: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        args = dict(self.args) if isinstance(self.args, Mapping) else self.args
        return {"name": self.name, "args": args}


@dataclass(frozen=True)
class Rejection:
    reason: str
    name: str | None = None


@dataclass(frozen=True)
class Pending:
    """A destructive proposal waiting for the user's click; ``summary`` is the question."""

    proposal: Proposal
    summary: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, e.g. for a message's meta; ``validate()`` turns it back into a Proposal."""
        return {**self.proposal.to_dict(), "summary": self.summary}


Run = Callable[[ActionContext, dict[str, Any]], Outcome]
Prepare = Callable[[ActionContext, dict[str, Any]], tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Action:
    name: str
    description: str  # what the model reads
    schema: dict[str, Any]  # JSON schema of the args, additionalProperties false
    destructive: bool
    run: Run
    # Destructive actions: the question to ask and the args the click will run with
    # (a title resolved to an id, so the click deletes exactly what the question named).
    prepare: Prepare | None = None
    # Args whose words must come from the user's message when the planner proposes them.
    grounded: tuple[str, ...] = ()
    # Changes a setting everyone shares (a budget, the privacy mode, ...): admins only.
    shared: bool = False


REGISTRY: dict[str, Action] = {}


def register(action: Action) -> Action:
    if action.name in REGISTRY:
        raise ValueError(f"An action called {action.name!r} is already registered.")
    schema = action.schema
    if schema.get("type") != "object" or schema.get("additionalProperties") is not False:
        raise ValueError(
            f"The args schema of {action.name!r} must be an object schema with "
            "additionalProperties false."
        )
    jsonschema.Draft202012Validator.check_schema(action.schema)
    REGISTRY[action.name] = action
    return action


# -- validation --------------------------------------------------------------------------


def _reason(action: Action, error: ValidationError) -> str:
    properties = action.schema.get("properties", {})
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [f for f in error.validator_value if f not in error.instance]
        return f"The action {action.name} needs '{missing[0]}', and it was not given."
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = sorted(k for k in error.instance if k not in properties)
        takes = ", ".join(f"'{p}'" for p in properties) or "no arguments"
        return f"The action {action.name} does not take '{extra[0]}'; it takes {takes}."
    where = "/".join(str(p) for p in error.absolute_path)
    if where:
        return f"The '{where}' of {action.name} is not valid: {error.message}."
    return f"The arguments of {action.name} are not valid: {error.message}."


def validate(raw: object) -> Proposal | Rejection:
    """A raw proposal (``{"name": ..., "args": {...}}`` or a Proposal) checked in full."""
    if isinstance(raw, Proposal):
        raw = raw.to_dict()
    if not isinstance(raw, Mapping):
        return Rejection(f"An action must be an object with a name and args, not {raw!r:.80}.")
    name = raw.get("name")
    action = REGISTRY.get(name) if isinstance(name, str) else None
    if action is None:
        known = ", ".join(REGISTRY)
        return Rejection(f"There is no action called {name!r:.60}; the actions are: {known}.")
    args = raw.get("args", {})
    if not isinstance(args, Mapping):
        return Rejection(
            f"The args of {action.name} must be an object, not {type(args).__name__}.", name
        )
    args = dict(args)
    error = best_match(jsonschema.Draft202012Validator(action.schema).iter_errors(args))
    if error is not None:
        return Rejection(_reason(action, error), name)
    return Proposal(action.name, args)


# -- running -----------------------------------------------------------------------------


def _guarded(call: Callable[[], Any]) -> Any:
    """Run a handler step; a failure becomes an unsuccessful Outcome, never a crash."""
    try:
        return call()
    except ValueError as exc:  # TaskError and the memory store's sentences
        return Outcome(False, str(exc))
    except Exception as exc:
        log.exception("action failed")
        return Outcome(
            False, f"The action failed ({exc.__class__.__name__}: {exc}); try again."
        )


def _refused(ctx: ActionContext, action: Action) -> Outcome | None:
    """A shared setting asked for by someone who is not an admin: refused, whoever asks."""
    if action.shared and not is_admin(ctx.db, ctx.session_id):
        return Outcome(False, ADMINS_ONLY)
    return None


def _run(ctx: ActionContext, proposal: Proposal, *, confirmed: bool) -> Outcome:
    action = REGISTRY[proposal.name]
    outcome = _refused(ctx, action) or _guarded(lambda: action.run(ctx, dict(proposal.args)))
    try:
        record_event(
            ctx.db, ctx.session_id, "action_run",
            f"{'Ran' if outcome.ok else 'Tried'} {action.name}: {outcome.message}",
            page=ctx.page,
            data={"action": action.name, "args": proposal.args, "ok": outcome.ok,
                  "message": outcome.message, "effect": outcome.effect,
                  "confirmed": confirmed},
        )
    except Exception:  # the action happened; a lost log line must not hide that
        log.exception("could not log the action %s", action.name)
    return outcome


def execute(ctx: ActionContext, proposal: Proposal) -> Outcome | Pending:
    """Run a safe action now; a destructive one returns Pending and changes nothing."""
    if not ctx.user_turn:
        return Outcome(False, USER_TURN_ONLY)
    checked = validate(proposal)
    if isinstance(checked, Rejection):
        return Outcome(False, checked.reason)
    action = REGISTRY[checked.name]
    if not action.destructive or _refused(ctx, action):  # a refusal asks nothing first
        return _run(ctx, checked, confirmed=False)
    if action.prepare is None:
        return Pending(checked, f"Run {action.name}?")
    prepared = _guarded(lambda: action.prepare(ctx, dict(checked.args)))  # type: ignore[misc]
    if isinstance(prepared, Outcome):
        return prepared
    summary, args = prepared
    return Pending(Proposal(checked.name, args), summary)


def confirm(ctx: ActionContext, pending: Pending | Proposal) -> Outcome:
    """Run what the user clicked to confirm (destructive or not)."""
    if not ctx.user_turn:
        return Outcome(False, USER_TURN_ONLY)
    proposal = pending.proposal if isinstance(pending, Pending) else pending
    checked = validate(proposal)
    if isinstance(checked, Rejection):
        return Outcome(False, checked.reason)
    return _run(ctx, checked, confirmed=True)
