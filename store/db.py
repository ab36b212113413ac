"""The database: one engine per URL, a session factory, and migrations at start-up.

SQLite is the default (``data/ambient.db``) so a new user needs nothing installed; the
file runs in WAL mode with a busy timeout and foreign keys on. ``DATABASE_URL`` points
Ambient at any SQLAlchemy URL instead — PostgreSQL for a team sharing one dashboard.

Every schema change is an Alembic migration under ``store/migrations``; ``open_database``
applies the pending ones before anyone touches a table.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, cached_property
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "data" / "ambient.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 5_000


class DatabaseError(RuntimeError):
    """The database could not be opened or migrated; the message says what to do."""


class StorageUnwritable(DatabaseError):
    """The database can be read but not written (a full disk, a read-only volume or a
    read-only server). The write was rolled back whole; the message says what to do."""


def _unwritable_reason(exc: DBAPIError) -> str | None:
    """Why a failed write means the database cannot be written at all, or None when the
    failure is something else (a lock, a constraint, a lost connection)."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate == "25006":
        return "the database server is read-only"
    if sqlstate in ("53100", "53000"):
        return "the database server's disk is full"
    message = str(exc.orig).lower()
    if "readonly database" in message or "read-only file system" in message:
        return "the database file or its folder is read-only"
    if "database or disk is full" in message or "no space left" in message:
        return "the disk is full"
    if "disk i/o error" in message:
        return "the disk reported an input/output error"
    return None


def unwritable_message(reason: str, sqlite: bool) -> str:
    fix = (
        "Free some disk space or make the data folder writable"
        if sqlite else "Ask whoever runs the database server to make it writable again"
    )
    return (
        f"Ambient can read its database but cannot write to it ({reason}), so it is "
        f"read-only for now: nothing you change is saved, and nothing was half-saved. "
        f"{fix}, then reload the page."
    )


def utcnow() -> datetime:
    """Naive UTC: SQLite keeps no time zone, so every timestamp is stored as UTC without one."""
    return datetime.now(UTC).replace(tzinfo=None)


def database_time(s: Session) -> datetime:
    """The database's current time as naive UTC, the form every timestamp is stored in.
    Replicas judge heartbeats by this one clock, never their own (hosts' clocks drift)."""
    from sqlalchemy import func, select

    if s.get_bind().dialect.name == "postgresql":
        return s.scalar(select(func.timezone("utc", func.now())))
    value = s.scalar(select(func.strftime("%Y-%m-%d %H:%M:%f", "now")))
    return datetime.fromisoformat(value)


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _configure_sqlite(engine: Engine) -> None:
    """WAL, busy timeout, foreign keys — and transactions we begin ourselves.

    pysqlite's own transaction handling starts a deferred transaction lazily and cannot
    begin one IMMEDIATE. A deferred transaction that reads and then writes can fail with
    "database is locked" at once, without waiting for the busy timeout, when another
    connection writes meanwhile. So the driver is put in autocommit mode and we emit
    BEGIN ourselves: ``BEGIN IMMEDIATE`` for the write engine (takes the write lock up
    front, waits politely), plain ``BEGIN`` for readers (WAL lets them run alongside).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        immediate = connection.get_execution_options().get("ambient_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str) -> Engine:
    if _is_sqlite(url):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


@dataclass
class Database:
    """An open, migrated database: ``read()`` and ``write()`` give ORM sessions."""

    url: str
    engine: Engine
    _reader: sessionmaker[Session]
    _writer: sessionmaker[Session]

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session:
            yield session

    # Why the last write failed for good (a full disk, a read-only volume), or None once a
    # write succeeds again: pages show a read-only banner while it is set.
    unwritable: str | None = None

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits on success and rolls back on any error; a database
        that cannot be written at all raises ``StorageUnwritable`` (a sentence)."""
        with self._writable(), self._writer.begin() as session:
            yield session

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """``write()`` without the ORM: a Core connection in the same kind of transaction,
        for hot paths that only insert (the ledger books every LLM call; an ORM session
        around one INSERT cost it a third of its time)."""
        with self._writable(), self._write_engine.begin() as connection:
            yield connection

    @cached_property
    def _write_engine(self) -> Engine:
        return self.engine.execution_options(ambient_write=True)

    @contextmanager
    def _writable(self) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            reason = _unwritable_reason(exc)
            if reason is None:
                raise
            self.unwritable = reason
            raise StorageUnwritable(unwritable_message(reason, self.is_sqlite)) from exc
        self.unwritable = None

    @property
    def read_only_notice(self) -> str | None:
        """The banner to show while the database cannot be written."""
        if self.unwritable is None:
            return None
        return unwritable_message(self.unwritable, self.is_sqlite)

    @property
    def is_sqlite(self) -> bool:
        return _is_sqlite(self.url)

    def dispose(self) -> None:
        self.engine.dispose()


def _alembic_config():  # type: ignore[no-untyped-def]
    from alembic.config import Config  # imported here: only start-up needs Alembic

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@cache
def head_revision() -> str:
    """The newest migration's revision id (read from the migration scripts once)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None, f"no migrations in {MIGRATIONS_DIR}"
    return head


def migrate(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` on ``engine``.

    On PostgreSQL an advisory lock keeps replicas that start together from migrating
    twice; on SQLite the IMMEDIATE transaction does the same. A database already at the
    head is left alone without running Alembic's environment (most starts, and every page
    process that opens its database: about 0.1 s saved each).
    """
    from alembic import command

    if revision == "head" and current_revision(engine) == head_revision():
        return
    config = _alembic_config()
    with engine.execution_options(ambient_write=True).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(727274)"))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        try:
            row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
        except Exception:
            return None
    return row[0] if row else None


def open_database(url: str | None = None) -> Database:
    """Open (creating if needed) and migrate the database at ``url``."""
    url = url or database_url()
    try:
        engine = make_engine(url)
        migrate(engine)
    except Exception as exc:  # turned into one sentence the user can act on
        shown = make_url(url).render_as_string(hide_password=True)
        raise DatabaseError(
            f"Ambient could not open its database at {shown} ({exc.__class__.__name__}: "
            f"{exc}). Check DATABASE_URL, that the server is running, and that the "
            "data/ folder is writable."
        ) from exc
    return Database(
        url=url,
        engine=engine,
        _reader=sessionmaker(engine, expire_on_commit=False),
        _writer=sessionmaker(engine.execution_options(ambient_write=True), expire_on_commit=False),
    )


_open: dict[str, Database] = {}
_open_lock = threading.Lock()


def get_database(url: str | None = None) -> Database:
    """The process-wide database for ``url`` (default: ``DATABASE_URL``), opened once."""
    url = url or database_url()
    with _open_lock:
        if url not in _open:
            _open[url] = open_database(url)
        return _open[url]


def forget_databases() -> None:
    """Close every database this process opened (tests switch URLs)."""
    with _open_lock:
        for database in _open.values():
            database.dispose()
        _open.clear()
