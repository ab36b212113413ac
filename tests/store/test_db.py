from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from store.db import (
    Database,
    DatabaseError,
    current_revision,
    head_revision,
    make_engine,
    migrate,
    open_database,
)
from store.models import MessageRow, SessionRow


def test_migrations_create_the_schema_from_empty(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    assert inspect(engine).get_table_names() == []
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"sessions", "messages", "events", "memory", "alembic_version"} <= tables
    assert current_revision(engine) is not None
    columns = {c["name"] for c in inspect(engine).get_columns("messages")}
    assert {"session_id", "role", "content", "status", "tier", "model", "meta"} <= columns
    engine.dispose()


def test_migrations_go_down_to_empty_and_up_again(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    migrate(engine)
    migrate_down = __import__("alembic.command", fromlist=["downgrade"]).downgrade
    from store.db import _alembic_config

    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        migrate_down(config, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    migrate(engine)
    assert "messages" in inspect(engine).get_table_names()
    engine.dispose()


def test_opening_twice_is_idempotent(db_url: str) -> None:
    first = open_database(db_url)
    revision = current_revision(first.engine)
    first.dispose()
    second = open_database(db_url)
    assert current_revision(second.engine) == revision
    second.dispose()


def test_a_database_at_the_head_is_opened_without_running_alembic(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from alembic import command

    open_database(empty_db_url).dispose()
    ran: list[str] = []
    real_upgrade = command.upgrade
    monkeypatch.setattr(command, "upgrade",
                        lambda config, revision: ran.append(revision)
                        or real_upgrade(config, revision))
    again = open_database(empty_db_url)
    assert current_revision(again.engine) == head_revision() and ran == []
    again.dispose()
    from store.db import _alembic_config

    engine = make_engine(empty_db_url)  # one step behind: Alembic runs, and only then
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    assert current_revision(engine) != head_revision()
    open_database(empty_db_url).dispose()
    assert ran == ["head"] and current_revision(engine) == head_revision()
    engine.dispose()


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(db_url: str) -> None:
    db = open_database(db_url)
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
    db.dispose()


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError), db.write() as s:
        s.add(MessageRow(session_id="no-such-session", role="user", content="hi"))


def test_a_failed_write_rolls_back_and_loses_nothing_else(db: Database) -> None:
    with db.write() as s:
        s.add(SessionRow(id="a" * 32))
    with pytest.raises(IntegrityError), db.write() as s:
        s.add(MessageRow(session_id="a" * 32, role="user", content="kept?"))
        s.add(MessageRow(session_id="missing", role="user", content="bad"))
    with db.read() as s:
        assert s.query(MessageRow).count() == 0
        assert s.query(SessionRow).count() == 1


def test_database_url_selects_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from store.db import database_url

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/other.db")
    assert database_url().endswith("other.db")
    monkeypatch.delenv("DATABASE_URL")
    assert database_url().endswith("data/ambient.db")


def test_an_unusable_database_is_a_readable_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(DatabaseError) as info:
        open_database(f"sqlite:///{blocker}/ambient.db")
    message = str(info.value)
    assert "could not open its database" in message and "DATABASE_URL" in message


def test_passwords_are_not_shown_in_errors() -> None:
    with pytest.raises(DatabaseError) as info:
        open_database("postgresql+psycopg://ambient:s3cret-pw@127.0.0.1:1/ambient")
    assert "s3cret-pw" not in str(info.value)


def test_upgrading_from_the_previous_schema_keeps_the_messages(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    migrate(engine, "0002")
    with engine.begin() as c:
        c.execute(text("INSERT INTO sessions (id, created_at, last_seen_at) "
                       "VALUES ('s1', '2026-01-01', '2026-01-01')"))
        for i in range(3):
            c.execute(text("INSERT INTO messages (session_id, role, content, status, created_at)"
                           f" VALUES ('s1', 'user', 'hello {i}', 'ok', '2026-01-01')"))
    migrate(engine)
    with engine.connect() as c:
        rows = c.execute(text("SELECT content, conversation_id FROM messages ORDER BY id")).all()
        active = c.execute(text("SELECT active_conversation_id FROM sessions")).scalar()
    assert [r[0] for r in rows] == ["hello 0", "hello 1", "hello 2"]
    assert {r[1] for r in rows} == {active} and active is not None
    engine.dispose()


def _make_unwritable(db: Database) -> None:
    """The database's own refusal, as a full disk or a read-only server gives it: SQLite may
    not grow past the pages it has; PostgreSQL runs every transaction read-only."""
    from sqlalchemy import event

    if db.is_sqlite:
        with db.engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar()

        @event.listens_for(db.engine, "connect")
        def _cap(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.execute(f"PRAGMA max_page_count={pages}")
    else:
        name = db.engine.url.database
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    db.engine.dispose()


def test_an_unwritable_database_refuses_writes_in_a_sentence_and_still_reads(
    db: Database,
) -> None:
    from store.db import StorageUnwritable
    from store.models import SessionRow

    with db.write() as s:
        s.add(SessionRow(id="a" * 32))
    _make_unwritable(db)
    refusal = pytest.raises(StorageUnwritable, match="cannot write to it")
    with refusal as refused, db.write() as s:
        for i in range(200):  # more than the file has room for
            s.add(SessionRow(id=f"{i:032d}"))
    assert "nothing was half-saved" in str(refused.value)
    assert db.unwritable and db.read_only_notice == str(refused.value)
    with db.read() as s:  # reading still works, and nothing of the batch was saved
        assert [r.id for r in s.query(SessionRow).all()] == ["a" * 32]


def test_an_ordinary_write_error_is_not_taken_for_an_unwritable_database(db: Database) -> None:
    from sqlalchemy.exc import IntegrityError

    from store.models import SessionRow

    with db.write() as s:
        s.add(SessionRow(id="b" * 32))
    with pytest.raises(IntegrityError), db.write() as s:
        s.add(SessionRow(id="b" * 32))
    assert db.unwritable is None and db.read_only_notice is None


def test_a_core_write_connection_commits_rolls_back_and_refuses_like_write(
    db: Database,
) -> None:
    from sqlalchemy import insert, select

    from store.db import StorageUnwritable
    from store.models import SessionRow

    table = SessionRow.__table__
    with db.write_connection() as c:
        c.execute(insert(table), {"id": "c" * 32})
    with pytest.raises(RuntimeError), db.write_connection() as c:  # any error: rolled back
        c.execute(insert(table), {"id": "d" * 32})
        raise RuntimeError("stop")
    with db.read() as s:
        assert s.scalars(select(SessionRow.id)).all() == ["c" * 32]
    _make_unwritable(db)
    with pytest.raises(StorageUnwritable, match="cannot write to it") as refused, \
            db.write_connection() as c:
        for i in range(200):  # more than the file has room for
            c.execute(insert(table), {"id": f"{i:032d}"})
    assert db.unwritable and db.read_only_notice == str(refused.value)
    with db.read() as s:
        assert s.scalars(select(SessionRow.id)).all() == ["c" * 32]


def test_the_models_match_the_migrated_schema(empty_db_url: str) -> None:
    """Every table change is a migration: autogenerate finds nothing to add or drop."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from store.models import Base

    engine = make_engine(empty_db_url)
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    structural = [d for d in differences
                  if d[0] in ("add_table", "remove_table", "add_column", "remove_column")]
    assert structural == []
