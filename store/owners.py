"""Who owns a row: every piece of work belongs to a user, and a session (a browser tab)
belongs to one user.

Without sign-in there is one user, ``local``, so a new tab finds all of the work made in
the others. With sign-in the user is the signed-in person's e-mail address. Rows keep the
owner in a ``user`` column written when they are made; reads compare it with the owner
of the session asking, so a function that takes a session id returns its user's work.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import SessionRow, UserRow

LOCAL_USER = "local"
USER_LENGTH = 254  # the longest e-mail address


def session_owner(session_id: str | None) -> Any:
    """The owner of ``session_id`` as a scalar subquery, to compare a ``user`` column
    with (NULL, so nothing matches, when the session is unknown)."""
    return (
        select(func.coalesce(SessionRow.user, LOCAL_USER))
        .where(SessionRow.id == session_id)
        .scalar_subquery()
    )


def owner_of(s: Session, session_id: str | None) -> str | None:
    """The user a session belongs to, or None when there is no such session."""
    if not session_id:
        return None
    return s.scalar(select(SessionRow.user).where(SessionRow.id == session_id))


def lock_owner(s: Session, session_id: str) -> str | None:
    """The session's owner, with the owner's row locked for this transaction, so two tabs
    of one user that start the same thing at once are served one after the other (a row
    lock on PostgreSQL; SQLite's write transaction already serialises). None when the
    session is unknown."""
    owner = owner_of(s, session_id)
    if owner is None:
        return None
    s.scalar(select(UserRow.name).where(UserRow.name == owner).with_for_update())
    return owner
