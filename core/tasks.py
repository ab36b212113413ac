"""The task list: a prioritised to-do list per user, edited from the Tasks page or the chat.

Priority 1 is the most urgent, 5 the least; ``position`` orders tasks of equal priority
(``reorder`` sets it). Open tasks come before done ones. Every function takes the session
id and only ever touches the tasks of the session's user (every tab of theirs sees the
same list): a task id of another user is simply "not found". Errors are ``TaskError``
sentences that say what to do next.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from store.db import Database, utcnow
from store.models import TaskRow
from store.owners import lock_owner, session_owner
from store.text import storable

TITLE_LIMIT = 200
NOTES_LIMIT = 2_000
PRIORITIES = (1, 2, 3, 4, 5)
DEFAULT_PRIORITY = 3
OPEN, DONE = "open", "done"


class TaskError(ValueError):
    """A task change that cannot be made as asked; the message says what to do instead."""


@dataclass(frozen=True)
class Task:
    id: int
    title: str
    notes: str
    priority: int
    status: str
    position: int
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.status == DONE


def _task(row: TaskRow) -> Task:
    return Task(
        id=row.id,
        title=row.title,
        notes=row.notes,
        priority=row.priority,
        status=row.status,
        position=row.position,
        created_at=row.created_at,
        updated_at=row.updated_at,
        completed_at=row.completed_at,
    )


# -- checking what the user typed -------------------------------------------------------


def clean_title(title: object) -> str:
    cleaned = " ".join(storable(str(title or "")).split())
    if not cleaned:
        raise TaskError("A task needs a title; type what needs doing, e.g. 'Call Acme'.")
    if len(cleaned) > TITLE_LIMIT:
        raise TaskError(
            f"The title is {len(cleaned)} characters long; keep it to {TITLE_LIMIT} or fewer "
            "and put the details in the notes."
        )
    return cleaned


def clean_priority(priority: object) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or priority not in PRIORITIES:
        raise TaskError(
            f"Priority must be a whole number from 1 (highest) to 5 (lowest), not {priority!r}."
        )
    return priority


def clean_notes(notes: object) -> str:
    cleaned = storable(str(notes or "")).strip()
    if len(cleaned) > NOTES_LIMIT:
        raise TaskError(
            f"The notes are {len(cleaned):,} characters long; keep them to {NOTES_LIMIT:,} or "
            "fewer."
        )
    return cleaned


# -- inside a write transaction -----------------------------------------------------------


def _lock_session(s: Session, session_id: str) -> str:
    """Serialise task changes per user (a row lock on PostgreSQL; SQLite's write
    transaction is already exclusive), so two tabs cannot add the same task twice.
    Returns the user the tasks belong to."""
    owner = lock_owner(s, session_id)
    if owner is None:
        raise TaskError("This session no longer exists; reload the page to start a new one.")
    return owner


def _get(s: Session, session_id: str, task_id: int) -> TaskRow:
    row = s.scalar(
        select(TaskRow).where(TaskRow.id == task_id, TaskRow.user == session_owner(session_id))
    )
    if row is None:
        raise TaskError(
            f"There is no task #{task_id} on your list; it may have been deleted. "
            "Reload the Tasks page to see the current list."
        )
    return row


def _refuse_duplicate(s: Session, session_id: str, title: str, except_id: int | None) -> None:
    """Python's casefold, not SQL's lower(): SQLite lowers ASCII letters only."""
    wanted = title.casefold()
    for task_id, existing in s.execute(
        select(TaskRow.id, TaskRow.title).where(
            TaskRow.user == session_owner(session_id), TaskRow.status == OPEN
        )
    ):
        if task_id != except_id and existing.casefold() == wanted:
            raise TaskError(
                f"A task called '{existing}' is already on the list. "
                "Give the new one a different title, or change the existing one."
            )


# -- the public API ---------------------------------------------------------------------


def add_task(
    db: Database, session_id: str, title: str, priority: int = DEFAULT_PRIORITY, notes: str = ""
) -> Task:
    title, priority, notes = clean_title(title), clean_priority(priority), clean_notes(notes)
    with db.write() as s:
        owner = _lock_session(s, session_id)
        _refuse_duplicate(s, session_id, title, None)
        last = s.scalar(
            select(func.max(TaskRow.position)).where(TaskRow.user == session_owner(session_id))
        )
        now = utcnow()
        row = TaskRow(
            session_id=session_id, user=owner, title=title, notes=notes, priority=priority,
            status=OPEN,
            position=(last or 0) + 1, created_at=now, updated_at=now,
        )
        s.add(row)
        s.flush()
        return _task(row)


def update_task(
    db: Database,
    session_id: str,
    task_id: int,
    *,
    title: str | None = None,
    priority: int | None = None,
    notes: str | None = None,
) -> Task:
    if title is None and priority is None and notes is None:
        raise TaskError("Nothing to change: give a new title, priority or notes.")
    with db.write() as s:
        _lock_session(s, session_id)
        row = _get(s, session_id, task_id)
        if title is not None:
            row.title = clean_title(title)
            if row.status == OPEN:
                _refuse_duplicate(s, session_id, row.title, row.id)
        if priority is not None:
            row.priority = clean_priority(priority)
        if notes is not None:
            row.notes = clean_notes(notes)
        row.updated_at = utcnow()
        return _task(row)


def complete_task(db: Database, session_id: str, task_id: int) -> Task:
    """Mark the task done (a task already done stays as it was)."""
    with db.write() as s:
        row = _get(s, session_id, task_id)
        if row.status != DONE:
            row.status, row.completed_at = DONE, utcnow()
            row.updated_at = row.completed_at
        return _task(row)


def reopen_task(db: Database, session_id: str, task_id: int) -> Task:
    """Put a done task back on the open list (an open task stays as it was)."""
    with db.write() as s:
        _lock_session(s, session_id)
        row = _get(s, session_id, task_id)
        if row.status != OPEN:
            _refuse_duplicate(s, session_id, row.title, row.id)
            row.status, row.completed_at, row.updated_at = OPEN, None, utcnow()
        return _task(row)


def delete_task(db: Database, session_id: str, task_id: int) -> Task:
    """Delete the task and return it as it was (so the UI can say what went)."""
    with db.write() as s:
        row = _get(s, session_id, task_id)
        gone = _task(row)
        s.delete(row)
        return gone


def clear_tasks(db: Database, session_id: str) -> int:
    """Delete every task of the session's user; returns how many went."""
    with db.write() as s:
        gone = s.execute(delete(TaskRow).where(TaskRow.user == session_owner(session_id)))
        return gone.rowcount or 0


def list_tasks(db: Database, session_id: str, include_done: bool = True) -> list[Task]:
    """Open tasks first, then by priority (1 first), position and id."""
    query = select(TaskRow).where(TaskRow.user == session_owner(session_id))
    if not include_done:
        query = query.where(TaskRow.status == OPEN)
    query = query.order_by(
        case((TaskRow.status == OPEN, 0), else_=1),
        TaskRow.priority,
        TaskRow.position,
        TaskRow.id,
    )
    with db.read() as s:
        return [_task(row) for row in s.scalars(query)]


def _describe(tasks: Sequence[Task]) -> str:
    return ", ".join(f"'{t.title}' (#{t.id}{', done' if t.done else ''})" for t in tasks)


def find_task(db: Database, session_id: str, ref: int | str) -> Task:
    """A task by id (``7``, ``"7"``, ``"#7"``) or by title, ignoring case.

    An exact title wins over a partial one, and an open task over a done one with the same
    title; anything still ambiguous is a TaskError that lists the candidates.
    """
    tasks = list_tasks(db, session_id)
    if isinstance(ref, bool):
        ref = str(ref)
    if isinstance(ref, int):
        return _by_id(tasks, ref)
    text = " ".join(str(ref).split()).strip("'\"“”‘’ ")
    if not text:
        raise TaskError("Say which task: give its number or its title.")
    number = text.removeprefix("#")
    if number.isdigit():
        by_id = [t for t in tasks if t.id == int(number)]
        if by_id:
            return by_id[0]
        if text.startswith("#"):
            return _by_id(tasks, int(number))
    wanted = text.casefold()
    for candidates in (
        [t for t in tasks if t.title.casefold() == wanted],
        [t for t in tasks if wanted in t.title.casefold()],
    ):
        if len(candidates) > 1:
            open_ones = [t for t in candidates if not t.done]
            candidates = open_ones if open_ones else candidates
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise TaskError(
                f"More than one task matches '{text}': {_describe(candidates)}. "
                "Say which one by its number or full title."
            )
    raise TaskError(
        f"No task called '{text}' is on your list. Check the title on the Tasks page, "
        "or ask me to list the tasks."
    )


def _by_id(tasks: Sequence[Task], task_id: int) -> Task:
    for task in tasks:
        if task.id == task_id:
            return task
    raise TaskError(
        f"There is no task #{task_id} on your list; ask me to list the tasks to see their "
        "numbers."
    )


def reorder(db: Database, session_id: str, ordered_ids: Sequence[int]) -> list[Task]:
    """Give the listed tasks positions in this order; unlisted ones follow, in their order.

    Position orders tasks within a priority: it never lifts a task above a more urgent one.
    """
    ids = list(ordered_ids)
    if len(set(ids)) != len(ids):
        raise TaskError("The new order lists a task twice; list each task once.")
    with db.write() as s:
        _lock_session(s, session_id)
        rows = {
            row.id: row
            for row in s.scalars(
                select(TaskRow)
                .where(TaskRow.user == session_owner(session_id))
                .order_by(TaskRow.position, TaskRow.id)
            )
        }
        unknown = [i for i in ids if i not in rows]
        if unknown:
            raise TaskError(
                f"Task #{unknown[0]} is not on your list; reload the Tasks page and try again."
            )
        rest = [i for i in rows if i not in set(ids)]
        now = utcnow()
        for position, task_id in enumerate(ids + rest, start=1):
            if rows[task_id].position != position:
                rows[task_id].position, rows[task_id].updated_at = position, now
    return list_tasks(db, session_id)


# -- the Tasks page's editable table ------------------------------------------------------
EDITABLE = ("title", "priority", "notes")


def editor_rows(tasks: Sequence[Task]) -> list[dict[str, object]]:
    """The rows of the editable table, in list order: ``order`` numbers them from 1."""
    return [{"id": t.id, "order": n, "done": t.done, "title": t.title, "priority": t.priority,
             "notes": t.notes} for n, t in enumerate(tasks, start=1)]


@dataclass(frozen=True)
class RowChange:
    """One edited row: ``fields`` holds the new title, priority and notes if any of them
    changed; ``done`` is True to complete the task, False to reopen it, None to leave it."""

    task_id: int
    title: str
    fields: dict[str, object] | None = None
    done: bool | None = None


@dataclass(frozen=True)
class TableChanges:
    rows: list[RowChange]
    order: list[int] | None = None  # every task id in its new order, if the order changed

    def __bool__(self) -> bool:
        return bool(self.rows) or self.order is not None


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell(column: str, value: object) -> object:
    """A cell as the task functions take it: a whole number for ``priority`` (a table hands
    over 2.0 or numpy's int64), text for ``title`` and ``notes``; anything else stays as
    it is, so ``update_task`` refuses it with a sentence."""
    if column == "priority":
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, numbers.Real) and not _blank(value) and float(value).is_integer():
            return int(value)
        return value
    return "" if _blank(value) else str(value)


def table_changes(before: Sequence[Mapping[str, object]],
                  after: Sequence[Mapping[str, object]]) -> TableChanges:
    """What the user changed in the table of ``editor_rows``: edited rows, ticked or
    unticked ``done`` boxes, and a new order.

    Rows are matched by ``id``; a row missing from ``after`` is left alone. Renumbering
    ``order`` reorders: tasks given the same number keep their old relative order, and
    one whose number was cleared goes last.
    """
    was = {int(str(row["id"])): row for row in before}
    rows, numbered = [], []
    for row in after:
        task_id = int(str(row["id"]))
        old = was.get(task_id)
        if old is None:
            continue
        new = {column: _cell(column, row.get(column)) for column in EDITABLE}
        edited = any(new[c] != _cell(c, old.get(c)) for c in EDITABLE)
        done = bool(row.get("done"))
        ticked = done if done != bool(old.get("done")) else None
        if edited or ticked is not None:
            rows.append(RowChange(task_id, str(new["title"] or old.get("title")),
                                  new if edited else None, ticked))
        order = row.get("order")
        numbered.append((_blank(order), 0 if _blank(order) else order, old.get("order"),
                         task_id))
    moved = any(n[1] != was[n[3]].get("order") for n in numbered)
    return TableChanges(rows, [n[3] for n in sorted(numbered)] if moved else None)


@dataclass(frozen=True)
class AppliedChanges:
    done: list[str]  # what was changed, one sentence each (for the activity log)
    refused: list[str]  # what was not, and why


def apply_table_changes(db: Database, session_id: str, changes: TableChanges) -> AppliedChanges:
    """Make ``changes``: each row on its own, so one refused edit does not block the rest."""
    done, refused = [], []
    for change in changes.rows:
        try:
            if change.fields is not None:
                update_task(db, session_id, change.task_id, **change.fields)
                done.append(f"Edited the task '{change.fields['title']}'")
            if change.done is not None:
                (complete_task if change.done else reopen_task)(db, session_id, change.task_id)
                verb = "Completed" if change.done else "Reopened"
                done.append(f"{verb} the task '{change.title}'")
        except TaskError as exc:
            refused.append(f"Task {change.title!r} was not changed: {exc}")
    if changes.order is not None:
        try:
            reorder(db, session_id, changes.order)
        except TaskError as exc:
            refused.append(f"The tasks were not reordered: {exc}")
        else:
            done.append("Reordered the tasks")
    return AppliedChanges(done, refused)


# -- CSV import and export --------------------------------------------------------------
@dataclass(frozen=True)
class ImportReport:
    added: int
    skipped: list[str]
    notes: list[str]

    def summary(self) -> str:
        text = f"Imported {self.added} task(s)"
        if self.skipped:
            text += f"; skipped {len(self.skipped)}"
        return text + "."


TASK_COLUMNS = {"title": "Title", "priority": "Priority (1 = highest)", "status": "Status",
                "notes": "Notes"}


def import_tasks(db: Database, session_id: str, data: bytes, name: str = "The CSV") -> ImportReport:
    """Add every valid row of a CSV with a ``title`` column (``priority``, ``notes`` optional).

    A bad row (empty title, priority out of range, a duplicate of an open task) is skipped
    and reported by its line number; the good rows are still imported.
    """
    from core.csvfiles import read_table

    table = read_table(data, name=name, required=("title",), max_bytes=5 * 1024 * 1024)
    added, skipped = 0, []
    for line, row in enumerate(table.frame.to_dict("records"), start=2):
        priority: object = (row.get("priority") or "").strip()
        if isinstance(priority, str) and priority.isdigit():
            priority = int(priority)
        try:
            add_task(
                db, session_id, row.get("title") or "",
                priority=DEFAULT_PRIORITY if priority in (None, "") else priority,
                notes=row.get("notes") or "",
            )
        except TaskError as exc:
            skipped.append(f"Line {line}: {exc}")
        else:
            added += 1
    return ImportReport(added, skipped, table.notes)


def tasks_table(tasks: Sequence[Task]) -> list[dict[str, object]]:
    return [
        {"title": t.title, "priority": t.priority, "status": t.status, "notes": t.notes}
        for t in tasks
    ]
