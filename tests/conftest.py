"""Shared fixtures: a fresh migrated SQLite database per test, and the app's DATABASE_URL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.db import Database, forget_databases, open_database

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ambient.db'}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def app_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the app (AppTest or a streamlit subprocess) at a fresh database."""
    import streamlit as st

    monkeypatch.setenv("DATABASE_URL", db_url)
    forget_databases()
    st.cache_resource.clear()
    st.cache_data.clear()
    yield db_url
    forget_databases()
    st.cache_resource.clear()


def pytest_report_header(config: pytest.Config) -> str:
    return f"ambient: DATABASE_URL={os.environ.get('DATABASE_URL', '(default, per-test SQLite)')}"
