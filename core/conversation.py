"""The chat's conversations and messages, stored before and after every model call.

A conversation belongs to the user whose session started it; any session (browser tab) of
that user can list it and switch to it, and no other user's can. The active one is kept
on the session row so a reload finds it. Roles: user, assistant, and narration
(progress and system messages that workflows post into the chat).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from store.db import Database, utcnow
from store.models import ConversationRow, MessageRow, SessionRow
from store.owners import LOCAL_USER, owner_of, session_owner

ROLES = ("user", "assistant", "narration")
TITLE_LENGTH = 60


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: datetime | None
    messages: int = 0


def _new_conversation_row(s, session_id: str, title: str) -> ConversationRow:  # noqa: ANN001
    row = ConversationRow(session_id=session_id, user=owner_of(s, session_id) or LOCAL_USER,
                          title=title[:200] or "New conversation")
    s.add(row)
    s.flush()
    s.execute(
        update(SessionRow)
        .where(SessionRow.id == session_id)
        .values(active_conversation_id=row.id)
    )
    return row


def active_conversation(db: Database, session_id: str) -> int:
    """The session's current conversation, created on first use."""
    with db.read() as s:
        current = s.scalar(
            select(SessionRow.active_conversation_id).where(SessionRow.id == session_id)
        )
    if current is not None:
        return current
    with db.write() as s:
        current = s.scalar(
            select(SessionRow.active_conversation_id).where(SessionRow.id == session_id)
        )
        if current is not None:
            return current
        return _new_conversation_row(s, session_id, "New conversation").id


def new_conversation(db: Database, session_id: str) -> int:
    with db.write() as s:
        return _new_conversation_row(s, session_id, "New conversation").id


def _yours(session_id: str) -> Any:
    """Conversations of the session's user."""
    return ConversationRow.user == session_owner(session_id)


def switch_conversation(db: Database, session_id: str, conversation_id: int) -> None:
    with db.write() as s:
        found = s.scalar(
            select(ConversationRow.id).where(ConversationRow.id == conversation_id,
                                             _yours(session_id))
        )
        if found is None:
            raise ValueError("That conversation is not one of yours, so it was not opened; "
                             "pick one from your list.")
        s.execute(
            update(SessionRow)
            .where(SessionRow.id == session_id)
            .values(active_conversation_id=conversation_id, last_seen_at=utcnow())
        )


def conversations(db: Database, session_id: str) -> list[Conversation]:
    """Every conversation of the session's user (from any of their tabs), newest first,
    with their message counts."""
    count = (
        select(func.count())
        .where(MessageRow.conversation_id == ConversationRow.id)
        .correlate(ConversationRow)
        .scalar_subquery()
    )
    with db.read() as s:
        rows = s.execute(
            select(ConversationRow, count)
            .where(_yours(session_id))
            .order_by(ConversationRow.id.desc())
        ).all()
    return [Conversation(r.id, r.title, r.created_at, int(n)) for r, n in rows]


def clear_conversation(db: Database, session_id: str, conversation_id: int) -> int:
    """Delete the conversation's messages (after the user confirmed); returns how many."""
    with db.write() as s:
        return s.execute(
            delete(MessageRow).where(
                MessageRow.conversation_id == conversation_id,
                MessageRow.conversation_id.in_(
                    select(ConversationRow.id).where(_yours(session_id))),
            )
        ).rowcount


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


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
    conversation_id: int | None = None,
) -> Message:
    """Store a message in ``conversation_id`` (default: the session's active conversation).

    The first user message of a conversation becomes its title.
    """
    if role not in ROLES:
        raise ValueError(f"Unknown message role {role!r}; use one of {', '.join(ROLES)}.")
    if conversation_id is None:
        conversation_id = active_conversation(db, session_id)
    with db.write() as s:
        if role == "user":
            s.execute(
                update(ConversationRow)
                .where(
                    ConversationRow.id == conversation_id,
                    ConversationRow.title == "New conversation",
                )
                .values(title=_title_from(content))
            )
        row = MessageRow(
            session_id=session_id,
            user=owner_of(s, session_id) or LOCAL_USER,
            conversation_id=conversation_id,
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


def history(
    db: Database,
    session_id: str,
    limit: int | None = None,
    conversation_id: int | None = None,
) -> list[Message]:
    """A conversation's messages (default: the active one), oldest first.

    With ``limit``, only the newest ``limit`` messages.
    """
    if conversation_id is None:
        conversation_id = active_conversation(db, session_id)
    query = select(MessageRow).where(
        MessageRow.conversation_id == conversation_id, MessageRow.user == session_owner(session_id)
    )
    with db.read() as s:
        if limit is None:
            rows = s.scalars(query.order_by(MessageRow.id)).all()
        else:
            newest = s.scalars(query.order_by(MessageRow.id.desc()).limit(limit)).all()
            rows = list(reversed(newest))
        return [_message(row) for row in rows]


def count_messages(db: Database, session_id: str, conversation_id: int | None = None) -> int:
    if conversation_id is None:
        conversation_id = active_conversation(db, session_id)
    with db.read() as s:
        return s.scalar(
            select(func.count())
            .select_from(MessageRow)
            .where(
                MessageRow.conversation_id == conversation_id,
                MessageRow.user == session_owner(session_id),
            )
        ) or 0
