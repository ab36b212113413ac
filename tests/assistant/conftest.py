"""What the action tests share: a session, an ActionContext for a user's turn, and the
session's tasks and action_run events as the user would see them."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.actions import ActionContext
from core.events import recent_events
from core.sessions import ensure_session
from core.tasks import list_tasks
from store.db import Database

PAGES = ("Home", "Introduction", "Tasks", "Competitive analysis", "Costs", "Settings")


@pytest.fixture
def sid(db: Database) -> str:
    return ensure_session(db, None)


def context(db: Database, sid: str, **kw: Any) -> ActionContext:
    """A context for a turn the user started, on the Tasks page unless told otherwise."""
    kw.setdefault("user_turn", True)
    kw.setdefault("page", "Tasks")
    return ActionContext(db, sid, **kw)


def titles(db: Database, sid: str) -> list[str]:
    return [t.title for t in list_tasks(db, sid)]


def action_events(db: Database, sid: str) -> list[dict[str, Any]]:
    return [e.data for e in recent_events(db, sid) if e.kind == "action_run"]
