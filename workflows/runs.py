"""Workflow runs: a page's steps, their states and data, and which step cards are open.

A workflow page is a notebook of steps. The run lives in the database, so a half-done
run resumes after a reload: finished steps stay finished, their data stays, and the
cards stay open or closed as the user (or the assistant) left them. Finishing a step
closes its card and opens the next waiting one; reverting a step sends it and every
step after it back to waiting, so they can be redone.

A step whose result is what the user came for (a model's reading, a greeting) finishes
with ``stay_open=True``: its card stays open on the result, and closes only when the user
moves on (finishes a later step) or closes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from store.db import Database, utcnow
from store.models import WorkflowRunRow
from store.owners import LOCAL_USER, owner_of, session_owner

STATES = ("waiting", "done", "failed")


@dataclass(frozen=True)
class Run:
    id: int
    workflow: str
    order: tuple[str, ...]
    steps: dict[str, dict[str, Any]]
    data: dict[str, Any] = field(default_factory=dict)

    def state(self, key: str) -> str:
        return self.steps[key]["state"]

    def is_open(self, key: str) -> bool:
        return bool(self.steps[key]["open"])

    def note(self, key: str) -> str:
        return self.steps[key].get("note", "")

    def done(self, key: str) -> bool:
        return self.state(key) == "done"

    @property
    def finished(self) -> bool:
        return all(self.done(k) for k in self.order)

    def step_data(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def _fresh_steps(order: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {key: {"state": "waiting", "open": i == 0, "note": ""} for i, key in enumerate(order)}


def _run(row: WorkflowRunRow, order: Sequence[str]) -> Run:
    steps = dict(row.steps or {})
    for index, key in enumerate(order):
        steps.setdefault(key, {"state": "waiting", "open": index == 0, "note": ""})
    return Run(row.id, row.workflow, tuple(order), steps, dict(row.data or {}))


def get_run(db: Database, session_id: str, workflow: str, order: Sequence[str]) -> Run:
    """The session's active run of ``workflow``, created (first step open) if there is none."""
    query = (
        select(WorkflowRunRow)
        .where(
            WorkflowRunRow.user == session_owner(session_id),
            WorkflowRunRow.workflow == workflow,
            WorkflowRunRow.status == "active",
        )
        .order_by(WorkflowRunRow.id.desc())
        .limit(1)
    )
    with db.read() as s:
        row = s.scalars(query).first()
    if row is not None:
        return _run(row, order)
    with db.write() as s:
        row = s.scalars(query).first()
        if row is None:
            row = WorkflowRunRow(session_id=session_id, workflow=workflow, status="active",
                                 user=owner_of(s, session_id) or LOCAL_USER,
                                 steps=_fresh_steps(order), data={})
            s.add(row)
            s.flush()
        return _run(row, order)


def _change(db: Database, run: Run, change: Any) -> Run:
    """Apply ``change(steps, data)`` to the stored run inside one write transaction."""
    with db.write() as s:
        row = s.get(WorkflowRunRow, run.id)
        if row is None:
            raise ValueError("This workflow run no longer exists; reload the page.")
        current = _run(row, run.order)
        steps = {k: dict(v) for k, v in current.steps.items()}
        data = dict(current.data)
        change(steps, data)
        s.execute(
            update(WorkflowRunRow)
            .where(WorkflowRunRow.id == run.id)
            .values(steps=steps, data=data, updated_at=utcnow())
        )
    return Run(run.id, run.workflow, run.order, steps, data)


def complete_step(db: Database, run: Run, key: str, data: Any = None, note: str = "",
                  *, stay_open: bool = False) -> Run:
    """Mark ``key`` done with its data; close its card (unless ``stay_open``: it holds its
    result in view until a later step is done) and open the next waiting step. Earlier
    cards held open on their result close now: the user has moved on."""

    def change(steps: dict[str, dict[str, Any]], stored: dict[str, Any]) -> None:
        for earlier in run.order[: run.order.index(key)]:
            if steps[earlier].pop("held", False):
                steps[earlier]["open"] = False
        steps[key].update(state="done", open=stay_open, note=note)
        if stay_open:
            steps[key]["held"] = True
        if data is not None:
            stored[key] = data
        later = run.order[run.order.index(key) + 1 :]
        for following in later:
            if steps[following]["state"] != "done":
                steps[following]["open"] = True
                break

    return _change(db, run, change)


def fail_step(db: Database, run: Run, key: str, note: str) -> Run:
    def change(steps: dict[str, dict[str, Any]], _: dict[str, Any]) -> None:
        steps[key].update(state="failed", open=True, note=note)

    return _change(db, run, change)


def revert_step(db: Database, run: Run, key: str) -> Run:
    """Send ``key`` and every later step back to waiting (their data is dropped)."""

    def change(steps: dict[str, dict[str, Any]], stored: dict[str, Any]) -> None:
        for following in run.order[run.order.index(key) :]:
            steps[following].update(state="waiting", open=following == key, note="")
            stored.pop(following, None)

    return _change(db, run, change)


def set_open(db: Database, run: Run, key: str, is_open: bool) -> Run:
    """Open or close a card by hand: it is then the user's, never closed for them."""

    def change(steps: dict[str, dict[str, Any]], _: dict[str, Any]) -> None:
        steps[key]["open"] = is_open
        steps[key].pop("held", None)

    return _change(db, run, change)


def save_data(db: Database, run: Run, key: str, data: Any) -> Run:
    """Keep a step's draft data without finishing it."""

    def change(_: dict[str, dict[str, Any]], stored: dict[str, Any]) -> None:
        stored[key] = data

    return _change(db, run, change)


def restart(db: Database, session_id: str, workflow: str, order: Sequence[str]) -> Run:
    """Archive the active run and start a fresh one."""
    with db.write() as s:
        s.execute(
            update(WorkflowRunRow)
            .where(
                WorkflowRunRow.user == session_owner(session_id),
                WorkflowRunRow.workflow == workflow,
                WorkflowRunRow.status == "active",
            )
            .values(status="archived", updated_at=utcnow())
        )
    return get_run(db, session_id, workflow, order)
