"""Shared fixtures: a fresh migrated database per test, and the app's DATABASE_URL.

Tests that take the ``db`` fixture run on SQLite, and also on PostgreSQL when
``AMBIENT_TEST_POSTGRES`` names a server (``postgresql+psycopg://user@127.0.0.1:PORT``):
each such test gets a new PostgreSQL database that is dropped afterwards.
``.ci/run`` starts a server on loopback and sets it.

The migrations run once per test session, into a template database on each backend; each
``db`` is a copy of it (a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on
PostgreSQL), which ``open_database`` finds at the head revision. Running the migrations
for each of ~500 databases cost several minutes of the suite. The migrations themselves
are tested from empty (``empty_db_url``, tests/store/).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from store.db import Database, forget_databases, make_engine, migrate, open_database

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = os.environ.get("AMBIENT_TEST_POSTGRES", "").rstrip("/")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES else ["sqlite"]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ambient.db'}"


@contextmanager
def sqlite_held(db_url: str, seconds: float) -> Iterator[None]:
    """Another writer holds the SQLite database at ``db_url`` for ``seconds`` (set it past
    the app's busy timeout); the block runs meanwhile, and the hold has ended after it."""
    holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(seconds, holder.rollback)
    release.start()
    try:
        yield
    finally:
        release.join()
        holder.close()


def _fresh_postgres_database(template: str | None = None) -> tuple[str, str]:
    """A new PostgreSQL database: empty, or a copy of the database ``template``."""
    name = f"ambient_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        copy = f' TEMPLATE "{template}"' if template else ""
        connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    admin.dispose()
    return f"{POSTGRES}/{name}", name


def _drop_postgres_database(name: str) -> None:
    admin = create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, db_url: str) -> Iterator[str]:
    """The URL of an empty database on each backend (for migration tests)."""
    if request.param == "sqlite":
        yield db_url
        return
    url, name = _fresh_postgres_database()
    yield url
    _drop_postgres_database(name)


def _migrated(url: str) -> None:
    engine = make_engine(url)
    migrate(engine)
    if engine.dialect.name == "sqlite":  # everything in the main file, so a copy is whole
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with every migration applied, made once per test session."""
    path = tmp_path_factory.mktemp("template") / "ambient.db"
    _migrated(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """The name of a PostgreSQL database with every migration applied, made once per test
    session and dropped at its end (no connection stays open: a template must be idle)."""
    url, name = _fresh_postgres_database()
    _migrated(url)
    yield name
    _drop_postgres_database(name)


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, db_url: str) -> Iterator[Database]:
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"),
                        db_url.removeprefix("sqlite:///"))
        database = open_database(db_url)
        yield database
        database.dispose()
        return
    url, name = _fresh_postgres_database(request.getfixturevalue("postgres_template"))
    database = open_database(url)
    yield database
    database.dispose()
    _drop_postgres_database(name)


@pytest.fixture
def app_env(db_url: str, monkeypatch: pytest.MonkeyPatch,
            sqlite_template: Path) -> Iterator[str]:
    """Point the app (AppTest or a streamlit subprocess) at a fresh database."""
    import streamlit as st

    path = Path(db_url.removeprefix("sqlite:///"))
    if not path.exists():  # (the ``db`` fixture may have made it already)
        shutil.copyfile(sqlite_template, path)

    monkeypatch.setenv("DATABASE_URL", db_url)
    forget_databases()
    st.cache_resource.clear()
    st.cache_data.clear()
    yield db_url
    forget_databases()
    st.cache_resource.clear()


def pytest_report_header(config: pytest.Config) -> str:
    return f"ambient: DATABASE_URL={os.environ.get('DATABASE_URL', '(default, per-test SQLite)')}"
