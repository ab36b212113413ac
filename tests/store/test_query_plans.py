"""The queries every page change makes are answered from an index, not a scan (migration
0011; bench/RESULTS.md, "pages"). Checked on SQLite's query plans: the statements the code
actually sends are captured and explained."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from core.conversation import active_conversation, add_message, count_messages
from core.narration import recent_narration
from core.sessions import ensure_session
from llm import calibration, reports
from llm.ledger import FEEDBACK
from store.db import Database, open_database
from store.models import VERDICT_VALUES


@pytest.fixture
def sqlite_db(db_url: str, sqlite_template: Path) -> Iterator[Database]:
    shutil.copyfile(sqlite_template, db_url.removeprefix("sqlite:///"))
    database = open_database(db_url)
    yield database
    database.dispose()


def plans(db: Database, call: Callable[[], object]) -> list[str]:
    """SQLite's plan of each SELECT that ``call`` sends."""
    sent: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    out = []
    with db.engine.connect() as conn:
        for statement, parameters in sent:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            out.append(" | ".join(str(r[-1]) for r in rows))
    return out


def test_the_verdict_values_are_the_ledgers() -> None:
    assert set(FEEDBACK.values()) == set(VERDICT_VALUES)


def test_recent_narration_reads_an_index_of_role_and_time(sqlite_db: Database) -> None:
    sid = ensure_session(sqlite_db, None)
    add_message(sqlite_db, sid, "user", "hello")
    found = plans(sqlite_db, lambda: recent_narration(sqlite_db, sid, 120))
    assert any("ix_messages_session_id_role_created_at" in p for p in found), found


def test_the_message_count_is_counted_inside_an_index(sqlite_db: Database) -> None:
    sid = ensure_session(sqlite_db, None)
    add_message(sqlite_db, sid, "user", "hello")
    conversation = active_conversation(sqlite_db, sid)
    found = plans(sqlite_db, lambda: count_messages(sqlite_db, sid, conversation))
    assert any("COVERING INDEX ix_messages_conversation_id_user" in p for p in found), found


@pytest.mark.parametrize("read", [
    lambda db: reports.feedback_by(db, "tier"),
    lambda db: calibration.verdicts(db),
], ids=["costs page", "router"])
def test_the_thumbs_are_read_from_the_verdict_index(sqlite_db: Database, read) -> None:  # noqa: ANN001
    found = plans(sqlite_db, lambda: read(sqlite_db))
    assert any("ix_llm_calls_feedback_created_at" in p for p in found), found
