from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, inspect
from sqlalchemy.exc import IntegrityError

from core.sessions import ensure_session
from core.tasks import (
    RowChange,
    TaskError,
    add_task,
    apply_table_changes,
    complete_task,
    delete_task,
    editor_rows,
    find_task,
    list_tasks,
    reopen_task,
    reorder,
    table_changes,
    update_task,
)
from store.db import Database, _alembic_config, current_revision, make_engine, migrate
from store.models import Base, SessionRow, TaskRow


def titles(db: Database, sid: str, include_done: bool = True) -> list[str]:
    return [t.title for t in list_tasks(db, sid, include_done)]


# -- CRUD ---------------------------------------------------------------------------------


def test_a_task_goes_through_its_whole_life(db: Database) -> None:
    sid = ensure_session(db, None)
    task = add_task(db, sid, "  Call   Acme ", priority=2, notes=" about the renewal ")
    assert (task.title, task.priority, task.notes, task.status) == (
        "Call Acme", 2, "about the renewal", "open"
    )
    assert task.completed_at is None and not task.done

    changed = update_task(db, sid, task.id, title="Call Acme back", priority=1, notes="")
    assert (changed.title, changed.priority, changed.notes) == ("Call Acme back", 1, "")
    assert changed.updated_at >= task.updated_at
    assert update_task(db, sid, task.id, notes="ask for Jo").title == "Call Acme back"

    done = complete_task(db, sid, task.id)
    assert done.done and done.completed_at is not None
    assert complete_task(db, sid, task.id).completed_at == done.completed_at  # idempotent
    assert titles(db, sid, include_done=False) == []

    reopened = reopen_task(db, sid, task.id)
    assert reopened.status == "open" and reopened.completed_at is None

    gone = delete_task(db, sid, task.id)
    assert gone.title == "Call Acme back"
    assert list_tasks(db, sid) == []


def test_default_priority_is_three(db: Database) -> None:
    sid = ensure_session(db, None)
    assert add_task(db, sid, "Write report").priority == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"title": "   "}, "A task needs a title"),
        ({"title": "x" * 201}, "201 characters long; keep it to 200 or fewer"),
        ({"title": "ok", "priority": 0}, "from 1 \\(highest\\) to 5 \\(lowest\\), not 0"),
        ({"title": "ok", "priority": 6}, "not 6"),
        ({"title": "ok", "priority": True}, "not True"),
        ({"title": "ok", "priority": "high"}, "not 'high'"),
        ({"title": "ok", "notes": "n" * 2001}, "keep them to 2,000 or fewer"),
    ],
)
def test_bad_input_is_refused_with_a_sentence(
    db: Database, kwargs: dict[str, object], message: str
) -> None:
    sid = ensure_session(db, None)
    with pytest.raises(TaskError, match=message):
        add_task(db, sid, **kwargs)  # type: ignore[arg-type]
    assert list_tasks(db, sid) == []


def test_an_update_must_change_something(db: Database) -> None:
    sid = ensure_session(db, None)
    task = add_task(db, sid, "Call Acme")
    with pytest.raises(TaskError, match="Nothing to change"):
        update_task(db, sid, task.id)


# -- duplicates ---------------------------------------------------------------------------


def test_a_duplicate_open_task_is_refused_whatever_its_case(db: Database) -> None:
    sid = ensure_session(db, None)
    add_task(db, sid, "Call Acme")
    with pytest.raises(TaskError, match="A task called 'Call Acme' is already on the list."):
        add_task(db, sid, "call ACME")
    other = add_task(db, sid, "Email Acme")
    with pytest.raises(TaskError, match="already on the list"):
        update_task(db, sid, other.id, title="CALL acme")
    assert titles(db, sid) == ["Call Acme", "Email Acme"]


def test_a_done_task_does_not_block_a_new_one_but_blocks_its_own_reopening(
    db: Database,
) -> None:
    sid = ensure_session(db, None)
    first = add_task(db, sid, "Call Acme")
    complete_task(db, sid, first.id)
    second = add_task(db, sid, "Call Acme")
    assert second.id != first.id
    with pytest.raises(TaskError, match="already on the list"):
        reopen_task(db, sid, first.id)
    assert add_task(db, ensure_session(db, None, "bob@example.com"), "Call Acme").title == (
        "Call Acme")  # another person's list


# -- sessions -----------------------------------------------------------------------------


def test_another_users_task_is_not_found(db: Database) -> None:
    mine = ensure_session(db, None, "ann@example.com")
    theirs = ensure_session(db, None, "bob@example.com")
    task = add_task(db, theirs, "Their secret task")
    for mutate in (
        lambda: update_task(db, mine, task.id, title="Hijacked"),
        lambda: complete_task(db, mine, task.id),
        lambda: reopen_task(db, mine, task.id),
        lambda: delete_task(db, mine, task.id),
        lambda: find_task(db, mine, task.id),
        lambda: find_task(db, mine, "Their secret task"),
        lambda: reorder(db, mine, [task.id]),
    ):
        with pytest.raises(TaskError):
            mutate()
    assert titles(db, theirs) == ["Their secret task"]
    assert list_tasks(db, theirs)[0].status == "open"
    assert list_tasks(db, mine) == []


def test_a_task_needs_a_live_session_and_goes_with_it(db: Database) -> None:
    with pytest.raises(TaskError, match="reload the page"):
        add_task(db, "0" * 32, "Orphan")
    sid = ensure_session(db, None)
    add_task(db, sid, "Call Acme")
    with db.write() as s:
        s.execute(delete(SessionRow).where(SessionRow.id == sid))
    assert list_tasks(db, sid) == []


# -- ordering -----------------------------------------------------------------------------


def test_open_tasks_come_first_then_by_priority_position_and_id(db: Database) -> None:
    sid = ensure_session(db, None)
    low = add_task(db, sid, "Low", priority=5)
    urgent = add_task(db, sid, "Urgent", priority=1)
    normal_a = add_task(db, sid, "Normal A")
    add_task(db, sid, "Normal B")
    complete_task(db, sid, urgent.id)
    assert titles(db, sid) == ["Normal A", "Normal B", "Low", "Urgent"]
    assert titles(db, sid, include_done=False) == ["Normal A", "Normal B", "Low"]
    update_task(db, sid, low.id, priority=1)
    assert titles(db, sid)[0] == "Low"
    assert normal_a.position < list_tasks(db, sid)[-2].position


def test_reorder_sets_the_order_within_a_priority(db: Database) -> None:
    sid = ensure_session(db, None)
    a, b, c = (add_task(db, sid, name) for name in ("A", "B", "C"))
    urgent = add_task(db, sid, "Urgent", priority=1)
    result = reorder(db, sid, [c.id, a.id])
    assert [t.title for t in result] == ["Urgent", "C", "A", "B"]
    assert titles(db, sid) == ["Urgent", "C", "A", "B"]
    reorder(db, sid, [b.id, urgent.id, a.id, c.id])
    assert titles(db, sid) == ["Urgent", "B", "A", "C"]  # position never beats priority
    with pytest.raises(TaskError, match="lists a task twice"):
        reorder(db, sid, [a.id, a.id])
    with pytest.raises(TaskError, match="is not on your list"):
        reorder(db, sid, [a.id, 999_999])
    assert titles(db, sid) == ["Urgent", "B", "A", "C"]


# -- finding ------------------------------------------------------------------------------


def test_find_by_id_or_by_title_ignoring_case(db: Database) -> None:
    sid = ensure_session(db, None)
    acme = add_task(db, sid, "Call Acme")
    add_task(db, sid, "Email Globex")
    assert find_task(db, sid, acme.id) == acme
    assert find_task(db, sid, str(acme.id)) == acme
    assert find_task(db, sid, f"#{acme.id}") == acme
    assert find_task(db, sid, "call acme") == acme
    assert find_task(db, sid, " 'CALL ACME' ") == acme
    assert find_task(db, sid, "globex").title == "Email Globex"  # a unique part is enough


def test_find_explains_missing_and_ambiguous_tasks(db: Database) -> None:
    sid = ensure_session(db, None)
    call = add_task(db, sid, "Call Acme")
    add_task(db, sid, "Email Acme")
    with pytest.raises(TaskError, match="No task called 'Call Initech' is on your list"):
        find_task(db, sid, "Call Initech")
    with pytest.raises(TaskError, match="There is no task #424242"):
        find_task(db, sid, 424242)
    with pytest.raises(TaskError) as ambiguous:
        find_task(db, sid, "acme")
    assert "'Call Acme'" in str(ambiguous.value) and "'Email Acme'" in str(ambiguous.value)
    assert "by its number or full title" in str(ambiguous.value)
    complete_task(db, sid, call.id)
    again = add_task(db, sid, "Call Acme")
    assert find_task(db, sid, "Call Acme") == again  # the open one wins over the done one


# -- migration ----------------------------------------------------------------------------


def test_migration_0004_adds_and_removes_the_tasks_table(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine, "0003")
    assert "tasks" not in inspect(engine).get_table_names()
    migrate(engine, "0004")
    assert current_revision(engine) == "0004"
    inspector = inspect(engine)
    columns = {c["name"]: c for c in inspector.get_columns("tasks")}
    assert set(columns) == {
        "id", "session_id", "title", "notes", "priority", "status", "position",
        "created_at", "updated_at", "completed_at",
    }
    assert columns["completed_at"]["nullable"] and not columns["title"]["nullable"]
    assert [i["name"] for i in inspector.get_indexes("tasks")] == ["ix_tasks_session_id"]
    [fk] = inspector.get_foreign_keys("tasks")
    assert fk["referred_table"] == "sessions" and fk["options"].get("ondelete") == "CASCADE"

    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    assert "tasks" not in inspect(engine).get_table_names()
    assert current_revision(engine) == "0003"
    migrate(engine)
    assert "tasks" in inspect(engine).get_table_names()
    with engine.connect() as connection:  # later migrations (0010: the owner) included
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in differences if "tasks" in repr(d)] == []
    engine.dispose()


def test_the_database_refuses_a_priority_out_of_range(db: Database) -> None:
    sid = ensure_session(db, None)
    with pytest.raises(IntegrityError), db.write() as s:
        s.add(TaskRow(session_id=sid, title="Bad", priority=9))


# -- the Tasks page's editable table ------------------------------------------------------
TABLE = [
    {"id": 11, "order": 1, "done": False, "title": "Call Acme", "priority": 1, "notes": ""},
    {"id": 12, "order": 2, "done": False, "title": "Write the report", "priority": 2,
     "notes": "draft"},
    {"id": 13, "order": 3, "done": True, "title": "Book the room", "priority": 3, "notes": ""},
]


def edited(**changes: dict) -> list[dict]:
    """TABLE as a table widget hands it back: numbers as floats, empty notes as None."""
    rows = [dict(row, priority=float(row["priority"]), notes=row["notes"] or None)
            for row in TABLE]
    for row in rows:
        row.update(changes.get(f"t{row['id']}", {}))
    return rows


def test_an_untouched_table_changes_nothing() -> None:
    changes = table_changes(TABLE, edited())
    assert not changes and changes.rows == [] and changes.order is None


def test_edits_and_ticks_are_told_apart() -> None:
    changes = table_changes(TABLE, edited(t11={"title": "Call Acme back", "priority": 2.0},
                                          t12={"done": True}, t13={"done": False}))
    assert changes.rows == [
        RowChange(11, "Call Acme back", {"title": "Call Acme back", "priority": 2, "notes": ""}),
        RowChange(12, "Write the report", done=True),
        RowChange(13, "Book the room", done=False),
    ]
    assert changes.order is None
    assert type(changes.rows[0].fields["priority"]) is int  # not the widget's 2.0


def test_a_cleared_cell_is_an_edit_the_task_functions_refuse() -> None:
    changes = table_changes(TABLE, edited(t12={"priority": float("nan"), "notes": None}))
    (row,) = changes.rows
    assert row.fields["notes"] == "" and row.fields["priority"] != row.fields["priority"]


def test_renumbering_reorders_and_ties_keep_their_old_order() -> None:
    assert table_changes(TABLE, edited(t13={"order": 1})).order == [11, 13, 12]
    assert table_changes(TABLE, edited(t11={"order": 5})).order == [12, 13, 11]
    assert table_changes(TABLE, edited(t12={"order": None})).order == [11, 13, 12]


def test_a_row_the_table_did_not_start_with_is_ignored() -> None:
    rows = [*edited(), {"id": 99, "order": 4, "done": False, "title": "Ghost", "priority": 3,
                        "notes": ""}]
    assert not table_changes(TABLE, rows)


def test_applying_a_table_edit_changes_the_tasks_and_says_what_it_did(db: Database) -> None:
    sid = ensure_session(db, None)
    first = add_task(db, sid, "Call Acme", priority=2)
    second = add_task(db, sid, "Write the report", priority=2)
    before = editor_rows(list_tasks(db, sid))
    assert [(r["id"], r["order"]) for r in before] == [(first.id, 1), (second.id, 2)]
    after = [dict(r) for r in before]
    after[0].update(title="Call Acme back", order=3)
    after[1].update(done=True)
    applied = apply_table_changes(db, sid, table_changes(before, after))
    assert applied.done == ["Edited the task 'Call Acme back'",
                            "Completed the task 'Write the report'", "Reordered the tasks"]
    assert applied.refused == []
    tasks = list_tasks(db, sid)
    assert [(t.title, t.done) for t in tasks] == [("Call Acme back", False),
                                                  ("Write the report", True)]


def test_a_refused_row_does_not_stop_the_others(db: Database) -> None:
    sid = ensure_session(db, None)
    add_task(db, sid, "Call Acme")
    add_task(db, sid, "Plan the launch")
    before = editor_rows(list_tasks(db, sid))
    after = [dict(r) for r in before]
    after[0].update(title="Plan the launch")  # a duplicate of the other open task
    after[1].update(priority=9)
    after[1].update(done=True)
    applied = apply_table_changes(db, sid, table_changes(before, after))
    assert len(applied.refused) == 2 and applied.done == []
    assert "already on the list" in applied.refused[0]
    assert applied.refused[1].startswith("Task 'Plan the launch' was not changed: Priority")
    assert [(t.title, t.priority, t.done) for t in list_tasks(db, sid)] == [
        ("Call Acme", 3, False), ("Plan the launch", 3, False)]
