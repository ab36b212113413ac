from __future__ import annotations

from core.sessions import (
    UNKNOWN_SESSION,
    ensure_session,
    is_valid_session_id,
    new_session_id,
    open_session,
)
from store.db import Database
from store.models import SessionRow


def test_an_id_the_server_made_is_resumed_and_not_duplicated(db: Database) -> None:
    created = open_session(db, None)
    assert created.status == "new" and created.notice is None
    again = open_session(db, created.id)  # a reload
    assert again.id == created.id and again.status == "resumed" and again.notice is None
    assert ensure_session(db, created.id) == created.id
    with db.read() as s:
        assert s.query(SessionRow).filter_by(id=created.id).count() == 1


def test_a_well_formed_id_the_server_never_made_is_not_adopted(db: Database) -> None:
    planted = new_session_id()  # a link that tries to plant a session to read later
    opened = open_session(db, planted)
    assert opened.id != planted and is_valid_session_id(opened.id)
    assert opened.status == "unknown" and opened.notice == UNKNOWN_SESSION
    with db.read() as s:
        assert s.query(SessionRow).filter_by(id=planted).count() == 0
    assert open_session(db, planted).id not in (planted, opened.id)  # still never adopted


def test_a_missing_or_forged_id_gets_a_fresh_one(db: Database) -> None:
    for bad in (None, "", "../../etc/passwd", "x" * 32, "A" * 32, "1; DROP TABLE sessions"):
        sid = ensure_session(db, bad)
        assert is_valid_session_id(sid) and sid != bad


def test_session_ids_are_random() -> None:
    assert len({new_session_id() for _ in range(1000)}) == 1000
