from __future__ import annotations

from core.sessions import ensure_session, is_valid_session_id, new_session_id
from store.db import Database
from store.models import SessionRow


def test_a_valid_id_from_the_url_is_kept_and_stored(db: Database) -> None:
    sid = new_session_id()
    assert ensure_session(db, sid) == sid
    assert ensure_session(db, sid) == sid  # a reload touches, does not duplicate
    with db.read() as s:
        assert s.query(SessionRow).filter_by(id=sid).count() == 1


def test_a_missing_or_forged_id_gets_a_fresh_one(db: Database) -> None:
    for bad in (None, "", "../../etc/passwd", "x" * 32, "A" * 32, "1; DROP TABLE sessions"):
        sid = ensure_session(db, bad)
        assert is_valid_session_id(sid) and sid != bad


def test_session_ids_are_random() -> None:
    assert len({new_session_id() for _ in range(1000)}) == 1000
