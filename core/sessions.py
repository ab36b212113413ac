"""Session identity: an unguessable id that survives a browser reload.

The id travels in the page URL (``?sid=...``): a reload, a bookmark or a second tab with
the same URL find the same conversation; a new tab without it starts a new one. The id
is 128 random bits, so knowing it is what gives access — treat the URL like a password
on a shared server.
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import update

from store.db import Database, utcnow
from store.models import SessionRow

_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")


def new_session_id() -> str:
    return uuid.uuid4().hex


def is_valid_session_id(value: object) -> bool:
    return isinstance(value, str) and bool(_SESSION_ID.match(value))


def ensure_session(db: Database, session_id: str | None) -> str:
    """Return ``session_id`` if it is well formed (creating its row if new), else a new id."""
    if not is_valid_session_id(session_id):
        session_id = new_session_id()
    with db.write() as s:
        touched = s.execute(
            update(SessionRow).where(SessionRow.id == session_id).values(last_seen_at=utcnow())
        ).rowcount
        if not touched:
            s.add(SessionRow(id=session_id))
    return session_id  # type: ignore[return-value]
