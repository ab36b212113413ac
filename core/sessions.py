"""Session identity: an id the server creates, that survives a browser reload.

A session is a browser tab, and it belongs to one user (``store.owners``): the local user
without sign-in, else the signed-in person. The work made in it — conversations, tasks,
memory, runs, jobs — belongs to the user, so another tab of the same user finds it.

The id travels in the page URL (``?sid=...``): a reload, a bookmark or a second tab with
the same URL find the same conversation; a new tab without it starts a new one. The id
is 128 random bits made by the server, and it is a capability: knowing it is what gives
access, so it is never shown to anyone else (the ledger shows a short one-way label,
``llm.reports.session_label``). An id the server never made — a typo, or a link that
tries to plant a session to read later — is not adopted: it starts a new session, and
the caller says so.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import update

from store.db import Database, StorageUnwritable, utcnow
from store.models import SessionRow
from store.owners import LOCAL_USER, owner_of

_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
UNKNOWN_SESSION = (
    "The link's session was not found on this server, so a new conversation started. "
    "Open Ambient from your own bookmark to get back to yours."
)
FOREIGN_SESSION = (
    "That link belongs to someone else's session, so nothing of theirs is shown and a new "
    "conversation started for you. Your own conversations are in the Conversations menu "
    "above the chat."
)


@dataclass(frozen=True)
class OpenedSession:
    id: str
    # "resumed" (the id was ours), "new" (none given), "unknown" (the URL's id was not
    # ours: replaced), "foreign" (another user's session: replaced) or "unsaved" (the
    # database is read-only: a new id, not stored)
    status: str

    @property
    def notice(self) -> str | None:
        """What to tell the user, when the URL's id was replaced."""
        return {"unknown": UNKNOWN_SESSION, "foreign": FOREIGN_SESSION}.get(self.status)


def new_session_id() -> str:
    return uuid.uuid4().hex


def is_valid_session_id(value: object) -> bool:
    return isinstance(value, str) and bool(_SESSION_ID.match(value))


def open_session(
    db: Database, session_id: str | None, user: str = LOCAL_USER
) -> OpenedSession:
    """Resume ``session_id`` if this server created it for ``user``, else create a new
    session for ``user``.

    A well-formed id that is not in the database is *not* adopted (it would let a link
    plant a session id and read the conversation later): it gets a new id and the status
    "unknown", so the page can say why the conversation is new. Another user's session is
    never resumed: it gets a new id and the status "foreign"."""
    given = session_id if is_valid_session_id(session_id) else None
    try:
        return _open(db, given, user, asked=bool(session_id))
    except StorageUnwritable:
        # Read-only (a full disk, a read-only volume): resume a known session without
        # touching it; anything else gets an id that is not saved, and the page says why.
        with db.read() as s:
            if given is not None and owner_of(s, given) == user:
                return OpenedSession(given, "resumed")
        return OpenedSession(new_session_id(), "unsaved")


def _open(db: Database, given: str | None, user: str, *, asked: bool) -> OpenedSession:
    status = "unknown" if asked else "new"
    with db.write() as s:
        if given is not None:
            touched = s.execute(
                update(SessionRow)
                .where(SessionRow.id == given, SessionRow.user == user)
                .values(last_seen_at=utcnow())
            ).rowcount
            if touched:
                return OpenedSession(given, "resumed")
            if owner_of(s, given) is not None:
                status = "foreign"
        created = new_session_id()
        s.add(SessionRow(id=created, user=user))
    return OpenedSession(created, status)


def ensure_session(db: Database, session_id: str | None, user: str = LOCAL_USER) -> str:
    """The id of the session to use: ``session_id`` if the server made it for ``user``,
    else a new one."""
    return open_session(db, session_id, user).id
