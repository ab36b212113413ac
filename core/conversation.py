"""The chat's messages, stored before and after every model call so nothing is lost."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from core.db import Database
from core.models import MessageRow


@dataclass(frozen=True)
class Message:
    id: int
    role: str
    content: str
    status: str = "ok"
    tier: str | None = None
    model: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


def _message(row: MessageRow) -> Message:
    return Message(
        id=row.id,
        role=row.role,
        content=row.content,
        status=row.status,
        tier=row.tier,
        model=row.model,
        meta=dict(row.meta or {}),
        created_at=row.created_at,
    )


def add_message(
    db: Database,
    session_id: str,
    role: str,
    content: str,
    *,
    status: str = "ok",
    tier: str | None = None,
    model: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Message:
    with db.write() as s:
        row = MessageRow(
            session_id=session_id,
            role=role,
            content=content,
            status=status,
            tier=tier,
            model=model,
            meta=meta,
        )
        s.add(row)
        s.flush()
        return _message(row)


def update_message(
    db: Database,
    message_id: int,
    *,
    content: str,
    status: str,
    tier: str | None = None,
    model: str | None = None,
    meta: dict[str, Any] | None = None,
) -> None:
    with db.write() as s:
        s.execute(
            update(MessageRow)
            .where(MessageRow.id == message_id)
            .values(content=content, status=status, tier=tier, model=model, meta=meta)
        )


def history(db: Database, session_id: str, limit: int | None = None) -> list[Message]:
    """The session's messages, oldest first; with ``limit``, only the newest ``limit``."""
    query = select(MessageRow).where(MessageRow.session_id == session_id)
    with db.read() as s:
        if limit is None:
            rows = s.scalars(query.order_by(MessageRow.id)).all()
        else:
            newest = s.scalars(query.order_by(MessageRow.id.desc()).limit(limit)).all()
            rows = list(reversed(newest))
        return [_message(row) for row in rows]


def count_messages(db: Database, session_id: str) -> int:
    with db.read() as s:
        return s.scalar(
            select(func.count()).select_from(MessageRow).where(MessageRow.session_id == session_id)
        ) or 0
